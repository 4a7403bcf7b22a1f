"""The cupy bodies: fused CUDA kernels where the reference would launch many small ones.

``CupyOps(cupy)`` gets the cupy module from the dispatch in ``seqattn.ops`` (which gets it from
the backend), so nothing here imports cupy. Kernels are compiled on first use.

The LSTM over time, with the reference's notation (gates f, g, i, o in the book's order):
- before the loop, the input part of every step is one 2-D GEMM X Wx into the gate cache
  G (T, N, 4H);
- each step is one 2-D GEMM h_prev Wh (N, H) x (H, 4H) into a buffer R, and one fused kernel
  that adds b, applies (2)-(4), writes the gates over G[t], c and h, and carries the state over
  at padded steps; the kernels take whole arrays and the step number, so the loop makes no
  array view per step but the GEMM's;
- each backward step is one fused kernel for the gate gradients (into its own buffer dA, never
  over the gates it reads) and dc_prev, and one GEMM dA[t] Wh^T for dh_prev (plus one copy at
  padded steps, where dh passes through);
- dWx, dWh and db are one product each after the loop.
The embedding gradient is a one-hot product (deterministic, unlike add.at's atomics), and
nothing in it reads a value back to the host. The masked softmax of attention and layer
normalisation (forward, and backward to dx) are one kernel each, one thread per row; Adam is one
elementwise kernel, and the sum of squares that clipping needs one reduction.
"""

from __future__ import annotations

import numpy as np

from .reference import Ops
from .trust import ids_trusted

_PREAMBLE = """
template <typename T> __device__ __forceinline__ T sigmoid_(T x) { return (T)0.5 * tanh((T)0.5 * x) + (T)0.5; }
"""

# Both LSTM kernels take every array raw, indexed by hand, and run over the N * H entries of one
# step's state (``size=N * H``): a step is then one call with no array views made for it, and no
# broadcasting for cupy to work out. Layouts (all C-contiguous): G and dA (T, N, 4H) with the gate
# blocks f, g, i, o; Cs and Hs (T + 1, N, H), row t + 1 after step t; keep (T, N) True where a
# padded step carries the state over; R (N, 4H) the step's recurrent part; dhs (N, T, H).
_LSTM_FORWARD = (
    "raw T R, raw T b, raw bool keep, int32 N, int32 H, int32 t",
    "raw T G, raw T Cs, raw T Hs",
    """
    const ptrdiff_t NH = (ptrdiff_t)N * H, n = i / H, j = i % H;
    const ptrdiff_t r = n * 4 * H + j, at = (ptrdiff_t)t * NH * 4 + r;
    const ptrdiff_t prev = (ptrdiff_t)t * NH + i, next = prev + NH;
    const T gf = sigmoid_(G[at] + R[r] + b[j]);
    const T gg = tanh(G[at + H] + R[r + H] + b[j + H]);
    const T gi = sigmoid_(G[at + 2 * H] + R[r + 2 * H] + b[j + 2 * H]);
    const T go = sigmoid_(G[at + 3 * H] + R[r + 3 * H] + b[j + 3 * H]);
    G[at] = gf; G[at + H] = gg; G[at + 2 * H] = gi; G[at + 3 * H] = go;
    const T c_prev = Cs[prev], h_prev = Hs[prev];
    const T c_new = gf * c_prev + gg * gi;
    const bool k = keep[(ptrdiff_t)t * N + n];
    Cs[next] = k ? c_prev : c_new;
    Hs[next] = k ? h_prev : go * tanh(c_new);
    """,
    "seqattn_lstm_forward",
)

# dh_next, dc_next: the gradients arriving at step t's h and c from step t + 1 (N, H); dh gets
# the whole gradient at h (with dhs), dc_prev the one at c_prev. dA is its own buffer: the
# gates are read, never written over.
_LSTM_BACKWARD = (
    "raw T G, raw T Cs, raw T dhs, raw T dh_next, raw T dc_next, raw bool keep, int32 N, int32 steps, int32 H, int32 t",
    "raw T dA, raw T dc_prev, raw T dh",
    """
    const ptrdiff_t NH = (ptrdiff_t)N * H, n = i / H, j = i % H;
    const ptrdiff_t at = (ptrdiff_t)t * NH * 4 + n * 4 * H + j;
    const T dh_t = dhs[(n * steps + t) * H + j] + dh_next[i];
    dh[i] = dh_t;
    if (keep[(ptrdiff_t)t * N + n]) {
        dA[at] = 0; dA[at + H] = 0; dA[at + 2 * H] = 0; dA[at + 3 * H] = 0;
        dc_prev[i] = dc_next[i];
    } else {
        const T gf = G[at], gg = G[at + H], gi = G[at + 2 * H], go = G[at + 3 * H];
        const T c_prev = Cs[(ptrdiff_t)t * NH + i], tc = tanh(Cs[(ptrdiff_t)(t + 1) * NH + i]);
        const T ds = dc_next[i] + dh_t * go * ((T)1 - tc * tc);
        dA[at] = ds * c_prev * gf * ((T)1 - gf);
        dA[at + H] = ds * gi * ((T)1 - gg * gg);
        dA[at + 2 * H] = ds * gg * gi * ((T)1 - gi);
        dA[at + 3 * H] = dh_t * tc * go * ((T)1 - go);
        dc_prev[i] = ds * gf;
    }
    """,
    "seqattn_lstm_backward",
)

# One thread per row of the (rows, cols) scores. The key mask (N, cols) is shared by the
# rows_per_mask consecutive rows of one example; with causal, row r is query r % Tq, which sees
# the keys up to its position cols - Tq + r % Tq.
_MASKED_SOFTMAX = r"""
extern "C" __global__ void seqattn_masked_softmax(const REAL* x, const bool* mask, REAL* y,
                                                  const int rows, const int cols, const int rows_per_mask,
                                                  const int has_mask, const int Tq, const int causal) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const REAL* xr = x + (size_t)r * cols;
    REAL* yr = y + (size_t)r * cols;
    const bool* m = mask + (size_t)(r / rows_per_mask) * cols;
    const int last = causal ? cols - Tq + r % Tq : cols - 1;
    REAL top = 0;
    bool any = false;
    for (int k = 0; k <= last; ++k) {
        if (!has_mask || m[k]) { top = any ? max(top, xr[k]) : xr[k]; any = true; }
    }
    REAL total = 0;
    for (int k = 0; k < cols; ++k) {
        const REAL e = (any && k <= last && (!has_mask || m[k])) ? exp(xr[k] - top) : (REAL)0;
        yr[k] = e;
        total += e;
    }
    if (!any) return;
    for (int k = 0; k <= last; ++k) yr[k] /= total;
}
"""


# Layer normalisation, one thread per row of E values (the rows of (..., E) one after another):
# the mean, then the variance about it (two passes, as the reference), then xhat and y. Backward
# per row: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy gamma.
_LAYER_NORM = r"""
extern "C" __global__ void seqattn_layer_norm(const REAL* x, const REAL* gamma, const REAL* beta, REAL* y, REAL* xhat,
                                              REAL* rstd, const int rows, const int E, const REAL eps) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const size_t at = (size_t)r * E;
    REAL mean = 0;
    for (int k = 0; k < E; ++k) mean += x[at + k];
    mean /= E;
    REAL var = 0;
    for (int k = 0; k < E; ++k) { const REAL d = x[at + k] - mean; var += d * d; }
    const REAL s = (REAL)1 / sqrt(var / E + eps);
    rstd[r] = s;
    for (int k = 0; k < E; ++k) {
        const REAL h = (x[at + k] - mean) * s;
        xhat[at + k] = h;
        y[at + k] = h * gamma[k] + beta[k];
    }
}

extern "C" __global__ void seqattn_layer_norm_backward(const REAL* dy, const REAL* xhat, const REAL* rstd, const REAL* gamma,
                                                       REAL* dx, const int rows, const int E) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const size_t at = (size_t)r * E;
    REAL a = 0, b = 0;
    for (int k = 0; k < E; ++k) {
        const REAL g = dy[at + k] * gamma[k];
        a += g;
        b += g * xhat[at + k];
    }
    a /= E;
    b /= E;
    for (int k = 0; k < E; ++k) dx[at + k] = rstd[r] * (dy[at + k] * gamma[k] - a - xhat[at + k] * b);
}
"""

_ADAM = (
    "T g, T lr_t, T b1, T b2, T eps",
    "T p, T m, T v",
    """
    m += ((T)1 - b1) * (g - m);
    v += ((T)1 - b2) * (g * g - v);
    p -= lr_t * m / (sqrt(v) + eps);
    """,
    "seqattn_adam",
)


class CupyOps(Ops):
    name = "cupy"
    concat_chunk = 2**26  # GPU memory is fast enough that the chunk only bounds the memory used

    def __init__(self, xp):
        super().__init__(xp)
        self._kernels = {}

    def _elementwise(self, spec):
        k = self._kernels.get(spec[3])
        if k is None:
            k = self._kernels[spec[3]] = self.xp.ElementwiseKernel(*spec[:3], name=spec[3], preamble=_PREAMBLE)
        return k

    def _raw(self, source, name, dtype):
        key = (name, np.dtype(dtype).name)
        k = self._kernels.get(key)
        if k is None:
            real = {"float32": "float", "float64": "double"}[key[1]]
            k = self._kernels[key] = self.xp.RawKernel(source.replace("REAL", real), name)
        return k

    # Checking ids reads them back, which makes the GPU wait: inside ``trusted_ids()`` (the
    # Trainer, which checked its data on the host; generate's decoding loop, which feeds back
    # its own argmax) nothing is read; everywhere else the check is the reference's, the same
    # error as on numpy.
    def check_ids(self, idx, V, who):
        if not ids_trusted():
            super().check_ids(idx, V, who)

    def adam_step(self, p, g, m, v, lr_t, beta1, beta2, eps=1e-7):
        """One fused kernel for the whole update (the reference launches twelve)."""
        t = p.dtype.type
        self._elementwise(_ADAM)(g, t(lr_t), t(beta1), t(beta2), t(eps), p, m, v)

    def sum_squares(self, arrays):
        """One reduction kernel per array, then one sum (the reference launches three per array);
        one kernel in all for a model's packed gradients."""
        k = self._kernels.get("seqattn_sum_squares")
        if k is None:
            k = self._kernels["seqattn_sum_squares"] = self.xp.ReductionKernel(
                "T x", "T y", "x * x", "a + b", "y = a", "0", "seqattn_sum_squares")
        if len(arrays) == 1:
            return k(arrays[0])
        return self.xp.stack([k(a) for a in arrays]).sum()

    # The embedding gradient as a one-hot product: deterministic (cupy's add.at adds with atomics,
    # in an order that changes from run to run), and one GEMM. Above this many one-hot entries
    # (V x ids) it falls back to add.at, whose memory does not grow with V.
    onehot_limit = 2**25

    def embedding_backward(self, dW, idx, dout):
        V, M = dW.shape[0], idx.size
        if V * M > self.onehot_limit:
            return super().embedding_backward(dW, idx, dout)
        xp = self.xp
        onehot = (idx.reshape(M, 1) == xp.arange(V)).astype(dout.dtype)  # (M, V)
        xp.matmul(onehot.T, dout.reshape(M, -1), out=dW)
        return dW

    def _rows(self, kernel, rows, args, threads=128):
        kernel(((rows + threads - 1) // threads,), (threads,), args)

    def layer_norm(self, x, gamma, beta, eps):
        """One kernel: the statistics, xhat and y of every row (the reference launches about ten)."""
        xp, E = self.xp, x.shape[-1]
        x = xp.ascontiguousarray(x)
        y, xhat = xp.empty_like(x), xp.empty_like(x)
        rows = x.size // max(E, 1)
        rstd = xp.empty((*x.shape[:-1], 1), dtype=x.dtype)
        self._rows(self._raw(_LAYER_NORM, "seqattn_layer_norm", x.dtype), rows,
                   (x, gamma, beta, y, xhat, rstd, np.int32(rows), np.int32(E), x.dtype.type(eps)))
        return y, (xhat, rstd)

    def layer_norm_backward(self, cache, dy, gamma):
        """One kernel for dx; dgamma and dbeta are two sums over the rows."""
        xp, (xhat, rstd) = self.xp, cache
        E = xhat.shape[-1]
        dy = xp.ascontiguousarray(dy)
        dx = xp.empty_like(dy)
        rows = dy.size // max(E, 1)
        self._rows(self._raw(_LAYER_NORM, "seqattn_layer_norm_backward", dy.dtype), rows,
                   (dy, xhat, rstd, gamma, dx, np.int32(rows), np.int32(E)))
        return dx, (dy * xhat).reshape(-1, E).sum(axis=0), dy.reshape(-1, E).sum(axis=0)

    def masked_softmax(self, S, mask, causal=False):
        xp = self.xp
        S = xp.ascontiguousarray(S)
        N, Tq, Tk = S.shape[0], S.shape[-2], S.shape[-1]
        y = xp.empty_like(S)
        rows = S.size // max(Tk, 1)
        m = xp.ascontiguousarray(mask) if mask is not None else xp.ones((1, 1), dtype=bool)
        self._rows(self._raw(_MASKED_SOFTMAX, "seqattn_masked_softmax", S.dtype), rows,
                   (S, m, y, np.int32(rows), np.int32(Tk), np.int32(max(rows // max(N, 1), 1)), np.int32(mask is not None),
                    np.int32(Tq), np.int32(bool(causal))))
        return y

    def recurrent_forward(self, cell, W, xs, states, mask, ws):
        if cell != "lstm":
            return super().recurrent_forward(cell, W, xs, states, mask, ws)
        xp = self.xp
        Wx, Wh, b = W
        N, T, D = xs.shape
        H = Wh.shape[0]
        dt = Wx.dtype
        X = ws("X", (T, N, D), xp, dt)
        X[...] = xs.transpose(1, 0, 2)
        G = ws("G", (T, N, 4 * H), xp, dt)
        xp.matmul(X.reshape(T * N, D), Wx, out=G.reshape(T * N, 4 * H))  # (1), input part; b in the kernel
        hs, cs = ws("Hs", (T + 1, N, H), xp, dt), ws("Cs", (T + 1, N, H), xp, dt)
        for s, init in zip((hs, cs), states):
            s[0] = 0 if init is None else init
        R = ws("R", (N, 4 * H), xp, dt)
        keep = self._keep(mask, N, T)
        step = self._elementwise(_LSTM_FORWARD)
        n, h, size = np.int32(N), np.int32(H), N * H
        for t in range(T):
            xp.matmul(hs[t], Wh, out=R)  # (1), recurrent part
            step(R, b, keep, n, h, np.int32(t), G, cs, hs, size=size)  # (2)-(4), padding
        cache = {"X": X, "G": G, "Hs": hs, "Cs": cs, "keep": keep, "masked": mask is not None}
        return xp.ascontiguousarray(hs[1:].transpose(1, 0, 2)), [hs[T].copy(), cs[T].copy()], cache

    def recurrent_backward(self, cell, W, cache, dhs, dlast, grads, ws):
        if cell != "lstm":
            return super().recurrent_backward(cell, W, cache, dhs, dlast, grads, ws)
        xp = self.xp
        Wx, Wh = W[0], W[1]
        X, G, hs, cs, keep = cache["X"], cache["G"], cache["Hs"], cache["Cs"], cache["keep"]
        T, N, D = X.shape
        H = Wh.shape[0]
        dt = G.dtype
        dA = ws("dA", (T, N, 4 * H), xp, dt)
        dhs = xp.ascontiguousarray(dhs, dtype=dt)
        dh = xp.zeros((N, H), dt) if dlast[0] is None else dlast[0].astype(dt, copy=True)
        dc = xp.zeros((N, H), dt) if dlast[1] is None else dlast[1].astype(dt, copy=True)
        dh_prev, dc_prev, dh_t = xp.empty((N, H), dt), xp.empty((N, H), dt), xp.empty((N, H), dt)
        step = self._elementwise(_LSTM_BACKWARD)
        WhT = Wh.T
        n, steps, h, size = np.int32(N), np.int32(T), np.int32(H), N * H
        keep_rows = keep[:, :, None]
        for t in range(T - 1, -1, -1):
            step(G, cs, dhs, dh, dc, keep, n, steps, h, np.int32(t), dA, dc_prev, dh_t, size=size)
            xp.matmul(dA[t], WhT, out=dh_prev)  # (1)
            if cache["masked"]:
                xp.copyto(dh_prev, dh_t, where=keep_rows[t])  # padding: dh passes through
            dh, dh_prev = dh_prev, dh
            dc, dc_prev = dc_prev, dc
        dA2 = dA.reshape(T * N, 4 * H)
        xp.matmul(X.reshape(T * N, D).T, dA2, out=grads[0])
        xp.matmul(hs[:T].reshape(T * N, H).T, dA2, out=grads[1])
        dA2.sum(axis=0, out=grads[2])
        dxs = xp.matmul(dA2, Wx.T).reshape(T, N, D)
        return xp.ascontiguousarray(dxs.transpose(1, 0, 2)), [dh, dc]

    def _keep(self, mask, N, T):
        """(T, N) bool, True where a padded step carries the state over (all False without a mask)."""
        xp = self.xp
        if mask is None:
            return xp.zeros((T, N), dtype=bool)
        return xp.ascontiguousarray(~mask.T)
