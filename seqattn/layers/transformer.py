"""The Transformer's layers ("Attention Is All You Need", Vaswani et al. 2017), with the book's
contract: weights given to the constructor, ``params``/``grads``, ``forward``/``backward``.

Notation: N batch, T steps (Tq queries, Tk keys), E = d_model, h heads of size d = E / h.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V                       (1)
    head_i = Attention(q W_q^i, k W_k^i, v W_v^i)                         (2)
    MultiHead(q, k, v) = [head_1, ..., head_h] W_o                        (3)
    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2                                (4)
    LayerNorm(x) = (x - mean) / sqrt(var + eps) * gamma + beta            (5)
    PE(pos, 2i) = sin(pos / 10000^(2i/E)), PE(pos, 2i+1) = cos(...)      (6)

All heads and all steps are batched matrix products; the softmax and the layer norm are ops
(``seqattn/ops``) with a reference body and fast bodies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import Layer, check_float, check_mask


class LayerNorm(Layer):
    """``LayerNorm(gamma (E,), beta (E,), eps=1e-5)``: (5) over the last axis; dtype kept."""

    param_names = ("gamma", "beta")

    def __init__(self, gamma, beta, eps=1e-5):
        super().__init__(gamma, beta)
        self.eps = eps
        self._cache = None

    def forward(self, x):
        """x: (..., E) float, the weights' dtype -> (5) over the last axis, same shape."""
        gamma, beta = self.params
        x = check_float(x, "x", "LayerNorm", dtype=gamma.dtype)
        if x.shape[-1] != gamma.shape[0]:
            raise ValueError(f"LayerNorm: the last axis is {x.shape[-1]} but gamma has {gamma.shape[0]}")
        y, self._cache = self.ops(x).layer_norm(x, gamma, beta, self.eps)
        return y

    def backward(self, dy):
        """dy: (..., E) -> dx (..., E); writes dgamma and dbeta into ``grads``."""
        if self._cache is None:
            raise RuntimeError("LayerNorm: run forward before backward")
        dx, self.grads[0][...], self.grads[1][...] = self.ops(dy).layer_norm_backward(self._cache, dy, self.params[0])
        return dx


class FeedForward(Layer):
    """``FeedForward(W1 (E,F), b1 (F,), W2 (F,E), b2 (E,), activation="relu"|"gelu")``: (4) at
    every position; GELU in its tanh form."""

    param_names = ("W1", "b1", "W2", "b2")

    def __init__(self, W1, b1, W2, b2, activation="relu"):
        if activation not in ("relu", "gelu"):
            raise ValueError(f"FeedForward: activation must be 'relu' or 'gelu', got {activation!r}")
        super().__init__(W1, b1, W2, b2)
        self.activation = activation
        self._cache = None

    def forward(self, x):
        """x: (..., E) float -> (4) at every position, (..., E). Keeps the hidden
        activations (..., F) for backward."""
        W1, b1, W2, b2 = self.params
        x = check_float(x, "x", "FeedForward", dtype=W1.dtype)
        x2 = x.reshape(-1, W1.shape[0])
        a = x2 @ W1
        a += b1
        if self.activation == "relu":
            z, act = self.ops(a).xp.maximum(a, 0), a > 0
        else:
            z, act = self.ops(a).gelu(a)
        y = z @ W2
        y += b2
        self._cache = (x2, z, act, x.shape)
        return y.reshape(x.shape)

    def backward(self, dy):
        """dy: (..., E) -> dx (..., E); writes dW1, db1, dW2, db2 into ``grads``."""
        if self._cache is None:
            raise RuntimeError("FeedForward: run forward before backward")
        W1, _, W2, _ = self.params
        x2, z, act, shape = self._cache
        dy2 = dy.reshape(-1, W2.shape[1])
        self.grads[2][...] = z.T @ dy2
        self.grads[3][...] = dy2.sum(axis=0)
        dz = dy2 @ W2.T
        da = dz * act if self.activation == "relu" else self.ops(dz).gelu_backward(act, dz)
        self.grads[0][...] = x2.T @ da
        self.grads[1][...] = da.sum(axis=0)
        return (da @ W1.T).reshape(shape)


@dataclass
class _KVCache:
    """The keys and values an attention keeps while decoding: K, V (N, h, capacity, d), of which
    the first ``length`` steps are filled; ``grows`` for self-attention (each step adds its own),
    not for cross-attention (the encoder's, made once)."""

    K: object
    V: object
    length: int
    grows: bool


class MultiHeadAttention(Layer):
    """``MultiHeadAttention(Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads, causal=False)``, W* (E, E).

    forward(q_in (N,Tq,E), kv_in (N,Tk,E), key_mask=None (N,Tk) bool) -> (N,Tq,E), (1)-(3) with
    every head at once; padded keys get exactly zero weight, a query with no key to see gets zeros
    (not NaN), and with ``causal`` a query never sees a later key. backward(dout) ->
    (dq_in, dkv_in); for self-attention pass the same array twice and add the two.
    Keeps ``attention_weights`` (N, h, Tq, Tk) for plots.

    Incremental decoding: ``start_cache(N, capacity)`` (self-attention: keys and values of the
    steps so far are kept) or ``start_cache(kv_in=memory)`` (cross-attention: the encoder's keys
    and values are made once); then ``step(q_in, key_mask)`` attends from new steps only, each
    step costing one step's work; ``reorder_cache(idx)`` follows beam search.
    """

    param_names = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")

    def __init__(self, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads, causal=False):
        super().__init__(Wq, bq, Wk, bk, Wv, bv, Wo, bo)
        E = Wq.shape[0]
        if any(W.shape != (E, E) for W in (Wq, Wk, Wv, Wo)) or any(b.shape != (E,) for b in (bq, bk, bv, bo)):
            raise ValueError("MultiHeadAttention: every W must be (E, E) and every b (E,)")
        if num_heads < 1 or E % num_heads:
            raise ValueError(f"MultiHeadAttention: d_model {E} must split evenly into {num_heads} heads")
        self.num_heads, self.causal = num_heads, causal
        self.attention_weights = None
        self._cache = None
        self._kv = None  # a _KVCache while decoding incrementally

    # --- the math, shared by training and incremental decoding -------------------------------
    def _heads(self, x, W, b):
        """(N, T, E) -> x W + b split into heads (N, h, T, d)."""
        N, T, E = x.shape
        y = x.reshape(N * T, E) @ W
        y += b
        return y.reshape(N, T, self.num_heads, E // self.num_heads).transpose(0, 2, 1, 3)

    def _attend(self, Q, K, V, key_mask, causal):
        """(1) for all heads: Q (N,h,Tq,d), K, V (N,h,Tk,d) -> context (N,Tq,E), weights."""
        N, h, Tq, d = Q.shape
        S = Q @ K.transpose(0, 1, 3, 2)
        S *= S.dtype.type(1 / math.sqrt(d))
        A = self.ops(S).masked_softmax(S, key_mask, causal)
        C = (A @ V).transpose(0, 2, 1, 3).reshape(N, Tq, h * d)  # (3): the heads side by side
        return C, A

    def forward(self, q_in, kv_in, key_mask=None):
        """q_in: (N, Tq, E) float, kv_in: (N, Tk, E) float, key_mask=None (N, Tk) bool ->
        (N, Tq, E). Keeps ``attention_weights`` (N, h, Tq, Tk) and what backward needs."""
        Wq, bq, Wk, bk, Wv, bv, Wo, bo = self.params
        name = "MultiHeadAttention"
        q_in = check_float(q_in, "q_in", name, ndim=3, dtype=Wq.dtype)
        kv_in = check_float(kv_in, "kv_in", name, ndim=3, dtype=Wq.dtype)
        self.xp(q_in, kv_in, key_mask)
        N, Tq, E = q_in.shape
        if kv_in.shape[0] != N or E != Wq.shape[0] or kv_in.shape[2] != E:
            raise ValueError(f"{name}: q_in {tuple(q_in.shape)} and kv_in {tuple(kv_in.shape)} do not fit d_model {Wq.shape[0]}")
        check_mask(key_mask, kv_in.shape[:2], name)
        Q, K, V = self._heads(q_in, Wq, bq), self._heads(kv_in, Wk, bk), self._heads(kv_in, Wv, bv)  # (2)
        C, A = self._attend(Q, K, V, key_mask, self.causal)
        self.attention_weights = A
        self._cache = (q_in, kv_in, Q, K, V, A, C)
        out = C.reshape(N * Tq, E) @ Wo
        out += bo
        return out.reshape(N, Tq, E)

    def backward(self, dout):
        """dout: (N, Tq, E) -> (dq_in (N, Tq, E), dkv_in (N, Tk, E)); writes the eight
        weight gradients into ``grads``."""
        if self._cache is None:
            raise RuntimeError("MultiHeadAttention: run forward before backward")
        Wq, bq, Wk, bk, Wv, bv, Wo, bo = self.params
        q_in, kv_in, Q, K, V, A, C = self._cache
        N, Tq, E = q_in.shape
        Tk = kv_in.shape[1]
        if dout.shape != q_in.shape:
            raise ValueError(f"MultiHeadAttention: dout has shape {tuple(dout.shape)}, but forward gave {tuple(q_in.shape)}")
        h, d = self.num_heads, E // self.num_heads
        g = self.grads
        dout2 = dout.reshape(N * Tq, E)
        g[6][...] = C.reshape(N * Tq, E).T @ dout2  # (3)
        g[7][...] = dout2.sum(axis=0)
        dC = (dout2 @ Wo.T).reshape(N, Tq, h, d).transpose(0, 2, 1, 3)
        dA = dC @ V.transpose(0, 1, 3, 2)  # (1)
        dV = A.transpose(0, 1, 3, 2) @ dC
        dS = self.ops(dA).softmax_backward(A, dA)
        dS *= dS.dtype.type(1 / math.sqrt(d))
        dQ = dS @ K
        dK = dS.transpose(0, 1, 3, 2) @ Q

        def merged(D, T):  # (N, h, T, d) -> (N*T, E)
            return D.transpose(0, 2, 1, 3).reshape(N * T, E)

        dQ, dK, dV = merged(dQ, Tq), merged(dK, Tk), merged(dV, Tk)
        q2, kv2 = q_in.reshape(N * Tq, E), kv_in.reshape(N * Tk, E)
        for k, (X, D) in enumerate(((q2, dQ), (kv2, dK), (kv2, dV))):  # (2)
            g[2 * k][...] = X.T @ D
            g[2 * k + 1][...] = D.sum(axis=0)
        dq_in = (dQ @ Wq.T).reshape(N, Tq, E)
        dkv_in = (dK @ Wk.T + dV @ Wv.T).reshape(N, Tk, E)
        return dq_in, dkv_in

    # --- incremental decoding -----------------------------------------------------------------
    def start_cache(self, N=None, capacity=None, kv_in=None):
        """Self-attention: room for ``capacity`` steps of N rows. Cross-attention: ``kv_in``'s keys
        and values, made once."""
        Wq, bq, Wk, bk, Wv, bv = self.params[:6]
        if kv_in is not None:
            K, V = self._heads(kv_in, Wk, bk), self._heads(kv_in, Wv, bv)
            self._kv = _KVCache(K, V, K.shape[2], grows=False)
            return
        xp = self.xp()
        E = Wq.shape[0]
        shape = (N, self.num_heads, capacity, E // self.num_heads)
        self._kv = _KVCache(xp.empty(shape, dtype=Wq.dtype), xp.empty(shape, dtype=Wq.dtype), 0, grows=True)

    def step(self, q_in, key_mask=None):
        """Attend from q_in (N, t, E), the next t steps (self-attention: their keys and values join
        the cache first). No backward state is kept. -> (N, t, E)."""
        Wq, bq, Wk, bk, Wv, bv, Wo, bo = self.params
        cache = self._kv
        K, V, n = cache.K, cache.V, cache.length
        N, t, E = q_in.shape
        if cache.grows:
            if n + t > K.shape[2]:
                raise ValueError(f"MultiHeadAttention: the cache holds {K.shape[2]} steps; {n + t} were asked for")
            K[:, :, n : n + t] = self._heads(q_in, Wk, bk)
            V[:, :, n : n + t] = self._heads(q_in, Wv, bv)
            n = cache.length = n + t
        C, A = self._attend(self._heads(q_in, Wq, bq), K[:, :, :n], V[:, :, :n], key_mask, self.causal)
        self.attention_weights = A
        out = C.reshape(N * t, E) @ Wo
        out += bo
        return out.reshape(N, t, E)

    def reorder_cache(self, idx):
        """Keep the cached keys and values of rows ``idx`` (an int array of row indices),
        in that order: beam search's reordering."""
        self._kv.K, self._kv.V = self._kv.K[idx], self._kv.V[idx]


def sinusoid_table(T, E, dtype="float32"):
    """(6): the (T, E) sinusoidal position table (even columns sin, odd cos)."""
    pos = np.arange(T)[:, None]
    rate = np.exp(-math.log(10000.0) * (np.arange(0, E, 2) / E))
    table = np.zeros((T, E))
    table[:, 0::2] = np.sin(pos * rate)
    table[:, 1::2] = np.cos(pos * rate[: E // 2])
    return table.astype(dtype)


class PositionalEncoding(Layer):
    """Token embeddings scaled by sqrt(E) plus the position's vector: forward(x (N,T,E), start=0)
    -> (N,T,E), positions start..start+T-1.

    ``PositionalEncoding(table)``: the table (T_max, E) is fixed (sinusoidal, ``sinusoid_table``)
    unless ``learned=True``, when it is a weight with a gradient.
    """

    def __init__(self, table, learned=False):
        self.learned = learned
        if learned:
            super().__init__(table)
            self.param_names = ("table",)
        else:
            super().__init__()
            self.table = table
        self.scale = math.sqrt(table.shape[1])
        self._span = None

    def _table(self):
        return self.params[0] if self.learned else self.table

    def forward(self, x, start=0):
        """x: (N, T, E) float embeddings -> x * sqrt(E) + the table's rows start..start+T-1."""
        table = self._table()
        T = x.shape[1]
        if start + T > table.shape[0]:
            raise ValueError(f"PositionalEncoding: position {start + T - 1} is beyond the table's {table.shape[0]} positions")
        self._span = (start, T, x.shape[0])
        return x * x.dtype.type(self.scale) + table[start : start + T]

    def backward(self, dout):
        """dout: (N, T, E) -> dx = dout * sqrt(E); a learned table gets the sum over the
        batch of dout at its rows."""
        start, T, N = self._span
        if self.learned:
            self.grads[0][...] = 0
            self.grads[0][start : start + T] = dout.sum(axis=0)
        return dout * dout.dtype.type(self.scale)
