"""The fast numpy bodies. Only what is faster on the CPU than the reference is here: the LSTM over
time, and Adam's update. The other ops are the reference's.

The LSTM, with the reference's notation (gates f, g, i, o; (1)-(4) are its equations):

- Layout: the gates of step t are G[t] (4, N, H), gate-major in the order f, i, o, g, so that
  every gate is one contiguous block and the three sigmoid gates are one block: numpy's
  elementwise work on strided column slices of an (N, 4H) array costs about twice as much.
- sigmoid(x) = 0.5 tanh(0.5 x) + 0.5: the inner 0.5 goes into the weights' f, i, o columns (exact:
  a power of two), so one tanh serves all four gates and the sigmoids are finished by a multiply
  and an add by scalars on their block.
- No input projection before the loop: step t's gates are one product Z[t] W4 with
  Z[t] = [h_t, x_t, 1] (N, H+D+1) and W4 = [Wh; Wx; b] in that layout (4, H+D+1, H), written
  straight into G[t]. This saves the projection's pass over (T, N, 4H) and the add that would
  bring it back from memory.
- Backward writes dA[t] into the memory of G[t], which it has just read (so it is in cache; a
  separate dA array is first touched from memory, about 40 us per (N, 4H) block). So one forward
  allows one backward. dWh, dWx and db are one product Z^T dA after the loop.
"""

from __future__ import annotations

import numpy as np

from .reference import Ops

ORDER = (0, 2, 3, 1)  # G[t][k] is the book's gate block ORDER[k] of Wx, Wh, b (f, g, i, o)


class NumpyOps(Ops):
    name = "numpy"

    def recurrent_weights(self, cell, Wx, Wh, b, ws):
        if cell != "lstm":
            return super().recurrent_weights(cell, Wx, Wh, b, ws)
        H, D = Wh.shape[0], Wx.shape[0]
        W4 = ws("W4", (4, H + D + 1, H), np, Wx.dtype)
        for k, gate in enumerate(ORDER):
            scale = 0.5 if k < 3 else 1.0  # the sigmoid gates at half scale
            cols = slice(gate * H, (gate + 1) * H)
            np.multiply(Wh[:, cols], scale, out=W4[k, :H])
            np.multiply(Wx[:, cols], scale, out=W4[k, H : H + D])
            np.multiply(b[cols], scale, out=W4[k, H + D])
        return (Wx, Wh, b, W4)

    def recurrent_forward(self, cell, W, xs, states, mask, ws):
        if cell != "lstm":
            return super().recurrent_forward(cell, W, xs, states, mask, ws)
        Wx, Wh, b, W4 = W
        N, T, D = xs.shape
        H = Wh.shape[0]
        dt = Wx.dtype
        Z = ws("Z", (T + 1, N, H + D + 1), np, dt)
        Z[:T, :, H : H + D] = xs.transpose(1, 0, 2)
        Z[:, :, H + D] = 1
        hs, cs = Z[:, :, :H], ws("C", (T + 1, N, H), np, dt)
        for s, init in zip((hs, cs), states):
            s[0] = 0 if init is None else init
        G = ws("G", (T, 4, N, H), np, dt)
        tc = ws("tc", (T, N, H), np, dt)  # tanh(c_t)
        tmp = ws("tmp", (N, H), np, dt)
        keep = None if mask is None else np.ascontiguousarray(~mask.T)[:, :, None]
        for t in range(T):
            g4 = G[t]
            np.matmul(Z[t], W4, out=g4)  # (1), with the sigmoid gates at half scale
            np.tanh(g4, out=g4)  # (2) in one pass; then f, i, o = 0.5 t + 0.5, g = t
            sig = g4[:3]
            sig *= 0.5
            sig += 0.5
            f, i, o, g = g4
            c = cs[t + 1]
            np.multiply(f, cs[t], out=c)  # (3)
            np.multiply(g, i, out=tmp)
            c += tmp
            np.tanh(c, out=tc[t])  # (4)
            np.multiply(o, tc[t], out=hs[t + 1])
            if keep is not None:
                np.copyto(hs[t + 1], hs[t], where=keep[t])
                np.copyto(c, cs[t], where=keep[t])
        cache = {"Z": Z, "C": cs, "G": G, "tc": tc, "keep": keep, "spent": False}
        return np.ascontiguousarray(hs[1:].transpose(1, 0, 2)), [hs[T].copy(), cs[T].copy()], cache

    def recurrent_backward(self, cell, W, cache, dhs, dlast, grads, ws):
        if cell != "lstm":
            return super().recurrent_backward(cell, W, cache, dhs, dlast, grads, ws)
        if cache["spent"]:
            raise RuntimeError("TimeLSTM: backward was already run for this forward (it reuses the gate "
                               "cache for the gradients); run forward again before another backward")
        cache["spent"] = True
        Wx, Wh = W[0], W[1]
        Z, cs, G, tc, keep = cache["Z"], cache["C"], cache["G"], cache["tc"], cache["keep"]
        T, _, N, H = G.shape
        K = Z.shape[2]
        D = K - H - 1
        dt = G.dtype
        dA = G.reshape(T, N, 4 * H)  # written over the gates, in the book's order f, g, i, o
        dH = dhs.transpose(1, 0, 2)
        dh, dc = np.zeros((N, H), dt), np.zeros((N, H), dt)
        for acc, dl in zip((dh, dc), dlast):
            if dl is not None:
                acc += dl
        dh_prev, dc_prev = np.empty((N, H), dt), np.empty((N, H), dt)
        real = None if keep is None else ~keep
        d4 = ws("d4", (4, N, H), np, dt)
        ds = ws("tmp", (N, H), np, dt)
        for t in range(T - 1, -1, -1):
            dh += dH[t]
            g4 = G[t]
            f, i, o, g = g4
            # the derivatives of the gates: s (1 - s) for the sigmoids, 1 - g^2 for g, as one block
            np.multiply(g4, g4, out=d4)
            np.subtract(g4[:3], d4[:3], out=d4[:3])
            np.subtract(1, d4[3], out=d4[3])
            df, di, do, dg = d4
            np.multiply(tc[t], tc[t], out=ds)  # (4): ds = dc + dh * o * (1 - tanh(c)^2)
            np.subtract(1, ds, out=ds)
            ds *= o
            ds *= dh
            ds += dc
            np.multiply(ds, f, out=dc_prev)  # (3)
            do *= tc[t]  # (4), (2): dA_o = dh * tanh(c) * o (1 - o)
            df *= cs[t]  # (3), (2): dA_f = ds * c_prev * f (1 - f)
            dg *= i  # (3), (2): dA_g = ds * i * (1 - g^2)
            di *= g  # (3), (2): dA_i = ds * g * i (1 - i)
            # G[t] is read; dA[t] (its memory) is (N, 4H) in the book's order f, g, i, o
            dA_t = dA[t]
            np.multiply(df, ds, out=dA_t[:, :H])
            np.multiply(dg, ds, out=dA_t[:, H : 2 * H])
            np.multiply(di, ds, out=dA_t[:, 2 * H : 3 * H])
            np.multiply(do, dh, out=dA_t[:, 3 * H :])
            np.matmul(dA_t, Wh.T, out=dh_prev)  # (1)
            if keep is not None:
                dA_t *= real[t]
                np.copyto(dh_prev, dh, where=keep[t])
                np.copyto(dc_prev, dc, where=keep[t])
            dh, dh_prev = dh_prev, dh
            dc, dc_prev = dc_prev, dc
        dA2 = dA.reshape(T * N, 4 * H)
        dW = np.matmul(Z[:T].reshape(T * N, K).T, dA2)  # [dWh; dWx; db] in one product
        grads[0][...] = dW[H : H + D]
        grads[1][...] = dW[:H]
        grads[2][...] = dW[H + D]
        dxs = (dA2 @ Wx.T).reshape(T, N, D)
        return np.ascontiguousarray(dxs.transpose(1, 0, 2)), [dh, dc]

    # Adam's update, in blocks that stay in cache. The reference makes about twelve passes over the
    # whole buffer, each into a fresh temporary of its size: for a Transformer's 1.7 M packed
    # weights about 9 ms a step in training, where those temporaries are new memory every time.
    # Here each block of the four arrays is read once into cache and the same operations, in the
    # same order and precision, run on it with two small scratch arrays: bit for bit the
    # reference's result (tests/test_ops.py).
    adam_block = 1 << 14

    def adam_step(self, p, g, m, v, lr_t, beta1, beta2, eps=1e-7):
        B = self.adam_block
        if p.size <= B or not all(a.flags.c_contiguous for a in (p, g, m, v)):
            return super().adam_step(p, g, m, v, lr_t, beta1, beta2, eps)
        t = p.dtype.type  # Python floats meet float32 arrays as float32 (NEP 50), as in the reference
        c1, c2, lr_t, eps = t(1 - beta1), t(1 - beta2), t(lr_t), t(eps)
        p, g, m, v = (a.reshape(-1) for a in (p, g, m, v))
        scratch = np.empty((2, B), p.dtype)
        for s in range(0, p.size, B):
            e = min(s + B, p.size)
            pb, gb, mb, vb = p[s:e], g[s:e], m[s:e], v[s:e]
            a, b = scratch[0, : e - s], scratch[1, : e - s]
            np.subtract(gb, mb, out=a)  # m += (1 - beta1)(g - m)
            a *= c1
            mb += a
            np.multiply(gb, gb, out=a)  # v += (1 - beta2)(g^2 - v)
            a -= vb
            a *= c2
            vb += a
            np.sqrt(vb, out=a)  # p -= lr_t m / (sqrt(v) + eps)
            a += eps
            np.multiply(mb, lr_t, out=b)
            b /= a
            pb -= b
        return None
