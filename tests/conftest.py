"""Shared test fixtures: every backend test runs on numpy and, where a GPU is present, cupy."""

import os

# The suite's default backend is numpy, also on a machine with a GPU (where "auto" would pick
# cupy): tests that are not parametrised over backends build numpy arrays.
os.environ["SEQATTN_BACKEND"] = "numpy"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from seqattn import backend  # noqa: E402

# The xp fixture only selects a backend, so sharing it across generated inputs is safe.
settings.register_profile("default", max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("default")

# "cupy-strict" runs the cupy code paths (CupyOps, with numpy ports of its kernels) on a strict,
# numpy-backed stand-in for cupy (tests/strict_cupy.py) that refuses every implicit trip to the
# host: what would synchronise or fail on a GPU fails here, on any machine.
BACKENDS = [
    "numpy",
    "cupy-strict",
    pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(not backend.gpu_available(), reason="needs cupy and a CUDA device")]),
]


@pytest.fixture(autouse=True)
def _restore_backend():
    """Whatever a test does to the current backend is undone after it."""
    before = backend.get_backend()
    yield
    backend.set_backend(before)


def use(name):
    """A backend of the suite made current: "numpy", "cupy" or the strict stand-in "cupy-strict"."""
    if name == "cupy-strict":
        from strict_cupy import install

        return install()
    return backend.use_backend(name)


@pytest.fixture(params=BACKENDS)
def xp(request):
    """The array module of the backend under test, made current for the test."""
    with use(request.param) as module:
        yield module


def numerical_grad(loss, x, eps=1e-6):
    """Central-difference gradient of the scalar ``loss()`` with respect to array ``x`` (in place)."""
    grad = np.zeros(x.shape)
    flat = x.reshape(-1)  # a view: changing it changes x
    host = backend.to_numpy
    for k in range(flat.size):
        old = float(host(flat[k]))
        flat[k] = old + eps
        up = float(host(loss()))
        flat[k] = old - eps
        down = float(host(loss()))
        flat[k] = old
        grad.reshape(-1)[k] = (up - down) / (2 * eps)
    return grad


def assert_grads(loss, pairs, rtol=1e-5, atol=1e-7):
    """For each (name, array, analytic gradient), compare with the numerical gradient."""
    for name, x, analytic in pairs:
        num = numerical_grad(loss, x)
        np.testing.assert_allclose(backend.to_numpy(analytic), num, rtol=rtol, atol=atol, err_msg=f"gradient of {name}")


def randn(xp, rng, *shape, dtype="float64"):
    return xp.asarray(rng.standard_normal(shape).astype(dtype))


@pytest.fixture(params=["fast", "reference"])
def body(request):
    """Which ops bodies the layers run: the backend's fast ones, or the reference (the book's order)."""
    from seqattn.ops import use_reference

    if request.param == "reference":
        with use_reference():
            yield request.param
    else:
        yield request.param


def train(model, xs, ts, epochs, batch_size=32, lr=0.01, max_grad=5.0):
    """Plain mini-batch training for the tests that need a model to learn: Adam, clipping, a
    seeded shuffle per epoch; dropout on while training."""
    from seqattn.optim import Adam, clip_grads

    opt = Adam(lr)
    rng = np.random.default_rng(0)
    model.set_train(True)
    for _ in range(epochs):
        order = rng.permutation(len(xs))
        for i in range(0, len(xs), batch_size):
            idx = order[i : i + batch_size]
            model.forward(xs[idx], ts[idx])
            model.backward()
            clip_grads(model.grads, max_grad)
            opt.update(model.params, model.grads)
    model.set_train(False)
