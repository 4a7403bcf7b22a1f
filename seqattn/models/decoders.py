"""The three decoders. Each has the same interface so that training, greedy decoding and beam
search are written once:

    begin(enc, capacity=None)  take the encoder's output and set the initial state (generation
                      says how many steps it will run)
    run(xs)           xs (N, T) int ids -> scores (N, T, V), continuing from the current state
    backward(dscores) -> (dhs_enc or None, dfinals) for the encoder
    reorder(idx)      keep rows ``idx`` of all state (beam search)

Training calls begin then run on the whole target; generation calls begin once and then run on
one step at a time (T = 1), through the same layers.
"""

from __future__ import annotations

from ..backend import get_xp
from ..layers import Composite, TimeAffine, TimeAttention, TimeDropout, TimeEmbedding, TimeFeedLSTM
from .stack import LSTMStack


class Decoder(Composite):
    """The book's decoder: embedding, LSTM (started from the encoder's final state), affine."""

    def __init__(self, ini, V, D, H, num_layers=1, skip=False, dropout=0.0, lstm_input=None, affine_input=None):
        self.H = H
        self.embed = TimeEmbedding(ini.embedding(V, D))
        self.stack = LSTMStack(ini, lstm_input or D, H, num_layers=num_layers, skip=skip, dropout=dropout, stateful=True)
        self.affine = TimeAffine(*ini.affine(affine_input or H, V))
        self.adopt(self._children())
        self.drops = self.stack.drops

    @staticmethod
    def count(V, D, H, num_layers=1, skip=False, dropout=0.0, lstm_input=None, affine_input=None):
        """The weights of a decoder built with these arguments, without building it."""
        return V * D + LSTMStack.count(lstm_input or D, H, num_layers) + ((affine_input or H) + 1) * V

    def _children(self):
        return [("embed", self.embed), ("", self.stack), ("affine", self.affine)]

    def begin(self, enc, capacity=None):
        """Start from the encoder's output (``capacity``, the steps generation will run, is not needed)."""
        self.stack.set_states(enc.finals)

    def run(self, xs):
        return self.affine.forward(self.stack.forward(self.embed.forward(xs)))

    def backward(self, dscores):
        self.embed.backward(self.stack.backward(self.affine.backward(dscores)))
        return None, self.stack.dfinals()

    def reorder(self, idx):
        self.stack.reorder(idx)


class PeekyDecoder(Decoder):
    """The decoder sees the encoder's final state h (of the top layer) at every step: [h; embedding]
    is the LSTM's input and [h; LSTM output] the affine's."""

    def __init__(self, ini, V, D, H, **options):
        super().__init__(ini, V, D, H, lstm_input=H + D, affine_input=2 * H, **options)
        self.peek = None

    @staticmethod
    def count(V, D, H, **options):
        return Decoder.count(V, D, H, lstm_input=H + D, affine_input=2 * H, **options)

    def begin(self, enc, capacity=None):
        super().begin(enc)
        self.peek = enc.finals[-1]

    def _with_peek(self, out):
        xp = get_xp(out)
        N, T, _ = out.shape
        return xp.concatenate((xp.broadcast_to(self.peek[:, None, :], (N, T, self.H)), out), axis=2)

    def run(self, xs):
        out = self.stack.forward(self._with_peek(self.embed.forward(xs)))
        return self.affine.forward(self._with_peek(out))

    def backward(self, dscores):
        H = self.H
        dout = self.affine.backward(dscores)
        dpeek = dout[:, :, :H].sum(axis=1)
        dx = self.stack.backward(dout[:, :, H:])
        dpeek += dx[:, :, :H].sum(axis=1)
        self.embed.backward(dx[:, :, H:])
        dfinals = self.stack.dfinals()
        dfinals[-1] = dfinals[-1] + dpeek
        return None, dfinals

    def reorder(self, idx):
        super().reorder(idx)
        self.peek = self.peek[idx]


class AttentionDecoder(Decoder):
    """Embedding, LSTM, attention over the encoder's states, and [context; LSTM output] into the
    affine (the book's placement)."""

    def __init__(self, ini, V, D, H, score="dot", attention_size=None, **options):
        super().__init__(ini, V, D, H, affine_input=2 * H, **options)
        if score == "general":
            self.attention = TimeAttention("general", W=ini.normal(H, H, scale=1 / H**0.5))
        elif score == "concat":
            A = attention_size or H
            self.attention = TimeAttention("concat", W=ini.normal(2 * H, A, scale=1 / (2 * H) ** 0.5), v=ini.normal(A, scale=1 / A**0.5))
        else:
            self.attention = TimeAttention(score)
        self.adopt(self._children() + [("attention", self.attention)])
        self.enc = None

    @staticmethod
    def count(V, D, H, score="dot", attention_size=None, **options):
        A = attention_size or H
        return Decoder.count(V, D, H, affine_input=2 * H, **options) + {"general": H * H, "concat": 2 * H * A + A}.get(score, 0)

    def begin(self, enc, capacity=None):
        super().begin(enc)
        self.enc = enc

    def run(self, xs):
        dec_hs = self.stack.forward(self.embed.forward(xs))
        c = self.attention.forward(self.enc.hs, dec_hs, self.enc.mask)
        return self.affine.forward(get_xp(c).concatenate((c, dec_hs), axis=2))

    def backward(self, dscores):
        H = self.H
        dout = self.affine.backward(dscores)
        dhs_enc, ddec = self.attention.backward(dout[:, :, :H])
        ddec += dout[:, :, H:]
        self.embed.backward(self.stack.backward(ddec))
        return dhs_enc, self.stack.dfinals()

    def reorder(self, idx):
        super().reorder(idx)
        enc = self.enc
        self.enc = type(enc)(enc.hs[idx], [f[idx] for f in enc.finals], None if enc.mask is None else enc.mask[idx])


class FeedAttentionDecoder(Composite):
    """The attention decoder with input feeding: embedding, one ``TimeFeedLSTM`` (the LSTM that
    reads each step's input beside the previous step's context, with the attention inside its
    loop), and [context; LSTM output] into the affine, as in ``AttentionDecoder``. ``dropout``
    applies to what goes into the affine. Dot and general scores; one decoder layer."""

    def __init__(self, init, V, D, H, score="dot", num_layers=1, skip=False, dropout=0.0):
        if num_layers != 1:
            raise ValueError(f"input feeding runs one decoder layer, not {num_layers}")
        self.H = H
        self.embed = TimeEmbedding(init.embedding(V, D))
        W = init.normal(H, H, scale=1 / H**0.5) if score == "general" else None
        self.feed = self.attention = TimeFeedLSTM(*init.lstm(D + H, H), score=score, W=W)
        self.drop = TimeDropout(dropout) if dropout > 0 else None
        self.affine = TimeAffine(*init.affine(2 * H, V))
        self.adopt([("embed", self.embed), ("feed", self.feed), ("affine", self.affine)])
        self.drops = [self.drop]
        self.enc = None

    @staticmethod
    def count(V, D, H, score="dot", num_layers=1, skip=False, dropout=0.0):
        """The weights of a decoder built with these arguments, without building it."""
        return V * D + 4 * H * (D + H + H + 1) + (2 * H + 1) * V + (H * H if score == "general" else 0)

    def begin(self, enc, capacity=None):
        self.enc = enc
        self.feed.set_state(enc.finals[-1])

    def run(self, xs):
        hs, cs = self.feed.forward(self.embed.forward(xs), self.enc.hs, self.enc.mask)
        out = get_xp(hs).concatenate((cs, hs), axis=2)
        return self.affine.forward(out if self.drop is None else self.drop.forward(out))

    def backward(self, dscores):
        H = self.H
        dout = self.affine.backward(dscores)
        if self.drop is not None:
            dout = self.drop.backward(dout)
        dxs, dhs_enc = self.feed.backward(dout[:, :, H:], dout[:, :, :H])
        self.embed.backward(dxs)
        return dhs_enc, [self.feed.dh]

    def reorder(self, idx):
        f = self.feed
        f.set_state(*(None if s is None else s[idx] for s in (f.h, f.m, f.c)))
        enc = self.enc
        self.enc = type(enc)(enc.hs[idx], [x[idx] for x in enc.finals], None if enc.mask is None else enc.mask[idx])


class AttentionDecoders:
    """The attention model's decoder: ``FeedAttentionDecoder`` with ``input_feeding``, else
    ``AttentionDecoder`` (calling this class makes one of those)."""

    def __new__(cls, init, V, D, H, input_feeding=False, **options):
        return (FeedAttentionDecoder if input_feeding else AttentionDecoder)(init, V, D, H, **options)

    @staticmethod
    def count(V, D, H, input_feeding=False, **options):
        return (FeedAttentionDecoder if input_feeding else AttentionDecoder).count(V, D, H, **options)
