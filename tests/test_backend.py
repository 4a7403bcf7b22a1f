import subprocess
import sys
import types

import numpy as np
import pytest

from seqattn import backend
from seqattn.layers import Affine


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="numpy, cupy, auto"):
        backend.set_backend("tensorflow")


def test_set_and_context_switch_back():
    before = backend.get_backend()
    with backend.use_backend("numpy") as xp:
        assert xp is np
        assert backend.get_backend() == "numpy"
        assert backend.get_xp() is np
    assert backend.get_backend() == before


def test_cupy_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(backend.BackendError, match=r"pip install 'cupy-cuda12x>=13' \(the \[gpu\] extra of seqattn-dlfs2\)"):
        backend.set_backend("cupy")
    assert backend.gpu_available() is False
    assert backend.set_backend("auto") == "numpy"
    backend.set_backend("numpy")


def test_cupy_without_device_is_clear(monkeypatch):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice")

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device)))
    monkeypatch.setattr(backend, "_cupy", fake)
    with pytest.raises(backend.BackendError, match="no CUDA device"):
        backend.set_backend("cupy")
    assert backend.gpu_available() is False
    assert backend.set_backend("auto") == "numpy"
    backend.set_backend("numpy")


class _FakeCupyArray(np.ndarray):
    """Stands in for a cupy array: the backend recognises cupy by the type's module."""


_FakeCupyArray.__module__ = "cupy"


def test_mixing_numpy_and_cupy_names_both_and_the_fix(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", lambda: None)
    fake = np.zeros((2, 3)).view(_FakeCupyArray)
    with pytest.raises(TypeError, match=r"numpy and cupy.*to_device.*to_numpy"):
        backend.get_xp(np.zeros(3), fake)
    layer = Affine(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(TypeError, match="numpy and cupy"):
        layer.forward(fake)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs cupy and a CUDA device")
def test_mixing_real_cupy_arrays():
    import importlib

    cupy = importlib.import_module("cupy")
    layer = Affine(np.zeros((3, 2), "f4"), np.zeros(2, "f4"))
    with pytest.raises(TypeError, match="numpy and cupy"):
        layer.forward(cupy.zeros((2, 3), "f4"))


def test_numpy_backend_does_not_import_cupy():
    code = "import sys, seqattn, seqattn.layers, seqattn.models, seqattn.optim; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env={"SEQATTN_BACKEND": "numpy", "PATH": ""}, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bad_environment_variable_is_clear():
    """A bad SEQATTN_BACKEND does not break the import (set_backend can still repair it); the
    first use of the current backend raises it, naming the variable and the choices."""
    code = ("import seqattn\nfrom seqattn import backend\n"
            "try:\n    backend.get_xp()\nexcept ValueError as e:\n    print(e)\n"
            "backend.set_backend('numpy'); print(backend.get_xp().__name__)")
    out = subprocess.run([sys.executable, "-c", code], env={"SEQATTN_BACKEND": "gpu"}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["SEQATTN_BACKEND: unknown backend 'gpu': choose one of numpy, cupy, auto", "numpy"]


def test_to_device_and_back(xp):
    a = backend.to_device(np.arange(6, dtype="f4").reshape(2, 3))
    assert backend.get_xp(a) is xp
    np.testing.assert_array_equal(backend.to_numpy(a), np.arange(6).reshape(2, 3))


def test_embedding_backward_sums_repeats(xp):
    from seqattn.ops import get_ops

    target = xp.ones((4, 2))
    idx = xp.asarray([1, 1, 3, 1])
    get_ops(target).embedding_backward(target, idx, xp.ones((4, 2)))
    np.testing.assert_array_equal(backend.to_numpy(target)[:, 0], [0, 3, 0, 1])
