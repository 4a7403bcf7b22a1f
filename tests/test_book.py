"""The book's layers (``layers/book.py``) as the oracle.

First the book's layers are checked on their own, by float64 numerical gradients. Then the
library's layers and ops are held against them in float64, forward and backward, on both ops
bodies (the ``body`` fixture: the fast one the backend dispatches to, and the reference one under
``use_reference()``) and every backend of the suite:

    the one-step cells      Ops.{rnn,gru,lstm}_cell and their backward  vs  book.RNN, GRU, LSTM
    the recurrent layers    TimeRNN, TimeGRU, TimeLSTM, masked or not,
                            with initial states or not                 vs  book.TimeRNN, ...
    attention (dot score)   TimeAttention, masked or not               vs  book.TimeAttention

The book's code shares no math with what it checks (it imports nothing from ``seqattn.ops``).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_grads, randn
from seqattn.backend import to_numpy
from seqattn.layers import TimeAttention, TimeGRU, TimeLSTM, TimeRNN, book
from seqattn.ops import get_ops

small = st.integers(1, 3)
steps = st.integers(1, 4)

# kind -> (library layer over time, the book's layer over time, the book's cell, gates, states)
KINDS = {
    "rnn": (TimeRNN, book.TimeRNN, book.RNN, 1, 1),
    "gru": (TimeGRU, book.TimeGRU, book.GRU, 3, 1),
    "lstm": (TimeLSTM, book.TimeLSTM, book.LSTM, 4, 2),
}
# Float64 agreement: the bodies differ from the book only in rounding (the fast numpy LSTM, for
# one, makes its sigmoids from tanh), which a few steps do not grow past this.
TOL = dict(rtol=1e-9, atol=1e-11)


def weights(xp, rng, kind, D, H, dtype="float64"):
    G = KINDS[kind][3]
    return [randn(xp, rng, D, G * H, dtype=dtype), randn(xp, rng, H, G * H, dtype=dtype) * 0.8, randn(xp, rng, G * H, dtype=dtype)]


def random_mask(xp, rng, N, T):
    """Padding anywhere (and sometimes a row with none of it real)."""
    return xp.asarray(rng.random((N, T)) < 0.6)


def close(got, want, what, **tol):
    np.testing.assert_allclose(to_numpy(got), to_numpy(want), err_msg=what, **(tol or TOL))


# ------------------------------------------------------------- the book's own gradients
@pytest.mark.parametrize("kind", KINDS)
def test_book_cells_gradients(xp, kind):
    rng = np.random.default_rng(5)
    N, D, H = 3, 2, 4
    cell = KINDS[kind][2](*weights(xp, rng, kind, D, H))
    x = randn(xp, rng, N, D)
    states = [randn(xp, rng, N, H) for _ in range(KINDS[kind][4])]
    dout = [randn(xp, rng, N, H) for _ in states]

    def loss():
        out = cell.forward(x, *states)
        out = out if isinstance(out, tuple) else (out,)
        return sum((o * r).sum() for o, r in zip(out, dout))

    loss()
    dx, *dstates = cell.backward(*dout)
    pairs = [("x", x, dx)] + [(name, p, g) for name, p, g in zip(("Wx", "Wh", "b"), cell.params, cell.grads)]
    pairs += [(f"state{k}", s, d) for k, (s, d) in enumerate(zip(states, dstates))]
    assert_grads(loss, pairs)


@given(N=small, T=steps, H=small, masked=st.booleans())
def test_book_attention_steps_gradients(xp, N, T, H, masked):
    """WeightSum, AttentionWeight and Attention of one decoder step."""
    rng = np.random.default_rng(N + 7 * T + 31 * H)
    hs, a, h = randn(xp, rng, N, T, H), randn(xp, rng, N, T), randn(xp, rng, N, H)
    mask = random_mask(xp, rng, N, T) if masked else None
    R, R2 = randn(xp, rng, N, H), randn(xp, rng, N, T)
    ws = book.WeightSum()
    ws.forward(hs, a)
    dhs, da = ws.backward(R)
    assert_grads(lambda: (ws.forward(hs, a) * R).sum(), [("hs", hs, dhs), ("a", a, da)])
    aw = book.AttentionWeight()
    aw.forward(hs, h, mask)
    dhs, dh = aw.backward(R2)
    assert_grads(lambda: (aw.forward(hs, h, mask) * R2).sum(), [("hs", hs, dhs), ("h", h, dh)])
    at = book.Attention()
    at.forward(hs, h, mask)
    dhs, dh = at.backward(R)
    assert_grads(lambda: (at.forward(hs, h, mask) * R).sum(), [("hs", hs, dhs), ("h", h, dh)])
    if mask is None:
        np.testing.assert_allclose(to_numpy(at.attention_weight).sum(axis=1), 1.0)


@pytest.mark.parametrize("kind", KINDS)
@given(N=small, T=steps, D=small, H=small, masked=st.booleans())
def test_book_time_layers_gradients(xp, kind, N, T, D, H, masked):
    rng = np.random.default_rng(N + 3 * T + 17 * D + 51 * H)
    n_states = KINDS[kind][4]
    layer = KINDS[kind][1](*weights(xp, rng, kind, D, H), stateful=True)
    xs = randn(xp, rng, N, T, D)
    states = [randn(xp, rng, N, H) for _ in range(n_states)]
    mask = random_mask(xp, rng, N, T) if masked else None

    def run():
        layer.set_state(*states)
        return layer.forward(xs, mask)

    R = randn(xp, rng, N, T, H)
    run()
    dxs = layer.backward(R)
    pairs = [("xs", xs, dxs), ("h0", states[0], layer.dh)]
    pairs += [(name, p, g) for name, p, g in zip(("Wx", "Wh", "b"), layer.params, layer.grads)]
    if n_states == 2:
        pairs.append(("c0", states[1], layer.dc))
    assert_grads(lambda: (run() * R).sum(), pairs)


@given(N=small, Te=steps, Td=small, H=small, masked=st.booleans())
def test_book_time_attention_gradients(xp, N, Te, Td, H, masked):
    rng = np.random.default_rng(N + 3 * Te + 11 * Td + 37 * H)
    K, Q, R = randn(xp, rng, N, Te, H), randn(xp, rng, N, Td, H), randn(xp, rng, N, Td, H)
    mask = random_mask(xp, rng, N, Te) if masked else None
    layer = book.TimeAttention()
    layer.forward(K, Q, mask)
    dK, dQ = layer.backward(R)
    assert_grads(lambda: (layer.forward(K, Q, mask) * R).sum(), [("hs_enc", K, dK), ("hs_dec", Q, dQ)])
    a = to_numpy(xp.stack(layer.attention_weights, axis=1))
    m = np.ones((N, Te), bool) if mask is None else to_numpy(mask)
    assert np.all(a[~np.broadcast_to(m[:, None, :], a.shape)] == 0)
    np.testing.assert_allclose(a.sum(axis=-1), np.where(m.any(axis=1), 1.0, 0.0)[:, None].repeat(Td, 1))


# ------------------------------------------------------- the ops' cells against the book's
@pytest.mark.parametrize("kind", KINDS)
def test_cells_match_book(xp, body, kind):
    """One step of Ops.<kind>_cell and its backward (the body under test) against the book's cell."""
    rng = np.random.default_rng(7)
    N, D, H = 4, 3, 5
    Wx, Wh, b = weights(xp, rng, kind, D, H)
    n_states = KINDS[kind][4]
    x = randn(xp, rng, N, D)
    prev = [randn(xp, rng, N, H) for _ in range(n_states)]
    d = [randn(xp, rng, N, H) for _ in range(n_states)]

    cell = KINDS[kind][2](Wx, Wh, b)
    want = cell.forward(x, *prev)
    want = list(want) if isinstance(want, tuple) else [want]
    dx_want, *dprev_want = cell.backward(*d)

    ops = get_ops(x)
    assert (ops.name == "reference") == (body == "reference")
    new, G = getattr(ops, kind + "_cell")(x @ Wx + b, Wh, *prev)
    for k, (got, w) in enumerate(zip(new, want)):
        close(got, w, f"{kind} state {k}")
    dA, dprev = getattr(ops, kind + "_cell_backward")(G, Wh, prev, new, d)
    close(dA @ Wx.T, dx_want, "dx")
    for k, (got, w) in enumerate(zip(dprev, dprev_want)):
        close(got, w, f"d state_prev {k}")
    close(x.T @ dA, cell.grads[0], "dWx")
    close(ops.recurrent_weight_grad(kind, prev[0], G, dA), cell.grads[1], "dWh")
    close(dA.sum(axis=0), cell.grads[2], "db")


# ---------------------------------------------- the library's layers against the book's
@pytest.mark.parametrize("kind", KINDS)
@given(N=small, T=steps, D=small, H=small, masked=st.booleans(), with_state=st.booleans())
def test_time_recurrent_matches_book(xp, body, kind, N, T, D, H, masked, with_state):
    rng = np.random.default_rng(N + 5 * T + 25 * D + 125 * H + 625 * masked)
    ours_cls, book_cls, _, _, n_states = KINDS[kind]
    params = weights(xp, rng, kind, D, H)
    ours, oracle = ours_cls(*params, stateful=with_state), book_cls(*params, stateful=with_state)
    xs, dhs = randn(xp, rng, N, T, D), randn(xp, rng, N, T, H)
    mask = random_mask(xp, rng, N, T) if masked else None
    if with_state:
        states = [randn(xp, rng, N, H) for _ in range(n_states)]
        ours.set_state(*states)
        oracle.set_state(*states)

    close(ours.forward(xs, mask), oracle.forward(xs, mask), "hs")
    close(ours.h, oracle.h, "the last h")
    if n_states == 2:
        close(ours.c, oracle.c, "the last c")
    close(ours.backward(dhs), oracle.backward(dhs), "dxs")
    for name, g, w in zip(("dWx", "dWh", "db"), ours.grads, oracle.grads):
        close(g, w, name)
    close(ours.dh, oracle.dh, "dh0")
    if n_states == 2:
        close(ours.dc, oracle.dc, "dc0")


@given(N=small, Te=steps, Td=small, H=small, masked=st.booleans())
def test_time_attention_matches_book(xp, body, N, Te, Td, H, masked):
    rng = np.random.default_rng(N + 3 * Te + 11 * Td + 37 * H + 111 * masked)
    K, Q, R = randn(xp, rng, N, Te, H), randn(xp, rng, N, Td, H), randn(xp, rng, N, Td, H)
    mask = random_mask(xp, rng, N, Te) if masked else None
    ours, oracle = TimeAttention(), book.TimeAttention()
    close(ours.forward(K, Q, mask), oracle.forward(K, Q, mask), "c")
    close(ours.attention_weights, xp.stack(oracle.attention_weights, axis=1), "attention weights")
    for name, got, want in zip(("dhs_enc", "dhs_dec"), ours.backward(R), oracle.backward(R)):
        close(got, want, name)


# ------------------------------------------------------------------ float32 keeps float32
def test_time_lstm_matches_book_float32(body):
    rng = np.random.default_rng(0)
    N, T, D, H = 5, 7, 4, 6
    Wx, Wh, b = weights(np, rng, "lstm", D, H, dtype="float32")
    xs = rng.standard_normal((N, T, D)).astype("f4")
    h0 = rng.standard_normal((N, H)).astype("f4")
    ours, oracle = TimeLSTM(Wx, Wh, b, stateful=True), book.TimeLSTM(Wx, Wh, b, stateful=True)
    ours.set_state(h0)
    oracle.set_state(h0)
    hs = ours.forward(xs)
    assert hs.dtype == np.float32
    close(hs, oracle.forward(xs), "hs", rtol=1e-5, atol=1e-6)
    close(ours.c, oracle.c, "c", rtol=1e-5, atol=1e-6)
    dhs = rng.standard_normal(hs.shape).astype("f4")
    dxs = ours.backward(dhs)
    assert dxs.dtype == np.float32
    close(dxs, oracle.backward(dhs), "dxs", rtol=1e-4, atol=1e-5)
    for g1, g2 in zip(ours.grads, oracle.grads):
        close(g1, g2, "grads", rtol=1e-4, atol=1e-5)
    close(ours.dh, oracle.dh, "dh", rtol=1e-4, atol=1e-5)


def test_dot_score_matches_book_float32(body):
    rng = np.random.default_rng(0)
    K = rng.standard_normal((8, 7, 5)).astype("f4")
    Q = rng.standard_normal((8, 4, 5)).astype("f4")
    R = rng.standard_normal((8, 4, 5)).astype("f4")
    ours, oracle = TimeAttention(), book.TimeAttention()
    close(ours.forward(K, Q), oracle.forward(K, Q), "c", rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.backward(R), oracle.backward(R)):
        assert a.dtype == np.float32
        close(a, b, "grads", rtol=1e-4, atol=1e-5)
