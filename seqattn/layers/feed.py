"""``TimeFeedLSTM``: an LSTM whose every step also reads the attention context of the step before
(Luong, Pham and Manning 2015, "input feeding"), the attention being made inside the time loop.

Notation: N batch, T decoder steps, Te encoder steps, D input size, H hidden size.
    K = hs_enc (N, Te, H), padded source positions masked; x_t (N, D) the input of step t
    h_0, m_0 (the LSTM's memory cell) and c_0 (the previous context) from ``set_state``, else 0

    A_t = [x_t; c_{t-1}] Wx + h_{t-1} Wh + b,  Wx = [Wx_x; Wx_c] (D + H, 4H)       (1)
    h_t, m_t = the LSTM cell of A_t and m_{t-1} (the book's gates, ``ops.lstm_cell``)  (2)
    s_t = K W^T h_t  (N, Te): W = I for the dot score, a weight (H, H) for general   (3)
    a_t = softmax(s_t), 0 at padded positions                                        (4)
    c_t = a_t K  (N, H)                                                              (5)

forward gives hs = (h_1 .. h_T) and cs = (c_1 .. c_T); the decoder puts [c_t; h_t] into its affine
as the book's attention decoder does. Without feeding (the book's model) the LSTM never learns
where it attended, so nothing stops every step from attending to the same position; with it the
next step knows what the last one read.

Only the recurrence is a loop: x_t Wx_x for every step is one product before it; the weight
gradients, dK and the general score's dW are one product each after it.
"""

from __future__ import annotations

from .base import Layer, check_dim, check_float, check_mask

FEED_SCORES = ("dot", "general")


class TimeFeedLSTM(Layer):
    """``TimeFeedLSTM(Wx (D+H, 4H), Wh (H, 4H), b (4H,), score="dot", W=None)``, stateful.

    forward(xs (N,T,D), hs_enc (N,Te,H), mask=None (N,Te) bool) -> (hs (N,T,H), cs (N,T,H));
    backward(dhs, dcs) -> (dxs (N,T,D), dhs_enc (N,Te,H)). Keeps ``attention_weights`` (N, T, Te).
    The states (h, m, c) carry over from one forward to the next (generation runs one step per
    call); ``set_state(h, m=None, c=None)`` sets them, and after backward ``dh``, ``dm`` and ``dc``
    are the gradients of the initial ones.
    """

    def __init__(self, Wx, Wh, b, score="dot", W=None):
        if score not in FEED_SCORES:
            raise ValueError(f"TimeFeedLSTM: input feeding takes the {' or '.join(FEED_SCORES)} score, not {score!r}")
        H = Wh.shape[0]
        if Wx.ndim != 2 or Wx.shape[0] <= H or Wx.shape[1] != 4 * H or Wh.shape != (H, 4 * H) or b.shape != (4 * H,):
            raise ValueError(f"TimeFeedLSTM: expected Wx (D+H, 4H), Wh (H, 4H), b (4H,) with D >= 1; "
                             f"got {tuple(Wx.shape)}, {tuple(Wh.shape)}, {tuple(b.shape)}")
        if (score == "general") != (W is not None) or (W is not None and W.shape != (H, H)):
            raise ValueError(f"TimeFeedLSTM: the general score needs W (H, H) and the dot score none; got {score} "
                             f"and {None if W is None else tuple(W.shape)}")
        super().__init__(*(p for p in (Wx, Wh, b, W) if p is not None))
        self.param_names = ("Wx", "Wh", "b") + (("W",) if W is not None else ())
        self.score, self.hidden_size = score, H
        self.h = self.m = self.c = None
        self.dh = self.dm = self.dc = None
        self.attention_weights = None
        self._cache = None

    def set_state(self, h, m=None, c=None):
        """The states the next forward starts from: h, the memory cell m and the previous context
        c, each (N, H) or None for zeros."""
        self.h, self.m, self.c = h, m, c

    def reset_state(self):
        """Start the next forward from zeros."""
        self.set_state(None)

    def forward(self, xs, hs_enc, mask=None):
        """xs (N, T, D), hs_enc (N, Te, H), mask (N, Te) bool or None -> (hs, cs), each (N, T, H):
        (1)-(5) step by step. Keeps the gates, states, contexts and weights of every step for
        backward, and the final states for the next call."""
        name = type(self).__name__
        Wx, Wh, b = self.params[:3]
        xs = check_float(xs, "xs", name, ndim=3, dtype=Wx.dtype)
        K = check_float(hs_enc, "hs_enc", name, ndim=3, dtype=Wx.dtype)
        ops = self.ops(xs, K, mask)
        xp = ops.xp
        N, T, D = xs.shape
        Te, H = K.shape[1], self.hidden_size
        check_dim(D + H, Wx.shape[0], "the input size D plus the hidden size H", name)
        check_dim(H, K.shape[2], "the encoder states' width", name)
        if K.shape[0] != N:
            raise ValueError(f"{name}: xs {tuple(xs.shape)} and hs_enc {tuple(K.shape)} differ in N")
        check_mask(mask, (N, Te), name)
        for s in (self.h, self.m, self.c):
            if s is not None and tuple(s.shape) != (N, H):
                raise ValueError(f"{name}: a state has shape {tuple(s.shape)}, expected {(N, H)}")
        Wxx, Wxc = Wx[:D], Wx[D:]
        KW = K if self.score == "dot" else (K.reshape(N * Te, H) @ self.params[3].T).reshape(N, Te, H)  # (3): s_t = KW h_t
        ws, dt = self._ws, Wx.dtype
        X = xs.transpose(1, 0, 2)  # time-major (T, N, D)
        Ax = (X.reshape(T * N, D) @ Wxx).reshape(T, N, 4 * H)  # (1), the input part of every step
        Ax += b
        Hs, Ms, Cs = (ws(k, (T + 1, N, H), xp, dt) for k in ("H", "M", "C"))  # [t + 1]: after step t
        for s, init in ((Hs, self.h), (Ms, self.m), (Cs, self.c)):
            s[0] = 0 if init is None else init
        G = ws("G", (T, N, 4 * H), xp, dt)
        A = ws("A", (T, N, Te), xp, dt)
        for t in range(T):
            (Hs[t + 1], Ms[t + 1]), G[t] = ops.lstm_cell(Ax[t] + Cs[t] @ Wxc, Wh, Hs[t], Ms[t])  # (1), (2)
            s = KW @ Hs[t + 1][:, :, None]  # (3), (N, Te, 1)
            A[t] = ops.masked_softmax(s.transpose(0, 2, 1), mask)[:, 0]  # (4)
            Cs[t + 1] = (A[t][:, None, :] @ K)[:, 0]  # (5)
        self.h, self.m, self.c = Hs[T].copy(), Ms[T].copy(), Cs[T].copy()
        # copies, never views of the workspace, which the next call (the next generated step) overwrites
        self.attention_weights = A.transpose(1, 0, 2).copy()
        self._cache = (X, K, KW, Hs, Ms, Cs, G, A)
        return Hs[1:].transpose(1, 0, 2).copy(), Cs[1:].transpose(1, 0, 2).copy()

    def backward(self, dhs, dcs):
        """dhs, dcs (N, T, H): the gradients at hs and cs -> (dxs (N, T, D), dhs_enc (N, Te, H));
        writes the weights' gradients and sets ``dh``, ``dm``, ``dc`` (those of the initial states)."""
        if self._cache is None:
            raise RuntimeError("TimeFeedLSTM: run forward before backward")
        X, K, KW, Hs, Ms, Cs, G, A = self._cache
        self._cache = None  # its arrays are the next forward's workspace
        name = type(self).__name__
        dhs = check_float(dhs, "dhs", name, ndim=3, dtype=self.dtype)
        dcs = check_float(dcs, "dcs", name, ndim=3, dtype=self.dtype)
        T, N, D = X.shape
        H = self.hidden_size
        if dhs.shape != (N, T, H) or dcs.shape != (N, T, H):
            raise ValueError(f"{name}: dhs {tuple(dhs.shape)} and dcs {tuple(dcs.shape)} must be {(N, T, H)}, as forward gave")
        ops = self.ops(dhs, dcs)
        xp = ops.xp
        Wx, Wh = self.params[:2]
        Wxc = Wx[D:]
        ws, dt = self._ws, self.dtype
        dA = ws("dA", (T, N, 4 * H), xp, dt)
        dS = ws("dS", A.shape, xp, dt)
        dC = ws("dCtx", (T, N, H), xp, dt)  # the gradient at c_t, all of it
        dH, dCo = dhs.transpose(1, 0, 2), dcs.transpose(1, 0, 2)
        dh, dm, dc = (xp.zeros((N, H), dt) for _ in range(3))  # from the step after
        for t in range(T - 1, -1, -1):
            dC[t] = dCo[t] + dc  # (5) of this step, (1) of the next
            da = (K @ dC[t][:, :, None])[:, :, 0]  # (5): da_j = k_j . dc_t
            dS[t] = ops.softmax_backward(A[t], da)  # (4)
            dq = (dS[t][:, None, :] @ KW)[:, 0]  # (3)
            dA[t], (dh, dm) = ops.lstm_cell_backward(G[t], Wh, (Hs[t], Ms[t]), (Hs[t + 1], Ms[t + 1]), (dH[t] + dh + dq, dm))
            dc = dA[t] @ Wxc.T  # (1)
        self.dh, self.dm, self.dc = dh, dm, dc
        dA2 = dA.reshape(T * N, 4 * H)
        gWx, gWh, gb = self.grads[:3]
        xp.matmul(X.reshape(T * N, D).T, dA2, out=gWx[:D])  # (1)
        xp.matmul(Cs[:T].reshape(T * N, H).T, dA2, out=gWx[D:])
        xp.matmul(Hs[:T].reshape(T * N, H).T, dA2, out=gWh)
        dA2.sum(axis=0, out=gb)
        # (3)-(5) for every step at once, batched over N: dK = a^T dc + dS^T (Q W)
        Q, a, dSn = Hs[1:].transpose(1, 0, 2), A.transpose(1, 0, 2), dS.transpose(1, 0, 2)
        QW = Q if self.score == "dot" else (Q.reshape(-1, H) @ self.params[3]).reshape(N, T, H)
        dK = a.transpose(0, 2, 1) @ dC.transpose(1, 0, 2) + dSn.transpose(0, 2, 1) @ QW
        if self.score == "general":
            xp.matmul(Q.reshape(-1, H).T, (dSn @ K).reshape(-1, H), out=self.grads[3])
        dxs = (dA2 @ Wx[:D].T).reshape(T, N, D)
        return xp.ascontiguousarray(dxs.transpose(1, 0, 2)), dK
