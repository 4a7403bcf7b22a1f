"""Softmax and the softmax + cross-entropy losses (mean over the targets that count)."""

from __future__ import annotations

from ..backend import get_xp
from ..functional import softmax, softmax_cross_entropy
from .base import check_float, check_int


class Softmax:
    """forward(x: (..., V)) -> probabilities over the last axis."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = softmax(check_float(x, "x", "Softmax"))
        return self.out

    def backward(self, dout):
        y = self.out
        dx = y * dout
        dx -= y * dx.sum(axis=-1, keepdims=True)
        return dx


class SoftmaxWithLoss:
    """forward(x: (N, V) scores, t: (N,) int ids) -> mean cross-entropy (0-d array).

    Targets equal to ``ignore_index`` count for nothing and get zero gradient.
    """

    ndim = 2

    def __init__(self, ignore_index=None):
        self.params, self.grads = [], []
        self.ignore_index = ignore_index
        self._cache = None

    def forward(self, x, t):
        name = type(self).__name__
        x = check_float(x, "scores", name, ndim=self.ndim)
        t = check_int(t, "targets", name, ndim=self.ndim - 1)
        if tuple(t.shape) != tuple(x.shape[:-1]):
            raise ValueError(f"{name}: targets have shape {tuple(t.shape)} but scores {tuple(x.shape)}")
        get_xp(x, t)
        V = x.shape[-1]
        loss, probs, valid, count = softmax_cross_entropy(x.reshape(-1, V), t.ravel(), self.ignore_index)
        self._cache = (probs, t.ravel(), valid, count, x.shape)
        return loss

    def backward(self, dout=1):
        probs, t, valid, count, shape = self._cache
        xp = get_xp(probs)
        dx = probs.copy()
        rows = xp.arange(t.shape[0])
        if valid is None:
            dx[rows, t] -= 1
        else:
            dx[rows, xp.where(valid, t, 0)] -= 1
            dx *= valid[:, None]
        dx *= dout / count
        return dx.reshape(shape)


class TimeSoftmaxWithLoss(SoftmaxWithLoss):
    """forward(xs: (N, T, V), ts: (N, T)) -> mean loss over targets != ``ignore_index`` (-1)."""

    ndim = 3

    def __init__(self, ignore_index=-1):
        super().__init__(ignore_index)
