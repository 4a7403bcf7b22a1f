"""The CUDA C of the cupy kernels compiles, for float and double, with nvcc where the machine has
it (no GPU needed): a syntax or type error then fails here instead of on a GPU.

Each ElementwiseKernel is wrapped the way cupy wraps one: its non-raw parameters become values
(inputs) or references (outputs) at index ``i``, its raw parameters indexable arrays, ``T`` the
element type; the operation and the preamble are compiled as written. RawKernels compile as is.
"""

import re
import shutil
import subprocess

import pytest

from seqattn.ops import cupy_ops

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="needs nvcc (the CUDA toolkit)")

_TYPES = {"T": "T", "int32": "int", "bool": "bool", "float32": "float", "float64": "double"}


def _params(spec):
    out = []
    for p in filter(None, (s.strip() for s in spec.split(","))):
        words = p.split()
        raw = words[0] == "raw"
        *_, ctype, name = words
        out.append((raw, _TYPES[ctype], name))
    return out


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


def test_the_sources_are_found():
    names = {s[3] for s in _elementwise_specs()}
    assert {"seqattn_lstm_forward", "seqattn_lstm_backward", "seqattn_adam"} <= names
    assert any("seqattn_masked_softmax" in s for s in _raw_sources())


def test_every_kernel_compiles_for_float_and_double(tmp_path):
    source = cupy_ops._PREAMBLE + "\n".join(_elementwise(s) for s in _elementwise_specs())
    for k, raw in enumerate(_raw_sources()):
        for real in ("float", "double"):
            renamed = re.sub(r"void (\w+)\(", rf"void \1_{real}(", raw.replace("REAL", real))
            source += f"\nnamespace raw{k}_{real} {{\n{renamed}\n}}\n"
    ptx = _compile(source, tmp_path, "seqattn_kernels")
    for name in {s[3] for s in _elementwise_specs()} | {"seqattn_masked_softmax"}:
        assert name in ptx, f"{name} is missing from the compiled module"


def test_a_broken_kernel_fails_to_compile(tmp_path):
    """The check can fail: an undeclared name in an operation is a compile error."""
    spec = (cupy_ops._ADAM[0], cupy_ops._ADAM[1], cupy_ops._ADAM[2].replace("sqrt(v)", "sqrt(w)"), "seqattn_broken")
    with pytest.raises(AssertionError, match="undefined"):
        _compile(cupy_ops._PREAMBLE + _elementwise(spec), tmp_path, "broken")
