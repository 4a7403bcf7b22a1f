"""Recurrent layers over time: TimeRNN, TimeGRU and TimeLSTM hold the weights and the states;
the math of the cells and the time loop is in ``seqattn.ops`` (the book's order in
``ops/reference.py``, the fast bodies beside it).

Masking: ``mask`` (N, T) bool, False at padding. At a padded step every state is carried over
unchanged, so a left- or right-padded sequence gives the same states as the unpadded one (and with
right padding the last output is the last real state). Backward mirrors this: a padded step passes
the gradients of the states straight through and contributes nothing to the weights.
"""

from __future__ import annotations

from .base import Layer, check_dim, check_float, check_mask


class TimeRecurrent(Layer):
    """``TimeXxx(Wx, Wh, b, stateful=False)``: forward(xs (N,T,D) float, mask=None) -> hs (N,T,H).

    ``h`` is the last hidden state and, after backward, ``dh`` the gradient of the initial one.
    With ``stateful=True`` the states carry over between calls and ``set_state`` sets them (the
    decoder's way of receiving the encoder's state).
    """

    cell = None  # "rnn", "gru", "lstm"
    gates = 1  # G: Wx is (D, G*H)
    n_states = 1  # h only; the LSTM adds c
    param_names = ("Wx", "Wh", "b")

    def __init__(self, Wx, Wh, b, stateful=False):
        super().__init__(Wx, Wh, b)
        H = Wh.shape[0]
        name = type(self).__name__
        G = self.gates
        if Wx.ndim != 2 or Wx.shape[1] != G * H or Wh.shape != (H, G * H) or b.shape != (G * H,):
            raise ValueError(f"{name}: expected Wx (D, {G}H), Wh (H, {G}H), b ({G}H,); "
                             f"got {tuple(Wx.shape)}, {tuple(Wh.shape)}, {tuple(b.shape)}")
        self.stateful = stateful
        self.hidden_size = H
        self._states = [None] * self.n_states
        self._dstates = None
        self._cache = None

    @property
    def h(self):
        """The last hidden state (N, H) (None before a forward)."""
        return self._states[0]

    @property
    def dh(self):
        """After backward, the gradient of the initial hidden state (N, H); None before."""
        return None if self._dstates is None else self._dstates[0]

    def set_state(self, h, *rest):
        """Set the initial state for the next forward (used when ``stateful``)."""
        self._states = [h, *rest] + [None] * (self.n_states - 1 - len(rest))

    def reset_state(self):
        """Forget the carried state: the next forward starts from zeros."""
        self._states = [None] * self.n_states

    def forward(self, xs, mask=None):
        """xs: (N, T, D) float -> hs: (N, T, H). Keeps the gates and states for backward."""
        Wx = self.params[0]
        name = type(self).__name__
        xs = check_float(xs, "xs", name, ndim=3, dtype=Wx.dtype)
        ops = self.ops(xs, mask)
        N, T, D = xs.shape
        check_dim(D, Wx.shape[0], "the input size D", name)
        check_mask(mask, (N, T), name)
        states = self._states if self.stateful else [None] * self.n_states
        for s in states:
            if s is not None and tuple(s.shape) != (N, self.hidden_size):
                raise ValueError(f"{name}: the state has shape {tuple(s.shape)}, expected {(N, self.hidden_size)}")
        self._W = self.prepared(lambda: ops.recurrent_weights(self.cell, *self.params, self._ws))
        hs, self._states, self._cache = ops.recurrent_forward(self.cell, self._W, xs, states, mask, self._ws)
        self._out_shape = hs.shape
        return hs

    def backward(self, dhs, dstates_last=None):
        """dhs: (N, T, H) -> dxs: (N, T, D). Sets ``dh`` (and ``dc`` for the LSTM) to the
        gradients of the initial state(s); ``dstates_last`` adds gradients at the final ones."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: run forward before backward")
        dhs = check_float(dhs, "dhs", type(self).__name__, ndim=3, dtype=self.dtype)
        if dhs.shape != self._out_shape:
            raise ValueError(f"{type(self).__name__}: dhs has shape {tuple(dhs.shape)}, but forward gave {tuple(self._out_shape)}")
        ops = self.ops(dhs)
        dlast = list(dstates_last or ()) + [None] * (self.n_states - len(dstates_last or ()))
        dxs, self._dstates = ops.recurrent_backward(self.cell, self._W, self._cache, dhs, dlast, self.grads, self._ws)
        return dxs


class TimeRNN(TimeRecurrent):
    """The plain (Elman) RNN over time: Wx (D, H), Wh (H, H), b (H,)."""

    cell = "rnn"


class TimeGRU(TimeRecurrent):
    """The GRU over time: Wx (D, 3H), Wh (H, 3H), b (3H,), gate blocks z, r, h~."""

    cell = "gru"
    gates = 3
