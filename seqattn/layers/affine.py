"""Affine maps: one for (N, D) inputs and one applied at every time step of (N, T, D)."""

from __future__ import annotations

from .base import Layer, check_dim, check_float


class Affine(Layer):
    """``W`` (D, M), ``b`` (M,). forward(x: (N, D)) -> (N, M); keeps x for backward."""

    param_names = ("W", "b")

    def __init__(self, W, b):
        super().__init__(W, b)
        self.x = None

    def forward(self, x):
        """x: (..., D) float, the weights' dtype -> x W + b (..., M). Keeps x for backward."""
        W, b = self.params
        x = check_float(x, "x", type(self).__name__, dtype=W.dtype)
        check_dim(x.shape[-1], W.shape[0], "the input's last dimension", type(self).__name__)
        self.xp(x)
        self.x = x.reshape(-1, W.shape[0])
        out = self.x @ W
        out += b
        return out.reshape(*x.shape[:-1], W.shape[1])

    def backward(self, dout):
        """dout: (..., M) -> dx (..., D); writes dW (D, M) and db (M,) into ``grads``."""
        W, _ = self.params
        if self.x is None:
            raise RuntimeError(f"{type(self).__name__}: run forward before backward")
        if dout.shape[-1] != W.shape[1] or dout.size != self.x.shape[0] * W.shape[1]:
            raise ValueError(f"{type(self).__name__}: dout has shape {tuple(dout.shape)}, which does not match the forward's output")
        dout2 = dout.reshape(-1, W.shape[1])
        self.xp().matmul(self.x.T, dout2, out=self.grads[0])
        dout2.sum(axis=0, out=self.grads[1])
        return (dout2 @ W.T).reshape(*dout.shape[:-1], W.shape[0])


class TimeAffine(Affine):
    """``W`` (D, M), ``b`` (M,). forward(xs: (N, T, D)) -> (N, T, M) as one matrix product."""

    def forward(self, xs):
        """xs: (N, T, D) float -> (N, T, M), every step in one matrix product."""
        check_float(xs, "xs", "TimeAffine", ndim=3)
        return super().forward(xs)
