"""Float64 numerical gradient checks of every layer, with hypothesis choosing the shapes (the book's
layers, and the library's held against them, are in test_book.py)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_grads, randn
from seqattn.backend import to_numpy
from seqattn.ops import get_ops
from seqattn.layers import (
    Affine, Embedding, Softmax, SoftmaxWithLoss, TimeAffine, TimeBiLSTM, TimeDropout, TimeEmbedding, TimeGRU,
    TimeLSTM, TimeRNN, TimeSoftmaxWithLoss,
)

small = st.integers(1, 3)
steps = st.integers(1, 4)


def projected(xp, rng, out):
    """A fixed random direction R and the scalar loss sum(out * R) it defines."""
    R = randn(xp, rng, *out.shape)
    return R


@given(N=small, T=steps, V=st.integers(2, 5), D=small)
def test_time_embedding(xp, N, T, V, D):
    rng = np.random.default_rng(N * 100 + T * 10 + V)
    W = randn(xp, rng, V, D)
    ids = xp.asarray(rng.integers(0, V, (N, T)))
    layer = TimeEmbedding(W)
    R = projected(xp, rng, layer.forward(ids))
    layer.backward(R)
    assert_grads(lambda: (layer.forward(ids) * R).sum(), [("W", W, layer.grads[0])])


def test_embedding_step_and_bad_id(xp):
    rng = np.random.default_rng(0)
    W = randn(xp, rng, 4, 2)
    layer = Embedding(W)
    ids = xp.asarray([3, 0, 3])
    R = randn(xp, rng, 3, 2)
    layer.forward(ids)
    layer.backward(R)
    assert_grads(lambda: (layer.forward(ids) * R).sum(), [("W", W, layer.grads[0])])
    if xp is np:
        with pytest.raises(ValueError, match="id 7 is outside the vocabulary of size 4"):
            layer.forward(np.array([1, 7]))
    with pytest.raises(TypeError, match="integer ids"):
        layer.forward(xp.asarray([0.5, 1.0]))


@given(N=small, T=steps, D=small, M=small)
def test_affine_and_time_affine(xp, N, T, D, M):
    rng = np.random.default_rng(N + 10 * T + 100 * D + 1000 * M)
    W, b = randn(xp, rng, D, M), randn(xp, rng, M)
    for layer, x in ((Affine(W, b), randn(xp, rng, N, D)), (TimeAffine(W, b), randn(xp, rng, N, T, D))):
        R = projected(xp, rng, layer.forward(x))
        dx = layer.backward(R)
        f = lambda: (layer.forward(x) * R).sum()  # noqa: E731
        assert_grads(f, [("x", x, dx), ("W", W, layer.grads[0]), ("b", b, layer.grads[1])])


def test_affine_shape_and_dtype_errors():
    layer = Affine(np.zeros((3, 2), "f4"), np.zeros(2, "f4"))
    with pytest.raises(ValueError, match="last dimension is 4 but the weights expect 3"):
        layer.forward(np.zeros((5, 4), "f4"))
    with pytest.raises(TypeError, match="must be a float array"):
        layer.forward(np.zeros((5, 3), "i8"))
    assert layer.forward(np.zeros((5, 3), "f8")).dtype == np.float32  # no float64 creeping in


@given(N=small, V=st.integers(2, 5))
def test_softmax(xp, N, V):
    rng = np.random.default_rng(N * 7 + V)
    x = randn(xp, rng, N, V)
    layer = Softmax()
    y = layer.forward(x)
    np.testing.assert_allclose(y.sum(axis=1).get() if hasattr(y, "get") else y.sum(axis=1), 1.0)
    R = projected(xp, rng, y)
    dx = layer.backward(R)
    assert_grads(lambda: (layer.forward(x) * R).sum(), [("x", x, dx)])


@given(N=small, T=steps, V=st.integers(2, 5), data=st.data())
def test_time_softmax_with_loss_ignores_targets(xp, N, T, V, data):
    rng = np.random.default_rng(N * 31 + T * 7 + V)
    xs = randn(xp, rng, N, T, V)
    ts = rng.integers(0, V, (N, T))
    ignore = data.draw(st.lists(st.booleans(), min_size=N * T, max_size=N * T))
    ts = np.where(np.array(ignore).reshape(N, T), -1, ts)
    ts = xp.asarray(ts)
    layer = TimeSoftmaxWithLoss()
    layer.forward(xs, ts)
    dx = layer.backward()
    assert_grads(lambda: layer.forward(xs, ts), [("xs", xs, dx)])
    ignored = np.asarray(ignore).reshape(N, T)
    np.testing.assert_array_equal(np.asarray(dx.get() if hasattr(dx, "get") else dx)[ignored], 0.0)


def test_loss_is_stable_for_huge_scores():
    layer = SoftmaxWithLoss()
    loss = layer.forward(np.array([[1e4, 0.0, -1e4]]), np.array([1]))
    assert np.isfinite(loss) and abs(float(loss) - 1e4) < 1e-6
    assert np.all(np.isfinite(layer.backward()))


def test_loss_mean_counts_only_real_targets():
    layer = TimeSoftmaxWithLoss()
    xs = np.zeros((1, 4, 2))
    # two real targets, each with loss log 2: the mean is log 2, not log 2 / 2
    assert float(layer.forward(xs, np.array([[0, -1, 1, -1]]))) == pytest.approx(np.log(2))


@pytest.mark.parametrize("layer, x, t, bad", [
    (SoftmaxWithLoss(), np.zeros((2, 3)), np.array([1, -3]), -3),
    (SoftmaxWithLoss(), np.zeros((2, 3)), np.array([1, 3]), 3),
    (SoftmaxWithLoss(ignore_index=-1), np.zeros((2, 3)), np.array([-1, -2]), -2),
    (TimeSoftmaxWithLoss(), np.zeros((1, 3, 3)), np.array([[0, -1, -2]]), -2),  # -1 is ignored; -2 is no class
    (TimeSoftmaxWithLoss(ignore_index=0), np.zeros((1, 2, 3)), np.array([[0, 13]]), 13),
])
def test_a_target_outside_the_classes_is_refused_not_counted_as_another(xp, layer, x, t, bad):
    """A negative target indexed from the end (the loss of another class); one past the end was a
    bare IndexError. Both are named, as the embeddings name an id outside the vocabulary."""
    with pytest.raises(ValueError, match=f"{type(layer).__name__} targets: id {bad} is outside the vocabulary of size 3"):
        layer.forward(xp.asarray(x), xp.asarray(t))


def test_dropout_train_and_eval(xp):
    rng = np.random.default_rng(0)
    layer = TimeDropout(0.5, seed=1)
    xs = randn(xp, rng, 50, 4, 8)
    out = layer.forward(xs)
    kept = out != 0
    frac = float(to_numpy(kept.mean()))
    assert 0.4 < frac < 0.6
    np.testing.assert_allclose(to_numpy(out[kept]), to_numpy(xs[kept] * 2))
    R = randn(xp, rng, *xs.shape)
    dx = layer.backward(R)
    mask = layer.mask
    assert_grads(lambda: (xs * mask * R).sum(), [("xs", xs, dx)])  # same fixed mask
    layer.train = False
    assert layer.forward(xs) is xs
    with pytest.raises(ValueError, match="ratio"):
        TimeDropout(1.0)


# ------------------------------------------------------------------ recurrent layers
RECURRENT = {"lstm": (TimeLSTM, 4, 2), "rnn": (TimeRNN, 1, 1), "gru": (TimeGRU, 3, 1)}


def make_recurrent(xp, rng, kind, D, H, **kw):
    cls, G, _ = RECURRENT[kind]
    return cls(randn(xp, rng, D, G * H), randn(xp, rng, H, G * H) * 0.8, randn(xp, rng, G * H), **kw)


def right_mask(lengths, T):
    return np.arange(T)[None, :] < np.asarray(lengths)[:, None]


@pytest.mark.parametrize("kind", RECURRENT)
@given(N=small, T=steps, D=small, H=small, masked=st.booleans())
def test_time_recurrent_gradients(xp, body, kind, N, T, D, H, masked):
    rng = np.random.default_rng(N + 3 * T + 17 * D + 51 * H)
    layer = make_recurrent(xp, rng, kind, D, H, stateful=True)
    n_states = RECURRENT[kind][2]
    xs = randn(xp, rng, N, T, D)
    states = [randn(xp, rng, N, H) for _ in range(n_states)]
    mask = xp.asarray(rng.random((N, T)) < 0.7) if masked else None

    def run():
        layer.set_state(*states)
        return layer.forward(xs, mask)

    R = projected(xp, rng, run())
    dxs = layer.backward(R)
    pairs = [("xs", xs, dxs), ("Wx", layer.params[0], layer.grads[0]), ("Wh", layer.params[1], layer.grads[1]),
             ("b", layer.params[2], layer.grads[2]), ("h0", states[0], layer.dh)]
    if n_states == 2:
        pairs.append(("c0", states[1], layer.dc))
    assert_grads(lambda: (run() * R).sum(), pairs)


def _as_np(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@pytest.mark.parametrize("kind", RECURRENT)
@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_batch_equals_each_sequence_alone(xp, body, kind, side):
    rng = np.random.default_rng(11)
    N, T, D, H = 4, 6, 3, 5
    lengths = [6, 1, 4, 3]
    layer = make_recurrent(xp, rng, kind, D, H)
    xs = randn(xp, rng, N, T, D)
    mask = right_mask(lengths, T)
    if side == "left":
        mask = mask[:, ::-1].copy()
    hs = _as_np(layer.forward(xs, xp.asarray(mask)))
    dhs = rng.standard_normal((N, T, H)) * mask[:, :, None]
    dxs = _as_np(layer.backward(xp.asarray(dhs)))
    grads = [_as_np(g).copy() for g in layer.grads]
    total = [np.zeros_like(g) for g in grads]
    for n in range(N):
        real = np.flatnonzero(mask[n])
        h1 = _as_np(layer.forward(xs[n : n + 1, xp.asarray(real)]))
        np.testing.assert_allclose(hs[n, real], h1[0], rtol=1e-10, atol=1e-12)
        dx1 = _as_np(layer.backward(xp.asarray(dhs[n : n + 1, real])))
        np.testing.assert_allclose(dxs[n, real], dx1[0], rtol=1e-10, atol=1e-12)
        assert np.all(dxs[n, ~mask[n]] == 0)
        for k, g in enumerate(layer.grads):
            total[k] += _as_np(g)
    for g, t in zip(grads, total):
        np.testing.assert_allclose(g, t, rtol=1e-9, atol=1e-12)
    if side == "right":  # the last output is each sequence's last real state
        np.testing.assert_allclose(hs[:, -1], hs[np.arange(N), np.asarray(lengths) - 1])


def test_stateful_carries_state_and_reset():
    rng = np.random.default_rng(1)
    layer = make_recurrent(np, rng, "lstm", 2, 3, stateful=True)
    xs = rng.standard_normal((2, 6, 2))
    whole = layer.forward(xs)
    layer.reset_state()
    first, second = layer.forward(xs[:, :3]), layer.forward(xs[:, 3:])
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole)
    layer.reset_state()
    np.testing.assert_allclose(layer.forward(xs[:, 3:]), make_recurrent(np, np.random.default_rng(1), "lstm", 2, 3).forward(xs[:, 3:]))


def test_recurrent_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"expected Wx \(D, 4H\)"):
        TimeLSTM(np.zeros((2, 8)), np.zeros((3, 12)), np.zeros(12))
    layer = make_recurrent(np, rng, "lstm", 2, 3)
    with pytest.raises(ValueError, match="input size D is 5 but the weights expect 2"):
        layer.forward(np.zeros((1, 4, 5)))
    with pytest.raises(ValueError, match="3 dimensions"):
        layer.forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"mask must have shape \(1, 4\)"):
        layer.forward(np.zeros((1, 4, 2)), mask=np.ones((4, 1), bool))


@given(N=small, T=steps, D=small, H=small, masked=st.booleans())
def test_bilstm_gradients(xp, body, N, T, D, H, masked):
    rng = np.random.default_rng(N + 5 * T + 13 * D + 41 * H)
    ws = [randn(xp, rng, *s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)] * 2]
    layer = TimeBiLSTM(*ws)
    xs = randn(xp, rng, N, T, D)
    mask = xp.asarray(right_mask(rng.integers(1, T + 1, N), T)) if masked else None
    R = projected(xp, rng, layer.forward(xs, mask))
    dxs = layer.backward(R)
    pairs = [("xs", xs, dxs)] + [(f"param{k}", p, g) for k, (p, g) in enumerate(zip(layer.params, layer.grads))]
    assert_grads(lambda: (layer.forward(xs, mask) * R).sum(), pairs)


def test_bilstm_padded_equals_alone(xp):
    rng = np.random.default_rng(3)
    N, T, D, H = 3, 5, 2, 3
    ws = [randn(xp, rng, *s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)] * 2]
    layer = TimeBiLSTM(*ws)
    xs = randn(xp, rng, N, T, D)
    lengths = [5, 2, 3]
    mask = right_mask(lengths, T)
    hs = _as_np(layer.forward(xs, xp.asarray(mask)))
    for n, L in enumerate(lengths):
        alone = _as_np(layer.forward(xs[n : n + 1, :L]))
        np.testing.assert_allclose(hs[n, :L], alone[0], rtol=1e-10, atol=1e-12)


def test_lstm_backward_once_per_forward(xp):
    """The numpy body turns TimeLSTM's gate cache into the gradients: a second backward of the
    same forward is refused there, and a new forward restores it (the same gradients come back).
    The cupy body writes the gradients into a buffer of their own, so there a second backward
    gives the same gradients again."""
    rng = np.random.default_rng(5)
    layer = TimeLSTM(randn(xp, rng, 3, 8), randn(xp, rng, 2, 8), randn(xp, rng, 8))
    xs, dhs = randn(xp, rng, 2, 4, 3), randn(xp, rng, 2, 4, 2)
    with pytest.raises(RuntimeError, match="run forward before backward"):
        TimeLSTM(*layer.params).backward(dhs)
    layer.forward(xs)
    dx1 = to_numpy(layer.backward(dhs))
    grads1 = [to_numpy(g).copy() for g in layer.grads]
    if get_ops(xs).name == "numpy":
        with pytest.raises(RuntimeError, match="run forward again"):
            layer.backward(dhs)
    else:
        np.testing.assert_array_equal(to_numpy(layer.backward(dhs)), dx1)
    layer.forward(xs)
    np.testing.assert_array_equal(to_numpy(layer.backward(dhs)), dx1)
    for g, g1 in zip(layer.grads, grads1):
        np.testing.assert_array_equal(to_numpy(g), g1)
