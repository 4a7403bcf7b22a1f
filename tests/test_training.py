"""Optimizers against hand-computed steps, clipping, the Trainer (resume, NaN) and plots."""

import numpy as np
import pytest

from seqattn.data import addition_lines, load_qa
from seqattn.models import AttentionSeq2seq, PeekySeq2seq
from seqattn.backend import to_numpy
from seqattn.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, clip_grads
from seqattn.trainer import Trainer, TrainingError


# Factories, not instances: an optimizer keeps state arrays on the device of its first update, so
# one instance shared by the numpy and cupy cases would mix the two.
@pytest.mark.parametrize("make,steps,expected", [
    (lambda: SGD(lr=0.1), 1, [0.95, -2.025]),
    (lambda: Momentum(lr=0.1, momentum=0.9), 2, [0.855, -2.0725]),
    (lambda: Nesterov(lr=0.1, momentum=0.9), 1, [0.8645, -2.06775]),
    (lambda: AdaGrad(lr=0.1), 1, [0.9, -2.1]),
    (lambda: RMSprop(lr=0.1, decay_rate=0.99), 1, [0.0, -3.0]),
    (lambda: Adam(lr=0.1), 1, [0.9, -2.1]),
])
def test_optimizer_steps_by_hand(xp, make, steps, expected):
    opt = make()
    p = xp.asarray([1.0, -2.0])
    g = xp.asarray([0.5, 0.25])
    for _ in range(steps):
        opt.update([p], [g])
    np.testing.assert_allclose(to_numpy(p), expected, rtol=1e-5, atol=1e-5)  # eps 1e-7 in the denominators


def test_adam_second_step_by_hand():
    p, g1, g2 = np.array([1.0]), np.array([0.5]), np.array([-1.0])
    opt = Adam(lr=0.1)
    opt.update([p], [g1])
    opt.update([p], [g2])
    m = 0.9 * 0.05 + 0.1 * -1.0
    v = 0.999 * 0.001 * 0.25 + 0.001 * 1.0
    lr_t = 0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    assert p[0] == pytest.approx(0.9 - lr_t * m / (np.sqrt(v) + 1e-7))


def test_clip_grads(xp):
    a, b = xp.asarray([3.0]), xp.asarray([4.0])
    norm = clip_grads([a, b], 1.0)
    assert float(to_numpy(norm)) == pytest.approx(5.0)
    assert to_numpy(a)[0] == pytest.approx(0.6, rel=1e-5) and to_numpy(b)[0] == pytest.approx(0.8, rel=1e-5)
    clip_grads([a, b], 10.0)
    assert to_numpy(a)[0] == pytest.approx(0.6, rel=1e-5)


def _data():
    return load_qa(addition_lines(400, seed=0), seed=0)


def _trainer(vocab, seed=0, dropout=0.0):
    model = AttentionSeq2seq(len(vocab), 8, 16, seed=seed, num_layers=2 if dropout else 1, dropout=dropout)
    return Trainer(model, Adam(0.005), batch_size=64, max_grad=5.0, seed=seed, progress=False, log=lambda s: None)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_resume_equals_uninterrupted(xp, tmp_path, dropout):
    """Bit for bit, on cupy too: its embedding gradient is a one-hot product, not atomics."""
    (x, t), (xt, tt), vocab = _data()
    start = vocab.start_id
    full = _trainer(vocab, dropout=dropout)
    h_full = full.fit(x, t, 3, xt, tt, start, checkpoint=tmp_path / "full.npz")
    part = _trainer(vocab, dropout=dropout)
    part.fit(x, t, 1, xt, tt, start, checkpoint=tmp_path / "part.npz")
    resumed = _trainer(vocab, seed=0, dropout=dropout)
    resumed.model.params[0][...] = 0  # whatever the fresh model holds is replaced by the checkpoint
    h_res = resumed.fit(x, t, 3, xt, tt, start, checkpoint=tmp_path / "res.npz", resume=tmp_path / "part.npz")
    for a, b in zip(full.model.params, resumed.model.params):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    assert [h["loss"] for h in h_full] == [h["loss"] for h in h_res]
    assert [h["accuracy"] for h in h_full] == [h["accuracy"] for h in h_res]


def test_resume_refuses_other_model(tmp_path):
    (x, t), _, vocab = _data()
    tr = _trainer(vocab)
    tr.fit(x, t, 1, checkpoint=tmp_path / "c.npz")
    other = Trainer(PeekySeq2seq(len(vocab), 8, 16), Adam(), progress=False, log=lambda s: None)
    from seqattn.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="different model"):
        other.fit(x, t, 2, resume=tmp_path / "c.npz")


def test_nan_loss_stops_with_clear_error():
    (x, t), _, vocab = _data()
    tr = _trainer(vocab)
    tr.model.params[3][...] = np.nan
    with pytest.raises(TrainingError, match="the loss became nan in epoch 1.*--lr"):
        tr.fit(x, t, 1)


def test_trainer_learns_and_keeps_history():
    (x, t), (xt, tt), vocab = _data()
    tr = _trainer(vocab)
    hist = tr.fit(x, t, 2, xt, tt, vocab.start_id)
    assert [h["epoch"] for h in hist] == [1, 2]
    assert hist[1]["loss"] < hist[0]["loss"]
    assert all(0.0 <= h["accuracy"] <= 1.0 and h["seconds"] > 0 for h in hist)


def _is_png(path):
    import matplotlib.pyplot as plt

    data = open(path, "rb").read()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and plt.imread(path).ndim == 3


def test_plots_are_valid_png(tmp_path):
    from seqattn.plots import plot_attention, plot_history

    plot_history([{"epoch": 1, "loss": 2.0, "accuracy": 0.1}, {"epoch": 2, "loss": 1.0, "accuracy": 0.5}], tmp_path / "h.png")
    assert _is_png(tmp_path / "h.png")
    plot_attention([np.eye(3)], [list("abc")], [list("xyz")], tmp_path / "a.png", titles=["t"])
    assert _is_png(tmp_path / "a.png")
    # a token of 100,000 characters and a title as long: the picture keeps the size of short ones
    plot_attention([np.eye(3)], [["a" * 100_000, "b", "c"]], [list("xyz")], tmp_path / "w.png", titles=["t" * 100_000])
    width = lambda p: int.from_bytes(open(p, "rb").read()[16:20], "big")  # the PNG's IHDR
    assert width(tmp_path / "w.png") <= 1.5 * width(tmp_path / "a.png")


def test_schedules_by_hand():
    from seqattn.optim import Schedule

    assert [Schedule("constant", warmup=4)(s) for s in (1, 2, 4, 100)] == [0.25, 0.5, 1.0, 1.0]
    r = Schedule("rsqrt", warmup=100)
    assert r(50) == 0.5 and r(100) == 1.0 and r(400) == pytest.approx(0.5)
    c = Schedule("cosine", warmup=10, total=110, floor=0.1)
    assert c(10) == pytest.approx(1.0) and c(60) == pytest.approx(0.55) and c(110) == pytest.approx(0.1) and c(500) == pytest.approx(0.1)
    lin = Schedule("linear", total=100, floor=0.0)
    assert lin(50) == pytest.approx(0.5) and lin(100) == 0.0
    with pytest.raises(ValueError, match="rsqrt schedule needs a warm-up"):
        Schedule("rsqrt")
    with pytest.raises(ValueError, match="unknown schedule"):
        Schedule("step")


def test_trainer_follows_the_schedule_and_resumes_it(tmp_path):
    from seqattn.optim import Schedule

    (x, t), (xt, tt), vocab = _data()
    tr = _trainer(vocab)
    tr.schedule = Schedule("linear", warmup=2, floor=0.0)
    n_batches = -(-len(x) // 64)
    hist = tr.fit(x, t, 2, checkpoint=tmp_path / "c.npz")
    assert tr.schedule.total == 2 * n_batches
    assert hist[0]["lr"] == pytest.approx(0.005 * (1 - (n_batches - 2) / (2 * n_batches - 2)))
    assert hist[1]["lr"] == pytest.approx(0.0)
    part = _trainer(vocab)
    part.schedule = Schedule("linear", warmup=2, floor=0.0, total=2 * n_batches)
    part.fit(x, t, 1, checkpoint=tmp_path / "p.npz")
    resumed = _trainer(vocab)
    resumed.base_lr = 123.0  # replaced by the checkpoint's base rate
    resumed.schedule = Schedule("linear", warmup=2, floor=0.0)
    h = resumed.fit(x, t, 2, resume=tmp_path / "p.npz")
    assert resumed.base_lr == 0.005 and [r["loss"] for r in h] == [r["loss"] for r in hist]


def test_keep_best_and_patience(tmp_path):
    from seqattn import checkpoint

    (x, t), (xt, tt), vocab = _data()
    tr = _trainer(vocab)
    tr.keep_best, tr.patience = tmp_path / "best.npz", 1
    accs = iter([0.5, 0.7, 0.6, 0.9])
    import seqattn.trainer as T

    orig = T.exact_match
    T.exact_match = lambda *a, **k: (next(accs), None)
    try:
        hist = tr.fit(x, t, 4, xt, tt, vocab.start_id, checkpoint=tmp_path / "last.npz")
    finally:
        T.exact_match = orig
    assert [h["accuracy"] for h in hist] == [0.5, 0.7, 0.6]  # stopped: no better accuracy for 1 epoch
    assert checkpoint.read(tmp_path / "best.npz")[1]["trainer"]["epoch"] == 2
    assert checkpoint.read(tmp_path / "last.npz")[1]["trainer"]["epoch"] == 3


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_label_smoothing_loss_and_gradient(smoothing):
    from conftest import assert_grads
    from seqattn.layers import TimeSoftmaxWithLoss

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((2, 3, 5))
    ts = np.array([[1, -1, 4], [0, 2, -1]])
    layer = TimeSoftmaxWithLoss(label_smoothing=smoothing)
    loss = float(layer.forward(xs, ts))
    dx = layer.backward()
    assert_grads(lambda: layer.forward(xs, ts), [("xs", xs, dx)])
    logp = xs - np.log(np.exp(xs).sum(-1, keepdims=True))
    real = ts != -1
    target = (1 - smoothing) * np.eye(5)[np.where(real, ts, 0)] + smoothing / 5
    assert loss == pytest.approx(-(target * logp).sum(-1)[real].mean())
