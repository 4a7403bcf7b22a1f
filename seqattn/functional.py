"""Stateless math shared by the layers. Every function works on numpy and cupy arrays alike."""

from __future__ import annotations

from .backend import get_xp

# A large finite negative for masked scores: exp() of it is exactly 0 and a fully masked row
# gives a uniform (then zeroed) softmax instead of the NaN that -inf would give.
MASK_VALUE = -1e9


def sigmoid(x, out=None):
    """Logistic function as 0.5 * tanh(0.5 x) + 0.5, which cannot overflow. ``out`` may be ``x``."""
    xp = get_xp(x)
    out = xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def softmax(x, axis=-1):
    """Softmax along ``axis``, stable for large inputs (the row maximum is subtracted)."""
    xp = get_xp(x)
    y = x - x.max(axis=axis, keepdims=True)
    xp.exp(y, out=y)
    y /= y.sum(axis=axis, keepdims=True)
    return y


def masked_softmax(x, mask, axis=-1):
    """Softmax along ``axis`` with positions where ``mask`` is False given weight exactly 0.

    ``mask`` broadcasts against ``x``. A row with no True position gives all zeros, not NaN.
    """
    if mask is None:
        return softmax(x, axis)
    xp = get_xp(x)
    y = xp.where(mask, x, MASK_VALUE).astype(x.dtype, copy=False)
    y = softmax(y, axis)
    y *= mask
    return y


def softmax_cross_entropy(scores, targets, ignore_index=None):
    """Softmax of ``scores`` and the mean cross-entropy over rows whose target is not ignored.

    scores: (M, V) floats; targets: (M,) int ids. The loss comes from log-softmax, so it is exact
    and finite for any scores. Returns ``(loss, probs, valid, count)``: loss a 0-d array (kept on
    the device), probs (M, V), valid (M,) bool or None, count a 0-d float array (at least 1).
    """
    xp = get_xp(scores)
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    probs = exp / total
    if ignore_index is None:
        valid = None
        safe = targets
    else:
        valid = targets != ignore_index
        safe = xp.where(valid, targets, 0)
    logp = shifted[xp.arange(targets.shape[0]), safe] - xp.log(total[:, 0])
    if valid is None:
        count = xp.asarray(max(targets.shape[0], 1), dtype=scores.dtype)
        return -logp.sum() / count, probs, None, count
    count = xp.maximum(valid.sum(), 1).astype(scores.dtype)
    return -(logp * valid).sum() / count, probs, valid, count


def log_softmax(x, axis=-1):
    """log(softmax(x)) computed without forming softmax(x), so it never gives -inf for finite x."""
    xp = get_xp(x)
    y = x - x.max(axis=axis, keepdims=True)
    y -= xp.log(xp.exp(y).sum(axis=axis, keepdims=True))
    return y
