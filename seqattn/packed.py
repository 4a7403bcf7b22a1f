"""Packed arrays: many weights (or gradients, or an optimizer's slots) as views of one buffer, so
that clipping, an update or an all-reduce is one pass over one array, however many arrays a model
has. Below the layers and the optimizers alike; it needs only the backend."""

from __future__ import annotations

from .backend import get_xp


class Packed(list):
    """Arrays that are views, in order, of one 1-D ``buffer``: ``flat(arrays)`` is then
    ``[buffer]``, one array to update instead of many. Each view starts on a 512-byte boundary (as
    a separate allocation would, for the GEMMs that write gradients); the gaps hold zeros, which
    every update leaves at zero."""

    ALIGN = 512  # bytes

    def __init__(self, views, buffer):
        super().__init__(views)
        self.buffer = buffer

    @classmethod
    def layout(cls, arrays):
        """[(offset, size, shape)] of ``arrays`` in a buffer, and the buffer's length."""
        step = max(cls.ALIGN // arrays[0].itemsize, 1) if arrays else 1
        spans, offset = [], 0
        for a in arrays:
            spans.append((offset, a.size, a.shape))
            offset += -(-a.size // step) * step
        return spans, offset

    @classmethod
    def over(cls, buffer, arrays):
        """Views of ``buffer`` laid out for ``arrays`` (their shapes, in order)."""
        spans, _ = cls.layout(arrays)
        return cls([buffer[o : o + n].reshape(shape) for o, n, shape in spans], buffer)

    @classmethod
    def of(cls, arrays):
        """A copy of ``arrays`` in one new buffer on their device."""
        _, length = cls.layout(arrays)
        packed = cls.over(get_xp(*arrays).zeros(length, dtype=arrays[0].dtype), arrays)
        for view, a in zip(packed, arrays):
            view[...] = a
        return packed

    def zeros_like(self):
        """The same layout over a new zeroed buffer (an optimizer's slot)."""
        return Packed.over(get_xp(self.buffer).zeros_like(self.buffer), self)


def flat(arrays):
    """The arrays to run an elementwise pass over: ``[buffer]`` for ``Packed`` arrays, else
    ``arrays`` themselves."""
    return [arrays.buffer] if isinstance(arrays, Packed) else list(arrays)
