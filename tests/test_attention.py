"""TimeAttention: gradients of every score, and masking (the dot score against the book's
attention is in test_book.py)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_grads, randn
from seqattn.backend import to_numpy
from seqattn.ops import get_ops
from seqattn.layers import TimeAttention

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
