"""TimeAttention: gradients of every score, and masking (the dot score against the book's
attention is in test_book.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_grads, randn
from seqattn.backend import to_numpy
from seqattn.ops import get_ops
from seqattn.layers import TimeAttention, TimeFeedLSTM

small = st.integers(1, 3)


def make_attention(xp, rng, score, H, A=3):
    if score == "dot":
        return TimeAttention()
    if score == "general":
        return TimeAttention("general", W=randn(xp, rng, H, H))
    return TimeAttention("concat", W=randn(xp, rng, 2 * H, A), v=randn(xp, rng, A))


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
@given(N=small, Te=st.integers(1, 4), Td=st.integers(1, 3), H=small, masked=st.booleans())
def test_time_attention_gradients(xp, body, score, N, Te, Td, H, masked):
    rng = np.random.default_rng(N + 3 * Te + 11 * Td + 37 * H)
    layer = make_attention(xp, rng, score, H)
    K, Q = randn(xp, rng, N, Te, H), randn(xp, rng, N, Td, H)
    mask = None
    if masked:
        m = rng.random((N, Te)) < 0.6
        m[:, 0] = True
        mask = xp.asarray(m)
    R = randn(xp, rng, N, Td, H)
    layer.forward(K, Q, mask)
    dK, dQ = layer.backward(R)
    pairs = [("hs_enc", K, dK), ("hs_dec", Q, dQ)] + [(f"param{k}", p, g) for k, (p, g) in enumerate(zip(layer.params, layer.grads))]
    assert_grads(lambda: (layer.forward(K, Q, mask) * R).sum(), pairs)
    a = to_numpy(layer.attention_weights)
    assert np.all(a >= 0)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0)
    if masked:
        assert np.all(a[~np.broadcast_to(to_numpy(mask)[:, None, :], a.shape)] == 0)


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_padding_changes_nothing_for_real_positions(xp, score):
    rng = np.random.default_rng(4)
    N, Te, Td, H, pad = 3, 4, 2, 3, 3
    layer = make_attention(xp, rng, score, H)
    K, Q, R = randn(xp, rng, N, Te, H), randn(xp, rng, N, Td, H), randn(xp, rng, N, Td, H)
    c = layer.forward(K, Q)
    dK, dQ = layer.backward(R)
    grads = [to_numpy(g).copy() for g in layer.grads]
    junk = randn(xp, rng, N, pad, H) * 100
    Kp = xp.concatenate([K, junk], axis=1)
    mask = xp.asarray(np.arange(Te + pad)[None].repeat(N, 0) < Te)
    cp = layer.forward(Kp, Q, mask)
    dKp, dQp = layer.backward(R)
    np.testing.assert_allclose(to_numpy(cp), to_numpy(c), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dKp)[:, :Te], to_numpy(dK), rtol=1e-10, atol=1e-12)
    assert np.all(to_numpy(dKp)[:, Te:] == 0)
    np.testing.assert_allclose(to_numpy(dQp), to_numpy(dQ), rtol=1e-10, atol=1e-12)
    for g, g0 in zip(layer.grads, grads):
        np.testing.assert_allclose(to_numpy(g), g0, rtol=1e-10, atol=1e-12)
    assert np.all(to_numpy(layer.attention_weights)[:, :, Te:] == 0)


def test_all_padding_row_gives_zeros_not_nan():
    layer = TimeAttention()
    K = np.ones((2, 3, 2))
    Q = np.ones((2, 1, 2))
    mask = np.array([[True, True, False], [False, False, False]])
    c = layer.forward(K, Q, mask)
    assert np.all(np.isfinite(c)) and np.all(c[1] == 0)
    assert np.all(layer.attention_weights[1] == 0)
    dK, dQ = layer.backward(np.ones_like(c))
    assert np.all(np.isfinite(dK)) and np.all(np.isfinite(dQ))


def test_attention_errors():
    with pytest.raises(ValueError, match="unknown score 'cosine'"):
        TimeAttention("cosine")
    with pytest.raises(ValueError, match="general score needs W"):
        TimeAttention("general")
    with pytest.raises(ValueError, match="differ in N or H"):
        TimeAttention().forward(np.zeros((2, 3, 4)), np.zeros((2, 1, 5)))


@pytest.mark.parametrize("budget", [1, 2, 5, 12])
def test_concat_chunks_give_the_same_result(xp, monkeypatch, budget):
    """The concat score's tanh tensor is made in chunks of examples or decoder steps; any chunking
    gives the same scores and gradients as one chunk (budget in units of Te * A elements)."""
    N, Te, Td, H, A = 5, 4, 3, 3, 2
    rng = np.random.default_rng(3)
    W, v = randn(xp, rng, 2 * H, A), randn(xp, rng, A)
    K, Q, R = randn(xp, rng, N, Te, H), randn(xp, rng, N, Td, H), randn(xp, rng, N, Td, H)
    mask = xp.asarray(rng.random((N, Te)) < 0.7)
    mask[:, 0] = True
    results = []
    for chunk in (budget * Te * A, 10**9):
        monkeypatch.setattr(get_ops(K), "concat_chunk", chunk)
        layer = TimeAttention("concat", W=W.copy(), v=v.copy())
        c = layer.forward(K, Q, mask)
        dK, dQ = layer.backward(R)
        results.append([to_numpy(x) for x in (c, dK, dQ, *layer.grads)])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ input feeding
@pytest.mark.parametrize("score", ["dot", "general"])
@settings(max_examples=4)
@given(N=small, T=st.integers(1, 3), Te=st.integers(1, 3), D=small, H=small, masked=st.booleans(), carried=st.booleans())
def test_feed_lstm_gradients(xp, score, N, T, Te, D, H, masked, carried):
    """TimeFeedLSTM: every input, weight and initial state against float64 numerical gradients."""
    rng = np.random.default_rng(N + 3 * T + 7 * Te + 13 * D + 29 * H)
    W = randn(xp, rng, H, H) if score == "general" else None
    layer = TimeFeedLSTM(randn(xp, rng, D + H, 4 * H), randn(xp, rng, H, 4 * H), randn(xp, rng, 4 * H), score, W)
    xs, K = randn(xp, rng, N, T, D), randn(xp, rng, N, Te, H)
    states = [randn(xp, rng, N, H) for _ in range(3)] if carried else [None] * 3
    mask = None
    if masked:
        m = rng.random((N, Te)) < 0.6
        m[:, 0] = True
        mask = xp.asarray(m)
    R1, R2 = randn(xp, rng, N, T, H), randn(xp, rng, N, T, H)

    def loss():
        layer.set_state(*states)
        hs, cs = layer.forward(xs, K, mask)
        return (hs * R1).sum() + (cs * R2).sum()

    loss()
    dxs, dK = layer.backward(R1, R2)
    pairs = [("xs", xs, dxs), ("hs_enc", K, dK)] + [(f"param{k}", p, g + 0) for k, (p, g) in enumerate(zip(layer.params, layer.grads))]
    if carried:
        pairs += [(name, s, d) for name, s, d in zip(("h", "m", "c"), states, (layer.dh, layer.dm, layer.dc))]
    assert_grads(loss, pairs)
    if masked:
        a = to_numpy(layer.attention_weights)
        assert (a[~to_numpy(mask)[:, None, :].repeat(T, axis=1)] == 0).all()


def test_feed_lstm_one_step_at_a_time_is_the_whole_sequence(xp):
    """Generation's path (one step per call, the states carried over) gives what one call over
    every step gives: outputs, attention and final states."""
    rng = np.random.default_rng(1)
    N, T, Te, D, H = 3, 5, 4, 2, 3
    layer = TimeFeedLSTM(randn(xp, rng, D + H, 4 * H), randn(xp, rng, H, 4 * H), randn(xp, rng, 4 * H), "general", randn(xp, rng, H, H))
    xs, K, h0 = randn(xp, rng, N, T, D), randn(xp, rng, N, Te, H), randn(xp, rng, N, H)
    mask = xp.asarray(np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool))
    layer.set_state(h0)
    hs, cs = layer.forward(xs, K, mask)
    whole = [to_numpy(a) for a in (hs, cs, layer.attention_weights, layer.h, layer.m, layer.c)]
    layer.set_state(h0)
    steps = [layer.forward(xs[:, t : t + 1], K, mask) + (layer.attention_weights,) for t in range(T)]
    for k in range(3):
        np.testing.assert_allclose(np.concatenate([to_numpy(s[k]) for s in steps], axis=1), whole[k], rtol=1e-12, atol=1e-12)
    for got, want in zip((layer.h, layer.m, layer.c), whole[3:]):
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-12)


def test_feed_lstm_refuses_what_it_cannot_do():
    rng = np.random.default_rng(2)
    Wx, Wh, b = randn(np, rng, 5, 12), randn(np, rng, 3, 12), randn(np, rng, 12)
    with pytest.raises(ValueError, match="input feeding takes the dot or general score, not 'concat'"):
        TimeFeedLSTM(Wx, Wh, b, "concat")
    with pytest.raises(ValueError, match="the general score needs W"):
        TimeFeedLSTM(Wx, Wh, b, "general")
    with pytest.raises(ValueError, match=r"expected Wx \(D\+H, 4H\)"):
        TimeFeedLSTM(randn(np, rng, 3, 12), Wh, b)
