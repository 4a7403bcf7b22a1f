"""The searches held to oracles that do not share their code: beam search against an exhaustive
search, greedy search against recomputing every prefix; both ending when every row has ended."""

import itertools

import numpy as np
import pytest

from seqattn.models import AttentionSeq2seq, PeekySeq2seq, Seq2seq, search
from seqattn.ops import get_ops

V, START, PAD = 7, 1, 0


# ------------------------------------------------------------ 12. searches held to oracles
def _logprob(model, x, y, start):
    """log p(y | x) by teacher forcing over the whole of y at once."""
    model.decoder.begin(model.encoder.forward(x[None]))
    scores = model.decoder.run(np.concatenate([[start], y[:-1]])[None].astype(np.int64))[0]
    return float(get_ops(scores).log_softmax(scores.astype(np.float64))[np.arange(len(y)), y].sum())


def _exhaustive(model, x, vocab, steps, start, stop=None, fill=None, length_penalty=0.0, counted=None):
    """The best output of every one of length ``steps``, by score / length ** length_penalty, where
    an output ends at its first stop (and is filled after it): beam search's definition, from
    scratch. ``counted(n_tokens)`` overrides the length (to show what a wrong length picks)."""
    best, best_score = None, -np.inf
    for seq in itertools.product(range(vocab), repeat=steps):
        seq = list(seq)
        n = seq.index(stop) + 1 if stop is not None and stop in seq else steps
        if any(t != fill for t in seq[n:]):
            continue  # after the stop only the fill: one output per ending
        score = _logprob(model, x, np.array(seq[:n]), start)
        length = counted(n) if counted else n
        score = score / length**length_penalty if length_penalty else score
        if score > best_score:
            best, best_score = seq, score
    return best


@pytest.mark.parametrize("stop,length_penalty", [(None, 0.0), (2, 0.0), (0, 1.0), (2, 1.0), (2, 2.0)])
@pytest.mark.parametrize("cls", [Seq2seq, AttentionSeq2seq])
def test_beam_search_is_an_exhaustive_search_when_wide_enough(cls, stop, length_penalty):
    """A beam as wide as every output of a tiny vocabulary and length finds exactly the output an
    exhaustive search finds, with and without a stop symbol and length normalisation. And the test
    can tell: counting a finished output's length on to the end, or normalising by the length
    alone, would pick another output for some row."""
    vocab, steps, pad = 3, 3, 1
    model = cls(vocab, 3, 5, seed=12, dtype="float64", pad_id=pad)
    xs = np.random.default_rng(12).integers(0, vocab, (10, 3))
    xs[xs == pad] = 2
    found = model.generate(xs, 0, steps, beam_width=vocab**steps, stop_id=stop, length_penalty=length_penalty).tolist()
    fill = pad if stop is not None else None
    assert found == [_exhaustive(model, x, vocab, steps, 0, stop, fill, length_penalty) for x in xs]
    if stop is not None and length_penalty:
        assert found != [_exhaustive(model, x, vocab, steps, 0, stop, fill, length_penalty, counted=lambda n: steps) for x in xs]
    if length_penalty > 1:
        assert found != [_exhaustive(model, x, vocab, steps, 0, stop, fill, 1.0) for x in xs]


def _greedy_by_recomputation(model, x, start, steps, stop=None, fill=None):
    """Greedy output from teacher-forced passes over the whole prefix at every step (no state kept
    between steps)."""
    out, ended = [], False
    for _ in range(steps):
        if ended:
            out.append(fill)
            continue
        model.decoder.begin(model.encoder.forward(x[None]))
        scores = model.decoder.run(np.array([[start, *out]], dtype=np.int64))[0, -1]
        out.append(int(scores.argmax()))
        ended = stop is not None and out[-1] == stop
    return out


@pytest.mark.parametrize("with_stop", [False, True])
@pytest.mark.parametrize("cls", [Seq2seq, PeekySeq2seq, AttentionSeq2seq])
def test_greedy_search_equals_recomputing_every_prefix(cls, with_stop):
    kw = {"num_layers": 2, "bidirectional": True, "score": "general"} if cls is AttentionSeq2seq else {}
    model = cls(V, 4, 6, seed=5, dtype="float64", pad_id=PAD, **kw)
    xs = np.random.default_rng(5).integers(2, V, (6, 4))
    stop = None
    if with_stop:  # a symbol greedy search produces early, so that rows end and are filled
        stop = int(np.bincount(model.generate(xs, START, 7)[:, 1:4].ravel()).argmax())
    found = model.generate(xs, START, 7, stop_id=stop)
    assert not with_stop or (found[:, :-1] == stop).any()
    for n in range(len(xs)):
        assert found[n].tolist() == _greedy_by_recomputation(model, xs[n], START, 7, stop, PAD), n


class _Counting:
    """A decoder that counts its steps."""

    def __init__(self, decoder):
        self.decoder, self.steps = decoder, 0

    def run(self, ids):
        self.steps += 1
        return self.decoder.run(ids)

    def reorder(self, idx):
        self.decoder.reorder(idx)


@pytest.mark.parametrize("width", [1, 3])
def test_searches_end_when_every_row_has_ended(width):
    """A model that says stop at once is decoded in a few steps, however long the output may be,
    and the rest of each row is the fill."""
    model = AttentionSeq2seq(V, 4, 6, seed=0, pad_id=PAD)
    model.decoder.affine.params[1][3] = 50.0  # the stop id 3 wins every step
    xs = np.random.default_rng(0).integers(2, V, (5, 4))
    model.decoder.begin(model.encoder.forward(xs), capacity=10_000)
    counting = _Counting(model.decoder)
    if width == 1:
        out = search.greedy(counting, 5, START, 10_000, stop_id=3, fill_id=PAD, xp=np)
    else:
        out = search.beam(counting, 5, START, 10_000, width, stop_id=3, fill_id=PAD, xp=np)
    assert counting.steps <= search.CHECK_EVERY and out.shape == (5, 10_000)
    assert (out[:, 0] == 3).all() and (out[:, 1:] == PAD).all()
    np.testing.assert_array_equal(model.generate(xs, START, 10_000, beam_width=width, stop_id=3), out)
