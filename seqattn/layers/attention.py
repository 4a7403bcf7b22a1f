"""Attention: the book's step-by-step layers and a batched ``TimeAttention`` with three scores.

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

from ..backend import get_xp, is_cupy_array
from ..functional import masked_softmax, softmax
from .base import Layer, check_dim, check_float, check_mask


def _softmax_backward(a, da):
    """Gradient through a = softmax(s) along the last axis (a = 0 where masked gives 0 there)."""
    ds = a * da
    ds -= a * ds.sum(axis=-1, keepdims=True)
    return ds


class WeightSum:
    """forward(hs (N,T,H), a (N,T)) -> c (N,H) = sum_t a_t hs_t; backward(dc) -> (dhs, da)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, a):
        self.cache = (hs, a)
        return (a[:, None, :] @ hs)[:, 0, :]

    def backward(self, dc):
        hs, a = self.cache
        dhs = a[:, :, None] * dc[:, None, :]
        da = (hs @ dc[:, :, None])[:, :, 0]
        return dhs, da


class AttentionWeight:
    """forward(hs (N,T,H), h (N,H)) -> a (N,T) = softmax(hs h); backward(da) -> (dhs, dh)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, h):
        a = softmax((hs @ h[:, :, None])[:, :, 0], axis=1)
        self.cache = (hs, h, a)
        return a

    def backward(self, da):
        hs, h, a = self.cache
        ds = _softmax_backward(a, da)
        dhs = ds[:, :, None] * h[:, None, :]
        dh = (ds[:, None, :] @ hs)[:, 0, :]
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
        get_xp(hs, h)
        a = self.weight_layer.forward(hs, h)
        self.attention_weight = a
        return self.sum_layer.forward(hs, a)

    def backward(self, dc):
        dhs0, da = self.sum_layer.backward(dc)
        dhs1, dh = self.weight_layer.backward(da)
        return dhs0 + dhs1, dh


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
        if score == "concat" and (W.ndim != 2 or W.shape[0] % 2 or v.shape != (W.shape[1],)):
            raise ValueError(f"TimeAttention: concat wants W (2H, A) and v (A,), got {tuple(W.shape)} and {tuple(v.shape)}")
        self.attention_weights = None
        self._cache = None

    def forward(self, hs_enc, hs_dec, mask=None):
        name = "TimeAttention"
        dtype = self.params[0].dtype if self.params else hs_enc.dtype
        K = check_float(hs_enc, "hs_enc", name, ndim=3, dtype=dtype)
        Q = check_float(hs_dec, "hs_dec", name, ndim=3, dtype=dtype)
        xp = self.xp(K, Q, mask)
        N, Te, H = K.shape
        if Q.shape[0] != N or Q.shape[2] != H:
            raise ValueError(f"{name}: hs_enc {tuple(K.shape)} and hs_dec {tuple(Q.shape)} differ in N or H")
        mask = check_mask(mask, (N, Te), name)
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
            for n, d, E in self._concat_chunks(P, R):
                S[n, d] = E @ v
            extra = (P, R)
        a = masked_softmax(S, None if mask is None else mask[:, None, :])  # (1)
        self.attention_weights = a
        self._cache = (K, Q, a, extra)
        return a @ K  # (2)

    def backward(self, dc):
        K, Q, a, extra = self._cache
        xp = self.xp(dc)
        N, Te, H = K.shape
        dc = check_float(dc, "dc", "TimeAttention", ndim=3, dtype=K.dtype)
        da = dc @ K.transpose(0, 2, 1)  # (2)
        dK = a.transpose(0, 2, 1) @ dc
        dS = _softmax_backward(a, da)  # (1)
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
            for n, d, E in self._concat_chunks(P, R):
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

    # The concat score's tanh tensor E = tanh(P[:, :, None] + R[:, None]) is (N, Td, Te, A): too
    # large to hold at once (4 GiB at N=512, T=64, A=512) and slow to stream through memory. It is
    # made in chunks of examples (and of decoder steps where one example is too much) that stay in
    # the CPU's cache, and made again in backward instead of being kept.
    CHUNK = {"numpy": 2**18, "cupy": 2**26}  # elements of E per chunk

    def _concat_chunks(self, P, R):
        """Yield (examples, decoder steps, E) slices covering all of E, E in a reused buffer."""
        xp = self.xp(P, R)
        N, Td, Asz = P.shape
        Te = R.shape[1]
        budget = self.CHUNK["cupy" if is_cupy_array(P) else "numpy"]
        per_step = Te * Asz
        cd = max(1, min(Td, budget // per_step))
        cn = max(1, budget // (Td * per_step)) if cd == Td else 1
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
