"""Embedding lookups. Backward is a scatter-add, since an id may appear many times."""

from __future__ import annotations

from ..backend import scatter_add
from .base import Layer, check_int


class Embedding(Layer):
    """``W`` (V, D). forward(idx: (N,) int) -> (N, D); keeps idx for backward."""

    def __init__(self, W):
        super().__init__(W)
        self.idx = None

    def _lookup(self, idx):
        V = self.params[0].shape[0]
        xp = self.xp()
        if xp.__name__ == "numpy" and idx.size and (idx.min() < 0 or idx.max() >= V):
            bad = idx[(idx < 0) | (idx >= V)][0]
            raise ValueError(f"{type(self).__name__}: id {int(bad)} is outside the vocabulary of size {V}")
        self.idx = idx
        return self.params[0][idx]

    def forward(self, idx):
        return self._lookup(check_int(idx, "idx", "Embedding", ndim=1))

    def backward(self, dout):
        dW = self.grads[0]
        dW[...] = 0
        scatter_add(dW, self.idx, dout)
        return None


class TimeEmbedding(Embedding):
    """``W`` (V, D). forward(xs: (N, T) int) -> (N, T, D), all steps at once."""

    def forward(self, xs):
        return self._lookup(check_int(xs, "xs", "TimeEmbedding", ndim=2))
