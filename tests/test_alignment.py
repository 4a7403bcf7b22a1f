"""The alignment figures of attention weights (seqattn.metrics): what a diagonal, a collapse onto
the last source token and a reversed source give, with padding, heads and batches."""

import numpy as np
import pytest

from seqattn.metrics import alignment, alignment_rows, alignment_summary, output_lengths


def _one_hot(positions, Ts):
    """(N, S) source positions -> (N, S, Ts) weights with all weight there (a position -1: none)."""
    positions = np.asarray(positions)
    w = np.zeros(positions.shape + (Ts,))
    n, s = np.nonzero(positions >= 0)
    w[n, s, positions[n, s]] = 1.0
    return w


def test_a_diagonal_is_monotone_and_covers_the_source():
    ls, lo = np.array([5, 3]), np.array([5, 4])
    w = _one_hot([[0, 1, 2, 3, 4], [0, 1, 2, 2, -1]], 5)
    a = alignment(w, ls, lo)
    assert a["monotone"] == 1.0 and a["kendall_tau"] == pytest.approx((1.0 + 5 / 6**0.5 / 5**0.5) / 2)
    assert a["coverage"] == 1.0 and a["final_by_step"] == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert a["final_early"] == pytest.approx(1 / 6) and a["final_late"] == pytest.approx(2 / 3)


def test_a_collapse_onto_the_last_token_shows():
    ls, lo = np.array([6, 4, 5]), np.array([6, 6, 3])
    w = _one_hot(np.repeat((ls - 1)[:, None], 6, axis=1), 6)
    w[0, 0] = 0.5  # the first step of one row looks at two places
    w[0, 0, 0] = 0.5
    a = alignment(w, ls, lo)
    assert a["final_late"] == 1.0 and a["final_by_step"][0] == pytest.approx(2.5 / 3)
    # tau-b is 0 where the argmax never moves; row 0 moves once, forwards: 5 of its 15 pairs untied
    assert a["kendall_tau"] == pytest.approx(5 / (15 * 5) ** 0.5 / 3)
    assert a["coverage"] == pytest.approx(np.mean([2 / 6, 1 / 4, 1 / 5]))


def test_reversed_sources_are_read_back_in_reading_order():
    """An encoder that read the source backwards: the diagonal in reading order is the
    anti-diagonal of its weights, and the token it read last is the first word."""
    ls, lo = np.array([4]), np.array([4])
    w = _one_hot([[3, 2, 1, 0]], 4)
    a = alignment(w, ls, lo, reverse=True)
    assert a["monotone"] == 1.0 and a["kendall_tau"] == 1.0 and a["final_by_step"] == [1.0, 0.0, 0.0, 0.0]
    assert alignment(w, ls, lo)["kendall_tau"] == -1.0


def test_heads_are_averaged_and_batches_summarise_together():
    rng = np.random.default_rng(0)
    w = rng.random((4, 2, 5, 6))
    ls, lo = np.array([6, 3, 5, 1]), np.array([5, 2, 0, 4])
    w *= (np.arange(6)[None, :] < ls[:, None])[:, None, None, :]  # no weight on padding
    assert alignment(w, ls, lo) == alignment(w.mean(axis=1), ls, lo)
    parts = [alignment_rows(w[:2, :, :3], ls[:2], np.minimum(lo[:2], 3)), alignment_rows(w[2:], ls[2:], lo[2:])]
    final = np.concatenate([np.pad(parts[0]["final"], ((0, 0), (0, 2)), constant_values=np.nan), parts[1]["final"]])
    rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "final"}
    w2 = w.copy()
    w2[:2, :, 3:] = 0
    assert alignment_summary(dict(rows, final=final)) == alignment(w2, ls, np.array([3, 2, 0, 4]))


def test_output_lengths_stop_at_the_first_stop_symbol():
    ids = np.array([[5, 2, 9, 2], [5, 6, 7, 8], [2, 0, 0, 0]])
    np.testing.assert_array_equal(output_lengths(ids, 2), [1, 4, 0])
    np.testing.assert_array_equal(output_lengths(ids, None), [4, 4, 4])
