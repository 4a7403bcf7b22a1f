"""The layer contract shared by every layer, and input checks with messages that name the fix."""

from __future__ import annotations

from ..backend import get_xp


class Layer:
    """A layer holds ``params`` (arrays) and ``grads`` (same shapes, written by ``backward``).

    Optimizers and ``clip_grads`` work on any list of layers through these two lists.
    """

    def __init__(self, *params):
        self.params = list(params)
        self.grads = [get_xp(p).zeros_like(p) for p in params]

    @property
    def dtype(self):
        return self.params[0].dtype

    def xp(self, *arrays):
        """The array module of this layer's params and ``arrays``; TypeError if they mix."""
        return get_xp(*arrays, *self.params)


def check_float(x, name, layer, ndim=None, dtype=None):
    """``x`` as a float array of ``ndim`` dims in ``dtype`` (the layer's weights' dtype)."""
    if not hasattr(x, "ndim"):
        raise TypeError(f"{layer}: {name} must be an array, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{layer}: {name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{layer}: {name} must be a float array, got dtype {x.dtype}; cast it with .astype('float32')")
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)
    return x


def check_int(x, name, layer, ndim=None):
    """``x`` as an integer id array of ``ndim`` dims."""
    if not hasattr(x, "ndim"):
        raise TypeError(f"{layer}: {name} must be an integer array, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{layer}: {name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"{layer}: {name} must hold integer ids, got dtype {x.dtype}")
    return x


def check_mask(mask, shape, layer):
    """``mask`` as a bool array of ``shape`` (or None)."""
    if mask is None:
        return None
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{layer}: mask must have shape {tuple(shape)}, got {tuple(mask.shape)}")
    return mask.astype(bool, copy=False)


def check_dim(actual, expected, what, layer):
    if actual != expected:
        raise ValueError(f"{layer}: {what} is {actual} but the weights expect {expected}")
