"""Inverted dropout over time: scaled at training time so evaluation needs no change."""

from __future__ import annotations

from ..backend import default_rng, get_xp


class TimeDropout:
    """forward(xs) -> xs with a fraction ``ratio`` zeroed (training) or xs itself (evaluation)."""

    def __init__(self, ratio=0.5, seed=None):
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"TimeDropout: ratio must be in [0, 1), got {ratio}")
        self.ratio = ratio
        self.params, self.grads = [], []
        self.train = True
        self.mask = None
        self.rng = self._rng_xp = None
        self.seed = seed

    def forward(self, xs):
        """xs (any shape, float) -> xs times a mask of 0 and 1 / (1 - ratio) while ``train``;
        xs itself in evaluation. Keeps the mask for backward."""
        if not self.train or self.ratio == 0.0:
            self.mask = None
            return xs
        xp = get_xp(xs)
        if self.rng is None or self._rng_xp is not xp:  # seeded on the device of the data
            self.rng, self._rng_xp = default_rng(self.seed, like=xs), xp
        keep = self.rng.random(xs.shape, dtype=xp.float32) >= self.ratio
        self.mask = keep.astype(xs.dtype) * xs.dtype.type(1.0 / (1.0 - self.ratio))
        return xs * self.mask

    def backward(self, dout):
        """dout -> dout times the forward's mask (dout itself when nothing was dropped)."""
        return dout if self.mask is None else dout * self.mask
