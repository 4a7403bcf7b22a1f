"""Data-parallel training and BLAS threads, side by side in one run:
``python -m benchmarks.distributed [--quick] [--name NAME]``.

Two training epochs, each as the command runs it (``seqattn train ... --epochs 1 --json``; the
epoch's seconds are the trainer's, without the evaluation after it):

- ``date-attention``: ``--task date --model attention --reverse`` (45,000 examples, hidden 256);
- ``transformer-text``: ``--data data/eng-fra-5k.tsv --tokens word --lower --model transformer``;

each as 1 process x 1 BLAS thread, 1 process x 2 threads and 2 ranks x 1 thread (``mpiexec -n 2``),
on the idle machine and beside one competing busy process (a Python loop that never sleeps). The
2-rank runs also time the all-reduce: the time spent in it per step (waiting for the other rank
included) and, after the epoch, the all-reduce of the same buffer alone. Then the README's main
job (``seqattn train --task date --model attention --reverse --epochs 3``, default threads) idle
and busy, as wall time.

Targets: 2 ranks x 1 thread at most 0.8x the time of 1 process x 2 threads on the Transformer text
epoch; the main job beside a busy process at most 2x its idle time. Every run's environment leaves
out OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (machines that set them force old OpenBLAS kernels; users'
machines do not) and the BLAS thread variables. ``--quick`` runs small versions, to show the harness
works. Results: benchmarks/results/distributed-<name>.json, and its tables in
benchmarks/results/README.md (``python -m benchmarks.index``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from seqattn.install import install_hint

from . import index
from .__main__ import HERE, THREAD_VARS, machine

ROOT = os.path.dirname(HERE)
DROPPED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "SEQATTN_THREADS", *THREAD_VARS)
CASES = {
    "date-attention": ["--task", "date", "--model", "attention", "--reverse"],
    "transformer-text": ["--data", os.path.join(ROOT, "data", "eng-fra-5k.tsv"), "--tokens", "word", "--lower",
                         "--model", "transformer"],
}
QUICK = {"date-attention": ["--examples", "3000"], "transformer-text": ["--max-length", "5"]}
CONFIGS = (("1x1", 1, 1), ("1x2", 1, 2), ("2x1", 2, 1))  # (name, processes, threads)
MAIN_JOB = ["--task", "date", "--model", "attention", "--reverse", "--epochs", "3"]


def environment():
    return {**{k: v for k, v in os.environ.items() if k not in DROPPED}, "SEQATTN_BACKEND": "numpy",
            "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def mpiexec():
    found = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    if found is None:
        sys.exit(f"benchmarks.distributed needs mpiexec and mpi4py: {install_hint('mpi')}")
    return found


def run(train_args, processes, folder):
    """One ``seqattn train`` through the worker -> (the history's first epoch, all-reduce times or
    None, wall seconds)."""
    save = os.path.join(folder, "m.npz")
    cmd = [sys.executable, "-m", "benchmarks.distributed", "--worker", "train", *train_args, "--json", "--quiet",
           "--save", save, "--force"]
    if processes > 1:
        cmd = [mpiexec(), "-n", str(processes), *cmd]
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=environment(), cwd=folder)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    epoch = json.loads(r.stdout.strip().splitlines()[-1])["history"][0]
    stats = [json.loads(line[len("ALLREDUCE "):]) for line in r.stderr.splitlines() if line.startswith("ALLREDUCE ")]
    return epoch, (stats[0] if stats else None), wall


class Busy:
    """One competing process that never sleeps, for the length of a ``with`` block."""

    def __init__(self, on):
        self.on, self.proc = on, None

    def __enter__(self):
        if self.on:
            self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def worker(argv):
    """Rank code: ``seqattn train`` with the all-reduce timed; then, on 2 ranks, the all-reduce of
    the same buffer alone. Rank 0 prints ``ALLREDUCE {json}`` on standard error."""
    from seqattn.cli import main
    from seqattn.distributed import current
    from seqattn.distributed.mpi import MpiCommunicator

    spent, sizes = [], []
    allreduce = MpiCommunicator.allreduce

    def timed(self, array):
        start = time.perf_counter()
        allreduce(self, array)
        spent.append(time.perf_counter() - start)
        sizes.append(array.size)

    MpiCommunicator.allreduce = timed
    code = main(argv)
    comm = current()
    if code == 0 and comm is not None and comm.size > 1 and sizes:
        import numpy as np
        from mpi4py import MPI

        buffer, alone = np.zeros(sizes[0], dtype="float32"), []
        for _ in range(50):
            comm.comm.Barrier()  # both ranks start together: the exchange alone, no waiting
            start = time.perf_counter()
            comm.comm.Allreduce(MPI.IN_PLACE, buffer)
            alone.append(time.perf_counter() - start)
        if comm.root:
            print("ALLREDUCE " + json.dumps({"floats": sizes[0], "steps": len(spent), "in_epoch_seconds": sum(spent),
                                             "alone_ms": statistics.median(alone) * 1e3}), file=sys.stderr, flush=True)
    return code


def table(rows, main_job):
    """Markdown: the epochs side by side, the all-reduce's share, the main job idle and busy."""
    at = {(r["case"], r["load"], r["config"]): r for r in rows}
    lines = ["| case | load | 1x1 s | 1x2 s | 2x1 s | 2x1 / 1x2 | 1x2 / 1x1 |", "|---|---|---|---|---|---|---|"]
    for case in CASES:
        for load in ("idle", "busy"):
            s = {c: at[(case, load, c)]["epoch_seconds"] for c, _, _ in CONFIGS}
            lines.append(f"| {case} | {load} | {s['1x1']:.2f} | {s['1x2']:.2f} | {s['2x1']:.2f} | "
                         f"**{s['2x1'] / s['1x2']:.2f}x** | {s['1x2'] / s['1x1']:.2f}x |")
    lines += ["", "| case | load | config | busy / idle |", "|---|---|---|---|"]
    for case in CASES:
        for c, _, _ in CONFIGS:
            ratio = at[(case, "busy", c)]["epoch_seconds"] / at[(case, "idle", c)]["epoch_seconds"]
            lines.append(f"| {case} | busy | {c} | {ratio:.2f}x |")
    lines += ["", "| case | load | floats | steps | in the all-reduce per step (waits included) | share of the epoch "
              "| the all-reduce alone | its share |", "|---|---|---|---|---|---|---|---|"]
    for case in CASES:
        for load in ("idle", "busy"):
            r = at[(case, load, "2x1")]
            a = r["allreduce"]
            per_step = a["in_epoch_seconds"] / a["steps"] * 1e3
            lines.append(f"| {case} | {load} | {a['floats']:,} | {a['steps']} | {per_step:.2f} ms | "
                         f"{a['in_epoch_seconds'] / r['epoch_seconds']:.1%} | {a['alone_ms']:.2f} ms | "
                         f"{a['alone_ms'] * a['steps'] / 1e3 / r['epoch_seconds']:.1%} |")
    idle, busy = main_job["idle"], main_job["busy"]
    loads = [r["load_average_before"] for r in rows]
    lines += ["", f"The machine's load average (1 minute) before the epochs: {min(loads):.1f} to {max(loads):.1f} "
              "(\"idle\": no competing process of ours; \"busy\": one more)."]
    lines += ["", f"Main job (`seqattn train {' '.join(main_job['args'])}`, default threads: {main_job['threads']}): "
              f"idle {idle:.1f} s, beside a busy process {busy:.1f} s: **{busy / idle:.2f}x** (target at most 2x)."]
    return "\n".join(lines)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(worker(sys.argv[2:]))
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed")
    p.add_argument("--quick", action="store_true", help="small epochs: a check that the harness works")
    p.add_argument("--name", help="results name (default: cpu-<cores>c, with -quick)")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for case, flags in CASES.items():
            for load in ("idle", "busy"):
                for config, processes, threads in CONFIGS:
                    train = [*flags, *(QUICK[case] if args.quick else []), "--epochs", "1", "--threads", str(threads)]
                    print(f"-- {case} {load} {config}", file=sys.stderr, flush=True)
                    with Busy(load == "busy"):
                        before = os.getloadavg()[0]  # what else the machine was running
                        epoch, allreduce, wall = run(train, processes, folder)
                    rows.append({"case": case, "load": load, "load_average_before": before, "config": config,
                                 "processes": processes, "threads": threads,
                                 "epoch_seconds": epoch["seconds"], "tokens_per_second": epoch["tokens_per_second"],
                                 "wall_seconds": wall, "allreduce": allreduce, "args": train})
        job = MAIN_JOB[:-1] + ["1", "--examples", "3000"] if args.quick else MAIN_JOB
        main_job = {"args": job}
        for load in ("idle", "busy"):
            print(f"-- main job {load}", file=sys.stderr, flush=True)
            with Busy(load == "busy"):
                main_job[f"load_average_before_{load}"] = os.getloadavg()[0]
                main_job[load] = run(job, 1, folder)[2]
    from seqattn.threads import default_threads

    main_job["threads"] = default_threads()
    info = machine()
    name = "distributed-" + (args.name or f"cpu-{info['cores']}c") + ("-quick" if args.quick else "")
    result = {"date": datetime.date.today().isoformat(), "machine": info, "quick": args.quick,
              "dropped_variables": list(DROPPED), "rows": rows, "main_job": main_job}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", f"{name}.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(table(rows, main_job))
    index.main()  # the one table of every result, results/README.md


if __name__ == "__main__":
    main()
