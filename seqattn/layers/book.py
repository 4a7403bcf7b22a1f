"""The book's step-by-step layers: one object per time step, attention one decoder step at a time.

These are the layers of "Deep Learning from Scratch 2" as a reader meets them in chapters 6-8
(``LSTM``, ``TimeLSTM``, ``WeightSum``, ``AttentionWeight``, ``Attention``, ``TimeAttention``),
plus one-step ``RNN`` and ``GRU`` of the same shape. The cells' math is the reference body in
``seqattn/ops/reference.py`` (the book's gate order f, g, i, o and names). They run on numpy or
cupy. The library's time layers (``layers.TimeLSTM``, ``layers.TimeAttention``) do the same work
with no object per step; the tests hold them against these, and ``python -m benchmarks`` times
them against these.
"""

from __future__ import annotations

from ..backend import get_xp
from ..ops import reference_ops


class _Step:
    """One step of a recurrent cell with its weights, as the book's layers keep them."""

    cell = None

    def __init__(self, Wx, Wh, b):
        xp = get_xp(Wx, Wh, b)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.cache = None

    def _forward(self, x, *prev):
        Wx, Wh, b = self.params
        ops = reference_ops(x, Wx)
        new, G = getattr(ops, self.cell + "_cell")(x @ Wx + b, Wh, *prev)
        self.cache = (x, prev, new, G)
        return new

    def _backward(self, *d):
        Wx, Wh, b = self.params
        x, prev, new, G = self.cache
        ops = reference_ops(x, Wx)
        dA, d_prev = getattr(ops, self.cell + "_cell_backward")(G, Wh, prev, new, d)
        self.grads[0][...] = x.T @ dA
        self.grads[1][...] = ops.recurrent_weight_grad(self.cell, prev[0], G, dA)
        self.grads[2][...] = dA.sum(axis=0)
        return (dA @ Wx.T, *d_prev)


class LSTM(_Step):
    """The book's LSTM: forward(x (N,D), h_prev (N,H), c_prev (N,H)) -> (h_next, c_next);
    backward(dh_next, dc_next) -> (dx, dh_prev, dc_prev)."""

    cell = "lstm"

    def forward(self, x, h_prev, c_prev):
        return self._forward(x, h_prev, c_prev)

    def backward(self, dh_next, dc_next):
        return self._backward(dh_next, dc_next)


class RNN(_Step):
    """The book's RNN: forward(x (N,D), h_prev (N,H)) -> h_next; backward(dh_next) -> (dx, dh_prev)."""

    cell = "rnn"

    def forward(self, x, h_prev):
        return self._forward(x, h_prev)[0]

    def backward(self, dh_next):
        return self._backward(dh_next)


class GRU(RNN):
    """One GRU step, shaped as ``RNN``: Wx (D, 3H), Wh (H, 3H), b (3H,), gate blocks z, r, h~."""

    cell = "gru"


class TimeLSTM:
    """The book's TimeLSTM: one ``LSTM`` object per time step. forward(xs (N,T,D)) -> hs (N,T,H)."""

    def __init__(self, Wx, Wh, b, stateful=False):
        xp = get_xp(Wx, Wh, b)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.layers = None
        self.h, self.c = None, None
        self.dh = None
        self.stateful = stateful

    def forward(self, xs):
        Wx, Wh, b = self.params
        xp = get_xp(xs, Wx)
        N, T, D = xs.shape
        H = Wh.shape[0]
        self.layers = []
        hs = xp.empty((N, T, H), dtype=Wx.dtype)
        if not self.stateful or self.h is None:
            self.h = xp.zeros((N, H), dtype=Wx.dtype)
        if not self.stateful or self.c is None:
            self.c = xp.zeros((N, H), dtype=Wx.dtype)
        for t in range(T):
            layer = LSTM(*self.params)
            self.h, self.c = layer.forward(xs[:, t, :], self.h, self.c)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        Wx, Wh, b = self.params
        xp = get_xp(dhs, Wx)
        N, T, H = dhs.shape
        D = Wx.shape[0]
        dxs = xp.empty((N, T, D), dtype=dhs.dtype)
        dh, dc = 0, 0
        grads = [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh, dc = layer.backward(dhs[:, t, :] + dh, dc)
            dxs[:, t, :] = dx
            for i, grad in enumerate(layer.grads):
                grads[i] += grad
        for i, grad in enumerate(grads):
            self.grads[i][...] = grad
        self.dh = dh
        return dxs

    def set_state(self, h, c=None):
        self.h, self.c = h, c


class WeightSum:
    """forward(hs (N,T,H), a (N,T)) -> c (N,H) = sum_t a_t hs_t; backward(dc) -> (dhs, da)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, a):
        N, T, H = hs.shape
        ar = a.reshape(N, T, 1)
        self.cache = (hs, ar)
        return (hs * ar).sum(axis=1)

    def backward(self, dc):
        hs, ar = self.cache
        N, T, H = hs.shape
        dt = dc.reshape(N, 1, H).repeat(T, axis=1)
        dar = dt * hs
        dhs = dt * ar
        da = dar.sum(axis=2)
        return dhs, da


class AttentionWeight:
    """forward(hs (N,T,H), h (N,H)) -> a (N,T) = softmax(hs h); backward(da) -> (dhs, dh)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, h):
        N, T, H = hs.shape
        hr = h.reshape(N, 1, H).repeat(T, axis=1)
        s = (hs * hr).sum(axis=2)
        a = reference_ops(s).softmax(s)
        self.cache = (hs, hr, a)
        return a

    def backward(self, da):
        hs, hr, a = self.cache
        N, T, H = hs.shape
        ds = reference_ops(a).softmax_backward(a, da)
        dt = ds.reshape(N, T, 1).repeat(H, axis=2)
        dhs = dt * hr
        dh = (dt * hs).sum(axis=1)
        return dhs, dh


class Attention:
    """The book's attention for one decoder step: forward(hs (N,T,H), h (N,H)) -> c (N,H);
    backward(dc) -> (dhs, dh). Keeps ``attention_weight`` (N, T)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.weight_layer = AttentionWeight()
        self.sum_layer = WeightSum()
        self.attention_weight = None

    def forward(self, hs, h):
        get_xp(hs, h)  # refuses mixed numpy and cupy with a clear message
        a = self.weight_layer.forward(hs, h)
        self.attention_weight = a
        return self.sum_layer.forward(hs, a)

    def backward(self, dc):
        dhs0, da = self.sum_layer.backward(dc)
        dhs1, dh = self.weight_layer.backward(da)
        return dhs0 + dhs1, dh


class TimeAttention:
    """The book's TimeAttention: one ``Attention`` per decoder step.
    forward(hs_enc (N,Te,H), hs_dec (N,Td,H)) -> c (N,Td,H); backward(dc) -> (dhs_enc, dhs_dec)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.layers = None
        self.attention_weights = None

    def forward(self, hs_enc, hs_dec):
        xp = get_xp(hs_enc, hs_dec)
        N, T, H = hs_dec.shape
        out = xp.empty_like(hs_dec)
        self.layers, self.attention_weights = [], []
        for t in range(T):
            layer = Attention()
            out[:, t, :] = layer.forward(hs_enc, hs_dec[:, t, :])
            self.layers.append(layer)
            self.attention_weights.append(layer.attention_weight)
        return out

    def backward(self, dout):
        xp = get_xp(dout)
        N, T, H = dout.shape
        dhs_enc = 0
        dhs_dec = xp.empty_like(dout)
        for t in range(T):
            dhs, dh = self.layers[t].backward(dout[:, t, :])
            dhs_enc += dhs
            dhs_dec[:, t, :] = dh
        return dhs_enc, dhs_dec
