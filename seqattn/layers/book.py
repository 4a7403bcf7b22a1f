"""The book's step-by-step layers, with the book's own math: the tests' oracle.

These are the layers of "Deep Learning from Scratch 2" as a reader meets them in chapters 5-8:
``RNN``, ``LSTM`` and ``GRU`` for one time step, ``TimeRNN``, ``TimeLSTM`` and ``TimeGRU`` with
one of those objects per step, ``Softmax``, and the attention of chapter 8 (``WeightSum``,
``AttentionWeight``, ``Attention``, ``TimeAttention``, one ``Attention`` per decoder step). Their
forward and backward are written out here as the book writes them, with its names and gate
blocks (the LSTM's f, g, i, o; the GRU's z, r, h~), and nothing is imported from
``seqattn.ops``: the library's fast layers (``layers.TimeLSTM``, ``layers.TimeAttention``) and
both bodies of the ops they call (the reference and the fast ones) are tested against this code,
so this code shares no math with them. It runs on numpy or cupy (``xp`` is the module of the
arrays given).

Notation: N batch, T time steps, D input size, H hidden size.

    RNN   Wx (D, H), Wh (H, H), b (H,)
        h_next = tanh(h_prev Wh + x Wx + b)
    LSTM  Wx (D, 4H), Wh (H, 4H), b (4H,); A = x Wx + h_prev Wh + b split into f, g, i, o
        f, i, o = sigmoid(A_f), sigmoid(A_i), sigmoid(A_o); g = tanh(A_g)
        c_next = f * c_prev + g * i;  h_next = o * tanh(c_next)
    GRU   Wx (D, 3H), Wh (H, 3H), b (3H,), blocks z, r, h~
        z = sigmoid(x Wx_z + h_prev Wh_z + b_z);  r = sigmoid(x Wx_r + h_prev Wh_r + b_r)
        h~ = tanh(x Wx_h + (r * h_prev) Wh_h + b_h);  h_next = (1 - z) * h_prev + z * h~
    Attention for one decoder state h (N, H) over the encoder's hs (N, T, H)
        s = sum_H hs * h  (N, T);  a = softmax(s);  c = sum_T hs * a  (N, H)

Masks are not the book's; they are the library's convention, added outside the book's cells so
that the cells stay as printed: ``mask`` (N, T) bool, False at padding. A padded step of a
``Time*`` recurrent layer keeps the old state (its cell still runs, and its new state is thrown
away), and in backward that step's cell gets zero gradients while the state gradients pass by it.
In attention a padded source position gets weight exactly 0 (a row with no real position gets
all 0).
"""

from __future__ import annotations

from ..backend import get_xp


def sigmoid(x):
    """The book's sigmoid, 1 / (1 + exp(-x)) (the tests' inputs never make exp(-x) overflow)."""
    return 1 / (1 + get_xp(x).exp(-x))


class RNN:
    """The book's RNN (chapter 5): forward(x (N,D), h_prev (N,H)) -> h_next (N,H);
    backward(dh_next) -> (dx, dh_prev). ``grads`` [dWx, dWh, db] are written in place."""

    def __init__(self, Wx, Wh, b):
        xp = get_xp(Wx, Wh, b)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        """x: (N, D), h_prev: (N, H) -> h_next = tanh(h_prev Wh + x Wx + b) (N, H)."""
        Wx, Wh, b = self.params
        xp = get_xp(x, h_prev, Wx)
        t = xp.dot(h_prev, Wh) + xp.dot(x, Wx) + b
        h_next = xp.tanh(t)

        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        """dh_next: (N, H) -> (dx (N, D), dh_prev (N, H)); writes dWx, dWh, db into ``grads``."""
        Wx, Wh, b = self.params
        x, h_prev, h_next = self.cache
        xp = get_xp(dh_next, Wx)

        dt = dh_next * (1 - h_next**2)
        db = dt.sum(axis=0)
        dWh = xp.dot(h_prev.T, dt)
        dh_prev = xp.dot(dt, Wh.T)
        dWx = xp.dot(x.T, dt)
        dx = xp.dot(dt, Wx.T)

        self.grads[0][...] = dWx
        self.grads[1][...] = dWh
        self.grads[2][...] = db
        return dx, dh_prev


class LSTM:
    """The book's LSTM (chapter 6): forward(x (N,D), h_prev (N,H), c_prev (N,H)) -> (h_next, c_next);
    backward(dh_next, dc_next) -> (dx, dh_prev, dc_prev). ``grads`` [dWx, dWh, db] in place."""

    def __init__(self, Wx, Wh, b):
        xp = get_xp(Wx, Wh, b)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        """x: (N, D), h_prev, c_prev: (N, H) -> (h_next, c_next), each (N, H). Gates f, g, i, o
        from A = x Wx + h_prev Wh + b (N, 4H); c_next = f c_prev + g i; h_next = o tanh(c_next)."""
        Wx, Wh, b = self.params
        xp = get_xp(x, h_prev, c_prev, Wx)
        N, H = h_prev.shape

        A = xp.dot(x, Wx) + xp.dot(h_prev, Wh) + b

        f = A[:, :H]
        g = A[:, H : 2 * H]
        i = A[:, 2 * H : 3 * H]
        o = A[:, 3 * H :]

        f = sigmoid(f)
        g = xp.tanh(g)
        i = sigmoid(i)
        o = sigmoid(o)

        c_next = f * c_prev + g * i
        h_next = o * xp.tanh(c_next)

        self.cache = (x, h_prev, c_prev, i, f, g, o, c_next)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        """dh_next, dc_next: (N, H) -> (dx (N, D), dh_prev (N, H), dc_prev (N, H)); writes dWx,
        dWh, db into ``grads``."""
        Wx, Wh, b = self.params
        x, h_prev, c_prev, i, f, g, o, c_next = self.cache
        xp = get_xp(dh_next, Wx)

        tanh_c_next = xp.tanh(c_next)

        ds = dc_next + (dh_next * o) * (1 - tanh_c_next**2)

        dc_prev = ds * f

        di = ds * g
        df = ds * c_prev
        do = dh_next * tanh_c_next
        dg = ds * i

        di *= i * (1 - i)
        df *= f * (1 - f)
        do *= o * (1 - o)
        dg *= 1 - g**2

        dA = xp.hstack((df, dg, di, do))

        dWh = xp.dot(h_prev.T, dA)
        dWx = xp.dot(x.T, dA)
        db = dA.sum(axis=0)

        self.grads[0][...] = dWx
        self.grads[1][...] = dWh
        self.grads[2][...] = db

        dx = xp.dot(dA, Wx.T)
        dh_prev = xp.dot(dA, Wh.T)
        return dx, dh_prev, dc_prev


class GRU:
    """The book's GRU: forward(x (N,D), h_prev (N,H)) -> h_next; backward(dh_next) -> (dx, dh_prev).
    Wx (D, 3H), Wh (H, 3H), b (3H,) hold the blocks z, r, h~ side by side."""

    def __init__(self, Wx, Wh, b):
        xp = get_xp(Wx, Wh, b)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        """x: (N, D), h_prev: (N, H) -> h_next (N, H)."""
        Wx, Wh, b = self.params
        xp = get_xp(x, h_prev, Wx)
        H = Wh.shape[0]
        Wxz, Wxr, Wxh = Wx[:, :H], Wx[:, H : 2 * H], Wx[:, 2 * H :]
        Whz, Whr, Whh = Wh[:, :H], Wh[:, H : 2 * H], Wh[:, 2 * H :]
        bz, br, bh = b[:H], b[H : 2 * H], b[2 * H :]

        z = sigmoid(xp.dot(x, Wxz) + xp.dot(h_prev, Whz) + bz)
        r = sigmoid(xp.dot(x, Wxr) + xp.dot(h_prev, Whr) + br)
        h_hat = xp.tanh(xp.dot(x, Wxh) + xp.dot(r * h_prev, Whh) + bh)
        h_next = (1 - z) * h_prev + z * h_hat

        self.cache = (x, h_prev, z, r, h_hat)
        return h_next

    def backward(self, dh_next):
        """dh_next: (N, H) -> (dx (N, D), dh_prev (N, H)); writes dWx, dWh, db into ``grads``."""
        Wx, Wh, b = self.params
        xp = get_xp(dh_next, Wx)
        H = Wh.shape[0]
        Wxz, Wxr, Wxh = Wx[:, :H], Wx[:, H : 2 * H], Wx[:, 2 * H :]
        Whz, Whr, Whh = Wh[:, :H], Wh[:, H : 2 * H], Wh[:, 2 * H :]
        x, h_prev, z, r, h_hat = self.cache

        dh_hat = dh_next * z
        dh_prev = dh_next * (1 - z)

        # tanh
        dt = dh_hat * (1 - h_hat**2)
        dbh = dt.sum(axis=0)
        dWhh = xp.dot((r * h_prev).T, dt)
        dhr = xp.dot(dt, Whh.T)
        dWxh = xp.dot(x.T, dt)
        dx = xp.dot(dt, Wxh.T)
        dh_prev += r * dhr

        # update gate (z)
        dz = dh_next * h_hat - dh_next * h_prev
        dt = dz * z * (1 - z)
        dbz = dt.sum(axis=0)
        dWhz = xp.dot(h_prev.T, dt)
        dh_prev += xp.dot(dt, Whz.T)
        dWxz = xp.dot(x.T, dt)
        dx += xp.dot(dt, Wxz.T)

        # reset gate (r)
        dr = dhr * h_prev
        dt = dr * r * (1 - r)
        dbr = dt.sum(axis=0)
        dWhr = xp.dot(h_prev.T, dt)
        dh_prev += xp.dot(dt, Whr.T)
        dWxr = xp.dot(x.T, dt)
        dx += xp.dot(dt, Wxr.T)

        self.grads[0][...] = xp.hstack((dWxz, dWxr, dWxh))
        self.grads[1][...] = xp.hstack((dWhz, dWhr, dWhh))
        self.grads[2][...] = xp.hstack((dbz, dbr, dbh))
        return dx, dh_prev


class TimeRNN:
    """The book's TimeRNN: one ``RNN`` object per time step (``TimeGRU``: one ``GRU``).
    forward(xs (N,T,D), mask=None) -> hs (N,T,H); backward(dhs) -> dxs. Keeps ``h`` (the last
    state) and, after backward, ``dh`` (the gradient of the first); with ``stateful`` the state
    carries over between calls and ``set_state`` sets it."""

    step = RNN

    def __init__(self, Wx, Wh, b, stateful=False):
        xp = get_xp(Wx, Wh, b)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.layers, self.mask = None, None
        self.h, self.dh = None, None
        self.stateful = stateful

    def forward(self, xs, mask=None):
        """xs: (N, T, D), mask=None (N, T) bool -> hs (N, T, H), one step object per t (a padded
        step keeps h)."""
        Wx, Wh, b = self.params
        xp = get_xp(xs, mask, Wx)
        N, T, D = xs.shape
        H = Wh.shape[0]
        self.layers, self.mask = [], mask
        hs = xp.empty((N, T, H), dtype=Wx.dtype)
        if not self.stateful or self.h is None:
            self.h = xp.zeros((N, H), dtype=Wx.dtype)

        for t in range(T):
            layer = self.step(*self.params)
            h = layer.forward(xs[:, t, :], self.h)
            self.h = h if mask is None else xp.where(mask[:, t, None], h, self.h)  # padding keeps h
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        """dhs: (N, T, H) -> dxs (N, T, D); sums the steps' weight gradients into ``grads``
        and sets ``dh``."""
        Wx, Wh, b = self.params
        xp = get_xp(dhs, Wx)
        N, T, H = dhs.shape
        D = Wx.shape[0]
        dxs = xp.empty((N, T, D), dtype=dhs.dtype)
        dh = 0
        grads = [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dh = dhs[:, t, :] + dh
            if self.mask is None:
                dx, dh = layer.backward(dh)
            else:  # a padded row: the cell gets 0, dh goes by it to the step before
                m = self.mask[:, t, None]
                dx, dh_prev = layer.backward(dh * m)
                dh = dh_prev + dh * ~m
            dxs[:, t, :] = dx
            for i, grad in enumerate(layer.grads):
                grads[i] += grad
        for i, grad in enumerate(grads):
            self.grads[i][...] = grad
        self.dh = dh
        return dxs

    def set_state(self, h):
        """Set the initial hidden state h (N, H) of the next forward (used when ``stateful``)."""
        self.h = h

    def reset_state(self):
        """Forget the carried state: the next forward starts from zeros."""
        self.h = None


class TimeGRU(TimeRNN):
    """The book's TimeGRU: one ``GRU`` object per time step; otherwise as ``TimeRNN``."""

    step = GRU


class TimeLSTM:
    """The book's TimeLSTM: one ``LSTM`` object per time step. forward(xs (N,T,D), mask=None) ->
    hs (N,T,H); backward(dhs) -> dxs. Keeps ``h`` and ``c`` (the last states) and, after
    backward, ``dh`` and ``dc`` (the gradients of the first); with ``stateful`` the states carry
    over between calls and ``set_state(h, c=None)`` sets them."""

    def __init__(self, Wx, Wh, b, stateful=False):
        xp = get_xp(Wx, Wh, b)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.layers, self.mask = None, None
        self.h, self.c = None, None
        self.dh, self.dc = None, None
        self.stateful = stateful

    def forward(self, xs, mask=None):
        """xs: (N, T, D), mask=None (N, T) bool -> hs (N, T, H), one ``LSTM`` object per t (a
        padded step keeps h and c)."""
        Wx, Wh, b = self.params
        xp = get_xp(xs, mask, Wx)
        N, T, D = xs.shape
        H = Wh.shape[0]
        self.layers, self.mask = [], mask
        hs = xp.empty((N, T, H), dtype=Wx.dtype)
        if not self.stateful or self.h is None:
            self.h = xp.zeros((N, H), dtype=Wx.dtype)
        if not self.stateful or self.c is None:
            self.c = xp.zeros((N, H), dtype=Wx.dtype)

        for t in range(T):
            layer = LSTM(*self.params)
            h, c = layer.forward(xs[:, t, :], self.h, self.c)
            if mask is not None:  # padding keeps h and c
                m = mask[:, t, None]
                h, c = xp.where(m, h, self.h), xp.where(m, c, self.c)
            self.h, self.c = h, c
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        """dhs: (N, T, H) -> dxs (N, T, D); sums the steps' weight gradients into ``grads``
        and sets ``dh`` and ``dc``."""
        Wx, Wh, b = self.params
        xp = get_xp(dhs, Wx)
        N, T, H = dhs.shape
        D = Wx.shape[0]
        dxs = xp.empty((N, T, D), dtype=dhs.dtype)
        dh, dc = 0, 0
        grads = [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dh = dhs[:, t, :] + dh
            if self.mask is None:
                dx, dh, dc = layer.backward(dh, dc)
            else:  # a padded row: the cell gets 0, dh and dc go by it to the step before
                m = self.mask[:, t, None]
                dx, dh_prev, dc_prev = layer.backward(dh * m, dc * m)
                dh, dc = dh_prev + dh * ~m, dc_prev + dc * ~m
            dxs[:, t, :] = dx
            for i, grad in enumerate(layer.grads):
                grads[i] += grad
        for i, grad in enumerate(grads):
            self.grads[i][...] = grad
        self.dh, self.dc = dh, dc
        return dxs

    def set_state(self, h, c=None):
        """Set the initial states h and c (N, H) of the next forward (used when ``stateful``)."""
        self.h, self.c = h, c

    def reset_state(self):
        """Forget the carried states: the next forward starts from zeros."""
        self.h, self.c = None, None


class Softmax:
    """The book's Softmax over the last axis of (N, T): forward(x, mask=None) -> y; backward(dy) -> dx.
    With ``mask`` (N, T) bool, y is 0 where it is False (and in a row where it is False everywhere)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x, mask=None):
        """x: (N, T) scores, mask=None (N, T) bool -> y (N, T), each row summing to 1 (0 where
        the mask is False). Keeps y for backward."""
        xp = get_xp(x, mask)
        if mask is not None:  # a padded score stands below every real one, so the max is a real one's
            x = xp.where(mask, x, x.min(axis=1, keepdims=True))
        x = x - x.max(axis=1, keepdims=True)
        y = xp.exp(x)
        if mask is not None:
            y = y * mask
        total = y.sum(axis=1, keepdims=True)
        self.out = y / (total if mask is None else xp.where(total > 0, total, 1))
        return self.out

    def backward(self, dout):
        """dy: (N, T) -> dx = y * dy - y * sum(y * dy)."""
        dx = self.out * dout
        sumdx = dx.sum(axis=1, keepdims=True)
        dx -= self.out * sumdx
        return dx


class WeightSum:
    """forward(hs (N,T,H), a (N,T)) -> c (N,H) = sum_t a_t hs_t; backward(dc) -> (dhs, da)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, a):
        """hs: (N, T, H), a: (N, T) -> c (N, H), the a-weighted sum of the rows of hs."""
        N, T, H = hs.shape

        ar = a.reshape(N, T, 1)
        t = hs * ar
        c = t.sum(axis=1)

        self.cache = (hs, ar)
        return c

    def backward(self, dc):
        """dc: (N, H) -> (dhs (N, T, H), da (N, T))."""
        hs, ar = self.cache
        N, T, H = hs.shape
        dt = dc.reshape(N, 1, H).repeat(T, axis=1)
        dar = dt * hs
        dhs = dt * ar
        da = dar.sum(axis=2)
        return dhs, da


class AttentionWeight:
    """forward(hs (N,T,H), h (N,H), mask=None (N,T)) -> a (N,T) = softmax(hs h); backward(da) -> (dhs, dh)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.softmax = Softmax()
        self.cache = None

    def forward(self, hs, h, mask=None):
        """hs: (N, T, H), h: (N, H), mask=None (N, T) bool -> a (N, T) = softmax of the dot
        products hs_t . h."""
        N, T, H = hs.shape

        hr = h.reshape(N, 1, H)
        t = hs * hr
        s = t.sum(axis=2)
        a = self.softmax.forward(s, mask)

        self.cache = (hs, hr)
        return a

    def backward(self, da):
        """da: (N, T) -> (dhs (N, T, H), dh (N, H))."""
        hs, hr = self.cache
        N, T, H = hs.shape

        ds = self.softmax.backward(da)
        dt = ds.reshape(N, T, 1).repeat(H, axis=2)
        dhs = dt * hr
        dhr = dt * hs
        dh = dhr.sum(axis=1)
        return dhs, dh


class Attention:
    """The book's attention for one decoder step: forward(hs (N,T,H), h (N,H), mask=None) -> c (N,H);
    backward(dc) -> (dhs, dh). Keeps ``attention_weight`` (N, T)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weight_layer = AttentionWeight()
        self.weight_sum_layer = WeightSum()
        self.attention_weight = None

    def forward(self, hs, h, mask=None):
        """hs: (N, T, H) encoder states, h: (N, H) one decoder state, mask=None (N, T) bool ->
        the context c (N, H): AttentionWeight, then WeightSum. Keeps ``attention_weight`` (N, T)."""
        get_xp(hs, h, mask)  # refuses mixed numpy and cupy with a clear message
        a = self.attention_weight_layer.forward(hs, h, mask)
        out = self.weight_sum_layer.forward(hs, a)
        self.attention_weight = a
        return out

    def backward(self, dout):
        """dc: (N, H) -> (dhs (N, T, H), dh (N, H)); dhs sums both paths to hs."""
        dhs0, da = self.weight_sum_layer.backward(dout)
        dhs1, dh = self.attention_weight_layer.backward(da)
        dhs = dhs0 + dhs1
        return dhs, dh


class TimeAttention:
    """The book's TimeAttention: one ``Attention`` per decoder step.
    forward(hs_enc (N,Te,H), hs_dec (N,Td,H), mask=None (N,Te)) -> c (N,Td,H);
    backward(dc) -> (dhs_enc, dhs_dec). Keeps ``attention_weights``, a list of Td (N, Te)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.layers = None
        self.attention_weights = None

    def forward(self, hs_enc, hs_dec, mask=None):
        """hs_enc: (N, Te, H), hs_dec: (N, Td, H), mask=None (N, Te) bool -> c (N, Td, H), one
        ``Attention`` object per decoder step."""
        xp = get_xp(hs_enc, hs_dec, mask)
        N, T, H = hs_dec.shape
        out = xp.empty_like(hs_dec)
        self.layers = []
        self.attention_weights = []

        for t in range(T):
            layer = Attention()
            out[:, t, :] = layer.forward(hs_enc, hs_dec[:, t, :], mask)
            self.layers.append(layer)
            self.attention_weights.append(layer.attention_weight)
        return out

    def backward(self, dout):
        """dc: (N, Td, H) -> (dhs_enc (N, Te, H) summed over the steps, dhs_dec (N, Td, H))."""
        xp = get_xp(dout)
        N, T, H = dout.shape
        dhs_enc = 0
        dhs_dec = xp.empty_like(dout)

        for t in range(T):
            layer = self.layers[t]
            dhs, dh = layer.backward(dout[:, t, :])
            dhs_enc += dhs
            dhs_dec[:, t, :] = dh
        return dhs_enc, dhs_dec
