"""The time loop shared by TimeRNN, TimeLSTM and TimeGRU.

Notation (used by the cells too):
    N batch size, T time steps, D input size, H hidden size, G gate blocks (RNN 1, GRU 3, LSTM 4).
    xs (N, T, D) inputs; Z (T+1, N, H+D+1) with Z[t] = [h_t, x_t, 1]; X = Z[:T, :, H:].
    A (T, N, G*H): A[t] = X[t] Wx + b + (recurrent part); the cell turns it into its gates in place
    (the LSTM keeps it gate-major, (T, G, N, H), so that each gate is one contiguous block).
    S[k] (T+1, N, H): the k-th state (h, or h and c) with S[k][0] the initial one, S[k][t+1] after t;
    S[0] is Z[:, :, :H].

Speed: the input projection of all steps is one matrix product before the loop (the LSTM instead
makes each step's gates with one product of Z[t]), the per-step caches are preallocated workspaces
kept between calls, and dWh, dWx and db are one product Z^T dA after the loop. The loop itself only
does the recurrent product and the cell's elementwise math.

Masking: ``mask`` (N, T) bool, False at padding. At a padded step every state is carried over
unchanged, so a left- or right-padded sequence gives the same states as the unpadded one (and with
right padding the last output is the last real state). Backward mirrors this: a padded step passes
the gradients of the states straight through and contributes nothing to the weights.
"""

from __future__ import annotations

from ..backend import get_xp
from .base import Layer, check_dim, check_float, check_mask


class TimeRecurrent(Layer):
    gates = 1  # G
    n_states = 1  # h only; the LSTM adds c

    def __init__(self, Wx, Wh, b, stateful=False):
        super().__init__(Wx, Wh, b)
        H = Wh.shape[0]
        name = type(self).__name__
        if Wx.ndim != 2 or Wx.shape[1] != self.gates * H or Wh.shape != (H, self.gates * H) or b.shape != (self.gates * H,):
            raise ValueError(
                f"{name}: expected Wx (D, {self.gates}H), Wh (H, {self.gates}H), b ({self.gates}H,); "
                f"got {tuple(Wx.shape)}, {tuple(Wh.shape)}, {tuple(b.shape)}"
            )
        self.stateful = stateful
        self.hidden_size = H
        self._states = [None] * self.n_states
        self.dh = None
        self._dstates = None

    # --- state -------------------------------------------------------------------------------
    @property
    def h(self):
        return self._states[0]

    def set_state(self, h, *rest):
        """Set the initial state for the next forward (used when ``stateful``)."""
        self._states = [h, *rest] + [None] * (self.n_states - 1 - len(rest))

    def reset_state(self):
        self._states = [None] * self.n_states

    # --- forward -----------------------------------------------------------------------------
    def forward(self, xs, mask=None):
        """xs: (N, T, D) float -> hs: (N, T, H). Keeps the gates and states for backward."""
        Wx, Wh, b = self.params
        name = type(self).__name__
        xs = check_float(xs, "xs", name, ndim=3, dtype=Wx.dtype)
        xp = self.xp(xs, mask)
        N, T, D = xs.shape
        H = self.hidden_size
        check_dim(D, Wx.shape[0], "the input size D", name)
        mask = check_mask(mask, (N, T), name)

        # Z[t] = [h_t, x_t, 1] (N, H+D+1): the states, the inputs and a column of ones side by
        # side, so that b joins the input projection's product and backward gets dWh, dWx and db
        # from one product Z^T dA, which reads the large dA once.
        Z = self._workspace("Z", (T + 1, N, H + D + 1), xp)
        Z[:T, :, H : H + D] = xs.transpose(1, 0, 2)
        Z[:, :, H + D] = 1
        X = Z[:T, :, H:]  # (T, N, D+1)
        A = self._project(X, xp.concatenate((Wx, b[None, :]), axis=0))
        S = [Z[:, :, :H]] + [self._workspace(f"S{k}", (T + 1, N, H), xp) for k in range(1, self.n_states)]
        for k in range(self.n_states):
            init = self._states[k] if self.stateful else None
            if init is None:
                S[k][0] = 0
            else:
                if tuple(init.shape) != (N, H):
                    raise ValueError(f"{name}: the state has shape {tuple(init.shape)}, expected {(N, H)}")
                S[k][0] = init
        self._Z, self._A, self._S = Z, A, S
        # (T, N, 1) bools: where states are carried over (padding) and where they are not
        self._real = None if mask is None else xp.ascontiguousarray(mask.T)[:, :, None]
        self._keep = None if mask is None else ~self._real
        self._begin(T, N)
        for t in range(T):
            self._cell_forward(t)
            if self._keep is not None:
                for s in S:
                    xp.copyto(s[t + 1], s[t], where=self._keep[t])
        self._states = [s[T].copy() for s in S]  # the workspace is reused by the next call
        return xp.ascontiguousarray(S[0][1:].transpose(1, 0, 2))

    # --- backward ----------------------------------------------------------------------------
    def backward(self, dhs, dstates_last=None):
        """dhs: (N, T, H) -> dxs: (N, T, D). Sets ``dh`` (and ``dc`` for the LSTM) to the
        gradients of the initial state; ``dstates_last`` adds gradients of the final state(s)."""
        Wx, Wh, b = self.params
        xp = self.xp(dhs)
        if getattr(self, "_Z", None) is None:
            raise RuntimeError(f"{type(self).__name__}: run forward before backward")
        Z = self._Z
        T, N, K = Z.shape
        T -= 1
        H = self.hidden_size
        D = K - H - 1
        dhs = check_float(dhs, "dhs", type(self).__name__, ndim=3, dtype=Wx.dtype)
        dH = dhs.transpose(1, 0, 2)
        dA = self._grad_buffer(T, N, xp)
        dS = [xp.zeros((N, H), dtype=Wx.dtype) for _ in range(self.n_states)]
        if dstates_last is not None:
            for k, d in enumerate(dstates_last):
                if d is not None:
                    dS[k] += d
        dS_prev = [xp.empty((N, H), dtype=Wx.dtype) for _ in range(self.n_states)]
        for t in range(T - 1, -1, -1):
            dS[0] += dH[t]
            self._cell_backward(t, dS, dA[t], dS_prev)
            if self._keep is not None:
                keep = self._keep[t]
                dA[t] *= self._real[t]
                for k in range(self.n_states):
                    xp.copyto(dS_prev[k], dS[k], where=keep)
            dS, dS_prev = dS_prev, dS
        dA2 = dA.reshape(T * N, -1)
        dW = xp.matmul(Z[:T].reshape(T * N, K).T, dA2)  # [dWh; dWx; db]
        self.grads[0][...] = dW[H : H + D]
        self.grads[2][...] = dW[H + D]
        self._recurrent_weight_grad(dA, dW[:H])
        dxs = (dA2 @ Wx.T).reshape(T, N, D)
        self._dstates = dS
        self.dh = dS[0]
        return xp.ascontiguousarray(dxs.transpose(1, 0, 2))

    def _workspace(self, name, shape, xp):
        """An array kept between calls (allocating large arrays anew each call costs page faults).
        Only the caches of the last forward and backward live in it."""
        key = "_ws_" + name
        a = self.__dict__.get(key)
        if a is None or a.shape != shape or get_xp(a) is not xp:
            a = xp.empty(shape, dtype=self.dtype)
            self.__dict__[key] = a
        return a

    # --- what a cell defines -----------------------------------------------------------------
    def _project(self, X, W):
        """A = X [Wx; b] for all steps: (T, N, G*H). A cell may lay A out otherwise."""
        xp = self.xp()
        T, N, D1 = X.shape
        A = self._workspace("A", (T, N, W.shape[1]), xp)
        xp.matmul(X.reshape(T * N, D1), W, out=A.reshape(T * N, -1))
        return A

    def _grad_buffer(self, T, N, xp):
        """Where backward writes dA (T, N, G*H), the gradients at A."""
        return self._workspace("dA", (T, N, self.gates * self.hidden_size), xp)

    def _begin(self, T, N):
        """Allocate the cell's own per-step caches."""

    def _cell_forward(self, t):
        """Turn A[t] (with the recurrent product added) into gates and write S[k][t+1]."""
        raise NotImplementedError

    def _cell_backward(self, t, dS, dA_t, dS_prev):
        """From dS (gradients at step t's outputs) write dA_t and dS_prev (at step t-1)."""
        raise NotImplementedError

    def _recurrent_weight_grad(self, dA, dWh):
        """Set grads[1]; ``dWh`` = sum_t h_t^T dA_t, right for cells whose recurrent product is
        S[0][t] @ Wh."""
        self.grads[1][...] = dWh


class StepLayer(Layer):
    """One step of a recurrent cell (the book's ``LSTM``, ``RNN``, ``GRU``), run as T = 1 of its
    time layer so that both share one implementation."""

    time_layer = TimeRecurrent

    def __init__(self, Wx, Wh, b):
        self._time = self.time_layer(Wx, Wh, b, stateful=True)
        self.params, self.grads = self._time.params, self._time.grads

    def _step(self, x, *states):
        x = check_float(x, "x", type(self).__name__, ndim=2)
        self._time.set_state(*states)
        self._time.forward(x[:, None, :])
        return self._time._states

    def _step_backward(self, *dstates):
        dx = self._time.backward(dstates[0][:, None, :], dstates_last=(None, *dstates[1:]))
        return (dx[:, 0, :], *self._time._dstates)
