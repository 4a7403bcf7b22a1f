"""What the models share: teacher-forced loss, backward, batched generation, checkpoints."""

from __future__ import annotations

import numpy as np

from .. import checkpoint
from ..backend import get_xp
from ..errors import OptionError, choice, integer, positive_int
from ..layers import Composite, TimeSoftmaxWithLoss, frozen_weights
from ..layers.base import check_int, check_mask
from ..memory import check_generation
from ..ops import trusted_ids
from . import search
from .encoder import Encoder
from .init import Initializer

DTYPES = ("float32", "float64")  # what the layers and the kernels compute in


class Seq2seqBase(Composite):
    """forward(xs (N,Ts), ts (N,Tt), mask=None) -> loss; backward(dout=1);
    generate(xs, start_id, sample_size, beam_width=1, ...) -> (N, sample_size) ids.

    The decoder reads ``ts[:, :-1]`` and is scored on ``ts[:, 1:]`` (teacher forcing). With
    ``pad_id`` set, source positions equal to it are masked out and targets equal to it ignored.
    Inputs are checked here, once; the layers below only check shapes.
    """

    # What a model says of itself, so that the command, the options and checkpoints name no kind:
    kind = None  # its name on the command line (--model) and in checkpoints; ``@register`` files it
    decoder_class = None
    options = {}  # the options only this model takes, with their defaults
    sizes = {"hidden": "hidden_size", "wordvec": "wordvec_size"}  # sizes it takes: option -> constructor argument
    derived = ()  # constructor arguments set from the data, not by the user
    recipe = {}  # training defaults of its own, over the data's recipe (``seqattn.options``)
    task_recipe = {}  # and over those, on the generated tasks
    text_recipe = {}  # or on text pairs
    added_options = ()  # options added after checkpoints were first written: absent from one, they take their default
    has_attention = False  # keeps attention weights to draw (``attention_weights_of``)

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=128, *, target_vocab_size=None, pad_id=None, seed=None,
                 init="default", dtype="float32", **options):
        options = self._options(options)
        self.check_options(dict(wordvec_size=wordvec_size, hidden_size=hidden_size, **options))
        ini = self._configure(dict(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size),
                              pad_id, seed, init, dtype, options, target_vocab_size)
        V, D, H = vocab_size, wordvec_size, hidden_size
        encoder_options, decoder_options = self.part_options(**options)
        self._setup(Encoder(ini, V, D, H, **encoder_options),
                    self.decoder_class(ini, self.config["target_vocab_size"], D, H, **decoder_options))

    @classmethod
    def check_options(cls, args):
        """``args``: the constructor's sizes and the model's own options, by name. Raises an
        OptionError naming the first one out of range; the command calls it before any work."""
        for arg in cls.sizes.values():
            if arg in args:
                positive_int(arg, args[arg])

    def _options(self, given):
        """The model's own options: the given ones over the defaults; a misspelt one is refused."""
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "none"
            raise TypeError(f"{type(self).__name__}: unknown option {', '.join(map(repr, unknown))}; its own options are: {takes}")
        return {**self.options, **given}

    def _configure(self, sizes, pad_id, seed, init, dtype, options, target_vocab_size=None):
        """Check the sizes, the padding id, the seed and the dtype, record the configuration (what
        a checkpoint rebuilds the model from) and return the weights' Initializer.
        ``target_vocab_size`` (the decoder's vocabulary, when the target side has its own) defaults
        to ``vocab_size``: one vocabulary for both sides."""
        sizes = dict(sizes, target_vocab_size=sizes["vocab_size"] if target_vocab_size is None else target_vocab_size)
        for key, value in sizes.items():
            positive_int(key, value)
        if pad_id is not None:
            integer("pad_id", pad_id)
            if pad_id >= min(sizes["vocab_size"], sizes["target_vocab_size"]):
                raise OptionError(f"<pad_id> {pad_id} is outside the vocabulary (ids 0 to "
                                  f"{min(sizes['vocab_size'], sizes['target_vocab_size']) - 1}); padding needs an id of its own")
        if seed is not None:
            integer("seed", seed)
        choice("dtype", str(dtype), DTYPES)
        self.config = dict(model=self.kind, **{k: int(v) for k, v in sizes.items()}, pad_id=None if pad_id is None else int(pad_id),
                           seed=None if seed is None else int(seed), init=init, dtype=np.dtype(dtype).name, **options)
        return Initializer(seed, dtype, init)

    def _setup(self, encoder, decoder):
        self.encoder, self.decoder = encoder, decoder
        self.loss_layer = TimeSoftmaxWithLoss(ignore_index=-1)
        self.adopt([("encoder", encoder), ("decoder", decoder)])
        self.pack()  # one buffer of weights and one of gradients: one pass each to update them

    @classmethod
    def arguments(cls, codec, sizes, own, seed=None, init="default", longest=0):
        """The constructor's arguments of an untrained model for the data ``codec`` reads: ``sizes``
        by option name (``hidden``, ``wordvec``), ``own`` its own options; ``longest`` is the
        longest sequence of the data."""
        args = {cls.sizes[k]: v for k, v in sizes.items() if k in cls.sizes}
        return dict(vocab_size=len(codec.vocab), target_vocab_size=len(codec.target_vocab), pad_id=codec.pad_id, seed=seed,
                    init=init, **args, **{k: v for k, v in own.items() if k not in cls.derived},
                    **cls._derived_options(codec, longest))

    @classmethod
    def from_codec(cls, codec, sizes, own, seed=None, init="default", longest=0):
        """An untrained model for the data ``codec`` reads (``arguments`` says what it is given)."""
        return cls(**cls.arguments(codec, sizes, own, seed, init, longest))

    # ---------------------------------------------------------------- what it holds, unbuilt
    # ``config``: a model's configuration, or its constructor's arguments (all of them). Used to
    # refuse, before anything is allocated, what would not fit (``seqattn.memory``).
    @classmethod
    def _parts(cls, config):
        options = {k: config.get(k, v) for k, v in cls.options.items()}
        V, D, H = config["vocab_size"], config["wordvec_size"], config["hidden_size"]
        return V, config.get("target_vocab_size") or V, D, H, options

    @classmethod
    def weight_count(cls, config):
        """The number of weights (floats in ``params``) of the model ``config`` describes."""
        V, Vt, D, H, options = cls._parts(config)
        enc, dec = cls.part_options(**options)
        return Encoder.count(V, D, H, **enc) + cls.decoder_class.count(Vt, D, H, **dec)

    @classmethod
    def longest(cls, config):
        """The longest sequence the model ``config`` describes can take (None: any)."""
        return None

    @classmethod
    def table_floats(cls, config):
        """Floats it holds besides its weights (fixed tables)."""
        return 0

    @classmethod
    def activation_floats(cls, config, Ts, Tt):
        """About the floats a training step keeps per example of ``Ts`` source and ``Tt`` target
        steps: the recurrent caches, workspaces and gradients of both sides (24 per hidden unit,
        step and layer, measured), the embeddings, and the scores over the vocabulary and over the
        source, with their softmax and gradients."""
        V, Vt, D, H, options = cls._parts(config)
        L = options.get("num_layers", 1)
        return 24 * H * L * (Ts + Tt) + 4 * D * (Ts + Tt) + 4 * Tt * (Vt + Ts)

    @classmethod
    def decoding_floats(cls, config, Ts, steps):
        """About the floats generation keeps per hypothesis: the encoder's states (kept per beam),
        the states of every layer, a step's scores in float64 (logits, log-probabilities,
        candidates) and the tokens so far (int64, kept twice while beams are reordered)."""
        V, Vt, D, H, options = cls._parts(config)
        L = options.get("num_layers", 1)
        return 10 * H * L * Ts + 8 * H * L + 8 * Vt + 4 * steps

    @classmethod
    def _derived_options(cls, codec, longest):
        return {}

    @property
    def pad_id(self):
        """The padding id of the sources and targets (None: sequences of one length)."""
        return self.config["pad_id"]

    def dropouts(self):
        """Every dropout layer of the model, in a fixed order."""
        return [d for part in (self.encoder, self.decoder) for d in part.drops if d is not None]

    @classmethod
    def part_options(cls, **options):
        """The model's options -> (encoder's, decoder's) keyword arguments."""
        return {}, {}

    # ------------------------------------------------------------------------------- training
    def _inputs(self, xs, mask):
        name = type(self).__name__
        xs = check_int(xs, "xs", name, ndim=2)
        if xs.shape[1] == 0:
            raise ValueError(f"{name}: xs has no time steps (shape {tuple(xs.shape)}); every source needs at least one id")
        get_xp(xs, *self.params)
        if mask is None and self.pad_id is not None:
            mask = xs != self.pad_id
        elif mask is not None:
            check_mask(mask.astype(bool, copy=False), xs.shape, name)
            mask = mask.astype(bool, copy=False)
        return xs, mask

    def forward(self, xs, ts, mask=None):
        """xs: (N, Ts) int source ids; ts: (N, Tt) int targets starting with the start id."""
        xs, mask = self._inputs(xs, mask)
        ts = check_int(ts, "ts", type(self).__name__, ndim=2)
        if xs.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}.forward: xs and ts are an empty batch (N = 0); there is no loss to compute")
        if xs.shape[0] != ts.shape[0] or ts.shape[1] < 2:
            raise ValueError(f"{type(self).__name__}: xs {tuple(xs.shape)} and ts {tuple(ts.shape)} need the same N and ts at least 2 steps")
        xp = get_xp(xs, ts)
        enc = self.encoder.forward(xs, mask)
        self.decoder.begin(enc)
        scores = self.decoder.run(ts[:, :-1])
        targets = ts[:, 1:]
        if self.pad_id is not None:
            targets = xp.where(targets == self.pad_id, -1, targets)
        return self.loss_layer.forward(scores, targets)

    def backward(self, dout=1):
        """Backpropagate the last forward's loss (scaled by ``dout``) into ``grads``."""
        dscores = self.loss_layer.backward(dout)
        dhs_enc, dfinals = self.decoder.backward(dscores)
        self.encoder.backward(dhs_enc, dfinals)

    def set_train(self, train=True):
        """Switch dropout on (training) or off (evaluation, generation)."""
        for d in self.dropouts():
            d.train = train

    def seed_dropout(self, seed):
        """Make the dropout masks of what follows reproducible (each layer's generator is made on
        the device of its data, at its first forward)."""
        for k, d in enumerate(self.dropouts()):
            d.seed, d.rng = int(seed) * 1009 + k, None  # an int seed: cupy takes no sequences

    # ----------------------------------------------------------------------------- generation
    def generate(self, xs, start_id, sample_size, beam_width=1, mask=None, stop_id=None, length_penalty=0.0):
        """Decode a whole batch: xs (N, Ts) int ids -> (N, sample_size) int ids.

        Greedy at ``beam_width`` 1, batched beam search above. After ``stop_id`` a row is filled
        with ``pad_id`` (or ``stop_id`` when the model has none); with a ``stop_id``, ``start_id``
        and ``pad_id`` are never generated. Dropout is off while decoding,
        and the weights' derived layouts are built once for the whole call.
        """
        xs, mask = self._inputs(xs, mask)
        integer("sample_size", sample_size)
        positive_int("beam_width", beam_width)
        if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float, np.floating)) or not np.isfinite(length_penalty):
            raise OptionError(f"<length_penalty> must be a finite number, got {length_penalty!r}")
        xp = get_xp(xs)
        if xs.shape[0] == 0:
            return xp.zeros((0, sample_size), dtype=xp.int64)
        check_generation(type(self), self.config, xs.shape[0], beam_width, xs.shape[1], sample_size)
        train = [d.train for d in self.dropouts()]
        self.set_train(False)
        try:
            with frozen_weights():
                enc = self.encoder.forward(xs, mask)  # checks the source ids
                self.decoder.begin(enc, capacity=sample_size)
                fill = self.pad_id if self.pad_id is not None else stop_id
                N = xs.shape[0]
                self._check_decoder_ids(start_id=start_id, stop_id=stop_id, pad_id=fill)
                # text (a stop symbol) never generates its start or padding symbols: an undertrained
                # model would print "<s> <s> ..." (the book's one-vocabulary format keeps its search)
                banned = tuple(i for i in {start_id, self.pad_id} if i is not None and i != stop_id) if stop_id is not None else ()
                with trusted_ids():  # the decoder reads back only what it generates
                    if beam_width == 1:
                        return search.greedy(self.decoder, N, start_id, sample_size, stop_id, fill, xp=xp, banned=banned)
                    return search.beam(self.decoder, N, start_id, sample_size, beam_width, stop_id, fill, length_penalty, xp=xp,
                                       banned=banned)
        finally:
            if train:
                self.set_train(train[0])

    def _check_decoder_ids(self, **ids):
        """The ids generate feeds the decoder itself (start, stop, fill), checked once on the host."""
        V = self.config["target_vocab_size"]
        for name, i in ids.items():
            if i is not None:
                integer(name, i)
                if not i < V:
                    raise OptionError(f"{type(self).__name__}.generate: <{name}> {int(i)} is outside the target vocabulary of size {V}")

    # ---------------------------------------------------------------------------- checkpoints
    def save_params(self, path, codec=None):
        """Write the weights (by name), the options and, if given, the codec to one .npz, atomically
        (a temporary file beside it, renamed over it). Like ``seqattn train --save``, it replaces
        a checkpoint but never a file that is not one, a link, a directory or a special file."""
        checkpoint.check_target(path, "path", continuing=True)
        checkpoint.save(path, self, codec=codec)

    def load_params(self, path):
        """Load the weights saved at ``path`` into this model (from any backend to any backend);
        returns the checkpoint's meta."""
        arrays, meta = checkpoint.read(path)
        checkpoint.set_weights(self, arrays, meta, path)
        return meta


def attention_weights_of(model, xs, ys, start_id, mask=None):
    """The attention of ``model`` while it produced ``ys`` (N, S) from ``xs``: (N, S, Ts) weights.

    Runs the decoder teacher-forced on [start] + ys, which repeats exactly the steps of decoding.
    """
    xp = get_xp(xs)
    ts = xp.concatenate((xp.full((ys.shape[0], 1), start_id, dtype=ys.dtype), ys), axis=1)
    model.set_train(False)
    model.forward(xs, ts, mask)
    return model.decoder.attention.attention_weights
