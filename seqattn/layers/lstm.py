"""LSTM layers: one step (``LSTM``), a sequence (``TimeLSTM``) and both directions (``TimeBiLSTM``).

Gate order in Wx (D, 4H), Wh (H, 4H), b (4H,) is f, g, i, o, as in the book. At step t:
    A = x Wx + h_prev Wh + b                     (1)
    f, i, o = sigmoid(A_f, A_i, A_o); g = tanh(A_g)   (2)
    c = f * c_prev + g * i                       (3)
    h = o * tanh(c)                              (4)
"""

from __future__ import annotations

from .base import Layer, check_float, check_mask
from .recurrent import StepLayer, TimeRecurrent


class TimeLSTM(TimeRecurrent):
    """``TimeLSTM(Wx, Wh, b, stateful=False)``: forward(xs (N,T,D), mask=None) -> hs (N,T,H).

    ``h`` and ``c`` are the last states; ``dh`` (and ``dc``) the gradients of the initial ones after
    backward. With ``stateful=True`` the states carry over between calls and ``set_state(h, c=None)``
    sets them (the decoder's way of receiving the encoder's state).
    """

    gates = 4
    n_states = 2

    @property
    def c(self):
        return self._states[1]

    @property
    def dc(self):
        return None if self._dstates is None else self._dstates[1]

    def set_state(self, h, c=None):
        super().set_state(h, c)

    # Layout: the gates of step t are A[t] (4, N, H), gate-major in the order f, i, o, g, so that
    # every gate is one contiguous block and the three sigmoid gates are one block: elementwise
    # work on strided column slices of an (N, 4H) array costs numpy about twice as much.
    # sigmoid(x) = 0.5 tanh(0.5 x) + 0.5: the inner 0.5 goes into the weights' f, i, o columns
    # (exact: a power of two), so one tanh serves all four gates, and the sigmoids are finished
    # with a multiply and an add by scalars on their block.
    ORDER = (0, 2, 3, 1)  # A[t][k] is the book's gate block ORDER[k] of Wx, Wh, b (f, g, i, o)

    def _gate_major(self, *Ws):
        """Row blocks (rows_k, 4H) in the book's order -> one (4, sum rows_k, H) in ORDER, with the
        sigmoid columns halved; one pass of copying, no concatenation."""
        xp = self.xp()
        H = self.hidden_size
        rows = [W.shape[0] for W in Ws]
        W4 = self._workspace("W4", (4, sum(rows), H), xp)
        for k, gate in enumerate(self.ORDER):
            r0 = 0
            for W, r in zip(Ws, rows):
                xp.multiply(W[:, gate * H : (gate + 1) * H], 0.5 if k < 3 else 1.0, out=W4[k, r0 : r0 + r])
                r0 += r
        return W4

    # No input projection before the loop: step t's gates are one product Z[t] [Wh; Wx; b], with
    # Z[t] = [h_t, x_t, 1] already side by side, written straight into G[t]. This saves the
    # projection's pass over (T, N, 4H) and the add that would bring it back from memory.
    def _project(self, X, W):
        T, N, _ = X.shape
        self._W4 = self._gate_major(self.params[1], W)  # (4, H+D+1, H)
        return self._workspace("A", (T, 4, N, self.hidden_size), self.xp())

    def _begin(self, T, N):
        xp = self.xp()
        H = self.hidden_size
        self._tc = self._workspace("tc", (T, N, H), xp)  # tanh(c_t)
        self._tmp = self._workspace("tmp", (4, N, H), xp)
        self._tmp2 = self._workspace("tmp2", (N, H), xp)
        self._spent = False  # set once backward has turned the gates into gradients

    def _cell_forward(self, t):
        xp = self.xp()
        hs, cs = self._S
        G = self._A[t]  # (4, N, H): f, i, o, g
        xp.matmul(self._Z[t], self._W4, out=G)  # (1), with the sigmoid gates at half scale
        xp.tanh(G, out=G)  # (2) in one pass; then f, i, o = 0.5 t + 0.5, g = t
        sig = G[:3]
        sig *= 0.5
        sig += 0.5
        f, i, o, g = G
        c, tc, h = cs[t + 1], self._tc[t], hs[t + 1]
        xp.multiply(f, cs[t], out=c)  # (3)
        xp.multiply(g, i, out=self._tmp2)
        c += self._tmp2
        xp.tanh(c, out=tc)  # (4)
        xp.multiply(o, tc, out=h)

    # Backward writes dA[t] into the memory of the gates G[t], which it has just read (so it is in
    # cache; a separate dA array is first touched from memory, about 40 us per (N, 4H) block). So
    # one forward allows one backward, and each step reads all of G[t] before writing dA[t].
    def _grad_buffer(self, T, N, xp):
        if self._spent:
            raise RuntimeError("TimeLSTM: backward was already run for this forward (it reuses the gate "
                               "cache for the gradients); run forward again before another backward")
        self._spent = True
        return self._A.reshape(T, N, 4 * self.hidden_size)

    def _cell_backward(self, t, dS, dA_t, dS_prev):
        xp = self.xp()
        H = self.hidden_size
        dh, dc = dS
        G = self._A[t]
        f, i, o, g = G
        tc, c_prev = self._tc[t], self._S[1][t]
        # the derivatives of the gates: s (1 - s) for the sigmoids, 1 - g^2 for g, as one block
        d = self._tmp
        xp.multiply(G, G, out=d)
        xp.subtract(G[:3], d[:3], out=d[:3])
        xp.subtract(1, d[3], out=d[3])
        df, di, do, dg = d
        ds = self._tmp2
        xp.multiply(tc, tc, out=ds)  # (4): the gradient at c_t, ds = dc + dh * o * (1 - tc^2)
        xp.subtract(1, ds, out=ds)
        ds *= o
        ds *= dh
        ds += dc
        xp.multiply(ds, f, out=dS_prev[1])  # (3): dc_prev
        do *= tc  # (4), (2): dAo = dh * tc * o'
        df *= c_prev  # (3), (2): dAf = ds * c_prev * f'
        dg *= i  # (3), (2): dAg = ds * i * g'
        di *= g  # (3), (2): dAi = ds * g * i'
        # G[t] is read; dA_t (its memory) is (N, 4H) in the book's order f, g, i, o
        xp.multiply(df, ds, out=dA_t[:, :H])
        xp.multiply(dg, ds, out=dA_t[:, H : 2 * H])
        xp.multiply(di, ds, out=dA_t[:, 2 * H : 3 * H])
        xp.multiply(do, dh, out=dA_t[:, 3 * H :])
        xp.matmul(dA_t, self.params[1].T, out=dS_prev[0])  # (1): dh_prev


class LSTM(StepLayer):
    """One LSTM step: forward(x (N,D), h_prev, c_prev) -> (h, c);
    backward(dh, dc) -> (dx, dh_prev, dc_prev)."""

    time_layer = TimeLSTM

    def forward(self, x, h_prev, c_prev):
        return tuple(self._step(x, h_prev, c_prev))

    def backward(self, dh, dc):
        return self._step_backward(dh, dc)


class TimeBiLSTM(Layer):
    """Both directions over the sequence, outputs concatenated: (N, T, D) -> (N, T, 2H).

    The backward direction reads the sequence reversed; with a mask it starts at each sequence's
    real end (padding leaves its state at zero until the real positions begin). Its final state
    is its output at position 0; the forward direction's, with right padding, at position T-1.
    """

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads
        self.hidden_size = Wh1.shape[0]

    def forward(self, xs, mask=None):
        xs = check_float(xs, "xs", "TimeBiLSTM", ndim=3)
        xp = self.xp(xs, mask)
        mask = check_mask(mask, xs.shape[:2], "TimeBiLSTM")
        hf = self.forward_lstm.forward(xs, mask)
        hb = self.backward_lstm.forward(xs[:, ::-1], None if mask is None else mask[:, ::-1])
        return xp.concatenate((hf, hb[:, ::-1]), axis=2)

    def backward(self, dhs, dh_last=None):
        """dhs: (N, T, 2H) -> dxs; ``dh_last`` (N, 2H) adds gradients of both final states."""
        H = self.hidden_size
        df, db = (None, None) if dh_last is None else (dh_last[:, :H], dh_last[:, H:])
        dxs = self.forward_lstm.backward(dhs[:, :, :H], (df, None))
        dxs += self.backward_lstm.backward(dhs[:, ::-1, H:], (db, None))[:, ::-1]
        return dxs

    @property
    def dh(self):
        """Gradients of the initial states of both directions, (N, 2H)."""
        return self.xp().concatenate((self.forward_lstm.dh, self.backward_lstm.dh), axis=1)
