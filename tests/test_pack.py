"""Packed weights: every model keeps its weights in one buffer and its gradients in another, the
layers work on views of them, and an update over the buffers is the update over the arrays."""

import numpy as np
import pytest

from seqattn.backend import to_device, to_numpy
from seqattn.data import date_lines, load_qa
from seqattn.layers import Affine, Composite, Packed, flat
from seqattn.models import AttentionSeq2seq, PeekySeq2seq, Seq2seq, TransformerSeq2seq
from seqattn.optim import OPTIMIZERS, clip_grads

MODELS = {
    "seq2seq": lambda V, **k: Seq2seq(V, 8, 12, seed=0, **k),
    "peeky": lambda V, **k: PeekySeq2seq(V, 8, 12, seed=0, **k),
    "attention": lambda V, **k: AttentionSeq2seq(V, 8, 12, seed=0, bidirectional=True, num_layers=2, score="concat", **k),
    "transformer": lambda V, **k: TransformerSeq2seq(V, 16, 2, 2, 24, seed=0, **k),
}


def _data(n=24):
    (x, t), _, vocab = load_qa(date_lines(n, 0), seed=0, reverse=True)
    return x, t, len(vocab)


def _leaves(model):
    return [p for p in model.parts() if not isinstance(p, Composite)]


def _in(view, buffer):
    return np.shares_memory(to_numpy(view), to_numpy(buffer)) if isinstance(view, np.ndarray) else True


@pytest.mark.parametrize("kind", MODELS)
def test_every_layer_works_on_views_of_the_buffers(kind):
    x, t, V = _data()
    model = MODELS[kind](V)
    assert isinstance(model.params, Packed) and isinstance(model.grads, Packed)
    ids = {id(p) for p in model.params} | {id(g) for g in model.grads}
    leaves = _leaves(model)
    assert sum(len(layer.params) for layer in leaves) == len(model.params)
    for layer in leaves:
        for p, g in zip(layer.params, layer.grads):
            assert id(p) in ids and id(g) in ids
            assert np.shares_memory(p, model.params.buffer) and np.shares_memory(g, model.grads.buffer)
    assert [id(p) for _, p in model.named_params()] == [id(p) for p in model.params]
    # the layers read the buffer: all weights zero gives every target token the same score
    model.params.buffer[...] = 0
    loss = model.forward(x, t)
    np.testing.assert_allclose(float(loss), np.log(model.config["target_vocab_size"]), rtol=1e-6)
    model.backward()
    assert np.abs(model.grads.buffer).sum() > 0  # the gradients landed in their buffer


def test_views_start_aligned_and_the_gaps_stay_zero():
    x, t, V = _data()
    model = MODELS["attention"](V)
    base = model.params.buffer.ctypes.data
    assert all((p.ctypes.data - base) % Packed.ALIGN == 0 for p in model.params)
    from seqattn.optim import Adam

    opt = Adam(0.01)
    for _ in range(2):
        model.forward(x, t)
        model.backward()
        clip_grads(model.grads, 1.0)
        opt.update(model.params, model.grads)
    for arrays in (model.params, model.grads, opt.state_arrays["m"], opt.state_arrays["v"]):
        gaps = np.ones(arrays.buffer.size, dtype=bool)
        for a in arrays:
            start = (a.ctypes.data - arrays.buffer.ctypes.data) // a.itemsize
            gaps[start : start + a.size] = False
        assert gaps.any() and not arrays.buffer[gaps].any()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_packed_update_is_the_update_of_every_array(xp, name):
    """Three clipped steps over the buffers (one pass) give the weights of three steps array by
    array (one pass per array), for every optimizer."""
    x, t, V = _data()
    xs, ts = to_device(x), to_device(t)
    models = [MODELS["attention"](V, dtype="float64") for _ in range(2)]
    opts = [OPTIMIZERS[name](lr=0.01) for _ in models]
    for _ in range(3):
        for k, (model, opt) in enumerate(zip(models, opts)):
            model.forward(xs, ts)
            model.backward()
            params, grads = (model.params, model.grads) if k == 0 else (list(model.params), list(model.grads))
            clip_grads(grads, 0.5)
            opt.update(params, grads)
    assert all(isinstance(s, Packed) for s in opts[0].state_arrays.values())
    assert not any(isinstance(s, Packed) for s in opts[1].state_arrays.values())
    for a, b in zip(*(m.params for m in models)):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-12, atol=1e-15)
    assert not np.allclose(to_numpy(models[0].params.buffer), to_numpy(MODELS["attention"](V, dtype="float64").params.buffer))


def test_optimizer_state_restores_into_packed_slots(tmp_path):
    from seqattn import checkpoint
    from seqattn.optim import Adam

    x, t, V = _data()
    model, opt = MODELS["transformer"](V), Adam()
    model.forward(x, t)
    model.backward()
    opt.update(model.params, model.grads)
    checkpoint.save(tmp_path / "c.npz", model, optimizer=opt)
    arrays, meta = checkpoint.read(tmp_path / "c.npz")
    other = Adam()
    checkpoint.restore_optimizer(other, model, arrays, meta)
    for slot in ("m", "v"):
        assert isinstance(other.state_arrays[slot], Packed)
        np.testing.assert_array_equal(other.state_arrays[slot].buffer, opt.state_arrays[slot].buffer)


def test_shared_weights_are_not_packed():
    W, b = np.ones((3, 2)), np.zeros(2)
    part = Composite()
    part.adopt([("a", Affine(W, b)), ("b", Affine(W, b))])
    part.pack()
    assert not isinstance(part.params, Packed) and part.params[0] is W
    assert flat(part.params) == part.params
