"""The reference bodies: every op in the book's order and names, for any array module ``xp``.

This is the code to hold against the book. The fast bodies (``numpy_ops``, ``cupy_ops``) keep the
same signatures and must agree with these to rounding; the tests check that they do.

Notation: N batch, T time steps, D input size, H hidden size, V vocabulary. A recurrent cell
gets ``a = x Wx + b`` (its input part, made for all steps at once before the time loop), adds the
recurrent part itself and returns its new state(s) and its gates, which backward reads again.

    RNN   Wx (D, H), Wh (H, H), b (H,)
        h = tanh(a + h_prev Wh)                                          (1)
    GRU   Wx (D, 3H), Wh (H, 3H), b (3H,), gate blocks z, r, h~
        z = sigmoid(a_z + h_prev Wh_z)                                   (1)
        r = sigmoid(a_r + h_prev Wh_r)                                   (2)
        h~ = tanh(a_h + (r * h_prev) Wh_h)                               (3)
        h = (1 - z) * h_prev + z * h~                                    (4)
    LSTM  Wx (D, 4H), Wh (H, 4H), b (4H,), gate blocks f, g, i, o (the book's order)
        A = a + h_prev Wh                                                (1)
        f = sigmoid(A_f), g = tanh(A_g), i = sigmoid(A_i), o = sigmoid(A_o)   (2)
        c = f * c_prev + g * i                                           (3)
        h = o * tanh(c)                                                  (4)

In backward, ``dx`` is dL/dx: ``df`` is the gradient at f, ``dA`` at the pre-activations A.
"""

from __future__ import annotations

# A large finite negative for masked scores: exp() of it is exactly 0, and a fully masked row
# gives a uniform (then zeroed) softmax instead of the NaN that -inf would give.
MASK_VALUE = -1e9

STATES = {"rnn": 1, "gru": 1, "lstm": 2}  # h, or h and c


class Ops:
    """The reference bodies. ``Ops(xp)`` for numpy, cupy or anything with their API."""

    name = "reference"
    # Elements of the concat score's (N, Td, Te, A) tanh tensor made at once (see concat_tanh_chunks).
    concat_chunk = 2**18

    def __init__(self, xp):
        self.xp = xp

    # ------------------------------------------------------------------ elementwise, softmax
    def sigmoid(self, x, out=None):
        """1 / (1 + exp(-x)) written as 0.5 tanh(0.5 x) + 0.5, which cannot overflow."""
        xp = self.xp
        out = xp.multiply(x, 0.5, out=out)
        xp.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out

    def softmax(self, x):
        """Softmax over the last axis; the row maximum is subtracted first."""
        y = x - x.max(axis=-1, keepdims=True)
        self.xp.exp(y, out=y)
        y /= y.sum(axis=-1, keepdims=True)
        return y

    def softmax_backward(self, y, dy):
        """dL/dx from dL/dy for y = softmax(x) over the last axis (0 where y is 0)."""
        dx = y * dy
        dx -= y * dx.sum(axis=-1, keepdims=True)
        return dx

    def log_softmax(self, x):
        """log(softmax(x)) over the last axis, without forming softmax(x): never -inf for finite x."""
        y = x - x.max(axis=-1, keepdims=True)
        y -= self.xp.log(self.xp.exp(y).sum(axis=-1, keepdims=True))
        return y

    def masked_softmax(self, S, mask, causal=False):
        """Attention weights: softmax over the last axis of S (N, ..., Tq, Tk) with the keys a
        query may not see at exactly 0: padded keys, where ``mask`` (N, Tk) bool is False, and
        with ``causal`` the keys after the query's own position (the Tq queries are the last Tq of
        the Tk positions, so one new query sees every key). A row with no key to see is all 0."""
        m = self.attention_mask(S.shape, mask, causal)
        if m is None:
            return self.softmax(S)
        a = self.softmax(self.xp.where(m, S, MASK_VALUE).astype(S.dtype, copy=False))
        a *= m
        return a

    def attention_mask(self, shape, mask, causal):
        """The bool mask (broadcastable to ``shape`` (N, ..., Tq, Tk)) of masked_softmax, or None."""
        xp = self.xp
        Tq, Tk = shape[-2:]
        m = None if mask is None else mask.reshape(mask.shape[0], *(1,) * (len(shape) - 2), Tk)
        if causal:
            c = xp.arange(Tk)[None, :] <= xp.arange(Tq)[:, None] + (Tk - Tq)
            m = c if m is None else m & c
        return m

    # ----------------------------------------------------------------- layer normalisation
    def layer_norm(self, x, gamma, beta, eps):
        """y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis -> (y, cache)."""
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        rstd = 1 / self.xp.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
        xhat = xc * rstd
        return xhat * gamma + beta, (xhat, rstd)

    def layer_norm_backward(self, cache, dy, gamma):
        """-> (dx, dgamma, dbeta) for y = layer_norm(x)."""
        xhat, rstd = cache
        E = xhat.shape[-1]
        dxhat = dy * gamma
        dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
        return dx, (dy * xhat).reshape(-1, E).sum(axis=0), dy.reshape(-1, E).sum(axis=0)

    # --------------------------------------------------------------------- activations
    def gelu(self, x):
        """GELU in its tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) -> (y, cache)."""
        u = 0.7978845608028654 * (x + 0.044715 * x**3)
        t = self.xp.tanh(u)
        return 0.5 * x * (1 + t), (x, t)

    def gelu_backward(self, cache, dy):
        """``gelu``'s cache (x, t) and dy -> dx, the derivative of the tanh form times dy."""
        x, t = cache
        du = 0.7978845608028654 * (1 + 3 * 0.044715 * x**2)
        return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)

    # --------------------------------------------------------------------------- the loss
    def cross_entropy(self, scores, targets, ignore_index=None, smoothing=0.0):
        """Mean cross-entropy of softmax(scores) over the targets that count.

        scores (M, V) floats, targets (M,) int ids; targets equal to ``ignore_index`` count for
        nothing. With ``smoothing`` e the target distribution is (1 - e) one-hot + e / V. The
        loss comes from log-softmax, so it is finite for any finite scores.
        -> (loss as a 0-d array left on the device, cache for cross_entropy_backward).
        """
        xp = self.xp
        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        probs = exp / total
        valid = None if ignore_index is None else targets != ignore_index
        safe = targets if valid is None else xp.where(valid, targets, 0)
        logz = xp.log(total[:, 0])
        nll = logz - shifted[xp.arange(targets.shape[0]), safe]
        if smoothing:
            nll = (1 - smoothing) * nll + smoothing * (logz - shifted.mean(axis=1))
        if valid is None:
            count = xp.asarray(max(targets.shape[0], 1), dtype=scores.dtype)
            return nll.sum() / count, (probs, safe, valid, count, smoothing)
        count = xp.maximum(valid.sum(), 1).astype(scores.dtype)
        return (nll * valid).sum() / count, (probs, safe, valid, count, smoothing)

    def cross_entropy_backward(self, cache, dout=1):
        """(M, V) gradient at the scores: (softmax - target distribution) / count, 0 on ignored rows."""
        probs, safe, valid, count, smoothing = cache
        dx = probs.copy()
        dx[self.xp.arange(safe.shape[0]), safe] -= 1 - smoothing
        if smoothing:
            dx -= smoothing / probs.shape[1]
        if valid is not None:
            dx *= valid[:, None]
        dx *= dout / count
        return dx

    # -------------------------------------------------------------------------- embedding
    def check_ids(self, idx, V, who):
        """Raise ValueError naming an id outside 0..V-1 (reads the smallest and largest id back
        to the host)."""
        from ..backend import to_numpy

        if not idx.size:
            return
        lo, hi = (int(v) for v in to_numpy(self.xp.stack([idx.min(), idx.max()])))
        if lo < 0 or hi >= V:
            raise ValueError(f"{who}: id {lo if lo < 0 else hi} is outside the vocabulary of size {V}")

    def embedding_backward(self, dW, idx, dout):
        """dW = 0, then dW[idx] += dout with repeated ids summed: idx (...) ints, dout (..., D)."""
        dW[...] = 0
        self.xp.add.at(dW, idx.ravel(), dout.reshape(idx.size, -1))
        return dW

    # ------------------------------------------------------------------- optimizer and clipping
    def adam_step(self, p, g, m, v, lr_t, beta1, beta2, eps=1e-7):
        """One Adam update in place (the book's form; lr_t holds the bias corrections):
        m += (1 - beta1)(g - m); v += (1 - beta2)(g^2 - v); p -= lr_t m / (sqrt(v) + eps)."""
        m += (1 - beta1) * (g - m)
        v += (1 - beta2) * (g * g - v)
        p -= lr_t * m / (self.xp.sqrt(v) + eps)

    def sum_squares(self, arrays):
        """The sum of the squares of every element of ``arrays``, as a 0-d array."""
        return sum((a * a).sum() for a in arrays)

    # ------------------------------------------------------------------- recurrent cells
    def rnn_cell(self, a, Wh, h_prev):
        """One RNN step: a = x Wx + b (N, H) of this step, Wh (H, H), h_prev (N, H) ->
        ((h,), cache): h = tanh(a + h_prev Wh)."""
        h = self.xp.tanh(a + h_prev @ Wh)  # (1)
        return (h,), h

    def rnn_cell_backward(self, G, Wh, prev, new, d):
        """dh (``d`` = (dh,)) through the step -> (dA (N, H) at its pre-activation, (dh_prev,))."""
        h, (dh,) = G, d
        dA = dh * (1 - h**2)  # (1)
        return dA, (dA @ Wh.T,)

    def gru_cell(self, a, Wh, h_prev):
        """One GRU step: a = x Wx + b (N, 3H) of this step (blocks z, r, h~), Wh (H, 3H), h_prev
        (N, H) -> ((h,), the gates [z, r, h~] (N, 3H) as cache), (1)-(4)."""
        xp, H = self.xp, h_prev.shape[1]
        z = self.sigmoid(a[:, :H] + h_prev @ Wh[:, :H])  # (1)
        r = self.sigmoid(a[:, H : 2 * H] + h_prev @ Wh[:, H : 2 * H])  # (2)
        hh = xp.tanh(a[:, 2 * H :] + (r * h_prev) @ Wh[:, 2 * H :])  # (3)
        h = (1 - z) * h_prev + z * hh  # (4)
        return (h,), xp.concatenate((z, r, hh), axis=1)

    def gru_cell_backward(self, G, Wh, prev, new, d):
        """dh (``d`` = (dh,)) through the step -> (dA (N, 3H) at the pre-activations, (dh_prev,)),
        (4) back to (1)."""
        xp, (h_prev,), (dh,) = self.xp, prev, d
        H = h_prev.shape[1]
        z, r, hh = G[:, :H], G[:, H : 2 * H], G[:, 2 * H :]
        dz = dh * (hh - h_prev)  # (4)
        dhh = dh * z
        dh_prev = dh * (1 - z)
        dAh = dhh * (1 - hh**2)  # (3)
        drh = dAh @ Wh[:, 2 * H :].T
        dr = drh * h_prev
        dh_prev += drh * r
        dAz = dz * z * (1 - z)  # (1)
        dAr = dr * r * (1 - r)  # (2)
        dA = xp.concatenate((dAz, dAr, dAh), axis=1)
        dh_prev += dA[:, : 2 * H] @ Wh[:, : 2 * H].T  # (1), (2)
        return dA, (dh_prev,)

    def lstm_cell(self, a, Wh, h_prev, c_prev):
        """The book's LSTM.forward: a = x Wx + b (N, 4H) -> ((h, c), gates [f, g, i, o])."""
        xp, H = self.xp, h_prev.shape[1]
        A = a + h_prev @ Wh  # (1)
        f = self.sigmoid(A[:, :H])  # (2)
        g = xp.tanh(A[:, H : 2 * H])
        i = self.sigmoid(A[:, 2 * H : 3 * H])
        o = self.sigmoid(A[:, 3 * H :])
        c = f * c_prev + g * i  # (3)
        h = o * xp.tanh(c)  # (4)
        return (h, c), xp.concatenate((f, g, i, o), axis=1)

    def lstm_cell_backward(self, G, Wh, prev, new, d):
        """The book's LSTM.backward: (dh, dc) at (h, c) -> (dA (N, 4H), (dh_prev, dc_prev))."""
        xp = self.xp
        (_, c_prev), (_, c), (dh, dc) = prev, new, d
        H = c.shape[1]
        f, g, i, o = G[:, :H], G[:, H : 2 * H], G[:, 2 * H : 3 * H], G[:, 3 * H :]
        tanh_c = xp.tanh(c)
        ds = dc + (dh * o) * (1 - tanh_c**2)  # (4): the gradient at c
        dc_prev = ds * f  # (3)
        df = ds * c_prev
        dg = ds * i
        di = ds * g
        do = dh * tanh_c  # (4)
        df *= f * (1 - f)  # (2)
        dg *= 1 - g**2
        di *= i * (1 - i)
        do *= o * (1 - o)
        dA = xp.concatenate((df, dg, di, do), axis=1)
        return dA, (dA @ Wh.T, dc_prev)  # (1)

    # ---------------------------------------------------------- recurrent layers over time
    def recurrent_weights(self, cell, Wx, Wh, b, ws):
        """The weights in this body's layout; a layer builds it once per weight update (inside
        ``frozen_weights()`` once for a whole generation). The reference uses them as given."""
        return (Wx, Wh, b)

    def recurrent_forward(self, cell, W, xs, states, mask, ws):
        """Run ``cell`` ('rnn', 'gru' or 'lstm') over time.

        W from ``recurrent_weights``; xs (N, T, D); states: the initial state(s) (h, or h and c),
        each (N, H) or None for zeros; mask (N, T) bool or None, False at padding, where every
        state is carried over unchanged. ``ws`` is the layer's Workspace.
        -> hs (N, T, H), the final states, and the cache for ``recurrent_backward``.
        """
        xp = self.xp
        Wx, Wh, b = W
        N, T, D = xs.shape
        H = Wh.shape[0]
        cell_forward = getattr(self, cell + "_cell")
        X = xs.transpose(1, 0, 2)  # time-major (T, N, D)
        Ax = (X.reshape(T * N, D) @ Wx + b).reshape(T, N, -1)  # the input part of every step at once
        G = ws("G", Ax.shape, xp, Wx.dtype)  # each step's gates, for backward
        hist = [ws(f"S{k}", (T + 1, N, H), xp, Wx.dtype) for k in range(STATES[cell])]  # hist[k][t + 1]: state k after step t
        for s, s0 in zip(hist, states):
            s[0] = 0 if s0 is None else s0
        keep = None if mask is None else ~mask.T[:, :, None]  # (T, N, 1): True where padding carries over
        for t in range(T):
            new, G[t] = cell_forward(Ax[t], Wh, *(s[t] for s in hist))
            for s, v in zip(hist, new):
                s[t + 1] = v if keep is None else xp.where(keep[t], s[t], v)
        hs = xp.ascontiguousarray(hist[0][1:].transpose(1, 0, 2))
        return hs, [s[T].copy() for s in hist], (X, G, hist, keep)

    def recurrent_backward(self, cell, W, cache, dhs, dlast, grads, ws):
        """dhs (N, T, H) at the outputs, dlast the gradients at the final states (None for 0);
        writes grads [dWx, dWh, db] in place -> dxs (N, T, D) and the gradients at the initial
        states. A padded step passes the state gradients through and adds nothing."""
        xp = self.xp
        Wx, Wh, b = W
        X, G, hist, keep = cache
        T, N, D = X.shape
        cell_backward = getattr(self, cell + "_cell_backward")
        dA = ws("dA", G.shape, xp, G.dtype)
        d = [xp.zeros_like(s[0]) if dl is None else dl + 0 for s, dl in zip(hist, dlast)]
        dH = dhs.transpose(1, 0, 2)
        for t in range(T - 1, -1, -1):
            d[0] = d[0] + dH[t]
            dA[t], d_prev = cell_backward(G[t], Wh, [s[t] for s in hist], [s[t + 1] for s in hist], d)
            if keep is not None:
                dA[t] *= ~keep[t]
                d_prev = [xp.where(keep[t], dk, dp) for dk, dp in zip(d, d_prev)]
            d = list(d_prev)
        dA2 = dA.reshape(T * N, -1)
        grads[0][...] = X.reshape(T * N, D).T @ dA2
        grads[1][...] = self.recurrent_weight_grad(cell, hist[0][:T].reshape(T * N, -1), G.reshape(T * N, -1), dA2)
        grads[2][...] = dA2.sum(axis=0)
        dxs = (dA2 @ Wx.T).reshape(T, N, D)
        return xp.ascontiguousarray(dxs.transpose(1, 0, 2)), d

    def recurrent_weight_grad(self, cell, Hprev, G, dA):
        """dWh = sum over steps of (the recurrent input)^T dA: h_prev for every gate, except the
        GRU's candidate, whose recurrent input is r * h_prev."""
        if cell != "gru":
            return Hprev.T @ dA
        H = Hprev.shape[1]
        r = G[:, H : 2 * H]
        return self.xp.concatenate((Hprev.T @ dA[:, : 2 * H], (r * Hprev).T @ dA[:, 2 * H :]), axis=1)

    # ------------------------------------------------------------------------ attention
    def concat_tanh_chunks(self, P, R):
        """The concat score's E = tanh(P[:, :, None] + R[:, None]) (N, Td, Te, A), in chunks.

        P (N, Td, A), R (N, Te, A). E is too large to hold at once (4 GiB at N=512, T=64,
        A=512) and slow to stream through memory, so it is made ``concat_chunk`` elements at a
        time (by examples, and by decoder steps where one example is too much), into one reused
        buffer. Yields (example slice, step slice, E chunk) covering all of E.
        """
        xp = self.xp
        N, Td, Asz = P.shape
        Te = R.shape[1]
        per_step = Te * Asz
        cd = max(1, min(Td, self.concat_chunk // per_step))
        cn = max(1, self.concat_chunk // (Td * per_step)) if cd == Td else 1
        buf = xp.empty(min(N, cn) * cd * per_step, dtype=P.dtype)
        for n0 in range(0, N, cn):
            n = slice(n0, min(N, n0 + cn))
            for d0 in range(0, Td, cd):
                d = slice(d0, min(Td, d0 + cd))
                E = buf[: (n.stop - n.start) * (d.stop - d.start) * per_step]
                E = E.reshape(n.stop - n.start, d.stop - d.start, Te, Asz)
                xp.add(P[n, d, None, :], R[n, None, :, :], out=E)
                xp.tanh(E, out=E)
                yield n, d, E
