"""The plain (Elman) RNN and the GRU, on the same time loop as the LSTM.

RNN, Wx (D, H), Wh (H, H), b (H,):
    h = tanh(x Wx + h_prev Wh + b)                                 (1)
GRU, gate order z, r, h~ in Wx (D, 3H), Wh (H, 3H), b (3H,):
    z = sigmoid(x Wx_z + h_prev Wh_z + b_z)                        (1)
    r = sigmoid(x Wx_r + h_prev Wh_r + b_r)                        (2)
    h~ = tanh(x Wx_h + (r * h_prev) Wh_h + b_h)                    (3)
    h = (1 - z) * h_prev + z * h~ = h_prev + z * (h~ - h_prev)     (4)
"""

from __future__ import annotations

from ..functional import sigmoid
from .recurrent import StepLayer, TimeRecurrent


class TimeRNN(TimeRecurrent):
    """``TimeRNN(Wx, Wh, b, stateful=False)``: forward(xs (N,T,D), mask=None) -> hs (N,T,H)."""

    gates = 1

    def _begin(self, T, N):
        self._tmp = self.xp().empty((N, self.hidden_size), dtype=self.dtype)

    def _cell_forward(self, t):
        xp = self.xp()
        hs = self._S[0]
        xp.matmul(hs[t], self.params[1], out=self._tmp)
        self._A[t] += self._tmp
        xp.tanh(self._A[t], out=self._A[t])  # (1); A keeps h, unaffected by masking
        hs[t + 1] = self._A[t]

    def _cell_backward(self, t, dS, dA_t, dS_prev):
        xp = self.xp()
        h = self._A[t]
        xp.multiply(h, h, out=dA_t)
        xp.subtract(1, dA_t, out=dA_t)
        dA_t *= dS[0]
        xp.matmul(dA_t, self.params[1].T, out=dS_prev[0])


class TimeGRU(TimeRecurrent):
    """``TimeGRU(Wx, Wh, b, stateful=False)``: forward(xs (N,T,D), mask=None) -> hs (N,T,H)."""

    gates = 3

    def _begin(self, T, N):
        xp = self.xp()
        H = self.hidden_size
        self._rh = self._workspace("rh", (T, N, H), xp)  # r * h_prev, the input of Wh_h
        self._tmp = xp.empty((N, 2 * H), dtype=self.dtype)

    def _cell_forward(self, t):
        xp = self.xp()
        H = self.hidden_size
        Wh = self.params[1]
        hs = self._S[0]
        G = self._A[t]
        zr, z, r, hh = G[:, : 2 * H], G[:, :H], G[:, H : 2 * H], G[:, 2 * H :]
        xp.matmul(hs[t], Wh[:, : 2 * H], out=self._tmp)
        zr += self._tmp
        sigmoid(zr, out=zr)  # (1), (2)
        xp.multiply(r, hs[t], out=self._rh[t])
        xp.matmul(self._rh[t], Wh[:, 2 * H :], out=self._tmp[:, :H])
        hh += self._tmp[:, :H]
        xp.tanh(hh, out=hh)  # (3)
        h = hs[t + 1]
        xp.subtract(hh, hs[t], out=h)  # (4)
        h *= z
        h += hs[t]

    def _cell_backward(self, t, dS, dA_t, dS_prev):
        xp = self.xp()
        H = self.hidden_size
        Wh = self.params[1]
        dh = dS[0]
        h_prev = self._S[0][t]
        G = self._A[t]
        z, r, hh = G[:, :H], G[:, H : 2 * H], G[:, 2 * H :]
        dAz, dAr, dAh = dA_t[:, :H], dA_t[:, H : 2 * H], dA_t[:, 2 * H :]
        dh_prev = dS_prev[0]
        # (4): dz = dh * (h~ - h_prev), dh~ = dh * z, dh_prev = dh * (1 - z)
        xp.multiply(hh, hh, out=dAh)
        xp.subtract(1, dAh, out=dAh)
        dAh *= z
        dAh *= dh  # (3): dA_h = dh~ * (1 - h~^2)
        xp.subtract(hh, h_prev, out=dAz)
        dAz *= dh
        xp.subtract(1, z, out=dh_prev)
        dAz *= z
        dAz *= dh_prev  # (1): dA_z = dz * z * (1 - z)
        dh_prev *= dh
        # (3): d(r h_prev) = dA_h Wh_h^T
        drh = xp.matmul(dAh, Wh[:, 2 * H :].T)
        xp.multiply(drh, r, out=dAr)
        dh_prev += dAr
        xp.multiply(drh, h_prev, out=dAr)
        xp.subtract(1, r, out=drh)
        drh *= r
        dAr *= drh  # (2): dA_r = dr * r * (1 - r)
        dh_prev += xp.matmul(dA_t[:, : 2 * H], Wh[:, : 2 * H].T)  # (1), (2)

    def _recurrent_weight_grad(self, dA, dWh):
        # z and r take h_prev as given; the candidate's recurrent input is r * h_prev
        xp = self.xp()
        T, N, _ = dA.shape
        H = self.hidden_size
        self.grads[1][:, : 2 * H] = dWh[:, : 2 * H]
        self.grads[1][:, 2 * H :] = xp.matmul(self._rh.reshape(T * N, H).T, dA.reshape(T * N, 3 * H)[:, 2 * H :])


class RNN(StepLayer):
    """One RNN step: forward(x (N,D), h_prev) -> h; backward(dh) -> (dx, dh_prev)."""

    time_layer = TimeRNN

    def forward(self, x, h_prev):
        return self._step(x, h_prev)[0]

    def backward(self, dh):
        return self._step_backward(dh)


class GRU(RNN):
    """One GRU step: forward(x (N,D), h_prev) -> h; backward(dh) -> (dx, dh_prev)."""

    time_layer = TimeGRU
