"""Batched decoding: greedy and beam search over any decoder with the begin/run/reorder interface.

Both run on the whole batch at once; the loop is over output steps only. With a stop symbol they
end as soon as every row has ended (checked every ``CHECK_EVERY`` steps, one read from the device
each), and the rest of the output is the fill id, as it would have been.
"""

from __future__ import annotations

from ..backend import to_numpy
from ..ops import get_ops

NEG = -1e9
CHECK_EVERY = 8


def _all_ended(done, s, sample_size):
    """Whether every row has ended after step ``s`` (looked at every CHECK_EVERY steps only)."""
    return (s + 1) % CHECK_EVERY == 0 and s + 1 < sample_size and bool(to_numpy(done.all()))


def greedy(decoder, N, start_id, sample_size, stop_id=None, fill_id=None, xp=None, banned=()):
    """-> (N, sample_size) int ids. After ``stop_id`` a row continues with ``fill_id``. The ids in
    ``banned`` (the start and padding symbols of text) are never chosen."""
    ids = xp.full((N,), start_id, dtype=xp.int64)
    out = xp.empty((N, sample_size), dtype=xp.int64)
    finished = xp.zeros(N, dtype=bool)
    banned = xp.asarray(list(banned), dtype=xp.int64) if len(banned) else None  # on the device once
    for s in range(sample_size):
        scores = decoder.run(ids[:, None])[:, 0]
        if banned is not None:
            scores[:, banned] = NEG
        ids = scores.argmax(axis=1)
        if stop_id is not None:
            ids = xp.where(finished, fill_id, ids)
            finished |= ids == stop_id
        out[:, s] = ids
        if stop_id is not None and _all_ended(finished, s, sample_size):
            out[:, s + 1 :] = fill_id
            break
    return out


def beam(decoder, N, start_id, sample_size, width, stop_id=None, fill_id=None, length_penalty=0.0, xp=None, banned=()):
    """Beam search of ``width`` for every row at once -> (N, sample_size) int ids.

    Hypotheses are ranked by their summed log-probability while searching; at the end the best is
    chosen by score / length ** length_penalty (0: no normalisation). A hypothesis that has emitted
    ``stop_id`` is finished: it continues with ``fill_id`` at no cost and its length stops growing.
    The ids in ``banned`` are never chosen.
    """
    B = width
    decoder.reorder(xp.repeat(xp.arange(N), B))
    scores = xp.full((N, B), NEG, dtype=xp.float64)
    scores[:, 0] = 0.0  # all beams start identical: let only one of them expand at first
    tokens = xp.empty((N * B, sample_size), dtype=xp.int64)
    finished = xp.zeros(N * B, dtype=bool)
    lengths = xp.zeros(N * B, dtype=xp.float64)
    ids = xp.full((N * B,), start_id, dtype=xp.int64)
    rows = xp.arange(N)[:, None] * B
    banned = xp.asarray(list(banned), dtype=xp.int64) if len(banned) else None
    for s in range(sample_size):
        scores_t = decoder.run(ids[:, None])[:, 0].astype(xp.float64)
        logp = get_ops(scores_t).log_softmax(scores_t)  # (N*B, V)
        V = logp.shape[1]
        if banned is not None:
            logp[:, banned] = NEG
        if stop_id is not None:
            forced = xp.full((V,), NEG)
            forced[fill_id] = 0.0
            logp = xp.where(finished[:, None], forced, logp)
        cand = (scores[:, :, None] + logp.reshape(N, B, V)).reshape(N, B * V)
        if B * V > B:
            top = xp.argpartition(-cand, B - 1, axis=1)[:, :B]
        else:
            top = xp.broadcast_to(xp.arange(B * V), (N, B * V))
        order = xp.argsort(-xp.take_along_axis(cand, top, axis=1), axis=1)  # best first
        top = xp.take_along_axis(top, order, axis=1)
        scores = xp.take_along_axis(cand, top, axis=1)
        src = (rows + top // V).ravel()
        ids = (top % V).ravel()
        decoder.reorder(src)
        tokens = tokens[src]
        tokens[:, s] = ids
        finished, lengths = finished[src], lengths[src]
        lengths += ~finished
        if stop_id is not None:
            finished |= ids == stop_id
            # every hypothesis that can still win has ended (the others carry NEG)
            if _all_ended(finished | (scores.reshape(N * B) <= NEG / 2), s, sample_size):
                tokens[:, s + 1 :] = fill_id
                break
    final = scores.reshape(N * B)
    if length_penalty:
        final = final / xp.maximum(lengths, 1) ** length_penalty
    best = final.reshape(N, B).argmax(axis=1)
    return tokens[(xp.arange(N) * B + best)]
