"""The layer contract shared by every layer, parts built of layers, and input checks with
messages that name the fix."""

from __future__ import annotations

import contextlib
import contextvars

from ..backend import get_xp
from ..ops import Workspace, get_ops
from ..packed import Packed

_frozen = contextvars.ContextVar("seqattn_frozen_weights", default=None)  # the current block's token, or None


@contextlib.contextmanager
def frozen_weights():
    """Promise that no weight changes inside the block (generation does this): layers then build
    their weights' derived layouts once for the block instead of on every call."""
    if _frozen.get() is not None:  # nested: the outer block already holds
        yield
        return
    token = _frozen.set(object())
    try:
        yield
    finally:
        _frozen.reset(token)


class Layer:
    """A layer holds ``params`` (arrays) and ``grads`` (same shapes, written by ``backward``).

    Optimizers and ``clip_grads`` work on any list of layers through these two lists;
    ``param_names`` names them in checkpoints.
    """

    param_names = ()

    def __init__(self, *params):
        self.params = list(params)
        self.grads = [get_xp(p).zeros_like(p) for p in params]
        self._ws = Workspace()
        self._prepared = self._prepared_in = None

    @property
    def dtype(self):
        """The dtype of the layer's weights (float32 by default, float64 in gradient checks)."""
        return self.params[0].dtype

    def xp(self, *arrays):
        """The array module of this layer's params and ``arrays``; TypeError if they mix."""
        return get_xp(*arrays, *self.params)

    def ops(self, *arrays):
        """The ops for this layer's params and ``arrays`` (the backend's bodies)."""
        return get_ops(*arrays, *self.params)

    def named_params(self):
        """[(name, array)] of the weights, by ``param_names``: the names checkpoints use."""
        return list(zip(self.param_names, self.params))

    def prepared(self, build):
        """``build()``: the weights in the ops' derived layout. Built on every call (the weights
        may have changed since), except inside ``frozen_weights()``, where it is built once."""
        block = _frozen.get()
        if block is None or self._prepared_in is not block:
            self._prepared, self._prepared_in = build(), block
        return self._prepared


class Composite:
    """A part made of named layers or parts (an encoder, a stack): its ``params`` and ``grads``
    are theirs in order, and its ``named_params`` are theirs prefixed with the child's name (a
    child named "" adds no prefix)."""

    def adopt(self, children):
        """``children``: (name, layer or part) pairs, in the order of the parameters."""
        self.children = [(n, c) for n, c in children if c is not None]
        self.params = [p for _, c in self.children for p in c.params]
        self.grads = [g for _, c in self.children for g in c.grads]

    def named_params(self):
        """[(name, array)] of every weight below, each prefixed with its children's names
        (``encoder.lstm0.Wx``): the names checkpoints use."""
        return [(f"{n}.{k}" if n else k, p) for n, c in self.children for k, p in c.named_params()]

    def parts(self):
        """This part and every part and layer below it."""
        yield self
        for _, c in self.children:
            yield from (c.parts() if isinstance(c, Composite) else (c,))

    def pack(self):
        """Move every weight into one contiguous buffer and every gradient into another, each
        array a view of its buffer (``params.buffer``, ``grads.buffer``): the optimizer, clipping
        and the checks then make one pass over all weights instead of one per array. The layers
        keep their views, so nothing else changes. Weights shared between layers, or of mixed
        dtypes, are left as they are."""
        ps = self.params
        if not ps or len({id(p) for p in ps}) < len(ps) or len({p.dtype for p in ps}) > 1:
            return
        params, grads = Packed.of(self.params), Packed.of(self.grads)
        moved = {id(a): v for old, new in ((self.params, params), (self.grads, grads)) for a, v in zip(old, new)}
        for part in self.parts():
            part.params[:] = [moved.get(id(a), a) for a in part.params]
            part.grads[:] = [moved.get(id(a), a) for a in part.grads]
        self.params, self.grads = params, grads


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
    """``mask`` (or None) must have ``shape``. Models make it a bool array once where it enters;
    a layer only checks the shape."""
    if mask is None:
        return None
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{layer}: mask must have shape {tuple(shape)}, got {tuple(mask.shape)}")
    if mask.dtype != bool:
        raise TypeError(f"{layer}: mask must be a bool array (False at padding), got dtype {mask.dtype}; use mask.astype(bool)")
    return mask


def check_dim(actual, expected, what, layer):
    if actual != expected:
        raise ValueError(f"{layer}: {what} is {actual} but the weights expect {expected}")
