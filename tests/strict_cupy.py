"""A strict stand-in for cupy, backed by numpy, so that a trip through the host fails a CPU test
instead of a GPU run.

Its arrays refuse every implicit conversion to the host: ``np.asarray(x)`` (cupy's own
TypeError), ``float(x)``, ``int(x)``, ``bool(x)``, ``x.item()``, ``x.tolist()``, iteration,
and numpy functions called on them. Its functions take only its own arrays (and Python or numpy
scalars), as cupy's do; ``asarray`` / ``array`` are the explicit copies to the device and
``x.get()`` the explicit copy back (what ``backend.to_numpy`` calls), and both are counted.
Every function call, operator and indexing is counted as one kernel launch, so a test can
report how many launches a training step makes. ``ElementwiseKernel`` and ``RawKernel`` run
seqattn's own CUDA kernels: their CUDA C compiled for the host and run thread by thread
(tests/cuda_host.py) where the machine has a C++ compiler, else numpy ports registered by kernel
name in ``KERNELS`` (tests check that the two agree), so the code around the fused kernels runs
too, and with ``SOURCE`` the kernels' own source. Its arrays say they come from cupy (the backend knows
cupy arrays by their type's module), and ``install()`` makes it the backend's cupy. ``cuda.nccl`` is
tests/fake_nccl.py: NCCL over ranks that are threads, through the arrays' addresses (``x.data.ptr``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin


class HostTrip(TypeError):
    """An implicit conversion of a device array to the host."""


class Counts:
    def __init__(self):
        self.reset()

    def reset(self):
        self.launches = 0  # functions, operators and indexing: each a kernel on cupy
        self.to_host = 0  # explicit copies back (x.get(), backend.to_numpy)
        self.to_device = 0  # explicit copies to the device (asarray of host data)
        self.syncs = 0  # stream synchronisations
        self.matmuls = []  # (shape, shape) of every matmul, to find broadcast batch dimensions


COUNTS = Counts()


def _trip(what):
    raise HostTrip(f"{what} reads a device array on the host; use seqattn.backend.to_numpy where that is meant")


def _unwrap(v):
    if isinstance(v, StrictArray):
        return v._a
    if isinstance(v, np.ndarray):
        raise TypeError("a numpy array was passed where a device (cupy) array is needed: move it with "
                        "seqattn.backend.to_device first")
    if isinstance(v, (list, tuple)):
        return type(v)(_unwrap(x) for x in v)
    if isinstance(v, dict):
        return {k: _unwrap(x) for k, x in v.items()}
    return v


def _wrap(r):
    if isinstance(r, np.ndarray):
        return StrictArray(r)
    if isinstance(r, np.generic):  # cupy's reductions give 0-d arrays, never host scalars
        return StrictArray(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(x) for x in r)
    if isinstance(r, list):
        return [_wrap(x) for x in r]
    return r


def _call(fn, args, kwargs):
    COUNTS.launches += 1
    if fn is np.matmul or getattr(fn, "__self__", None) is np.matmul:  # xp.matmul, or the @ operator
        COUNTS.matmuls.append(tuple(getattr(a, "shape", ()) for a in args[:2]))
    return _wrap(fn(*_unwrap(args), **_unwrap(kwargs)))


class StrictArray(NDArrayOperatorsMixin):
    """A device array that lives in numpy but never lets the host read it implicitly."""

    __module__ = "cupy._strict_stand_in"  # how seqattn.backend recognises a cupy array
    __array_priority__ = 100

    def __init__(self, a):
        self._a = a

    # ----------------------------------------------------------------------- what cupy refuses
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy "
                        "array explicitly.")

    def __array_function__(self, func, types_, args, kwargs):
        _trip(f"numpy.{func.__name__}")

    def __bool__(self):
        _trip("bool()")

    def __float__(self):
        _trip("float()")

    def __int__(self):
        _trip("int()")

    def __index__(self):
        _trip("using it as a Python index")

    def __complex__(self):
        _trip("complex()")

    def __iter__(self):
        _trip("iterating over it")

    def item(self):
        _trip(".item()")

    def tolist(self):
        _trip(".tolist()")

    def __repr__(self):
        return f"StrictArray(shape={self.shape}, dtype={self.dtype})"

    # ----------------------------------------------------------------------- what it does
    def get(self):
        COUNTS.to_host += 1
        COUNTS.syncs += 1
        return self._a.copy()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        result = _call(getattr(ufunc, method), inputs, kwargs)
        if out is not None and method == "__call__":
            return out[0] if len(out) == 1 else out
        return result

    def __getitem__(self, key):
        COUNTS.launches += 1
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        COUNTS.launches += 1
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))
    data = property(lambda self: types.SimpleNamespace(ptr=self._a.ctypes.data))  # cupy's MemoryPointer: the address

    def __getattr__(self, name):
        if name.startswith("__array") or name == "__buffer__":  # numpy's other ways in: absent, so __array__ refuses
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return functools.wraps(attr)(lambda *a, **k: _call(attr, a, k))
        return _wrap(attr)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        _trip("pickling")


# ------------------------------------------------------------------------- the module
class _Ufunc:
    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__

    def __call__(self, *args, **kwargs):
        out = kwargs.get("out")
        result = _call(self._uf, args, kwargs)
        return result if out is None else out

    def __getattr__(self, name):  # at, reduce, accumulate, outer, ...
        method = getattr(self._uf, name)
        return lambda *a, **k: _call(method, a, k) if callable(method) else method


class _Generator:
    """cupy.random.Generator: draws are device arrays."""

    def __init__(self, seed=None):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        method = getattr(self._g, name)
        return lambda *a, **k: _call(method, a, k)


def _to_device(fn):
    def f(a, *args, **kwargs):
        if isinstance(a, StrictArray):
            return _call(fn, (a, *args), kwargs)
        if isinstance(a, (list, tuple)) and any(isinstance(x, StrictArray) for x in a):
            return _call(fn, (a, *args), kwargs)
        COUNTS.to_device += 1
        return _wrap(np.array(fn(a, *args, **kwargs)))  # host data: an explicit copy to the device

    return f


class _Kernel:
    """ElementwiseKernel / RawKernel: runs the kernel's CUDA C on the host (``SOURCE`` true), or
    the numpy port registered under its name."""

    def __init__(self, name, spec=None, source=None, preamble=""):
        if name not in KERNELS:
            raise NotImplementedError(f"the strict cupy stand-in has no port of kernel {name!r}")
        self.name, self._port = name, KERNELS[name]
        self._spec, self._source, self._preamble = spec, source, preamble

    def __call__(self, *args, **kwargs):
        COUNTS.launches += 1
        args, kwargs = _unwrap(args), _unwrap(kwargs)
        if SOURCE and self._spec is not None:
            from cuda_host import run_elementwise

            return run_elementwise(self._spec, args, kwargs.get("size"), self._preamble)
        if SOURCE and self._source is not None:
            from cuda_host import run_raw

            return run_raw(self._source, self.name, *args)
        return _wrap(self._port(*args, **kwargs))


class _Stream:
    ptr = 0x5EA77  # the current stream's handle, for what is queued on it

    def synchronize(self):
        COUNTS.syncs += 1


class StrictCupy(types.ModuleType):
    def __init__(self):
        super().__init__("cupy")
        self.__version__ = "strict-stand-in"
        self.ndarray = StrictArray
        self.random = types.SimpleNamespace(default_rng=lambda seed=None: _Generator(seed))
        runtime = types.SimpleNamespace(getDeviceCount=lambda: 1, driverGetVersion=lambda: 0, runtimeGetVersion=lambda: 0,
                                        getDeviceProperties=lambda i: {"name": b"strict cupy stand-in"},
                                        memGetInfo=lambda: (80 << 30, 80 << 30))  # (free, total) bytes: an empty 80 GiB GPU
        self.cuda = types.SimpleNamespace(runtime=runtime, get_current_stream=lambda: _Stream(),
                                          Device=lambda i=0: types.SimpleNamespace(id=i, use=lambda: None),
                                          nccl=__import__("fake_nccl"))
        self.asarray = _to_device(np.asarray)
        self.array = _to_device(np.array)
        self.ElementwiseKernel = lambda i, o, op, name, preamble="", **kw: _Kernel(name, (i, o, op, name), preamble=preamble)
        self.RawKernel = lambda source, name, **kw: _Kernel(name, source=source)
        self.ReductionKernel = lambda *spec, **kw: _Kernel(kw["name"] if "name" in kw else spec[6])

    def __getattr__(self, name):
        attr = getattr(np, name)
        if isinstance(attr, (type, np.dtype)) or not callable(attr):
            return attr  # dtypes, scalar types, constants
        if isinstance(attr, np.ufunc):
            return _Ufunc(attr)
        return functools.wraps(attr)(lambda *a, **k: _call(attr, a, k))


STRICT = StrictCupy()


@contextlib.contextmanager
def install():
    """Inside the block the backend's cupy is the stand-in and the current backend is "cupy"."""
    from seqattn import backend

    saved = backend._cupy
    backend._cupy = STRICT
    try:
        with backend.use_backend("cupy") as xp:
            yield xp
    finally:
        backend._cupy = saved


# ------------------------------------------------------------------------- kernel ports
def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _raw(*arrays):
    """Raw kernel arguments: flat views of C-contiguous arrays (writes go through)."""
    for a in arrays:
        assert a.flags.c_contiguous, "a raw kernel argument must be C-contiguous here"
    return [a.reshape(-1) for a in arrays]


# The LSTM ports index the flat arrays with the kernels' own expressions, one numpy element per
# CUDA thread i (the kernels' index arithmetic is what they check).
def _lstm_forward(R, b, keep, N, H, t, G, Cs, Hs, size):
    R, b, keep, G, Cs, Hs = _raw(R, b, keep, G, Cs, Hs)
    N, H, t = int(N), int(H), int(t)
    i = np.arange(size)
    NH, n, j = N * H, i // H, i % H
    r = n * 4 * H + j
    at = t * NH * 4 + r
    prev = t * NH + i
    nxt = prev + NH
    gf = _sigmoid(G[at] + R[r] + b[j])
    gg = np.tanh(G[at + H] + R[r + H] + b[j + H])
    gi = _sigmoid(G[at + 2 * H] + R[r + 2 * H] + b[j + 2 * H])
    go = _sigmoid(G[at + 3 * H] + R[r + 3 * H] + b[j + 3 * H])
    G[at], G[at + H], G[at + 2 * H], G[at + 3 * H] = gf, gg, gi, go
    c_prev, h_prev = Cs[prev], Hs[prev]
    c_new = gf * c_prev + gg * gi
    k = keep[t * N + n]
    Cs[nxt] = np.where(k, c_prev, c_new)
    Hs[nxt] = np.where(k, h_prev, go * np.tanh(c_new))


def _lstm_backward(G, Cs, dhs, dh_next, dc_next, keep, N, steps, H, t, dA, dc_prev, dh, size):
    G, Cs, dhs, dh_next, dc_next, keep, dA, dc_prev, dh = _raw(G, Cs, dhs, dh_next, dc_next, keep, dA, dc_prev, dh)
    N, steps, H, t = int(N), int(steps), int(H), int(t)
    i = np.arange(size)
    NH, n, j = N * H, i // H, i % H
    at = t * NH * 4 + n * 4 * H + j
    dh_t = dhs[(n * steps + t) * H + j] + dh_next[i]
    dh[i] = dh_t
    k = keep[t * N + n]
    gf, gg, gi, go = G[at], G[at + H], G[at + 2 * H], G[at + 3 * H]
    c_prev, tc = Cs[t * NH + i], np.tanh(Cs[(t + 1) * NH + i])
    ds = dc_next[i] + dh_t * go * (1 - tc * tc)
    dA[at] = np.where(k, 0, ds * c_prev * gf * (1 - gf))
    dA[at + H] = np.where(k, 0, ds * gi * (1 - gg * gg))
    dA[at + 2 * H] = np.where(k, 0, ds * gg * gi * (1 - gi))
    dA[at + 3 * H] = np.where(k, 0, dh_t * tc * go * (1 - go))
    dc_prev[i] = np.where(k, dc_next[i], ds * gf)


def _masked_softmax(grid, block, args):
    x, mask, y, rows, cols, rows_per_mask, has_mask, Tq, causal = args
    rows, cols, rows_per_mask, Tq = int(rows), int(cols), int(rows_per_mask), int(Tq)
    xr, yr = x.reshape(rows, cols), y.reshape(rows, cols)
    r = np.arange(rows)
    last = (cols - Tq + r % Tq) if int(causal) else np.full(rows, cols - 1)
    ok = np.arange(cols)[None, :] <= last[:, None]
    if int(has_mask):
        ok = ok & mask.reshape(-1, cols)[r // rows_per_mask]
    top = np.where(ok, xr, -np.inf).max(axis=1, keepdims=True)
    e = np.where(ok, np.exp(np.where(ok, xr - np.where(np.isfinite(top), top, 0), 0)), 0)  # the kernel never reads masked keys
    total = e.sum(axis=1, keepdims=True)
    yr[...] = np.where(total > 0, e / np.where(total > 0, total, 1), 0)


def _layer_norm(grid, block, args):
    x, gamma, beta, y, xhat, rstd, rows, E, eps = args
    rows, E = int(rows), int(E)
    d = x.reshape(rows, E) - x.reshape(rows, E).mean(axis=1, keepdims=True)
    s = 1 / np.sqrt((d * d).mean(axis=1, keepdims=True) + eps)
    xhat.reshape(rows, E)[...] = d * s
    y.reshape(rows, E)[...] = d * s * gamma + beta
    rstd.reshape(rows, 1)[...] = s


def _layer_norm_backward(grid, block, args):
    dy, xhat, rstd, gamma, dx, rows, E = args
    rows, E = int(rows), int(E)
    g, h = dy.reshape(rows, E) * gamma, xhat.reshape(rows, E)
    dx.reshape(rows, E)[...] = rstd.reshape(rows, 1) * (g - g.mean(axis=1, keepdims=True) - h * (g * h).mean(axis=1, keepdims=True))


def _adam(g, lr_t, b1, b2, eps, p, m, v):
    m += (1 - b1) * (g - m)
    v += (1 - b2) * (g * g - v)
    p -= lr_t * m / (np.sqrt(v) + eps)


def _sum_squares(x):
    return np.asarray((x * x).sum(), dtype=x.dtype)


# The kernels' CUDA C runs on the host where a C++ compiler is (SEQATTN_STRICT_KERNELS=ports: the
# numpy ports instead).
SOURCE = os.environ.get("SEQATTN_STRICT_KERNELS", "source") == "source" and __import__("cuda_host").CXX is not None

KERNELS = {"seqattn_lstm_forward": _lstm_forward, "seqattn_lstm_backward": _lstm_backward,
           "seqattn_masked_softmax": _masked_softmax, "seqattn_adam": _adam, "seqattn_sum_squares": _sum_squares,
           "seqattn_layer_norm": _layer_norm, "seqattn_layer_norm_backward": _layer_norm_backward}
