"""The Transformer encoder-decoder (the book's outlook after chapter 8), from the same layers.

    encoder:  x = PE(embed(src)); then per block (pre-LN, the default)
                  x = x + Drop(SelfAttention(LN(x), padding masked))
                  x = x + Drop(FFN(LN(x)))
              and a final LN.
    decoder:  y = PE(embed(tgt)); then per block
                  y = y + Drop(CausalSelfAttention(LN(y)))
                  y = y + Drop(CrossAttention(LN(y), encoder output, padding masked))
                  y = y + Drop(FFN(LN(y)))
              a final LN and an affine layer to the vocabulary.
    post-LN (``norm="post"``, the paper's): x = LN(x + Drop(Sublayer(x))), no final LN.

The decoder has the LSTM decoders' interface (begin / run / backward / reorder), so the same
greedy and beam search decode it. In generation every attention keeps its keys and values
(``MultiHeadAttention.start_cache``), so each new token costs one step of work.
"""

from __future__ import annotations


from ..backend import get_xp
from ..layers import (
    Composite, FeedForward, LayerNorm, MultiHeadAttention, PositionalEncoding, TimeAffine, TimeDropout, TimeEmbedding,
    sinusoid_table,
)
from ..errors import OptionError, choice, fraction, positive_int
from .base import Seq2seqBase
from .registry import register
from .encoder import EncoderOutput


def _mha(ini, E, heads, causal=False):
    s = E**-0.5
    return MultiHeadAttention(ini.normal(E, E, scale=s), ini.zeros(E), ini.normal(E, E, scale=s), ini.zeros(E),
                              ini.normal(E, E, scale=s), ini.zeros(E), ini.normal(E, E, scale=s), ini.zeros(E),
                              heads, causal=causal)


def _ln(ini, E):
    return LayerNorm(ini.ones(E), ini.zeros(E))


class _Sublayer:
    """One residual sublayer: pre-LN x + Drop(f(LN(x))) or post-LN LN(x + Drop(f(x)))."""

    def __init__(self, norm, drop, pre):
        self.norm, self.drop, self.pre = norm, drop, pre

    def forward(self, x, f):
        y = f(self.norm.forward(x) if self.pre else x)
        if self.drop is not None:
            y = self.drop.forward(y)
        return x + y if self.pre else self.norm.forward(x + y)

    def backward(self, dout, df):
        """df(dy) -> gradient at f's input; returns the gradient at x."""
        dsum = dout if self.pre else self.norm.backward(dout)
        dy = dsum if self.drop is None else self.drop.backward(dsum)
        dfin = df(dy)
        return dsum + (self.norm.backward(dfin) if self.pre else dfin)


class EncoderBlock(Composite):
    def __init__(self, ini, E, heads, F, dropout, activation, pre):
        self.attn = _mha(ini, E, heads)
        self.ffn = FeedForward(ini.normal(E, F, scale=E**-0.5), ini.zeros(F), ini.normal(F, E, scale=F**-0.5), ini.zeros(E), activation)
        self.ln1, self.ln2 = _ln(ini, E), _ln(ini, E)
        self.drops = [TimeDropout(dropout) if dropout else None for _ in range(2)]
        self.subs = [_Sublayer(self.ln1, self.drops[0], pre), _Sublayer(self.ln2, self.drops[1], pre)]
        self.adopt([("attn", self.attn), ("ffn", self.ffn), ("ln1", self.ln1), ("ln2", self.ln2)])

    def forward(self, x, mask):
        x = self.subs[0].forward(x, lambda h: self.attn.forward(h, h, mask))
        return self.subs[1].forward(x, self.ffn.forward)

    def backward(self, dout):
        dx = self.subs[1].backward(dout, self.ffn.backward)
        return self.subs[0].backward(dx, lambda d: sum(self.attn.backward(d)))


class DecoderBlock(Composite):
    def __init__(self, ini, E, heads, F, dropout, activation, pre):
        self.self_attn = _mha(ini, E, heads, causal=True)
        self.cross_attn = _mha(ini, E, heads)
        self.ffn = FeedForward(ini.normal(E, F, scale=E**-0.5), ini.zeros(F), ini.normal(F, E, scale=F**-0.5), ini.zeros(E), activation)
        self.ln1, self.ln2, self.ln3 = _ln(ini, E), _ln(ini, E), _ln(ini, E)
        self.drops = [TimeDropout(dropout) if dropout else None for _ in range(3)]
        self.subs = [_Sublayer(n, d, pre) for n, d in zip((self.ln1, self.ln2, self.ln3), self.drops)]
        self.adopt([("self_attn", self.self_attn), ("cross_attn", self.cross_attn), ("ffn", self.ffn),
                    ("ln1", self.ln1), ("ln2", self.ln2), ("ln3", self.ln3)])
        self._dmemory = None

    def forward(self, y, memory, mask):
        y = self.subs[0].forward(y, lambda h: self.self_attn.forward(h, h))
        y = self.subs[1].forward(y, lambda h: self.cross_attn.forward(h, memory, mask))
        return self.subs[2].forward(y, self.ffn.forward)

    def backward(self, dout):
        """-> (dy, dmemory)."""
        dy = self.subs[2].backward(dout, self.ffn.backward)
        dmem = []

        def cross(d):
            dq, dkv = self.cross_attn.backward(d)
            dmem.append(dkv)
            return dq

        dy = self.subs[1].backward(dy, cross)
        dy = self.subs[0].backward(dy, lambda d: sum(self.self_attn.backward(d)))
        return dy, dmem[0]

    def start(self, N, capacity, memory):
        self.self_attn.start_cache(N, capacity)
        self.cross_attn.start_cache(kv_in=memory)

    def step(self, y, mask):
        y = self.subs[0].forward(y, self.self_attn.step)
        y = self.subs[1].forward(y, lambda h: self.cross_attn.step(h, mask))
        return self.subs[2].forward(y, self.ffn.forward)

    def reorder(self, idx):
        self.self_attn.reorder_cache(idx)
        self.cross_attn.reorder_cache(idx)


class _Embed(Composite):
    """Token embedding, scaled, plus positions, then dropout."""

    def __init__(self, ini, V, E, dropout, positions, max_len):
        self.embed = TimeEmbedding(ini.normal(V, E, scale=E**-0.5))  # times sqrt(E) in PositionalEncoding: unit scale
        table = ini.table(sinusoid_table(max_len, E)) if positions == "sinusoid" else ini.normal(max_len, E, scale=0.02)
        self.pos = PositionalEncoding(table, learned=positions == "learned")
        self.drop = TimeDropout(dropout) if dropout else None
        self.adopt([("embed", self.embed), ("pos", self.pos)])

    def forward(self, xs, start=0):
        x = self.pos.forward(self.embed.forward(xs), start)
        return x if self.drop is None else self.drop.forward(x)

    def backward(self, dx):
        if self.drop is not None:
            dx = self.drop.backward(dx)
        self.embed.backward(self.pos.backward(dx))


def _block_weights(E, F, attentions, norms):
    """A block's weights: its attentions (Wq, Wk, Wv, Wo and their biases), its feed-forward
    layer (W1, b1, W2, b2) and its layer norms (gamma, beta)."""
    return attentions * (4 * E * E + 4 * E) + (2 * E * F + F + E) + norms * 2 * E


def _embed_weights(V, E, positions, max_len):
    return V * E + (max_len * E if positions == "learned" else 0)


class TransformerEncoder(Composite):
    @staticmethod
    def count(V, E, heads, layers, F, dropout, activation, pre, positions, max_len):
        """The weights of an encoder built with these arguments, without building it."""
        return _embed_weights(V, E, positions, max_len) + layers * _block_weights(E, F, 1, 2) + (2 * E if pre else 0)

    def __init__(self, ini, V, E, heads, layers, F, dropout, activation, pre, positions, max_len):
        self.input = _Embed(ini, V, E, dropout, positions, max_len)
        self.blocks = [EncoderBlock(ini, E, heads, F, dropout, activation, pre) for _ in range(layers)]
        self.norm = _ln(ini, E) if pre else None
        self.drops = [self.input.drop] + [d for b in self.blocks for d in b.drops]
        self.adopt([("", self.input)] + [(f"layer{k}", b) for k, b in enumerate(self.blocks)] + [("norm", self.norm)])

    def forward(self, xs, mask=None):
        """xs (N, T) ids -> EncoderOutput(hs (N, T, E), [], mask)."""
        x = self.input.forward(xs)
        for b in self.blocks:
            x = b.forward(x, mask)
        if self.norm is not None:
            x = self.norm.forward(x)
        return EncoderOutput(x, [], mask)

    def backward(self, dhs, dfinals=None):
        if self.norm is not None:
            dhs = self.norm.backward(dhs)
        for b in reversed(self.blocks):
            dhs = b.backward(dhs)
        self.input.backward(dhs)


class TransformerDecoder(Composite):
    """begin(enc, capacity=None): training (one ``run`` over the whole target, then backward)
    without ``capacity``; incremental decoding of up to ``capacity`` steps with it."""

    @staticmethod
    def count(V, E, heads, layers, F, dropout, activation, pre, positions, max_len):
        """The weights of a decoder built with these arguments, without building it."""
        return (_embed_weights(V, E, positions, max_len) + layers * _block_weights(E, F, 2, 3) + (2 * E if pre else 0)
                + (E + 1) * V)

    def __init__(self, ini, V, E, heads, layers, F, dropout, activation, pre, positions, max_len):
        self.input = _Embed(ini, V, E, dropout, positions, max_len)
        self.blocks = [DecoderBlock(ini, E, heads, F, dropout, activation, pre) for _ in range(layers)]
        self.norm = _ln(ini, E) if pre else None
        self.affine = TimeAffine(*ini.affine(E, V))
        self.drops = [self.input.drop] + [d for b in self.blocks for d in b.drops]
        self.adopt([("", self.input)] + [(f"layer{k}", b) for k, b in enumerate(self.blocks)] +
                   [("norm", self.norm), ("affine", self.affine)])
        self.enc, self.capacity, self.length = None, None, 0

    @property
    def attention(self):
        """The last block's cross-attention (its ``attention_weights`` are (N, heads, Td, Te))."""
        return self.blocks[-1].cross_attn

    def begin(self, enc, capacity=None):
        self.enc, self.capacity, self.length = enc, capacity, 0
        if capacity is not None:
            for b in self.blocks:
                b.start(enc.hs.shape[0], capacity, enc.hs)

    def run(self, xs):
        """xs (N, T) ids -> scores (N, T, V), continuing after the steps already run."""
        y = self.input.forward(xs, start=self.length)
        for b in self.blocks:
            y = b.step(y, self.enc.mask) if self.capacity is not None else b.forward(y, self.enc.hs, self.enc.mask)
        self.length += xs.shape[1]
        if self.norm is not None:
            y = self.norm.forward(y)
        return self.affine.forward(y)

    def backward(self, dscores):
        dy = self.affine.backward(dscores)
        if self.norm is not None:
            dy = self.norm.backward(dy)
        dmem = 0
        for b in reversed(self.blocks):
            dy, dm = b.backward(dy)
            dmem = dmem + dm
        self.input.backward(dy)
        return dmem, None

    def reorder(self, idx):
        enc = self.enc
        self.enc = EncoderOutput(enc.hs[idx], [], None if enc.mask is None else enc.mask[idx])
        for b in self.blocks:
            b.reorder(idx)


# The Transformer's options and their defaults (the size of the paper's base model divided by 4,
# which learns the book's tasks): the one list that the command and checkpoints follow.
TRANSFORMER_OPTIONS = {"d_model": 128, "num_heads": 4, "num_layers": 2, "ffn_size": 512, "dropout": 0.1,
                       "activation": "relu", "norm": "pre", "positions": "sinusoid", "max_len": 256}


@register
class TransformerSeq2seq(Seq2seqBase):
    """``TransformerSeq2seq(vocab_size, d_model=128, num_heads=4, num_layers=2, ffn_size=512,
    dropout=0.1, pad_id=None, seed=None, activation="relu", norm="pre", positions="sinusoid",
    max_len=256)``: ``num_layers`` blocks in the encoder and in the decoder; ``activation`` relu or
    gelu; ``norm`` "pre" (layer norm before each sublayer, trains without warm-up) or "post" (the
    paper's); ``positions`` "sinusoid" or "learned"; ``max_len`` the longest sequence.

    Shares the LSTM models' interface: forward -> loss, backward, generate (greedy and beam),
    save_params / load_model, and ``attention_weights_of`` (the last block's cross-attention,
    (N, heads, Td, Te)).
    """

    kind = "transformer"
    options = TRANSFORMER_OPTIONS
    sizes = {"hidden": "d_model"}  # its embeddings are as wide as the model: no word vector size of their own
    derived = ("d_model", "max_len")
    # Warm-up and clipping at 1, as Transformers train; no dropout on the generated tasks, which
    # have no noise to overfit. On text pairs (benchmarks/text_quality.py, 10 epochs of a few
    # thousand pairs) it needs more updates than batches of 128 give it after 200 of warm-up: the
    # text recipe's batches of 32 and a cosine from 0.002 (chrF 35.7 and 31.5 against 26.3 and 19.2
    # with the book's file recipe; torch's nn.Transformer 29.1 and 24.3 trained as seqattn used to).
    recipe = dict(hidden=128, warmup=200, max_grad=1.0, lr=0.001)
    task_recipe = dict(dropout=0.0)
    text_recipe = dict(lr=0.002, schedule="cosine", reverse=False)
    has_attention = True

    def __init__(self, vocab_size, d_model=128, num_heads=4, num_layers=2, ffn_size=512, dropout=0.1, *,
                 target_vocab_size=None, pad_id=None, seed=None, init="default", dtype="float32", **options):
        o = self._options(dict(options, d_model=d_model, num_heads=num_heads, num_layers=num_layers, ffn_size=ffn_size,
                               dropout=dropout))
        self.check_options(o)
        ini = self._configure({"vocab_size": vocab_size}, pad_id, seed, init, dtype, o, target_vocab_size)
        args = self._part_args(o)
        self._setup(TransformerEncoder(ini, vocab_size, *args), TransformerDecoder(ini, self.config["target_vocab_size"], *args))

    @staticmethod
    def _part_args(o):
        return (o["d_model"], o["num_heads"], o["num_layers"], o["ffn_size"], o["dropout"], o["activation"],
                o["norm"] == "pre", o["positions"], o["max_len"])

    @classmethod
    def _parts(cls, config):
        o = {k: config.get(k, v) for k, v in cls.options.items()}
        V = config["vocab_size"]
        return V, config.get("target_vocab_size") or V, o

    @classmethod
    def weight_count(cls, config):
        """The weights of both stacks, their embeddings (and learned positions) and the output layer."""
        V, Vt, o = cls._parts(config)
        args = cls._part_args(o)
        return TransformerEncoder.count(V, *args) + TransformerDecoder.count(Vt, *args)

    @classmethod
    def longest(cls, config):
        """``max_len``: its position tables end there."""
        return config["max_len"]

    @classmethod
    def table_floats(cls, config):
        """The fixed sinusoid tables of both sides (none when positions are learned weights)."""
        V, Vt, o = cls._parts(config)
        return 2 * o["max_len"] * o["d_model"] if o["positions"] == "sinusoid" else 0

    @classmethod
    def activation_floats(cls, config, Ts, Tt):
        """Per block and token: the sublayers' inputs, outputs, norms and their gradients (about 24
        per model unit in the encoder, 36 in the decoder) and the feed-forward layer's (4 per
        unit); the attention probabilities and their gradients per head and pair of positions;
        and the scores over the vocabulary."""
        V, Vt, o = cls._parts(config)
        E, F, heads, L = o["d_model"], o["ffn_size"], o["num_heads"], o["num_layers"]
        encoder = L * (Ts * (24 * E + 4 * F) + 4 * heads * Ts * Ts)
        decoder = L * (Tt * (36 * E + 4 * F) + 4 * heads * Tt * (Tt + Ts))
        return encoder + decoder + 4 * Tt * Vt

    @classmethod
    def decoding_floats(cls, config, Ts, steps):
        """Per hypothesis: the keys and values every attention caches (the decoder's own for up to
        ``steps`` positions, the encoder's output for the cross-attention), kept twice while beams
        are reordered; the encoder's pass; a step's scores in float64 and the tokens so far."""
        V, Vt, o = cls._parts(config)
        E, F, heads, L = o["d_model"], o["ffn_size"], o["num_heads"], o["num_layers"]
        return L * (4 * E * (steps + Ts) + Ts * (12 * E + 2 * F) + 2 * heads * Ts * Ts) + 8 * Vt + 4 * steps

    @classmethod
    def check_options(cls, args):
        """Sizes at least 1, d_model a multiple of num_heads, dropout in [0, 1), and the
        activation, norm and positions among their choices; an OptionError otherwise."""
        for key in ("d_model", "num_heads", "num_layers", "ffn_size", "max_len"):
            if key in args:
                positive_int(key, args[key])
        if args["d_model"] % args["num_heads"]:
            raise OptionError(f"<d_model> {args['d_model']} must split evenly into {args['num_heads']} heads")
        fraction("dropout", args["dropout"])
        for key, allowed in (("activation", ("relu", "gelu")), ("norm", ("pre", "post")), ("positions", ("sinusoid", "learned"))):
            choice(key, args[key], allowed)

    @classmethod
    def _derived_options(cls, codec, longest):
        return {"max_len": max(64, longest, codec.source_width or 0, codec.target_width or 0)}

    def _inputs(self, xs, mask):
        xs, mask = super()._inputs(xs, mask)
        if xs.shape[1] > self.config["max_len"]:
            raise ValueError(f"{type(self).__name__}: {xs.shape[1]} source steps, more than max_len {self.config['max_len']}")
        return xs, mask

    def generate(self, xs, start_id, sample_size, **kw):
        """As ``Seq2seqBase.generate``: xs (N, Ts) int ids -> (N, sample_size) int ids,
        with sample_size at most ``max_len``."""
        if sample_size > self.config["max_len"]:
            raise ValueError(f"{type(self).__name__}: {sample_size} steps asked for, more than max_len {self.config['max_len']}")
        return super().generate(xs, start_id, sample_size, **kw)


def greedy_by_recomputation(model, xs, start_id, sample_size, mask=None):
    """Greedy decoding that runs the decoder over the whole prefix again for every new token: the
    slow, cache-free reference that incremental decoding is tested and timed against."""
    xp = get_xp(xs)
    xs, mask = model._inputs(xs, mask)
    model.set_train(False)
    enc = model.encoder.forward(xs, mask)
    out = xp.full((xs.shape[0], 1), start_id, dtype=xp.int64)
    for _ in range(sample_size):
        model.decoder.begin(enc)
        scores = model.decoder.run(out)[:, -1]
        out = xp.concatenate((out, scores.argmax(axis=1)[:, None]), axis=1)
    return out[:, 1:]
