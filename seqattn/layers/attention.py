"""``TimeAttention``: the attention of every decoder step at once, with three scores. (The book's
one-step ``Attention``, ``AttentionWeight`` and ``WeightSum`` are in ``layers/book.py``.)

Notation: N batch, Te encoder steps, Td decoder steps, H hidden size, A the concat score's size.
    K = hs_enc (N, Te, H), Q = hs_dec (N, Td, H)
    S (N, Td, Te) scores:
        dot      S = Q K^T                                   (Luong dot; the book's)
        general  S = (Q W) K^T, W (H, H)                     (Luong general)
        concat   S = tanh(Q W_d[:, None] + K W_e[None]) v,   W = [W_d; W_e] (2H, A), v (A,)
    a = softmax(S) over Te, with padded source positions at exactly 0     (1)
    c = a K  (N, Td, H), the context of every decoder step                (2)

All decoder steps are done at once with batched matrix products; generation uses the same code
with Td = 1.
"""

from __future__ import annotations

from .base import Layer, check_dim, check_float, check_mask


SCORES = ("dot", "general", "concat")


class TimeAttention(Layer):
    """``TimeAttention(score="dot", W=None, v=None)``.

    forward(hs_enc (N,Te,H), hs_dec (N,Td,H), mask=None (N,Te) bool) -> c (N,Td,H);
    backward(dc) -> (dhs_enc, dhs_dec). Keeps ``attention_weights`` (N, Td, Te).
    ``general`` needs W (H, H); ``concat`` needs W (2H, A) and v (A,).
    """

    def __init__(self, score="dot", W=None, v=None):
        if score not in SCORES:
            raise ValueError(f"TimeAttention: unknown score {score!r}; choose one of {', '.join(SCORES)}")
        self.score = score
        needed = {"dot": (), "general": ("W",), "concat": ("W", "v")}[score]
        given = {"W": W, "v": v}
        missing = [n for n in needed if given[n] is None]
        if missing:
            raise ValueError(f"TimeAttention: the {score} score needs {' and '.join(missing)}")
        super().__init__(*[given[n] for n in needed])
        self.param_names = needed
        if score == "concat" and (W.ndim != 2 or W.shape[0] % 2 or v.shape != (W.shape[1],)):
            raise ValueError(f"TimeAttention: concat wants W (2H, A) and v (A,), got {tuple(W.shape)} and {tuple(v.shape)}")
        self.attention_weights = None
        self._cache = None

    def forward(self, hs_enc, hs_dec, mask=None):
        """hs_enc: (N, Te, H) float (keys and values), hs_dec: (N, Td, H) float (queries),
        mask=None (N, Te) bool -> contexts c (N, Td, H), (1) and (2) for every decoder step at once.
        Keeps ``attention_weights`` (N, Td, Te) and what backward needs."""
        name = "TimeAttention"
        dtype = self.params[0].dtype if self.params else hs_enc.dtype
        K = check_float(hs_enc, "hs_enc", name, ndim=3, dtype=dtype)
        Q = check_float(hs_dec, "hs_dec", name, ndim=3, dtype=dtype)
        ops = self.ops(K, Q, mask)
        xp = ops.xp
        N, Te, H = K.shape
        if Q.shape[0] != N or Q.shape[2] != H:
            raise ValueError(f"{name}: hs_enc {tuple(K.shape)} and hs_dec {tuple(Q.shape)} differ in N or H")
        check_mask(mask, (N, Te), name)
        Kt = K.transpose(0, 2, 1)
        extra = None
        if self.score == "dot":
            S = Q @ Kt
        elif self.score == "general":
            W = self.params[0]
            check_dim(H, W.shape[0], "the hidden size", name)
            QW = (Q.reshape(-1, H) @ W).reshape(Q.shape)
            S = QW @ Kt
            extra = QW
        else:
            W, v = self.params
            check_dim(2 * H, W.shape[0], "twice the hidden size", name)
            P = (Q.reshape(-1, H) @ W[:H]).reshape(N, -1, W.shape[1])  # (N, Td, A)
            R = (K.reshape(-1, H) @ W[H:]).reshape(N, Te, W.shape[1])  # (N, Te, A)
            S = xp.empty((N, Q.shape[1], Te), dtype=dtype)
            for n, d, E in ops.concat_tanh_chunks(P, R):
                S[n, d] = E @ v
            extra = (P, R)
        a = ops.masked_softmax(S, mask)  # (1)
        self.attention_weights = a
        self._cache = (K, Q, a, extra)
        return a @ K  # (2)

    def backward(self, dc):
        """dc: (N, Td, H) -> (dhs_enc (N, Te, H), dhs_dec (N, Td, H)); writes the score's
        weight gradients (general: dW; concat: dW, dv) into ``grads``."""
        if self._cache is None:
            raise RuntimeError("TimeAttention: run forward before backward")
        K, Q, a, extra = self._cache
        ops = self.ops(dc)
        xp = ops.xp
        N, Te, H = K.shape
        dc = check_float(dc, "dc", "TimeAttention", ndim=3, dtype=K.dtype)
        if dc.shape != Q.shape:
            raise ValueError(f"TimeAttention: dc has shape {tuple(dc.shape)}, but forward gave {tuple(Q.shape)}")
        da = dc @ K.transpose(0, 2, 1)  # (2)
        dK = a.transpose(0, 2, 1) @ dc
        dS = ops.softmax_backward(a, da)  # (1)
        dSt = dS.transpose(0, 2, 1)
        if self.score == "dot":
            dQ = dS @ K
            dK += dSt @ Q
        elif self.score == "general":
            W = self.params[0]
            dQW = dS @ K
            dK += dSt @ extra
            xp.matmul(Q.reshape(-1, H).T, dQW.reshape(-1, H), out=self.grads[0])
            dQ = (dQW.reshape(-1, H) @ W.T).reshape(Q.shape)
        else:
            W, v = self.params
            P, R = extra
            Asz = W.shape[1]
            dv = self.grads[1]
            dv[...] = 0
            # The gradient at the tanh's input is dS (1 - E^2) v. Summed over Te it gives dP, over
            # Td dR; the dS terms are summed outside the loop, so E^2 is the only pass made for it.
            dP = dS.sum(axis=2)[..., None] * v  # (N, Td, A)
            dR = dS.sum(axis=1)[..., None] * v  # (N, Te, A)
            for n, d, E in ops.concat_tanh_chunks(P, R):
                dS_c = dS[n, d]
                dv += E.reshape(-1, Asz).T @ dS_c.reshape(-1)
                E *= E
                dP[n, d] -= (dS_c[..., None, :] @ E)[..., 0, :] * v
                E *= dS_c[..., None]
                dR[n] -= E.sum(axis=1) * v
            dW = self.grads[0]
            dW[:H] = Q.reshape(-1, H).T @ dP.reshape(-1, Asz)
            dW[H:] = K.reshape(-1, H).T @ dR.reshape(-1, Asz)
            dQ = (dP.reshape(-1, Asz) @ W[:H].T).reshape(Q.shape)
            dK += (dR.reshape(-1, Asz) @ W[H:].T).reshape(K.shape)
        return dK, dQ
