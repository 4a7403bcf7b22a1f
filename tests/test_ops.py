"""The ops: every fast body agrees with the reference body (the book's order) on random inputs,
the dispatch picks one body per array module, and derived weight layouts are built once per
generation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import randn
from seqattn.backend import to_numpy
from seqattn.ops import Ops, Workspace, get_ops, reference_ops, use_reference

small = st.integers(1, 4)
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def _run(ops, cell, params, xs, states, mask, dhs, dlast):
    ws = Workspace()
    W = ops.recurrent_weights(cell, *params, ws)
    hs, finals, cache = ops.recurrent_forward(cell, W, xs, states, mask, ws)
    hs, finals = to_numpy(hs), [to_numpy(f) for f in finals]  # the workspace is reused below
    grads = [p * 0 for p in params]
    dxs, dstates = ops.recurrent_backward(cell, W, cache, dhs, dlast, grads, ws)
    return [hs, *finals, to_numpy(dxs), *(to_numpy(d) for d in dstates), *(to_numpy(g) for g in grads)]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@given(N=small, T=small, D=small, H=small, masked=st.booleans(), with_state=st.booleans())
def test_fast_recurrent_bodies_agree_with_reference_float32(xp, cell, N, T, D, H, masked, with_state):
    rng = np.random.default_rng(N + 5 * T + 25 * D + 125 * H)
    G = GATES[cell]
    f32 = dict(dtype="float32")
    params = [randn(xp, rng, D, G * H, **f32), randn(xp, rng, H, G * H, **f32), randn(xp, rng, G * H, **f32)]
    xs, dhs = randn(xp, rng, N, T, D, **f32), randn(xp, rng, N, T, H, **f32)
    n_states = 2 if cell == "lstm" else 1
    states = [randn(xp, rng, N, H, **f32) if with_state else None for _ in range(n_states)]
    dlast = [randn(xp, rng, N, H, **f32) if with_state else None for _ in range(n_states)]
    mask = xp.asarray(rng.random((N, T)) < 0.6) if masked else None
    fast = _run(get_ops(xs), cell, params, xs, states, mask, dhs, dlast)
    ref = _run(reference_ops(xs), cell, params, xs, states, mask, dhs, dlast)
    for k, (a, b) in enumerate(zip(fast, ref)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=f"output {k}")


@given(N=small, Tq=small, Tk=small, masked=st.booleans())
def test_masked_softmax_fast_equals_reference(xp, N, Tq, Tk, masked):
    rng = np.random.default_rng(N + 7 * Tq + 49 * Tk)
    S = randn(xp, rng, N, Tq, Tk, dtype="float32") * 5
    mask = xp.asarray(rng.random((N, Tk)) < 0.6) if masked else None
    a = to_numpy(get_ops(S).masked_softmax(S, mask))
    np.testing.assert_allclose(a, to_numpy(reference_ops(S).masked_softmax(S, mask)), rtol=1e-5, atol=1e-7)
    m = np.ones((N, Tk), bool) if mask is None else to_numpy(mask)
    assert np.all(a[~np.broadcast_to(m[:, None, :], a.shape)] == 0)
    np.testing.assert_allclose(a.sum(axis=-1), np.where(m.any(axis=1), 1.0, 0.0)[:, None].repeat(Tq, 1), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("blocks", [0.5, 1, 3.25])
def test_blocked_adam_is_the_reference_adam_bit_for_bit(dtype, blocks):
    """The numpy Adam works block by block in cache; over several steps (m and v growing from zero)
    and a size that is not a whole number of blocks, its weights and slots equal the reference's."""
    fast = get_ops(np.zeros(1))
    n = int(fast.adam_block * blocks) + 3
    rng = np.random.default_rng(7)
    a = [rng.standard_normal(n).astype(dtype), None, np.zeros(n, dtype), np.zeros(n, dtype)]
    b = [x if x is None else x.copy() for x in a]
    for step in range(1, 5):
        g = (rng.standard_normal(n) * 10.0 ** rng.integers(-4, 3, n)).astype(dtype)
        lr_t = 0.001 * (1 - 0.999**step) ** 0.5 / (1 - 0.9**step)  # a Python float, as Adam gives it
        fast.adam_step(a[0], g, a[2], a[3], lr_t, 0.9, 0.999)
        reference_ops(a[0]).adam_step(b[0], g.copy(), b[2], b[3], lr_t, 0.9, 0.999)
    for x, y in zip(a, b):
        if x is not None:
            np.testing.assert_array_equal(x, y)
            assert x.dtype == np.dtype(dtype)


def test_dispatch_is_one_object_per_module_and_reference_on_request():
    x = np.zeros(3)
    fast = get_ops(x)
    assert fast is get_ops(np.ones(2)) and fast.name == "numpy" and isinstance(fast, Ops)
    with use_reference():
        assert get_ops(x) is reference_ops(x) and get_ops(x).name == "reference"
    assert get_ops(x) is fast


def test_reference_bodies_run_a_whole_model_to_the_same_loss():
    """A model run on the reference bodies gives the fast bodies' loss and gradients."""
    from seqattn.models import AttentionSeq2seq

    rng = np.random.default_rng(0)
    model = AttentionSeq2seq(9, 4, 6, bidirectional=True, num_layers=2, pad_id=0, seed=1, dtype="float64")
    xs, ts = rng.integers(1, 9, (3, 5)), rng.integers(1, 9, (3, 4))
    xs[0, 3:] = 0
    loss = float(model.forward(xs, ts))
    model.backward()
    grads = [g.copy() for g in model.grads]
    with use_reference():
        assert float(model.forward(xs, ts)) == pytest.approx(loss, rel=1e-12)
        model.backward()
    for g, g0 in zip(model.grads, grads):
        np.testing.assert_allclose(g, g0, rtol=1e-9, atol=1e-12)


def test_derived_weights_built_once_per_generation_and_again_after_an_update(monkeypatch):
    from seqattn.models import AttentionSeq2seq

    model = AttentionSeq2seq(9, 4, 6, num_layers=2, seed=1)
    ops = get_ops(model.params[0])
    calls = []
    real = type(ops).recurrent_weights

    def counting(self, *a):
        calls.append(a[0])
        return real(self, *a)

    monkeypatch.setattr(type(ops), "recurrent_weights", counting)
    xs = np.random.default_rng(0).integers(1, 9, (4, 5))
    out = model.generate(xs, 1, 7)
    assert len(calls) == 4  # two encoder and two decoder layers, once each for 7 steps
    calls.clear()
    model.generate(xs, 1, 7, beam_width=3)
    assert len(calls) == 4
    # outside generation every forward sees the weights as they are now
    model.decoder.stack.lstms[0].params[1][...] *= -1
    assert not np.array_equal(model.generate(xs, 1, 7), out)
