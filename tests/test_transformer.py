"""The Transformer: float64 gradients of every layer and of the whole model, the causal mask,
padding, incremental decoding against recomputation, beam search, checkpoints, and learning."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_grads, randn, train
from seqattn.backend import to_device, to_numpy
from seqattn.layers import FeedForward, LayerNorm, MultiHeadAttention, PositionalEncoding, sinusoid_table
from seqattn.models import TransformerSeq2seq, load_model
from seqattn.models.transformer import greedy_by_recomputation
from seqattn.ops import get_ops

small = st.integers(1, 3)


@given(N=small, T=small, E=st.integers(2, 5))
def test_layer_norm_gradients(xp, body, N, T, E):
    rng = np.random.default_rng(N + 7 * T + 49 * E)
    layer = LayerNorm(randn(xp, rng, E), randn(xp, rng, E))
    x, R = randn(xp, rng, N, T, E), randn(xp, rng, N, T, E)
    layer.forward(x)
    dx = layer.backward(R)
    assert_grads(lambda: (layer.forward(x) * R).sum(), [("x", x, dx), ("gamma", layer.params[0], layer.grads[0]),
                                                       ("beta", layer.params[1], layer.grads[1])])
    y = to_numpy(LayerNorm(xp.ones(E), xp.zeros(E)).forward(x))
    if E > 1:
        np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@given(N=small, T=small, E=small, F=st.integers(1, 5))
def test_feed_forward_gradients(xp, activation, N, T, E, F):
    rng = np.random.default_rng(N + 7 * T + 49 * E + 343 * F)
    layer = FeedForward(randn(xp, rng, E, F), randn(xp, rng, F), randn(xp, rng, F, E), randn(xp, rng, E), activation)
    x, R = randn(xp, rng, N, T, E), randn(xp, rng, N, T, E)
    layer.forward(x)
    dx = layer.backward(R)
    pairs = [("x", x, dx)] + [(n, p, g) for (n, p), g in zip(layer.named_params(), layer.grads)]
    assert_grads(lambda: (layer.forward(x) * R).sum(), pairs)


def make_mha(xp, rng, E, heads, causal=False):
    ws = []
    for _ in range(4):
        ws += [randn(xp, rng, E, E) * 0.7, randn(xp, rng, E)]
    return MultiHeadAttention(*ws, num_heads=heads, causal=causal)


@pytest.mark.parametrize("kind", ["self", "cross", "causal"])
@given(N=small, Tq=st.integers(1, 4), Tk=st.integers(1, 4), heads=st.integers(1, 2), d=st.integers(1, 2), masked=st.booleans())
def test_multi_head_attention_gradients(xp, body, kind, N, Tq, Tk, heads, d, masked):
    rng = np.random.default_rng(N + 5 * Tq + 25 * Tk + 125 * heads + 625 * d)
    E = heads * d
    layer = make_mha(xp, rng, E, heads, causal=kind == "causal")
    q = randn(xp, rng, N, Tq, E)
    kv = q if kind != "cross" else randn(xp, rng, N, Tk, E)
    Tk = kv.shape[1]
    mask = None
    if masked:
        m = rng.random((N, Tk)) < 0.6
        m[:, 0] = True
        mask = xp.asarray(m)
    R = randn(xp, rng, *q.shape)
    layer.forward(q, kv, mask)
    dq, dkv = layer.backward(R)
    if kind == "cross":
        pairs = [("q_in", q, dq), ("kv_in", kv, dkv)]
        f = lambda: (layer.forward(q, kv, mask) * R).sum()  # noqa: E731
    else:
        pairs = [("x", q, dq + dkv)]
        f = lambda: (layer.forward(q, q, mask) * R).sum()  # noqa: E731
    pairs += [(n, p, g) for (n, p), g in zip(layer.named_params(), layer.grads)]
    assert_grads(f, pairs)
    a = to_numpy(layer.attention_weights)
    assert a.shape == (N, heads, q.shape[1], Tk) and np.all(a >= 0)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0)
    if mask is not None:
        assert np.all(a[np.broadcast_to(~to_numpy(mask)[:, None, None, :], a.shape)] == 0)
    if kind == "causal":
        assert np.all(a[..., np.triu_indices(a.shape[-1], 1)[0], np.triu_indices(a.shape[-1], 1)[1]] == 0)


def test_fully_padded_keys_give_zeros_not_nan():
    rng = np.random.default_rng(0)
    layer = make_mha(np, rng, 4, 2)
    x = rng.standard_normal((2, 3, 4))
    mask = np.array([[True, False, False], [False, False, False]])
    out = layer.forward(x, x, mask)
    assert np.all(np.isfinite(out)) and np.all(layer.attention_weights[1] == 0)
    assert all(np.all(np.isfinite(g)) for g in layer.backward(np.ones_like(out)))


def test_learned_positions_gradient(xp):
    rng = np.random.default_rng(1)
    layer = PositionalEncoding(randn(xp, rng, 6, 3), learned=True)
    x, R = randn(xp, rng, 2, 4, 3), randn(xp, rng, 2, 4, 3)
    layer.forward(x, start=1)
    dx = layer.backward(R)
    assert_grads(lambda: (layer.forward(x, start=1) * R).sum(), [("x", x, dx), ("table", layer.params[0], layer.grads[0])])
    table = sinusoid_table(50, 8)
    assert table.shape == (50, 8) and np.allclose(table[0, 0::2], 0) and np.allclose(table[0, 1::2], 1)


V, PAD, START = 8, 0, 1


def batch(rng, N=3, Ts=4, Tt=4):
    xs = rng.integers(2, V, (N, Ts))
    ts = rng.integers(2, V, (N, Tt))
    ts[:, 0] = START
    xs[0, -2:] = PAD
    ts[1, -1:] = PAD
    return to_device(xs), to_device(ts)


@pytest.mark.parametrize("norm,positions,activation", [("pre", "sinusoid", "relu"), ("post", "learned", "gelu")])
def test_model_gradients_elementwise(xp, norm, positions, activation):
    rng = np.random.default_rng(0)
    model = TransformerSeq2seq(V, 4, 2, 1, 6, dropout=0.0, pad_id=PAD, seed=1, dtype="float64", norm=norm,
                               positions=positions, activation=activation, max_len=8)
    xs, ts = batch(rng)
    model.forward(xs, ts)
    model.backward()
    pairs = [(n, p, g) for (n, p), g in zip(model.named_params(), model.grads)]
    assert_grads(lambda: model.forward(xs, ts), pairs, rtol=1e-4, atol=1e-8)


def test_model_gradients_two_layers_with_fixed_dropout():
    from test_models import directional_check_fixed_dropout

    rng = np.random.default_rng(2)
    model = TransformerSeq2seq(V, 4, 2, 2, 6, dropout=0.2, pad_id=PAD, seed=2, dtype="float64", max_len=8)
    xs, ts = batch(rng, N=2, Ts=1, Tt=2)  # T = 1 on both sides
    directional_check_fixed_dropout(model, xs, ts, rng)


def test_causal_mask_hides_later_targets():
    """Changing target token k changes no score before position k."""
    rng = np.random.default_rng(3)
    model = TransformerSeq2seq(V, 8, 2, 2, 16, dropout=0.0, seed=3, dtype="float64")
    xs, ts = rng.integers(2, V, (2, 5)), rng.integers(2, V, (2, 6))

    def scores(t):
        model.decoder.begin(model.encoder.forward(xs))
        return model.decoder.run(t)

    base = scores(ts)
    for k in range(1, 6):
        t2 = ts.copy()
        t2[:, k] = (t2[:, k] + 1 - 2) % (V - 2) + 2
        other = scores(t2)
        np.testing.assert_array_equal(other[:, :k], base[:, :k])
        assert not np.allclose(other[:, k:], base[:, k:])


def test_padded_batch_equals_each_sequence_alone(xp):
    rng = np.random.default_rng(4)
    model = TransformerSeq2seq(V, 8, 2, 2, 16, dropout=0.0, pad_id=PAD, seed=4, dtype="float64")
    lengths = [5, 2, 4]
    xs = rng.integers(2, V, (3, 5))
    for n, L in enumerate(lengths):
        xs[n, L:] = PAD
    ts = rng.integers(2, V, (3, 4))
    ts[:, 0] = START
    enc = model.encoder
    hs = to_numpy(enc.forward(to_device(xs), to_device(xs != PAD)).hs)
    R = rng.standard_normal(hs.shape) * (xs != PAD)[:, :, None]
    enc.backward(to_device(R))
    grads = [to_numpy(g).copy() for g in enc.grads]
    total = [np.zeros_like(g) for g in grads]
    for n, L in enumerate(lengths):
        alone = to_numpy(enc.forward(to_device(xs[n : n + 1, :L])).hs)
        np.testing.assert_allclose(hs[n, :L], alone[0], rtol=1e-10, atol=1e-12)
        enc.backward(to_device(R[n : n + 1, :L]))
        for k, g in enumerate(enc.grads):
            total[k] += to_numpy(g)
    for g, t in zip(grads, total):
        np.testing.assert_allclose(g, t, rtol=1e-9, atol=1e-12)
    # and whole-model scores: the padded batch row equals the example alone
    model.decoder.begin(enc.forward(to_device(xs), to_device(xs != PAD)))
    full = to_numpy(model.decoder.run(to_device(ts)))
    for n, L in enumerate(lengths):
        model.decoder.begin(enc.forward(to_device(xs[n : n + 1, :L])))
        np.testing.assert_allclose(full[n], to_numpy(model.decoder.run(to_device(ts[n : n + 1])))[0], rtol=1e-9, atol=1e-12)


def _train(model, xs, ts, epochs, batch_size=50, lr=0.005):
    train(model, xs, ts, epochs, batch_size, lr, max_grad=1.0)


@pytest.fixture(scope="module")
def reverser():
    rng = np.random.default_rng(0)
    xs = rng.integers(2, 8, (500, 5))
    ys = xs[:, ::-1]
    ts = np.concatenate([np.full((500, 1), START), ys], axis=1)
    model = TransformerSeq2seq(8, 32, 4, 2, 64, dropout=0.0, seed=0)
    _train(model, xs, ts, epochs=25)
    return model, xs, ys


def test_small_transformer_learns_to_reverse(reverser):
    model, xs, ys = reverser
    assert (model.generate(xs, START, 5) == ys).all(axis=1).mean() == 1.0


def test_incremental_decoding_equals_recomputation_and_batches_equal_alone(reverser):
    model, xs, _ = reverser
    rng = np.random.default_rng(1)
    xs = rng.integers(2, 8, (6, 5))
    xs[:3, 3:] = 3  # other inputs than training's
    greedy = model.generate(xs, START, 7)
    np.testing.assert_array_equal(greedy, greedy_by_recomputation(model, xs, START, 7))
    np.testing.assert_array_equal(model.generate(xs, START, 7, beam_width=1), greedy)
    beam = model.generate(xs, START, 7, beam_width=3)
    for n in range(len(xs)):
        np.testing.assert_array_equal(model.generate(xs[n : n + 1], START, 7)[0], greedy[n])
        np.testing.assert_array_equal(model.generate(xs[n : n + 1], START, 7, beam_width=3)[0], beam[n])


def test_wide_beam_finds_the_best_sequence():
    import itertools

    vocab, steps = 3, 3
    model = TransformerSeq2seq(vocab, 8, 2, 1, 8, dropout=0.0, seed=7, dtype="float64")
    for p in model.params:
        p *= 3  # sharper, more varied distributions
    xs = np.random.default_rng(7).integers(0, vocab, (3, 3))
    found = model.generate(xs, 0, steps, beam_width=vocab ** (steps - 1))
    for n in range(3):
        best, best_lp = None, -np.inf
        for s in itertools.product(range(vocab), repeat=steps):
            model.decoder.begin(model.encoder.forward(xs[n : n + 1]))
            scores = model.decoder.run(np.array([[0, *s[:-1]]]))[0]
            lp = get_ops(scores).log_softmax(scores)[np.arange(steps), list(s)].sum()
            if lp > best_lp:
                best, best_lp = s, lp
        np.testing.assert_array_equal(found[n], best)


def test_checkpoint_round_trip_and_options(tmp_path, reverser):
    model, xs, _ = reverser
    model.save_params(tmp_path / "t.npz")
    loaded, meta = load_model(tmp_path / "t.npz")
    assert meta["config"]["model"] == "transformer" and meta["config"]["d_model"] == 32
    np.testing.assert_array_equal(loaded.generate(xs[:20], START, 5, beam_width=2), model.generate(xs[:20], START, 5, beam_width=2))
    with pytest.raises(TypeError, match="unknown option 'heads'"):
        TransformerSeq2seq(8, heads=4)
    with pytest.raises(ValueError, match="must split evenly into 3 heads"):
        TransformerSeq2seq(8, 32, 3)
    with pytest.raises(ValueError, match="more than max_len 4"):
        TransformerSeq2seq(8, 8, 2, max_len=4).generate(xs[:2], START, 5)
