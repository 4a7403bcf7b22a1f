"""The library's edge, and the searches held to oracles that do not share their code: arguments
checked once where they enter a model, naming the argument; beam search against an exhaustive
search, greedy search against recomputing every prefix; both ending when every row has ended;
the weights a model is said to have against the weights it has."""

import itertools
import random

import numpy as np
import pytest

from seqattn.errors import OptionError
from seqattn.models import MODELS, AttentionSeq2seq, PeekySeq2seq, Seq2seq, TransformerSeq2seq, search
from seqattn.ops import get_ops
from seqattn.optim import Adam
from seqattn.trainer import Trainer

V, START, PAD = 7, 1, 0


# ----------------------------------------------------------------------------- 9. the edge
@pytest.mark.parametrize("cls", [Seq2seq, AttentionSeq2seq, TransformerSeq2seq])
def test_empty_batches(cls):
    model = cls(V, seed=0) if cls is TransformerSeq2seq else cls(V, 4, 6, seed=0)
    with pytest.raises(ValueError, match=r"xs and ts are an empty batch \(N = 0\)"):
        model.forward(np.zeros((0, 3), int), np.zeros((0, 3), int))
    with pytest.raises(ValueError, match=r"xs has no time steps \(shape \(2, 0\)\)"):
        model.forward(np.zeros((2, 0), int), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="xs has no time steps"):
        model.generate(np.zeros((2, 0), int), START, 3)
    out = model.generate(np.zeros((0, 4), int), START, 3, beam_width=2)
    assert out.shape == (0, 3) and out.dtype == np.int64


def test_an_empty_share_still_takes_part_in_a_step():
    """Trainer.step takes an empty batch (a rank's empty share) without calling forward."""
    model = AttentionSeq2seq(V, 4, 6, seed=0)
    tr = Trainer(model, Adam(0.01), batch_size=4, progress=False, log=lambda s: None)
    before = model.params.buffer.copy()
    assert float(tr.step(np.zeros((0, 3), int), np.zeros((0, 3), int))) == 0.0
    np.testing.assert_array_equal(model.params.buffer, before)


@pytest.mark.parametrize("kwargs,words", [
    ({"dtype": "int32"}, "unknown dtype 'int32'; choose one of float32, float64"),
    ({"dtype": "float16"}, "unknown dtype 'float16'"),
    ({"pad_id": 7}, r"pad_id 7 is outside the vocabulary \(ids 0 to 6\)"),
    ({"pad_id": -1}, "pad_id must be at least 0, got -1"),
    ({"pad_id": 1.0}, "pad_id must be a whole number, got 1.0"),
    ({"target_vocab_size": 3, "pad_id": 5}, r"pad_id 5 is outside the vocabulary \(ids 0 to 2\)"),
    ({"seed": 1.5}, "seed must be a whole number"),
])
@pytest.mark.parametrize("cls", [Seq2seq, TransformerSeq2seq])
def test_constructor_arguments_are_checked_naming_them(cls, kwargs, words):
    with pytest.raises(OptionError, match=words):
        cls(V, **kwargs)


@pytest.mark.parametrize("kwargs,words", [
    ({"sample_size": 2.5}, "sample_size must be a whole number, got 2.5"),
    ({"sample_size": -1}, "sample_size must be at least 0"),
    ({"beam_width": 2.0}, "beam_width must be a whole number, got 2.0"),
    ({"beam_width": 0}, "beam_width must be at least 1"),
    ({"start_id": 1.5}, "start_id must be a whole number, got 1.5"),
    ({"start_id": 7}, "start_id 7 is outside the target vocabulary of size 7"),
    ({"stop_id": True}, "stop_id must be a whole number, got True"),
    ({"length_penalty": float("nan")}, "length_penalty must be a finite number"),
])
def test_generate_arguments_are_checked_naming_them(kwargs, words):
    model = AttentionSeq2seq(V, 4, 6, seed=0)
    args = {"start_id": START, "sample_size": 3, **kwargs}
    with pytest.raises(OptionError, match=words):
        model.generate(np.ones((2, 3), int), args.pop("start_id"), args.pop("sample_size"), **args)


def test_trainer_arguments_are_checked_naming_them():
    model = Seq2seq(V, 4, 6, seed=0)
    for kwargs, words in (({"batch_size": 0}, "batch_size must be at least 1"), ({"batch_size": 2.5}, "batch_size must be a whole"),
                          ({"label_smoothing": 1.0}, "label_smoothing must be at least 0 and below 1")):
        with pytest.raises(OptionError, match=words):
            Trainer(model, Adam(), **kwargs)


def test_weight_counts_are_the_weights_built():
    """What the memory estimate and the checkpoint checks count, for random configurations of
    every model, is exactly what the model builds."""
    rng = random.Random(0)
    for kind, cls in MODELS.items():
        for _ in range(8):
            config = dict(vocab_size=rng.randint(3, 9), target_vocab_size=rng.randint(3, 9))
            if kind == "transformer":
                config.update(d_model=rng.choice([4, 8]), num_heads=2, num_layers=rng.randint(1, 3), ffn_size=rng.randint(2, 9),
                              norm=rng.choice(["pre", "post"]), positions=rng.choice(["sinusoid", "learned"]),
                              max_len=rng.randint(3, 20), dropout=0.0)
            else:
                config.update(wordvec_size=rng.randint(1, 5), hidden_size=rng.choice([2, 4, 6]))
                if kind == "attention":
                    config.update(score=rng.choice(["dot", "general", "concat"]), bidirectional=rng.random() < 0.5,
                                  num_layers=rng.randint(1, 3), skip=rng.random() < 0.5)
                    if config["score"] != "concat" and rng.random() < 0.5:  # input feeding: one decoder layer
                        config.update(input_feeding=True, num_layers=1)
            model = cls(**config)
            assert cls.weight_count(model.config) == sum(p.size for _, p in model.named_params()), (kind, config)


# ------------------------------------------------------------ 12. searches held to oracles
def _logprob(model, x, y, start):
    """log p(y | x) by teacher forcing over the whole of y at once."""
    model.decoder.begin(model.encoder.forward(x[None]))
    scores = model.decoder.run(np.concatenate([[start], y[:-1]])[None].astype(np.int64))[0]
    return float(get_ops(scores).log_softmax(scores.astype(np.float64))[np.arange(len(y)), y].sum())


def _exhaustive(model, x, vocab, steps, start, stop=None, fill=None, length_penalty=0.0, counted=None, banned=()):
    """The best output of every one of length ``steps``, by score / length ** length_penalty, where
    an output ends at its first stop (and is filled after it) and holds no ``banned`` id before it:
    beam search's definition, from scratch. ``counted(n_tokens)`` overrides the length (to show
    what a wrong length picks)."""
    best, best_score = None, -np.inf
    for seq in itertools.product(range(vocab), repeat=steps):
        seq = list(seq)
        n = seq.index(stop) + 1 if stop is not None and stop in seq else steps
        if any(t != fill for t in seq[n:]) or any(t in banned for t in seq[:n]):
            continue  # after the stop only the fill: one output per ending; never a banned id
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
    vocab, steps, pad = 4, 3, 1
    model = cls(vocab, 3, 5, seed=15, dtype="float64", pad_id=pad)
    xs = np.random.default_rng(15).integers(0, vocab, (10, 3))
    xs[xs == pad] = 2
    found = model.generate(xs, 0, steps, beam_width=vocab**steps, stop_id=stop, length_penalty=length_penalty).tolist()
    fill = pad if stop is not None else None
    banned = tuple(i for i in (0, pad) if i != stop) if stop is not None else ()  # text: never the start or padding
    best = lambda **kw: [_exhaustive(model, x, vocab, steps, 0, stop, fill, banned=banned, **kw) for x in xs]  # noqa: E731
    assert found == best(length_penalty=length_penalty)
    if stop is not None and length_penalty:
        assert found != best(length_penalty=length_penalty, counted=lambda n: steps)
    if length_penalty > 1:
        assert found != best(length_penalty=1.0)


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
