"""Whole models: gradients for every option, batched generation, beam search, checkpoints, learning."""

import functools
import itertools
import os

import numpy as np
import pytest

from conftest import assert_grads, train
from seqattn.backend import get_xp, to_device, to_numpy
from seqattn.checkpoint import CheckpointError
from seqattn.models import AttentionSeq2seq, PeekySeq2seq, Seq2seq, load_model

V, PAD, START = 7, 0, 1
Feeding = functools.partial(AttentionSeq2seq, input_feeding=True)  # the attention model with input feeding


def batch(rng, N=3, Ts=4, Tt=4, pad_tail=True):
    xs = rng.integers(2, V, (N, Ts))
    ts = rng.integers(2, V, (N, Tt))
    ts[:, 0] = START
    if pad_tail:  # ragged sources and targets
        xs[0, -2:] = PAD
        ts[1, -1:] = PAD
    return to_device(xs), to_device(ts)


def directional_check(model, xs, ts, rng, rtol=1e-5):
    """Chainer's check: for each param, one random direction d, (L(p+e d)-L(p-e d))/2e vs <grad, d>."""
    model.forward(xs, ts)
    model.backward()
    eps = 1e-6
    for k, (p, g) in enumerate(zip(model.params, model.grads)):
        d = to_device(rng.standard_normal(p.shape), dtype=p.dtype)
        p += eps * d
        up = float(to_numpy(model.forward(xs, ts)))
        p -= 2 * eps * d
        down = float(to_numpy(model.forward(xs, ts)))
        p += eps * d
        num = (up - down) / (2 * eps)
        ana = float(to_numpy((g * d).sum()))
        assert abs(num - ana) <= rtol * max(1.0, abs(num)) * 10, f"param {k} {tuple(p.shape)}: numeric {num} vs analytic {ana}"


@pytest.mark.parametrize("cls", [Seq2seq, PeekySeq2seq, AttentionSeq2seq])
def test_model_gradients_elementwise(xp, cls):
    rng = np.random.default_rng(0)
    model = cls(V, 3, 4, pad_id=PAD, seed=1, dtype="float64")
    xs, ts = batch(rng)
    model.forward(xs, ts)
    model.backward()
    pairs = [(f"param{k}", p, g) for k, (p, g) in enumerate(zip(model.params, model.grads))]
    assert_grads(lambda: model.forward(xs, ts), pairs, rtol=1e-4, atol=1e-8)


OPTIONS = list(itertools.product(["dot", "general", "concat"], [False, True], [1, 2], [False, True]))


@pytest.mark.parametrize("score,bi,layers,skip", [o for o in OPTIONS if not (o[3] and o[2] == 1)])
def test_attention_model_gradients_every_option(xp, score, bi, layers, skip):
    rng = np.random.default_rng(layers + 2 * bi)
    model = AttentionSeq2seq(V, 3, 4, score=score, bidirectional=bi, num_layers=layers, skip=skip, pad_id=PAD, seed=2, dtype="float64")
    xs, ts = batch(rng)
    directional_check(model, xs, ts, rng)


@pytest.mark.parametrize("score,bi,dropout", [("dot", False, 0.0), ("general", True, 0.0), ("dot", True, 0.3)])
def test_input_feeding_model_gradients(xp, score, bi, dropout):
    rng = np.random.default_rng(3 + bi)
    model = Feeding(V, 3, 4, score=score, bidirectional=bi, dropout=dropout, pad_id=PAD, seed=2, dtype="float64")
    xs, ts = batch(rng)
    (directional_check_fixed_dropout if dropout else directional_check)(model, xs, ts, rng)


def directional_check_fixed_dropout(model, xs, ts, rng):
    """``directional_check`` with the same dropout masks at every evaluation (reseeded before each forward)."""
    orig = model.forward

    def forward(*a):
        model.seed_dropout(5)
        return orig(*a)

    model.forward = forward
    directional_check(model, xs, ts, rng)


def test_dropout_gradients_with_fixed_masks():
    rng = np.random.default_rng(0)
    model = AttentionSeq2seq(V, 3, 4, num_layers=2, dropout=0.3, seed=2, dtype="float64")
    xs, ts = batch(rng, pad_tail=False)
    directional_check_fixed_dropout(model, xs, ts, rng)


@pytest.mark.parametrize("cls", [Seq2seq, PeekySeq2seq, AttentionSeq2seq, Feeding], ids=["seq2seq", "peeky", "attention", "feeding"])
def test_generate_batch_equals_each_alone_and_mask_equals_unpadded(xp, cls):
    rng = np.random.default_rng(3)
    # float64: a GPU's float32 GEMM may round a batch and a single row differently, which can
    # flip a near-tie argmax; the test is about masking and batching, not rounding
    model = cls(V, 4, 6, pad_id=PAD, seed=3, dtype="float64")
    xs = rng.integers(2, V, (5, 6))
    lengths = [6, 3, 5, 1, 4]
    for n, L in enumerate(lengths):
        xs[n, L:] = PAD
    out = to_numpy(model.generate(to_device(xs), START, 5))
    assert out.shape == (5, 5) and out.dtype.kind == "i"
    for n, L in enumerate(lengths):
        alone = to_numpy(model.generate(to_device(xs[n : n + 1, :L]), START, 5))
        np.testing.assert_array_equal(out[n], alone[0])
    # beam search with a mask, too
    out_b = to_numpy(model.generate(to_device(xs), START, 5, beam_width=3))
    for n, L in enumerate(lengths):
        np.testing.assert_array_equal(out_b[n], to_numpy(model.generate(to_device(xs[n : n + 1, :L]), START, 5, beam_width=3))[0])


@pytest.mark.parametrize("make", [lambda: AttentionSeq2seq(V, 4, 6, score="concat", bidirectional=True, num_layers=2, pad_id=PAD, seed=9),
                                  lambda: Feeding(V, 4, 6, score="general", pad_id=PAD, seed=9)], ids=["attention", "feeding"])
def test_greedy_steps_repeat_teacher_forcing(make):
    """Generating one step at a time (each step's states carried to the next call) gives what the
    batched, teacher-forced run over the generated tokens scores highest at every step."""
    model = make()
    xs = np.random.default_rng(9).integers(2, V, (6, 5))
    xs[1, 3:] = PAD
    out = model.generate(xs, START, 6)
    model.decoder.begin(model.encoder.forward(xs, xs != PAD))
    scores = model.decoder.run(np.concatenate([np.full((6, 1), START), out[:, :-1]], axis=1))
    np.testing.assert_array_equal(scores.argmax(axis=2), out)


@pytest.mark.parametrize("cls", [Seq2seq, PeekySeq2seq, AttentionSeq2seq])
def test_beam_width_one_is_greedy(cls):
    rng = np.random.default_rng(4)
    model = cls(V, 4, 6, seed=4)
    xs = rng.integers(2, V, (6, 5))
    plain, stopped = model.generate(xs, START, 6, beam_width=1), model.generate(xs, START, 6, beam_width=1, stop_id=3)
    # with a stop symbol (text), the start symbol is never generated; rows that chose neither agree
    assert not (stopped == START).any()
    same = ~((plain == START) | (plain == 3)).any(axis=1)
    np.testing.assert_array_equal(stopped[same], plain[same])
    from seqattn.models import search

    model.decoder.begin(model.encoder.forward(xs))
    beam1 = search.beam(model.decoder, 6, START, 6, 1, xp=np)
    np.testing.assert_array_equal(beam1, model.generate(xs, START, 6))
    model.decoder.begin(model.encoder.forward(xs))
    beam1 = search.beam(model.decoder, 6, START, 6, 1, stop_id=3, fill_id=3, banned=(START,), xp=np)
    np.testing.assert_array_equal(beam1, stopped)


def _sequence_logprob(model, x, y, start):
    """log p(y | x) by teacher forcing, summed over steps."""
    from seqattn.ops import get_ops

    model.decoder.begin(model.encoder.forward(x[None]))
    scores = model.decoder.run(np.concatenate([[start], y[:-1]])[None])[0]
    return float(get_ops(scores).log_softmax(scores.astype(np.float64))[np.arange(len(y)), y].sum())


@pytest.mark.parametrize("cls", [Seq2seq, AttentionSeq2seq])
def test_wide_beam_finds_the_best_sequence(cls):
    vocab, steps = 3, 3
    model = cls(vocab, 3, 5, seed=7, dtype="float64")
    rng = np.random.default_rng(7)
    xs = rng.integers(0, vocab, (4, 3))
    found = model.generate(xs, 0, steps, beam_width=vocab ** (steps - 1))
    for n in range(4):
        allseq = [np.array(s) for s in itertools.product(range(vocab), repeat=steps)]
        scores = [_sequence_logprob(model, xs[n], s, 0) for s in allseq]
        best = allseq[int(np.argmax(scores))]
        np.testing.assert_array_equal(found[n], best)


def test_beam_stop_symbol_and_length_penalty():
    model = AttentionSeq2seq(V, 4, 6, seed=8, pad_id=PAD)
    xs = np.random.default_rng(8).integers(2, V, (4, 5))
    free = model.generate(xs, START, 8, beam_width=4)
    stop = int(np.bincount(free[:, :3].ravel()).argmax())  # a symbol the beams do produce early
    out = model.generate(xs, START, 8, beam_width=4, stop_id=stop, length_penalty=1.0)
    stopped = 0
    for row in out:
        stops = np.flatnonzero(row == stop)
        if stops.size:
            stopped += 1
            assert np.all(row[stops[0] + 1 :] == PAD)  # finished hypotheses only continue with padding
    assert stopped > 0


@pytest.mark.parametrize("cls", [Seq2seq, PeekySeq2seq, AttentionSeq2seq])
def test_save_load_round_trip(tmp_path, cls):
    rng = np.random.default_rng(5)
    kw = {"score": "concat", "bidirectional": True, "num_layers": 2, "skip": True} if cls is AttentionSeq2seq else {}
    model = cls(V, 4, 6, pad_id=PAD, seed=5, **kw)
    xs, ts = batch(rng)
    path = tmp_path / "m.npz"
    model.save_params(path)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp")]
    other = cls(V, 4, 6, pad_id=PAD, seed=99, **kw)
    assert float(other.forward(xs, ts)) != float(model.forward(xs, ts))
    other.load_params(path)
    assert float(other.forward(xs, ts)) == float(model.forward(xs, ts))
    rebuilt, _ = load_model(path)
    assert type(rebuilt) is cls
    np.testing.assert_array_equal(rebuilt.generate(xs, START, 4, beam_width=2), model.generate(xs, START, 4, beam_width=2))
    assert all(p.dtype == np.float32 for p in rebuilt.params)


def test_damaged_and_mismatched_checkpoints(tmp_path):
    model = AttentionSeq2seq(V, 4, 6, seed=5)
    path = tmp_path / "m.npz"
    model.save_params(path)
    data = path.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or not a seqattn checkpoint"):
        load_model(bad)
    with pytest.raises(CheckpointError, match="damaged"):
        model.load_params(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.npz")
    with pytest.raises(CheckpointError, match="hidden_size is 6 there but 8 here"):
        AttentionSeq2seq(V, 4, 8).load_params(path)
    with pytest.raises(CheckpointError, match="model is 'attention' there but 'peeky' here"):
        PeekySeq2seq(V, 4, 6).load_params(path)


def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    model = Seq2seq(V, 4, 6, seed=5)
    path = tmp_path / "m.npz"
    model.save_params(path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        Seq2seq(V, 4, 6, seed=6).save_params(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_cross_backend_checkpoint(tmp_path, xp):
    """Saved on one backend, loaded on the current one (numpy, and cupy where present)."""
    from seqattn.backend import use_backend

    rng = np.random.default_rng(6)
    with use_backend("numpy"):
        model = AttentionSeq2seq(V, 4, 6, seed=6)
        model.save_params(tmp_path / "m.npz")
        xs, ts = rng.integers(2, V, (3, 4)), rng.integers(2, V, (3, 4))
        ref = float(model.forward(xs, ts))
    loaded, _ = load_model(tmp_path / "m.npz")
    assert get_xp(loaded.params[0]) is xp
    np.testing.assert_allclose(float(to_numpy(loaded.forward(to_device(xs), to_device(ts)))), ref, rtol=1e-5)


def test_model_input_errors():
    model = Seq2seq(V, 4, 6)
    with pytest.raises(TypeError, match="integer ids"):
        model.forward(np.zeros((2, 3)), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="same N"):
        model.forward(np.zeros((2, 3), int), np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="hidden_size between directions: it must be even"):
        AttentionSeq2seq(V, 4, 5, bidirectional=True)
    with pytest.raises(ValueError, match="unknown score"):
        AttentionSeq2seq(V, 4, 6, score="cos")


def _train(model, xs, ts, epochs, batch_size=32, lr=0.01):
    train(model, xs, ts, epochs, batch_size, lr, max_grad=5.0)


@pytest.mark.parametrize("cls,task", [(Seq2seq, "copy"), (PeekySeq2seq, "reverse"), (AttentionSeq2seq, "reverse"), (Feeding, "reverse")])
def test_model_learns_tiny_task(cls, task):
    rng = np.random.default_rng(0)
    xs = rng.integers(2, 6, (600, 4))
    ys = xs if task == "copy" else xs[:, ::-1]
    ts = np.concatenate([np.full((600, 1), START), ys], axis=1)
    model = cls(6, 8, 32, seed=0)
    _train(model, xs, ts, epochs=30)
    out = model.generate(xs, START, 4)
    assert (out == ys).all(axis=1).mean() == 1.0


def test_checkpoint_keeps_weights_by_name(tmp_path):
    from seqattn.checkpoint import read_npz, write_npz_atomic

    model = AttentionSeq2seq(V, 4, 6, score="concat", bidirectional=True, num_layers=2, pad_id=PAD, seed=5)
    names = [n for n, _ in model.named_params()]
    assert len(set(names)) == len(names) == len(model.params)
    for name in ("encoder.embed.W", "encoder.lstm0.forward.Wx", "encoder.lstm1.backward.b", "decoder.lstm1.Wh",
                 "decoder.affine.W", "decoder.attention.v"):
        assert name in names
    path = tmp_path / "m.npz"
    model.save_params(path)
    arrays, meta = read_npz(path)
    assert set(arrays) == {f"model/{n}" for n in names} and meta["format"] == 2
    # a model whose parts come in another order still gets every weight by its name
    other = AttentionSeq2seq(V, 4, 6, score="concat", bidirectional=True, num_layers=2, pad_id=PAD, seed=6)
    other.decoder.adopt(list(reversed(other.decoder.children)))
    other.adopt(list(reversed(other.children)))
    other.load_params(path)
    mine = dict(model.named_params())
    for name, p in other.named_params():
        np.testing.assert_array_equal(p, mine[name])
    # a missing weight is named; a checkpoint of the older, positional format is refused in one line
    del arrays["model/decoder.affine.b"]
    write_npz_atomic(tmp_path / "cut.npz", arrays, meta)
    with pytest.raises(CheckpointError, match="weight decoder.affine.b is missing"):
        load_model(tmp_path / "cut.npz")
    write_npz_atomic(tmp_path / "old.npz", {"param_0": np.zeros(3)}, {"format": 1, "seqattn_version": "0.1.0", "config": {}})
    with pytest.raises(CheckpointError, match=r"older format \(checkpoint format 1, seqattn 0.1.0\)") as err:
        load_model(tmp_path / "old.npz")
    assert "\n" not in str(err.value)


def test_input_feeding_checkpoints_and_limits(tmp_path):
    model = Feeding(V, 4, 6, score="general", pad_id=PAD, seed=5)
    names = [n for n, _ in model.named_params()]
    assert {"decoder.feed.Wx", "decoder.feed.Wh", "decoder.feed.b", "decoder.feed.W"} <= set(names)
    assert model.decoder.feed.params[0].shape == (4 + 6, 24)  # [embedding; previous context] -> 4 gates
    model.save_params(tmp_path / "m.npz")
    rebuilt, _ = load_model(tmp_path / "m.npz")
    assert rebuilt.config["input_feeding"] is True
    xs = np.random.default_rng(5).integers(2, V, (3, 4))
    np.testing.assert_array_equal(rebuilt.generate(xs, START, 4, beam_width=2), model.generate(xs, START, 4, beam_width=2))
    with pytest.raises(ValueError, match="input_feeding takes the dot or general score and num_layers 1, not concat and 1"):
        Feeding(V, 4, 6, score="concat")
    with pytest.raises(ValueError, match="not dot and 2"):
        Feeding(V, 4, 6, num_layers=2)


def test_checkpoints_from_before_an_option_existed_still_load():
    """A checkpoint written before ``input_feeding`` existed is the model without it."""
    model, meta = load_model(os.path.join(os.path.dirname(__file__), "data", "v0.3.0", "date-attention.npz"))
    assert "input_feeding" not in meta["config"] and model.config["input_feeding"] is False


def test_misspelt_model_option_is_refused():
    with pytest.raises(TypeError, match="unknown option 'bidirectinal'"):
        AttentionSeq2seq(V, 4, 6, bidirectinal=True)
    with pytest.raises(TypeError, match="unknown option 'score'; its own options are: none"):
        PeekySeq2seq(V, 4, 6, score="dot")
