"""LSTM layers over time: one direction (``TimeLSTM``) and both (``TimeBiLSTM``).

The cell's math, in the book's gate order f, g, i, o, is ``Ops.lstm_cell`` in
``seqattn/ops/reference.py``; the book's one-step ``LSTM`` layer is in ``layers/book.py``.
"""

from __future__ import annotations

from .base import Composite, check_float, check_mask
from .recurrent import TimeRecurrent


class TimeLSTM(TimeRecurrent):
    """``TimeLSTM(Wx (D,4H), Wh (H,4H), b (4H,), stateful=False)``:
    forward(xs (N,T,D), mask=None) -> hs (N,T,H).

    ``h`` and ``c`` are the last states; ``dh`` and ``dc`` the gradients of the initial ones after
    backward. With ``stateful=True`` the states carry over between calls and ``set_state(h, c=None)``
    sets them.
    """

    cell = "lstm"
    gates = 4
    n_states = 2

    @property
    def c(self):
        """The last cell state (N, H) (None before a forward)."""
        return self._states[1]

    @property
    def dc(self):
        """After backward, the gradient of the initial cell state (N, H); None before."""
        return None if self._dstates is None else self._dstates[1]

    def set_state(self, h, c=None):
        """Set the initial hidden state h (N, H) and cell state c (N, H) of the next forward
        (used when ``stateful``; c None starts from zeros)."""
        super().set_state(h, c)


class TimeBiLSTM(Composite):
    """Both directions over the sequence, outputs concatenated: (N, T, D) -> (N, T, 2H).

    The backward direction reads the sequence reversed; with a mask it starts at each sequence's
    real end (padding leaves its state at zero until the real positions begin). Its final state
    is its output at position 0; the forward direction's, with right padding, at position T-1.
    """

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2)
        self.adopt([("forward", self.forward_lstm), ("backward", self.backward_lstm)])
        self.hidden_size = Wh1.shape[0]

    def forward(self, xs, mask=None):
        """xs: (N, T, D) float, mask=None (N, T) bool -> hs (N, T, 2H): the forward
        direction's states in hs[..., :H], the backward direction's in hs[..., H:]."""
        xs = check_float(xs, "xs", "TimeBiLSTM", ndim=3)
        xp = self.forward_lstm.xp(xs, mask)
        check_mask(mask, xs.shape[:2], "TimeBiLSTM")
        hf = self.forward_lstm.forward(xs, mask)
        hb = self.backward_lstm.forward(xs[:, ::-1], None if mask is None else mask[:, ::-1])
        return xp.concatenate((hf, hb[:, ::-1]), axis=2)

    def backward(self, dhs, dh_last=None):
        """dhs: (N, T, 2H) -> dxs; ``dh_last`` (N, 2H) adds gradients of both final states."""
        H = self.hidden_size
        df, db = (None, None) if dh_last is None else (dh_last[:, :H], dh_last[:, H:])
        dxs = self.forward_lstm.backward(dhs[:, :, :H], (df, None))
        dxs += self.backward_lstm.backward(dhs[:, ::-1, H:], (db, None))[:, ::-1]
        return dxs

    @property
    def h(self):
        """The final states of both directions, (N, 2H)."""
        return self.forward_lstm.xp().concatenate((self.forward_lstm.h, self.backward_lstm.h), axis=1)

    @property
    def dh(self):
        """Gradients of the initial states of both directions, (N, 2H)."""
        return self.forward_lstm.xp().concatenate((self.forward_lstm.dh, self.backward_lstm.dh), axis=1)
