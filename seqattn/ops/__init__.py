"""The stateless math of the hot paths, one signature per op and a body per backend.

    reference  ``Ops``: the book's order and names (LSTM gates f, g, i, o; ``df`` is dL/df),
               written once against ``xp``; the body a reader holds against the book, and the
               tests' oracle for the fast bodies.
    numpy      ``NumpyOps(Ops)``: the fast CPU bodies (the LSTM gate-major, one tanh for all
               gates, the gradients written over the gate cache).
    cupy       ``CupyOps(Ops)``: fused CUDA kernels for the LSTM step, the masked softmax, layer
               normalisation and Adam.

``get_ops(*arrays)`` picks the body for the arrays' module (or the current backend's); the
choice is made once per array module, here, and layers never ask which backend they are on.
``use_reference()`` makes every call use the reference bodies (to check a result against them).
"""

from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from ..backend import get_xp
from .reference import MASK_VALUE, Ops
from .trust import ids_trusted, trusted_ids

_OPS = {}  # array module -> its Ops, made on first use
_forced = contextvars.ContextVar("seqattn_ops_body", default="fast")  # "reference" inside use_reference()


def _make(xp):
    if xp is np:
        from .numpy_ops import NumpyOps

        return NumpyOps(xp)
    from .cupy_ops import CupyOps

    return CupyOps(xp)


def _ops(xp, body):
    ops = _OPS.get((xp, body))
    if ops is None:
        ops = _OPS[(xp, body)] = Ops(xp) if body == "reference" else _make(xp)
    return ops


def get_ops(*arrays) -> Ops:
    """The ops for the module of ``arrays`` (TypeError if numpy and cupy are mixed), or of the
    current backend when none is given."""
    return _ops(get_xp(*arrays), _forced.get())


def reference_ops(*arrays) -> Ops:
    """The reference bodies for the module of ``arrays``, whatever the dispatch would pick."""
    return _ops(get_xp(*arrays), "reference")


@contextlib.contextmanager
def use_reference():
    """Inside the block every layer runs the reference bodies (slower; the same results to
    rounding)."""
    token = _forced.set("reference")
    try:
        yield
    finally:
        _forced.reset(token)


class Workspace:
    """Arrays one layer keeps between calls, by name: allocating large caches anew on every call
    costs page faults. Only the caches of the last forward and backward live in them."""

    def __init__(self):
        self._arrays = {}

    def __call__(self, name, shape, xp, dtype):
        a = self._arrays.get(name)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype or get_xp(a) is not xp:
            a = self._arrays[name] = xp.empty(shape, dtype=dtype)
        return a


__all__ = ["MASK_VALUE", "Ops", "Workspace", "get_ops", "ids_trusted", "reference_ops", "trusted_ids", "use_reference"]
