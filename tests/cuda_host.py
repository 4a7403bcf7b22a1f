"""The CUDA C of seqattn's cupy kernels, compiled as C++ for the host and run there, one CUDA
thread after another: the kernels' own source and index arithmetic checked on any machine with a
C++ compiler, no GPU needed.

``run_elementwise(spec, args, size)`` runs an ElementwiseKernel ``spec`` (in_params, out_params,
operation, name) the way cupy would call it: non-raw arrays broadcast to one shape and indexed
by ``i``, raw arrays as flat C-contiguous memory, scalars by value, ``T`` the element type.
``run_raw(source, name, grid, block, args)`` runs a RawKernel's ``extern "C" __global__``
function for every block and thread of the launch.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")

_HEADER = """
#include <math.h>
#include <cmath>
#include <cstddef>
#include <algorithm>
using std::tanh; using std::exp; using std::sqrt; using std::max; using std::min;
#define __device__
#define __forceinline__ inline
"""
_C = {"float32": "float", "float64": "double", "int32": "int", "int64": "long long", "bool": "bool"}
_CTYPES = {"float32": ctypes.c_float, "float64": ctypes.c_double, "int32": ctypes.c_int, "int64": ctypes.c_longlong,
           "bool": ctypes.c_bool}
_LIBS = {}
_DIR = tempfile.mkdtemp(prefix="seqattn-cuda-host-")
atexit.register(shutil.rmtree, _DIR, True)


def _library(source):
    key = hashlib.sha1(source.encode()).hexdigest()[:16]
    lib = _LIBS.get(key)
    if lib is None:
        cpp, so = os.path.join(_DIR, key + ".cpp"), os.path.join(_DIR, key + ".so")
        with open(cpp, "w") as f:
            f.write(source)
        run = subprocess.run([CXX, "-O1", "-shared", "-fPIC", "-Werror=return-type", "-o", so, cpp], capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(f"the kernel source does not compile for the host:\n{run.stderr[-3000:]}")
        lib = _LIBS[key] = ctypes.CDLL(so)
    return lib


def _params(spec):
    out = []
    for p in filter(None, (s.strip() for s in spec.split(","))):
        words = p.split()
        out.append((words[0] == "raw", words[-2], words[-1]))
    return out


def _pointer(a):
    assert a.flags.c_contiguous, "a raw kernel argument must be C-contiguous"
    return a.ctypes.data_as(ctypes.c_void_p)


def run_elementwise(spec, args, size=None, preamble=""):
    in_params, out_params, operation, name = spec
    params = _params(in_params) + _params(out_params)
    n_in = len(_params(in_params))
    assert len(args) == len(params), f"{name}: {len(params)} arguments expected, got {len(args)}"
    arrays = [(a, p) for a, p in zip(args, params) if isinstance(a, np.ndarray) and a.ndim > 0 or p[0]]
    real = next(np.dtype(a.dtype).name for a, (raw, t, _) in arrays if t == "T")
    shape = np.broadcast_shapes(*(a.shape for a, (raw, _, _) in arrays if not raw)) if size is None else (size,)
    n = int(np.prod(shape))
    decl, body, values, writeback = [], [], [], []
    for k, (a, (raw, t, pname)) in enumerate(zip(args, params)):
        ctype = _C[real] if t == "T" else _C[t]
        if raw:
            decl.append(f"{ctype}* {pname}")
            values.append(_pointer(a))
        elif isinstance(a, np.ndarray) and a.ndim > 0:
            full = np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.dtype(real if t == "T" else t))
            if k >= n_in and not np.shares_memory(full, a):
                writeback.append((a, full))
            decl.append(f"{ctype}* _p_{pname}")
            body.append(f"{'const ' if k < n_in else ''}{ctype}{'&' if k >= n_in else ''} {pname} = _p_{pname}[i];")
            values.append(_pointer(full))
        else:
            decl.append(f"const {ctype} {pname}")
            values.append(_CTYPES[real if t == "T" else t](a.item() if hasattr(a, "item") else a))
    source = (_HEADER + preamble + f'\nextern "C" void {name}({", ".join(decl + ["ptrdiff_t _n"])}) {{\n'
              f"  typedef {_C[real]} T;\n  for (ptrdiff_t i = 0; i < _n; ++i) {{\n    {' '.join(body)}\n{operation}\n  }}\n}}\n")
    getattr(_library(source), name)(*values, ctypes.c_ssize_t(n))
    for a, full in writeback:
        a[...] = full


_SIGNATURE = re.compile(r'extern "C" __global__ void (\w+)\(([^)]*)\)', re.S)


def run_raw(source, name, grid, block, args):
    """One RawKernel launch: ``source`` as given to cupy.RawKernel (types already substituted)."""
    found = {m.group(1): m.group(2) for m in _SIGNATURE.finditer(source)}
    params = [p.strip() for p in found[name].split(",")]
    names = [re.findall(r"\w+", p)[-1] for p in params]
    driver = (f'\nextern "C" void _launch_{name}(unsigned _g, unsigned _b, {", ".join(params)}) {{\n'
              f"  blockDim.x = _b; gridDim.x = _g;\n"
              f"  for (unsigned bx = 0; bx < _g; ++bx) for (unsigned tx = 0; tx < _b; ++tx) {{\n"
              f"    blockIdx.x = bx; threadIdx.x = tx; {name}({', '.join(names)});\n  }}\n}}\n")
    host = (_HEADER + "struct _dim3 { unsigned x = 0, y = 0, z = 0; };\n"
            "static _dim3 blockIdx, threadIdx, blockDim, gridDim;\n#define __global__\n"
            + source.replace('extern "C" __global__', "__global__") + driver)
    values = [ctypes.c_uint(int(grid[0])), ctypes.c_uint(int(block[0]))]
    for a in args:
        if isinstance(a, np.ndarray) and a.ndim > 0:
            values.append(_pointer(a))
        else:
            values.append(_CTYPES[np.dtype(type(a) if not hasattr(a, "dtype") else a.dtype).name](a.item() if hasattr(a, "item") else a))
    getattr(_library(host), f"_launch_{name}")(*values)
