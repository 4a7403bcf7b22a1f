"""Weight initialisation, made on the host from a seeded numpy Generator so that a seed gives the
same model on every backend, then moved to the current backend.

Schemes:
    "book"     as in the book: embeddings N(0, 1/100^2), weights N(0, 1/fan_in), biases 0.
    "default"  embeddings N(0, 1) and the LSTM forget-gate bias at 1; otherwise as "book". The
               book's small embeddings make the first epochs slow; unit embeddings start at once.
"""

from __future__ import annotations

import numpy as np

from ..backend import to_device

SCHEMES = ("default", "book")


class Initializer:
    def __init__(self, seed=None, dtype="float32", scheme="default"):
        if scheme not in SCHEMES:
            raise ValueError(f"unknown init {scheme!r}: choose one of {', '.join(SCHEMES)}")
        self.rng = np.random.default_rng(seed)
        self.dtype = np.dtype(dtype)
        self.scheme = scheme

    def _dev(self, a):
        return to_device(a.astype(self.dtype))

    def normal(self, *shape, scale=1.0):
        return self._dev(self.rng.standard_normal(shape) * scale)

    def zeros(self, *shape):
        return self._dev(np.zeros(shape))

    def ones(self, *shape):
        return self._dev(np.ones(shape))

    def table(self, a):
        """A fixed array (a position table) in this model's dtype, on the device."""
        return self._dev(np.asarray(a))

    def embedding(self, V, D):
        return self.normal(V, D, scale=0.01 if self.scheme == "book" else 1.0)

    def affine(self, fan_in, fan_out):
        return self.normal(fan_in, fan_out, scale=1 / np.sqrt(fan_in)), self.zeros(fan_out)

    def lstm(self, D, H):
        Wx = self.normal(D, 4 * H, scale=1 / np.sqrt(D))
        Wh = self.normal(H, 4 * H, scale=1 / np.sqrt(H))
        b = np.zeros(4 * H)
        if self.scheme == "default":
            b[:H] = 1.0  # forget gate (order f, g, i, o): remember by default
        return Wx, Wh, self._dev(b)
