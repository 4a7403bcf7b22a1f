"""The array backend: numpy on the CPU or cupy on an NVIDIA GPU.

This is the only module of seqattn that imports cupy. Everything else asks it for the array
module ``xp`` at use time, either of given arrays (``get_xp(x, W)``) or of the current backend
(``get_xp()``).

The backend is chosen by ``SEQATTN_BACKEND`` (``numpy``, ``cupy`` or ``auto``; ``auto`` when it
is unset or empty) when this module is first imported (by the first part of seqattn that uses
arrays), and can be changed at run time with ``set_backend`` or, for a
block of code, ``with use_backend("numpy"):``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os

import numpy as np

from .install import install_hint

BACKENDS = ("numpy", "cupy")
_CHOICES = BACKENDS + ("auto",)
_GPU_HINT = f"install cupy: `{install_hint('gpu')}` for CUDA 12, or `{install_hint('cuda13')}`"


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


_cupy = None  # the cupy module once imported
# The process's backend (set_backend) and why SEQATTN_BACKEND could not be used, until a backend
# is set explicitly; inside ``use_backend`` blocks, the block's own (name, error), per context.
_current = "numpy"
_env_error = None
_block = contextvars.ContextVar("seqattn_backend", default=None)


def _state():
    """(backend name, environment error) in force here: the innermost use_backend block's, else
    the process's."""
    block = _block.get()
    return block if block is not None else (_current, _env_error)


def _import_cupy():
    """Import cupy, or raise BackendError saying how to get it."""
    global _cupy
    if _cupy is None:
        try:
            import cupy  # noqa: PLC0415 - the one place cupy is imported
        except ImportError as exc:
            raise BackendError(f"the cupy backend needs cupy, which is not installed ({exc}); {_GPU_HINT}") from None
        _cupy = cupy
    return _cupy


def _device_count(cupy) -> int:
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # cupy raises CUDARuntimeError when no driver/device is present
        return 0


def gpu_available() -> bool:
    """True when cupy imports and at least one CUDA device is present."""
    try:
        cupy = _import_cupy()
    except BackendError:
        return False
    return _device_count(cupy) > 0


def _resolve(name: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in _CHOICES:
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(_CHOICES)}")
    name = name.strip().lower()
    if name == "auto":
        return "cupy" if gpu_available() else "numpy"
    if name == "cupy":
        cupy = _import_cupy()
        if _device_count(cupy) == 0:
            raise BackendError(
                "cupy is installed but no CUDA device is visible (check the NVIDIA driver and "
                "CUDA_VISIBLE_DEVICES), or use the numpy backend: SEQATTN_BACKEND=numpy"
            )
    return name


def set_backend(name: str) -> str:
    """Make ``name`` ('numpy', 'cupy' or 'auto') the current backend; return the one chosen."""
    global _current, _env_error
    chosen = _resolve(name)
    if _block.get() is not None:  # inside a use_backend block: for the rest of the block
        _block.set((chosen, None))
        return chosen
    _current, _env_error = chosen, None
    return chosen


def check_environment():
    """Raise the error that made ``SEQATTN_BACKEND`` unusable, if it was (until a backend is set)."""
    error = _state()[1]
    if error is not None:
        raise type(error)(f"SEQATTN_BACKEND: {error}")


def get_backend() -> str:
    """The current backend's name: 'numpy' or 'cupy'."""
    check_environment()
    return _state()[0]


@contextlib.contextmanager
def use_backend(name: str):
    """Use another backend inside a ``with`` block (in this thread or task only), then the one
    before it."""
    token = _block.set((_resolve(name), None))
    try:
        yield get_xp()
    finally:
        _block.reset(token)


def is_cupy_array(a) -> bool:
    """True when ``a`` is a cupy (or cupyx) array; recognised by its type's module, so cupy
    need not be imported."""
    # Checked by the type's module so that no cupy import is needed to recognise one.
    return type(a).__module__.split(".", 1)[0] in ("cupy", "cupyx")


def get_xp(*arrays):
    """The array module of ``arrays`` (numpy or cupy), or of the current backend if none given.

    Raises TypeError when numpy and cupy arrays are mixed, naming the conversion to call.
    """
    has_cupy = has_numpy = False
    for a in arrays:
        if a is None:
            continue
        if is_cupy_array(a):
            has_cupy = True
        elif isinstance(a, np.ndarray):
            has_numpy = True
    if has_cupy and has_numpy:
        raise TypeError(
            "numpy and cupy arrays were mixed in one call: move them to one device first, with "
            "seqattn.backend.to_device(a) (to the current backend) or seqattn.backend.to_numpy(a)"
        )
    if has_cupy:
        return _import_cupy()
    if has_numpy:
        return np
    return np if get_backend() == "numpy" else _import_cupy()


def to_numpy(a):
    """Any array (numpy, cupy, list) as a numpy array on the host."""
    if is_cupy_array(a):
        return a.get()
    return np.asarray(a)


def to_device(a, dtype=None, like=None):
    """``a`` as an array of the current backend (copied to the GPU on cupy), or of ``like``'s
    module when given (data follows a model's weights whatever the current backend is)."""
    xp = get_xp() if like is None else get_xp(like)
    if xp is np:
        return np.asarray(to_numpy(a), dtype=dtype)
    return xp.asarray(a, dtype=dtype)


def default_rng(seed=None, like=None):
    """A random Generator of the current backend (numpy or cupy), or of ``like``'s module, seeded."""
    xp = get_xp() if like is None else get_xp(like)
    return xp.random.default_rng(seed)


def synchronize():
    """Wait for the GPU to finish queued work (no-op on numpy). For timing only."""
    if _cupy is not None and _state()[0] == "cupy":
        _cupy.cuda.get_current_stream().synchronize()


def device_count() -> int:
    """CUDA devices visible to this process (0 without cupy or a device)."""
    try:
        return _device_count(_import_cupy())
    except BackendError:
        return 0


def device_memory():
    """(free, total) bytes of the current GPU on the cupy backend, free counting what cupy's own
    pool holds unused; None on numpy, or where the GPU cannot say."""
    if _state()[0] != "cupy":
        return None
    cupy = _import_cupy()
    try:
        free, total = cupy.cuda.runtime.memGetInfo()
    except Exception:  # cupy raises CUDARuntimeError where the driver cannot say
        return None
    pool = getattr(cupy, "get_default_memory_pool", None)
    return int(free) + (int(pool().free_bytes()) if pool else 0), int(total)


def use_device(index: int):
    """Make CUDA device ``index`` this process's current device (one device per rank)."""
    _import_cupy().cuda.Device(index).use()


def current_stream() -> int:
    """The handle of the current CUDA stream, where collectives are queued behind the compute."""
    return _import_cupy().cuda.get_current_stream().ptr


def nccl():
    """cupy's NCCL bindings (``cupy.cuda.nccl``), or BackendError saying how to get them."""
    cupy = _import_cupy()
    module, reason = getattr(cupy.cuda, "nccl", None), "not available"
    if module is None:
        try:
            from cupy.cuda import nccl as module  # noqa: PLC0415 - a part of cupy, loaded on demand
        except ImportError as exc:
            reason = str(exc)
    if module is None or not getattr(module, "available", True):
        raise BackendError(f"cupy cannot reach NCCL ({reason}), which training on several GPUs needs: install it with "
                           "`pip install nvidia-nccl-cu12` (`nvidia-nccl-cu13` for CUDA 13), or train on one GPU")
    return module


def device_info() -> dict:
    """The GPU's name, driver and runtime versions and cupy's version (empty without a GPU)."""
    if not gpu_available():
        return {}
    cupy = _cupy
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    return {"gpu": name.decode() if isinstance(name, bytes) else str(name), "cupy": cupy.__version__,
            "driver": cupy.cuda.runtime.driverGetVersion(), "runtime": cupy.cuda.runtime.runtimeGetVersion()}


# The environment decides the first backend. A bad value does not stop the import (so that
# `seqattn --help` and `set_backend` still work); the first use of the current backend raises it.
try:
    set_backend(os.environ.get("SEQATTN_BACKEND", "").strip() or "auto")  # set but empty: as if unset
except (ValueError, BackendError) as exc:
    _env_error = exc
