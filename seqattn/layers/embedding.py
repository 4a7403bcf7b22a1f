"""Embedding lookups. Backward is a scatter-add, since an id may appear many times."""

from __future__ import annotations

from .base import Layer, check_int


class Embedding(Layer):
    """``W`` (V, D). forward(idx: (N,) int) -> (N, D); keeps idx for backward."""

    param_names = ("W",)
    ndim = 1

    def __init__(self, W):
        super().__init__(W)
        self.idx = None

    def forward(self, idx):
        """Ids (``ndim`` axes: (N,) here, (N, T) for TimeEmbedding) int -> their rows of W, (..., D).
        An id outside 0..V-1 is a ValueError. Keeps the ids for backward."""
        name = type(self).__name__
        idx = check_int(idx, "ids", name, ndim=self.ndim)
        W = self.params[0]
        self.ops(idx).check_ids(idx, W.shape[0], name)
        self.idx = idx
        return W[idx]

    def backward(self, dout):
        """dout: (..., D) -> None; scatter-adds dout into dW (V, D) (``grads[0]``), so
        that an id used several times gets the sum of its gradients."""
        if self.idx is None:
            raise RuntimeError(f"{type(self).__name__}: run forward before backward")
        self.ops(dout).embedding_backward(self.grads[0], self.idx, dout)
        return None


class TimeEmbedding(Embedding):
    """``W`` (V, D). forward(xs: (N, T) int) -> (N, T, D), all steps at once."""

    ndim = 2
