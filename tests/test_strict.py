"""The cupy code paths on the strict stand-in (tests/strict_cupy.py): no implicit trip to the
host anywhere in a training step, decoding or checkpoints, and the launch count of a step."""

import numpy as np
import pytest

from seqattn import backend
from seqattn.backend import to_device, to_numpy
from seqattn.errors import OptionError
from seqattn.data import date_lines, load_qa
from seqattn.models import AttentionSeq2seq, TransformerSeq2seq
from seqattn.ops import trusted_ids
from seqattn.optim import Adam, clip_grads
from strict_cupy import COUNTS, STRICT, HostTrip, StrictArray, install


def test_the_stand_in_refuses_what_cupy_refuses_and_more():
    with install() as xp:
        assert xp is STRICT and backend.is_cupy_array(xp.zeros(3))
        a = xp.arange(4.0)
        for trip in (lambda: float(a[0]), lambda: bool(a[0] > 1), lambda: a[0].item(), lambda: a.tolist(),
                     lambda: list(a), lambda: np.sum(a)):
            with pytest.raises(HostTrip):
                trip()
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
            np.asarray(a)
        with pytest.raises(TypeError, match="numpy array was passed"):
            a + np.ones(4)
        COUNTS.reset()
        b = (a * 2).sum()
        assert isinstance(b, StrictArray) and b.shape == () and COUNTS.launches == 2
        assert to_numpy(b) == 12.0 and COUNTS.to_host == 1


def _date_batch(n=64):
    (x, t), _, vocab = load_qa(date_lines(n, 0), seed=0, reverse=True)
    return x, t, vocab


def _steps(model, xs, ts, steps, opt=None):
    """Training steps as the Trainer makes them: ids checked on the host beforehand, trusted inside."""
    opt = opt or Adam()
    with trusted_ids():
        for _ in range(steps):
            model.forward(xs, ts)
            model.backward()
            clip_grads(model.grads, 5.0)
            opt.update(model.params, model.grads)
    return opt


@pytest.mark.parametrize("make", [lambda V: AttentionSeq2seq(V, 16, 32, seed=0),
                                  lambda V: AttentionSeq2seq(V, 16, 32, seed=0, bidirectional=True, num_layers=2, dropout=0.1),
                                  lambda V: AttentionSeq2seq(V, 16, 32, seed=0, score="general", input_feeding=True, dropout=0.1),
                                  lambda V: TransformerSeq2seq(V, 32, 4, 1, 64, seed=0)])
def test_a_training_step_never_reads_the_device(make, capsys):
    """A whole step (forward, backward, clipping, Adam) on the stand-in: zero copies to the host,
    zero synchronisations, and the launch count reported."""
    x, t, vocab = _date_batch()
    with install():
        model = make(len(vocab))
        xs, ts = to_device(x), to_device(t)
        model.set_train(True)
        model.seed_dropout(1)
        opt = _steps(model, xs, ts, 1)  # the first step allocates workspaces and optimizer slots
        COUNTS.reset()
        _steps(model, xs, ts, 1, opt)
        assert COUNTS.to_host == 0 and COUNTS.syncs == 0 and COUNTS.to_device == 0
        # cupy runs a matmul whose batch dimensions broadcast as a pointer-array batched GEMM plus
        # helper kernels: weights are applied as 2-D products, batched products match their batches
        broadcast = [(a, b) for a, b in COUNTS.matmuls if max(len(a), len(b)) > 2 and a[:-2] != b[:-2]]
        assert COUNTS.matmuls and not broadcast, broadcast[:3]
        step = COUNTS.launches
        # the weights are packed, so clipping and Adam cost the same launches for any number of weights
        opt = Adam()
        opt.update(model.params, model.grads)  # makes its slots
        COUNTS.reset()
        clip_grads(model.grads, 5.0)
        clip = COUNTS.launches
        COUNTS.reset()
        opt.update(model.params, model.grads)
        assert COUNTS.launches == 1 and clip <= 7, (clip, COUNTS.launches)  # one fused Adam; a reduction and scalar ops
        with capsys.disabled():
            print(f"\n  launches per training step of {type(model).__name__} ({len(model.params)} weights): {step}, "
                  f"of which clipping {clip} and Adam 1")


def test_the_stand_in_gives_numpys_numbers():
    """The cupy bodies (fused kernels, in numpy ports) train to the same weights as numpy's."""
    x, t, vocab = _date_batch(32)
    ref = AttentionSeq2seq(len(vocab), 8, 16, seed=3, dtype="float64")
    _steps(ref, x, t, 3)
    with install():
        model = AttentionSeq2seq(len(vocab), 8, 16, seed=3, dtype="float64")
        _steps(model, to_device(x), to_device(t), 3)
        for a, b in zip(model.params, ref.params):
            np.testing.assert_allclose(to_numpy(a), b, rtol=1e-9, atol=1e-12)
        out = to_numpy(model.generate(to_device(x), vocab.start_id, t.shape[1] - 1))
        beam = to_numpy(model.generate(to_device(x), vocab.start_id, t.shape[1] - 1, beam_width=3))
    np.testing.assert_array_equal(out, ref.generate(x, vocab.start_id, t.shape[1] - 1))
    np.testing.assert_array_equal(beam, ref.generate(x, vocab.start_id, t.shape[1] - 1, beam_width=3))


def test_the_trainer_reads_once_per_progress_update(tmp_path):
    """Trainer.fit on the stand-in: no read inside a step; the reads are the progress bar's (one
    per update), the epoch's loss and its divergence check, the evaluation's outputs and the
    checkpoint."""
    from seqattn.trainer import Trainer

    pytest.importorskip("tqdm")
    x, t, vocab = _date_batch(256)
    batches = -(-len(x) // 32)
    with install():
        model = AttentionSeq2seq(len(vocab), 8, 16, seed=0)
        tr = Trainer(model, Adam(), batch_size=32, progress=False, log=lambda s: None)
        COUNTS.reset()
        tr.fit(x, t, 1)
        assert COUNTS.to_host == 2  # the epoch's loss and the divergence check; nothing per step
        tr = Trainer(AttentionSeq2seq(len(vocab), 8, 16, seed=0), Adam(), batch_size=32, progress=True, log=lambda s: None,
                     report_every=2)
        COUNTS.reset()
        tr.fit(x, t, 1)
        assert COUNTS.to_host == -(-batches // 2) + 2  # and one per progress update
        tr.fit(x, t, 2, x[:40], t[:40], vocab.start_id, checkpoint=tmp_path / "m.npz")
    assert (tmp_path / "m.npz").exists()


def test_checkpoints_follow_the_models_device(tmp_path):
    """A model on the device saved, then loaded into a model on the device (and its optimizer
    state restored) without writing host arrays into device weights."""
    from seqattn.models import load
    from seqattn.trainer import Trainer

    x, t, vocab = _date_batch(64)
    with install():
        model = AttentionSeq2seq(len(vocab), 8, 16, seed=0)
        tr = Trainer(model, Adam(), batch_size=32, progress=False, log=lambda s: None)
        tr.fit(x, t, 1, checkpoint=tmp_path / "m.npz")
        loaded = load(tmp_path / "m.npz").model
        assert all(backend.is_cupy_array(p) for p in loaded.params)
        again = Trainer(AttentionSeq2seq(len(vocab), 8, 16, seed=1), Adam(), batch_size=32, progress=False, log=lambda s: None)
        again.fit(x, t, 2, resume=tmp_path / "m.npz")
        for a, b in zip(loaded.params, model.params):
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_an_id_outside_the_vocabulary_is_the_same_error_on_both_backends():
    """cupy's embedding would wrap an out-of-range id around silently; outside the Trainer's
    checked loop the cupy body checks, with numpy's message."""
    from seqattn.layers import TimeEmbedding

    W = np.ones((4, 2))
    ids = np.array([[1, 7]])
    with pytest.raises(ValueError, match="id 7 is outside the vocabulary of size 4"):
        TimeEmbedding(W).forward(ids)
    model = AttentionSeq2seq(5, 2, 4, seed=0)
    with pytest.raises(ValueError, match="id 9 is outside the vocabulary of size 5"):
        model.generate(np.array([[1, 9]]), 0, 3)
    with install():
        with pytest.raises(ValueError, match="id 7 is outside the vocabulary of size 4"):
            TimeEmbedding(to_device(W)).forward(to_device(ids))
        with pytest.raises(ValueError, match="id -1 is outside the vocabulary of size 4"):
            TimeEmbedding(to_device(W)).forward(to_device(np.array([[-1, 2]])))
        model = AttentionSeq2seq(5, 2, 4, seed=0)
        with pytest.raises(ValueError, match="id 9 is outside the vocabulary of size 5"):
            model.generate(to_device(np.array([[1, 9]])), 0, 3)
        with pytest.raises(ValueError, match="id 6 is outside the target vocabulary of size 5"):
            model.generate(to_device(np.array([[1, 2]])), 6, 3)


def test_data_and_dropout_follow_the_models_device(tmp_path):
    """A model made on the device, then trained, evaluated and saved with numpy current."""
    from seqattn.metrics import exact_match
    from seqattn.trainer import Trainer

    x, t, vocab = _date_batch(64)
    with install():
        model = AttentionSeq2seq(len(vocab), 8, 16, seed=0, num_layers=2, dropout=0.2)
        with backend.use_backend("numpy"):
            tr = Trainer(model, Adam(), batch_size=32, progress=False, log=lambda s: None)
            tr.fit(x, t, 2, x[:20], t[:20], vocab.start_id, checkpoint=tmp_path / "m.npz")
            assert all(backend.is_cupy_array(p) for p in model.params) and "accuracy" in tr.history[-1]
            acc, pred = exact_match(model, x[:20], t[:20], vocab.start_id)
            assert isinstance(pred, np.ndarray) and acc == tr.history[-1]["accuracy"]


def test_the_cupy_embedding_gradient_is_a_one_hot_product():
    """Deterministic on a GPU (no atomics), and equal to numpy's scatter-add, repeated ids summed;
    above the one-hot limit it falls back to the scatter-add."""
    from seqattn.ops import get_ops

    rng = np.random.default_rng(0)
    idx = rng.integers(0, 7, (5, 9))
    dout = rng.standard_normal((5, 9, 3))
    want = np.zeros((7, 3))
    np.add.at(want, idx.ravel(), dout.reshape(-1, 3))
    with install() as xp:
        ops = get_ops(xp.zeros(1))
        got = ops.embedding_backward(xp.zeros((7, 3)), to_device(idx), to_device(dout))
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-12)
        limit, ops.onehot_limit = ops.onehot_limit, 10
        try:
            got = ops.embedding_backward(xp.zeros((7, 3)), to_device(idx), to_device(dout))
        finally:
            ops.onehot_limit = limit
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-12)


def test_on_the_gpu_a_run_that_cannot_fit_its_free_memory_is_refused_before_it_starts(tmp_path, monkeypatch, capsys):
    """On the cupy backend a step's memory is the GPU's: what it would need is held to the current
    device's free memory (what cupy's runtime says), not to the host's, and the flag is named."""
    from seqattn.cli import main
    from seqattn.memory import check_generation

    model = AttentionSeq2seq(vocab_size=20, wordvec_size=8, hidden_size=16)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"a b c {i}\tx y {i}\n" for i in range(40)), encoding="utf-8")
    argv = ["train", "--data", str(pairs), "--epochs", "1", "--quiet", "--log", "none", "--save", str(tmp_path / "m.npz"),
            "--backend", "cupy", "--hidden", "3000"]  # about 0.4 GiB of weights and slots: fits the host, not 256 MiB
    monkeypatch.setattr(STRICT.cuda.runtime, "memGetInfo", lambda: (256 << 20, 80 << 30))
    with install():
        assert main(argv) == 2
        with pytest.raises(OptionError, match=r"beam_width 100: decoding 400 inputs .* about 0.5 GiB .* more than this GPU's free memory"):
            check_generation(AttentionSeq2seq, model.config, 400, 100, 20, 20)
    check_generation(AttentionSeq2seq, model.config, 400, 100, 20, 20)  # on numpy: half of the host's memory
    err = capsys.readouterr().err
    assert "a model with --hidden 3,000 would need about" in err and "more than this GPU's free memory (0.2 GiB of 80.0 GiB)" in err
    assert not (tmp_path / "m.npz").exists()
