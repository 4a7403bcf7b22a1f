"""What the three models share: teacher-forced loss, backward, batched generation, checkpoints."""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..backend import get_xp, to_device, to_numpy
from ..io import CheckpointError, read_npz, write_npz_atomic
from ..layers import TimeSoftmaxWithLoss
from ..layers.base import check_int, check_mask
from . import search
from .encoder import Encoder
from .init import Initializer

FORMAT = 1


class Seq2seqBase:
    """forward(xs (N,Ts), ts (N,Tt), mask=None) -> loss; backward(dout=1);
    generate(xs, start_id, sample_size, beam_width=1, ...) -> (N, sample_size) ids.

    The decoder reads ``ts[:, :-1]`` and is scored on ``ts[:, 1:]`` (teacher forcing). With
    ``pad_id`` set, source positions equal to it are masked out and targets equal to it ignored.
    """

    kind = None  # "seq2seq", "peeky", "attention": set by each model
    decoder_class = None

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=128, *, pad_id=None, seed=None, init="default",
                 dtype="float32", encoder_options=None, decoder_options=None, **config):
        for name, value in (("vocab_size", vocab_size), ("wordvec_size", wordvec_size), ("hidden_size", hidden_size)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive integer, got {value!r}")
        self.config = dict(model=self.kind, vocab_size=int(vocab_size), wordvec_size=int(wordvec_size),
                           hidden_size=int(hidden_size), pad_id=pad_id, seed=seed, init=init,
                           dtype=np.dtype(dtype).name, **config)
        ini = Initializer(seed, dtype, init)
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.encoder = Encoder(ini, V, D, H, **(encoder_options or {}))
        self.decoder = self.decoder_class(ini, V, D, H, **(decoder_options or {}))
        self.loss_layer = TimeSoftmaxWithLoss(ignore_index=-1)
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads
        self.pad_id = pad_id
        self.vocab = None  # set by the caller when there is one; saved in checkpoints

    # ------------------------------------------------------------------------------- training
    def _source_mask(self, xs, mask):
        if mask is None and self.pad_id is not None:
            mask = xs != self.pad_id
        return check_mask(mask, xs.shape, type(self).__name__)

    def _check_ids(self, a, name):
        a = check_int(a, name, type(self).__name__, ndim=2)
        get_xp(a, *self.params)
        return a

    def forward(self, xs, ts, mask=None):
        """xs: (N, Ts) int source ids; ts: (N, Tt) int targets starting with the start id."""
        xs, ts = self._check_ids(xs, "xs"), self._check_ids(ts, "ts")
        if xs.shape[0] != ts.shape[0] or ts.shape[1] < 2:
            raise ValueError(f"{type(self).__name__}: xs {tuple(xs.shape)} and ts {tuple(ts.shape)} need the same N and ts at least 2 steps")
        xp = get_xp(xs)
        enc = self.encoder.forward(xs, self._source_mask(xs, mask))
        self.decoder.begin(enc)
        scores = self.decoder.run(ts[:, :-1])
        targets = ts[:, 1:]
        if self.pad_id is not None:
            targets = xp.where(targets == self.pad_id, -1, targets)
        return self.loss_layer.forward(scores, targets)

    def backward(self, dout=1):
        dscores = self.loss_layer.backward(dout)
        dhs_enc, dfinals = self.decoder.backward(dscores)
        self.encoder.backward(dhs_enc, dfinals)

    def set_train(self, train=True):
        """Switch dropout on (training) or off (evaluation, generation)."""
        self.encoder.stack.set_train(train)
        self.decoder.stack.set_train(train)

    def seed_dropout(self, seed):
        """Make the dropout masks of what follows reproducible."""
        from ..backend import default_rng

        drops = [d for s in (self.encoder.stack, self.decoder.stack) for d in s.drops if d is not None]
        for k, d in enumerate(drops):
            d.rng = default_rng(int(seed) * 1009 + k)  # an int seed: cupy takes no sequences

    # ----------------------------------------------------------------------------- generation
    def generate(self, xs, start_id, sample_size, beam_width=1, mask=None, stop_id=None, length_penalty=0.0):
        """Decode a whole batch: xs (N, Ts) int ids -> (N, sample_size) int ids.

        Greedy at ``beam_width`` 1, batched beam search above. After ``stop_id`` a row is filled
        with ``pad_id`` (or ``stop_id`` when the model has none). Dropout is off while decoding.
        """
        xs = self._check_ids(xs, "xs")
        if beam_width < 1 or sample_size < 0:
            raise ValueError("generate: beam_width must be at least 1 and sample_size not negative")
        xp = get_xp(xs)
        train = [d.train for s in (self.encoder.stack, self.decoder.stack) for d in s.drops if d is not None]
        self.set_train(False)
        try:
            enc = self.encoder.forward(xs, self._source_mask(xs, mask))
            self.decoder.begin(enc)
            fill = self.pad_id if self.pad_id is not None else stop_id
            N = xs.shape[0]
            if beam_width == 1:
                return search.greedy(self.decoder, N, start_id, sample_size, stop_id, fill, xp=xp)
            return search.beam(self.decoder, N, start_id, sample_size, beam_width, stop_id, fill, length_penalty, xp=xp)
        finally:
            if train:
                self.set_train(train[0])

    # ---------------------------------------------------------------------------- checkpoints
    def state(self):
        """Everything needed to rebuild this model: (arrays, meta)."""
        arrays = {f"param_{k}": to_numpy(p) for k, p in enumerate(self.params)}
        meta = {"format": FORMAT, "seqattn_version": __version__, "config": self.config,
                "vocab": None if self.vocab is None else self.vocab.to_dict()}
        return arrays, meta

    def save_params(self, path, extra_arrays=None, extra_meta=None):
        """Write the weights, configuration and vocabulary to one .npz, atomically."""
        arrays, meta = self.state()
        arrays.update(extra_arrays or {})
        meta.update(extra_meta or {})
        write_npz_atomic(path, arrays, meta)

    def load_params(self, path):
        """Load weights saved by ``save_params`` into this model (any backend to any backend)."""
        arrays, meta = read_npz(path)
        self.set_state(arrays, meta, path)
        return meta

    def set_state(self, arrays, meta, path="checkpoint"):
        config = meta.get("config", {})
        mine = {k: v for k, v in self.config.items() if k not in ("seed", "init", "dtype")}
        theirs = {k: v for k, v in config.items() if k not in ("seed", "init", "dtype")}
        if mine != theirs:
            diff = {k: (theirs.get(k), mine.get(k)) for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)}
            raise CheckpointError(f"{path!r} holds a different model: " + ", ".join(f"{k} is {a!r} there but {b!r} here" for k, (a, b) in sorted(diff.items())))
        for k, p in enumerate(self.params):
            key = f"param_{k}"
            if key not in arrays or arrays[key].shape != p.shape:
                raise CheckpointError(f"{path!r} does not fit this model: {key} is missing or has another shape")
            p[...] = to_device(arrays[key], dtype=p.dtype)
        if meta.get("vocab") is not None:
            from ..data.vocab import Vocab

            self.vocab = Vocab.from_dict(meta["vocab"])


def attention_weights_of(model, xs, ys, start_id, mask=None):
    """The attention of ``model`` while it produced ``ys`` (N, S) from ``xs``: (N, S, Ts) weights.

    Runs the decoder teacher-forced on [start] + ys, which repeats exactly the steps of decoding.
    """
    xp = get_xp(xs)
    ts = xp.concatenate((xp.full((ys.shape[0], 1), start_id, dtype=ys.dtype), ys), axis=1)
    model.set_train(False)
    model.forward(xs, ts, mask)
    return model.decoder.attention.attention_weights
