"""``python -m benchmarks``: CPU (and GPU, where present) throughput of the TimeLSTM and
TimeAttention hot loops, a date-task training epoch and a full evaluation, beside the GEMM floor,
the book's per-step code and PyTorch (where installed), with 1 thread and all cores.

Each thread count runs in its own process with the BLAS thread count fixed before numpy loads.
Results go to benchmarks/results/<name>.json and the table to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

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


def _index(rows):
    return {(r["case"], str(r["shape"]), r["impl"], r["backend"], r["threads"]): r["median"] for r in rows}


def table(rows):
    """Markdown: one row per case, shape and threads, with the ratios the targets are stated in."""
    idx = _index(rows)
    keys = sorted({(r["case"], str(r["shape"]), r["threads"], r["backend"]) for r in rows if r["impl"] in ("seqattn", "batched")})
    lines = ["| case | shape | backend | threads | seqattn ms | vs GEMM floor | vs torch | speed-up over per-step / one-at-a-time / recomputation |",
             "|---|---|---|---|---|---|---|---|"]
    for case, shape, threads, be in keys:
        ours = idx.get((case, shape, "seqattn", be, threads)) or idx.get((case, shape, "batched", be, threads))
        floor = idx.get((case, shape, "gemm-floor", be, threads))
        tdev = "torch-cpu" if be == "numpy" else "torch-cuda"
        tf32 = "-tf32" if be.endswith("-tf32") else ""  # cupy with TF32 against torch with TF32
        timpl = ("torch" if (case, shape, "torch" + tf32, tdev, threads) in idx else "torch-cudnn") + tf32
        torch_t = idx.get((case, shape, timpl, tdev, threads))
        base = idx.get((case, shape, "book-per-step", be, threads)) or idx.get((case, shape, "per-step", be, threads)) \
            or idx.get((case, shape, "one-at-a-time", be, threads)) or idx.get((case, shape, "recompute", be, threads))
        fmt = lambda x, f: f.format(x) if x else "-"  # noqa: E731
        lines.append(f"| {case} | {shape} | {be} | {threads} | {ours * 1e3:.1f} | {fmt(floor and ours / floor, '{:.2f}x')} | "
                     f"{fmt(torch_t and ours / torch_t, '{:.2f}x')} | {fmt(base and base / ours, '{:.1f}x')} |")
    return "\n".join(lines)


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
    md = table(rows)
    with open(os.path.join(HERE, "results", f"{name}.md"), "w") as f:
        f.write(f"Machine: {json.dumps(info)}\n\n{md}\n")
    print(md)


if __name__ == "__main__":
    main()
