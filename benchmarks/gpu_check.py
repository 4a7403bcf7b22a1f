"""The whole GPU check in one call, everything written into one folder:

    PYTHONPATH=. python3 -m benchmarks.gpu_check OUT [--quick] [--threads N] [--budget SECONDS]

1. ``device.json``: the GPU, driver, CUDA runtime, cupy, torch and numpy versions;
2. ``pytest.log`` and ``pytest.xml``: the whole suite, whose backend-parametrised and ``gpu``
   cases run on cupy where a device is present (and are reported, not skipped);
3. ``bench.log``, ``<name>.json`` and ``<name>.md``: ``python -m benchmarks`` on all the cores,
   numpy and cupy, torch on the CPU and with CUDA (``--quick``: tiny shapes, for a first call);
4. ``summary.txt``: what passed, what failed, and how long each part took.

Each part has its share of ``--budget`` (default 540 s, inside a 10-minute call) and is stopped
when it runs over, so the folder always comes back with what was done.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _run(cmd, log, timeout, env=None):
    start = time.monotonic()
    with open(log, "w") as f:
        try:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))).returncode
        except subprocess.TimeoutExpired:
            rc = "timed out"
    return rc, time.monotonic() - start


def device(out):
    import numpy as np

    from seqattn import backend

    from .peers import torch_or_none

    torch = torch_or_none()
    info = {"gpu_available": backend.gpu_available(), **backend.device_info(), "numpy": np.__version__,
            "torch": getattr(torch, "__version__", None),
            "torch_cuda": bool(torch is not None and torch.cuda.is_available())}
    try:
        info["nvidia-smi"] = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        info["nvidia-smi"] = None
    with open(os.path.join(out, "device.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check")
    p.add_argument("out")
    p.add_argument("--quick", action="store_true", help="tiny benchmark shapes (a first call)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads of the numpy and torch-CPU rows")
    p.add_argument("--budget", type=float, default=540.0, help="seconds for the whole check")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    info = device(args.out)
    lines = [f"device: {json.dumps(info)}"]
    tests_rc, tests_s = _run([sys.executable, "-m", "pytest", "-q", "-rs", "--junitxml", os.path.join(args.out, "pytest.xml")],
                             os.path.join(args.out, "pytest.log"), timeout=args.budget * 0.4)
    with open(os.path.join(args.out, "pytest.log")) as f:
        tail = [line.strip() for line in f if line.strip()][-1:]
    lines.append(f"tests: exit {tests_rc} in {tests_s:.0f} s: {tail[0] if tail else '(no output)'}")
    name = ("gpu-" + info.get("gpu", "none").replace(" ", "-")) + ("-quick" if args.quick else "")
    bench = [sys.executable, "-m", "benchmarks", "--threads", str(args.threads), "--name", name] + (["--quick"] if args.quick else [])
    bench_rc, bench_s = _run(bench, os.path.join(args.out, "bench.log"), timeout=args.budget - tests_s - 10)
    for ext in ("json", "md"):
        src = os.path.join(HERE, "results", f"{name}.{ext}")
        if os.path.exists(src):
            shutil.copy(src, os.path.join(args.out, f"{name}.{ext}"))
    lines.append(f"benchmarks: exit {bench_rc} in {bench_s:.0f} s -> {name}.json")
    with open(os.path.join(args.out, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
