"""``python -m benchmarks``: CPU (and GPU, where present) throughput of the TimeLSTM and
TimeAttention hot loops, a date-task training epoch and a full evaluation, beside the GEMM floor,
the book's per-step code and PyTorch (where installed), with 1 thread and all cores.

Each thread count runs in its own process with the BLAS thread count fixed before numpy loads.
Results go to benchmarks/results/<name>.json, and the table of every result to
benchmarks/results/README.md (``python -m benchmarks.index``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

from . import index
from .index import harness_table

HERE = os.path.dirname(os.path.abspath(__file__))
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def machine():
    import numpy as np

    from seqattn import backend

    from .book_tasks import machine as cpu
    from .peers import torch_or_none

    info = cpu()
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy
        pass
    torch = torch_or_none()
    info.update(numpy=np.__version__, torch=getattr(torch, "__version__", None), platform=platform.platform(), **backend.device_info())
    return info


def run_worker(threads, extra, env=None):
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS}, **(env or {}))
    cmd = [sys.executable, "-m", "benchmarks.worker", "--threads", str(threads), *extra]
    print(f"-- {threads} thread(s)", file=sys.stderr, flush=True)
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks")
    p.add_argument("--threads", type=int, nargs="*", help="thread counts (default: 1 and all cores)")
    p.add_argument("--quick", action="store_true", help="tiny shapes, a smoke test of the harness")
    p.add_argument("--only", nargs="*", choices=["lstm", "attention", "epoch", "eval", "transformer", "text"])
    p.add_argument("--name", help="results file name (default: cpu-<cores>c or gpu-<name>)")
    args = p.parse_args()
    threads = args.threads or sorted({1, os.cpu_count() or 1})
    extra = (["--quick"] if args.quick else []) + (["--only", *args.only] if args.only else [])
    # the GPU rows are timed once, by the worker with the most threads (its CPU rows use all cores)
    rows = [r for n in threads for r in run_worker(n, extra + (["--gpu"] if n == max(threads) else []))]
    info = machine()
    if info.get("gpu") and not args.quick and (not args.only or {"lstm", "attention"} & set(args.only)):
        # TF32 on both sides as rows of their own: cupy reads CUPY_TF32 when it loads, so in a process of its own
        only = [c for c in ("lstm", "attention") if not args.only or c in args.only]
        rows += run_worker(max(threads), ["--gpu", "--tf32", "--only", *only], env={"CUPY_TF32": "1"})
    name = args.name or (("gpu-" + info["gpu"].replace(" ", "-")) if info.get("gpu") else f"cpu-{info['cores']}c") + ("-quick" if args.quick else "")
    result = {"date": datetime.date.today().isoformat(), "machine": info, "threads": threads, "rows": rows}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", f"{name}.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(harness_table(rows))
    index.main()  # the one table of every result, results/README.md


if __name__ == "__main__":
    main()
