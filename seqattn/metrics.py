"""Evaluation on whole batches: exact-match accuracy of generated answers."""

from __future__ import annotations

import numpy as np

from .backend import to_device, to_numpy

# Rows generated at once: large enough for efficient matrix products, small enough that the
# per-step working set stays in cache (256 measured 18% faster than 1,000 on the CPU).
EVAL_BATCH = 256


def predict(model, x, start_id, sample_size, batch_size=EVAL_BATCH, beam_width=1, stop_id=None):
    """Generate for every row of ``x`` (host or device ids), ``batch_size`` rows at a time -> numpy ids."""
    outs = []
    for i in range(0, len(x), batch_size):
        xb = to_device(x[i : i + batch_size])
        outs.append(to_numpy(model.generate(xb, start_id, sample_size, beam_width=beam_width, stop_id=stop_id)))
    return np.concatenate(outs) if outs else np.zeros((0, sample_size), dtype=np.int64)


def exact_match(model, x, t, start_id, batch_size=EVAL_BATCH, beam_width=1, stop_id=None):
    """Fraction of rows whose generated answer equals ``t[:, 1:]`` exactly, and the predictions."""
    t = to_numpy(t)
    pred = predict(model, x, start_id, t.shape[1] - 1, batch_size, beam_width, stop_id)
    correct = (pred == t[:, 1:]).all(axis=1)
    return float(correct.mean()) if len(correct) else 0.0, pred

