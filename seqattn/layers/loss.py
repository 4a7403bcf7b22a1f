"""Softmax and the softmax + cross-entropy losses (mean over the targets that count)."""

from __future__ import annotations

from ..backend import get_xp
from ..ops import get_ops
from .base import check_float, check_int


class Softmax:
    """forward(x: (..., V)) -> probabilities over the last axis."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        """x: (..., V) float -> softmax over the last axis (row maximum subtracted first).
        Keeps the output for backward."""
        self.out = get_ops(x).softmax(check_float(x, "x", "Softmax"))
        return self.out

    def backward(self, dout):
        """dout: (..., V) -> dx = y * (dout - sum(y * dout)) over the last axis."""
        return get_ops(dout).softmax_backward(self.out, dout)


class SoftmaxWithLoss:
    """forward(x: (N, V) scores, t: (N,) int ids) -> mean cross-entropy (0-d array).

    Targets equal to ``ignore_index`` count for nothing and get zero gradient; with
    ``label_smoothing`` e the target distribution is (1 - e) one-hot + e / V.
    """

    ndim = 2

    def __init__(self, ignore_index=None, label_smoothing=0.0):
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"{type(self).__name__}: label_smoothing must be at least 0 and below 1, got {label_smoothing}")
        self.params, self.grads = [], []
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self._cache = None

    def forward(self, x, t):
        """x: scores (N, V) float (TimeSoftmaxWithLoss: (N, T, V)); t: int ids of the same
        leading shape -> the mean cross-entropy over the targets that count, a 0-d array (left
        on the device). Keeps the probabilities for backward."""
        name = type(self).__name__
        x = check_float(x, "scores", name, ndim=self.ndim)
        t = check_int(t, "targets", name, ndim=self.ndim - 1)
        if tuple(t.shape) != tuple(x.shape[:-1]):
            raise ValueError(f"{name}: targets have shape {tuple(t.shape)} but scores {tuple(x.shape)}")
        xp = get_xp(x, t)
        V = x.shape[-1]
        counted = t if self.ignore_index is None else xp.where(t == self.ignore_index, 0, t)
        get_ops(x).check_ids(counted, V, f"{name} targets")  # a negative id would count as another class
        loss, cache = get_ops(x).cross_entropy(x.reshape(-1, V), t.ravel(), self.ignore_index, self.label_smoothing)
        self._cache = (cache, x.shape)
        return loss

    def backward(self, dout=1):
        """dout (a number, default 1) -> dx of the scores' shape: (softmax - target
        distribution) * dout / (targets that count); 0 at ignored targets."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: run forward before backward")
        cache, shape = self._cache
        return get_ops(cache[0]).cross_entropy_backward(cache, dout).reshape(shape)


class TimeSoftmaxWithLoss(SoftmaxWithLoss):
    """forward(xs: (N, T, V), ts: (N, T)) -> mean loss over targets != ``ignore_index`` (-1).
    ``label_smoothing`` e trains towards (1 - e) one-hot + e / V."""

    ndim = 3

    def __init__(self, ignore_index=-1, label_smoothing=0.0):
        super().__init__(ignore_index, label_smoothing)
