"""The CUDA C of the cupy kernels compiles, for float and double, with nvcc where the machine has
it (no GPU needed): a syntax or type error then fails here instead of on a GPU. And the same
source, compiled for the host and run thread by thread (tests/cuda_host.py, what the strict
stand-in runs), computes what the numpy ports of the kernels compute.

Each ElementwiseKernel is wrapped the way cupy wraps one: its non-raw parameters become values
(inputs) or references (outputs) at index ``i``, its raw parameters indexable arrays, ``T`` the
element type; the operation and the preamble are compiled as written. RawKernels compile as is.
"""

import re
import shutil
import subprocess

import numpy as np
import pytest

import cuda_host
import strict_cupy
from seqattn.backend import to_device, to_numpy
from seqattn.ops import cupy_ops, get_ops

NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="needs nvcc (the CUDA toolkit)")
needs_cxx = pytest.mark.skipif(cuda_host.CXX is None, reason="needs a C++ compiler")

def _params(spec):
    """(raw, C type, name) of each parameter: the host runner's parsing, with T left a template type."""
    return [(raw, "T" if t == "T" else cuda_host._C[t], name) for raw, t, name in cuda_host._params(spec)]


def _elementwise(spec):
    """C++ of one ElementwiseKernel, as a template over T, instantiated for float and double."""
    ins, outs, operation, name = _params(spec[0]), _params(spec[1]), spec[2], spec[3]
    args, body = [], []
    for raw, ctype, pname in ins + outs:
        if raw:
            args.append(f"{ctype}* {pname}")
        else:
            args.append(f"{ctype}* _p_{pname}")
    for raw, ctype, pname in ins:
        if not raw:
            body.append(f"const {ctype} {pname} = _p_{pname}[i];")
    for raw, ctype, pname in outs:
        if not raw:
            body.append(f"{ctype}& {pname} = _p_{pname}[i];")
    signature = ", ".join(args + ["ptrdiff_t _n"])
    code = (f"template <typename T> __global__ void {name}({signature}) {{\n"
            f"  for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < _n; i += (ptrdiff_t)blockDim.x * gridDim.x) {{\n"
            f"    {' '.join(body)}\n{operation}\n  }}\n}}\n")
    for real in ("float", "double"):
        typed = signature.replace("T*", f"{real}*")
        code += f"template __global__ void {name}<{real}>({typed});\n"
    return code


def _elementwise_specs():
    return [v for v in vars(cupy_ops).values() if isinstance(v, tuple) and len(v) == 4 and str(v[3]).startswith("seqattn_")]


def _raw_sources():
    return [v for k, v in vars(cupy_ops).items() if isinstance(v, str) and '__global__' in v]


def _compile(source, tmp_path, name):
    path = tmp_path / f"{name}.cu"
    path.write_text(source)
    run = subprocess.run([NVCC, "--ptx", "-arch=compute_90", "-Werror", "all-warnings", "-o", str(tmp_path / f"{name}.ptx"), str(path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return (tmp_path / f"{name}.ptx").read_text()


@needs_nvcc
def test_the_sources_are_found():
    names = {s[3] for s in _elementwise_specs()}
    assert {"seqattn_lstm_forward", "seqattn_lstm_backward", "seqattn_adam"} <= names
    assert any("seqattn_masked_softmax" in s for s in _raw_sources())


@needs_nvcc
def test_every_kernel_compiles_for_float_and_double(tmp_path):
    source = cupy_ops._PREAMBLE + "\n".join(_elementwise(s) for s in _elementwise_specs())
    for k, raw in enumerate(_raw_sources()):
        for real in ("float", "double"):
            renamed = re.sub(r"void (\w+)\(", rf"void \1_{real}(", raw.replace("REAL", real))
            source += f"\nnamespace raw{k}_{real} {{\n{renamed}\n}}\n"
    ptx = _compile(source, tmp_path, "seqattn_kernels")
    raw_names = {n for raw in _raw_sources() for n in re.findall(r'extern "C" __global__ void (\w+)\(', raw)}
    assert {"seqattn_masked_softmax", "seqattn_layer_norm", "seqattn_layer_norm_backward"} <= raw_names
    for name in {s[3] for s in _elementwise_specs()} | raw_names:
        assert name in ptx, f"{name} is missing from the compiled module"


@needs_nvcc
def test_a_broken_kernel_fails_to_compile(tmp_path):
    """The check can fail: an undeclared name in an operation is a compile error."""
    spec = (cupy_ops._ADAM[0], cupy_ops._ADAM[1], cupy_ops._ADAM[2].replace("sqrt(v)", "sqrt(w)"), "seqattn_broken")
    with pytest.raises(AssertionError, match="undefined"):
        _compile(cupy_ops._PREAMBLE + _elementwise(spec), tmp_path, "broken")


def _kernel_outputs(xp, dtype, rng):
    """Every kernel at work through CupyOps: the LSTM forward and backward with padding and
    initial states, the masked softmax plain, masked (a fully masked row included) and causal,
    one Adam update, and layer normalisation forward and backward."""
    ops = get_ops(xp.zeros(1))
    N, T, D, H = 5, 4, 3, 6
    r = lambda *shape: to_device(rng.standard_normal(shape).astype(dtype))  # noqa: E731
    W = [r(D, 4 * H), r(H, 4 * H), r(4 * H)]
    mask = rng.random((N, T)) < 0.7
    mask[0] = False
    mask = to_device(mask)
    hs, finals, cache = ops.recurrent_forward("lstm", ops.recurrent_weights("lstm", *W, None), r(N, T, D), [r(N, H), r(N, H)], mask, _Ws())
    grads = [xp.zeros_like(w) for w in W]
    dxs, dstates = ops.recurrent_backward("lstm", W, cache, r(N, T, H), [r(N, H), r(N, H)], grads, _Ws())
    S, key_mask = r(N, 3, T) * 4, to_device(rng.random((N, T)) < 0.6)
    softmax = [ops.masked_softmax(S, None), ops.masked_softmax(S, key_mask), ops.masked_softmax(r(N, T, T), key_mask, causal=True)]
    p, g, m, v = r(7, 3), r(7, 3), r(7, 3), xp.abs(r(7, 3))
    ops.adam_step(p, g, m, v, 0.01, 0.9, 0.999)
    gamma, beta = r(H), r(H)
    y, cache = ops.layer_norm(r(N, T, H) * 3 + 1, gamma, beta, 1e-5)
    norm = [y, *cache, *ops.layer_norm_backward(cache, r(N, T, H), gamma)]
    return [to_numpy(a) for a in (hs, *finals, dxs, *dstates, *grads, *softmax, p, m, v, *norm)]


class _Ws:
    def __call__(self, name, shape, xp, dtype):
        return xp.empty(shape, dtype=dtype)


@needs_cxx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_kernels_source_computes_what_the_ports_compute(dtype, monkeypatch):
    out = {}
    for source in (True, False):
        monkeypatch.setattr(strict_cupy, "SOURCE", source)
        with strict_cupy.install() as xp:
            out[source] = _kernel_outputs(xp, dtype, np.random.default_rng(0))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    for k, (a, b) in enumerate(zip(out[True], out[False])):
        np.testing.assert_allclose(a, b, **tol, err_msg=f"output {k}")


@needs_cxx
def test_a_kernel_with_a_wrong_index_computes_something_else(monkeypatch):
    """The comparison can fail: the forward kernel reading the padding of step 0 at every step."""
    import seqattn.ops

    monkeypatch.setattr(seqattn.ops, "_OPS", {})  # kernels are made once per ops object: start a new one
    spec = cupy_ops._LSTM_FORWARD
    monkeypatch.setattr(cupy_ops, "_LSTM_FORWARD", spec[:2] + (spec[2].replace("keep[(ptrdiff_t)t * N + n]", "keep[n]"),) + spec[3:])
    out = {}
    for source in (True, False):
        monkeypatch.setattr(strict_cupy, "SOURCE", source)
        with strict_cupy.install() as xp:
            out[source] = _kernel_outputs(xp, "float64", np.random.default_rng(0))
    assert not np.allclose(out[True][0], out[False][0])
