"""The README's results: the book's two tasks trained with the `seqattn train` command at the
book's hyperparameters, and real text (the English-French pairs in data/). Writes
benchmarks/results/book_tasks.json and prints Markdown tables.

    python -m benchmarks.book_tasks            # every run (about half an hour on 2 cores)
    python -m benchmarks.book_tasks --only date-attention
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

# The rows measured before the rate schedules existed name --schedule constant and the rate they
# were trained with; the default is now a cosine decay (from 0.002 on addition).
RUNS = {
    "addition-baseline": ["--task", "addition", "--model", "seq2seq", "--schedule", "constant", "--lr", "0.001"],
    "addition-reversed": ["--task", "addition", "--model", "seq2seq", "--reverse", "--schedule", "constant", "--lr", "0.001"],
    "addition-reversed-peeky": ["--task", "addition", "--model", "peeky", "--reverse", "--schedule", "constant", "--lr", "0.001"],
    "addition-reversed-peeky-cosine": ["--task", "addition", "--model", "peeky", "--reverse"],
    "addition-reversed-peeky-bookinit": ["--task", "addition", "--model", "peeky", "--reverse", "--init", "book", "--schedule", "constant", "--lr", "0.001"],
    "addition-attention": ["--task", "addition", "--model", "attention", "--reverse", "--schedule", "constant", "--lr", "0.001"],
    "addition-attention-bidirectional": ["--task", "addition", "--model", "attention", "--reverse", "--bidirectional", "--schedule", "constant", "--lr", "0.001"],
    "addition-transformer": ["--task", "addition", "--model", "transformer", "--dropout", "0.1"],
    "date-baseline": ["--task", "date", "--model", "seq2seq", "--reverse", "--schedule", "constant"],
    "date-peeky": ["--task", "date", "--model", "peeky", "--reverse", "--schedule", "constant"],
    "date-attention": ["--task", "date", "--model", "attention", "--reverse", "--schedule", "constant"],
    "date-attention-bookinit": ["--task", "date", "--model", "attention", "--reverse", "--init", "book", "--schedule", "constant"],
    "date-transformer": ["--task", "date", "--model", "transformer", "--epochs", "5"],
    "date-transformer-dropout": ["--task", "date", "--model", "transformer", "--epochs", "5", "--dropout", "0.1"],
    # measured before text pairs had a recipe of their own: the flags pin what the defaults were then
    "eng-fra-attention-words": ["--data", "data/eng-fra-5k.tsv", "--tokens", "word", "--lower", "--model", "attention",
                                "--wordvec", "128", "--epochs", "30", "--batch-size", "128", "--lr", "0.001", "--schedule",
                                "cosine", "--no-reverse"],
    "eng-fra-transformer-subwords": ["--data", "data/eng-fra-5k.tsv", "--tokens", "subword", "--vocab-size", "2000",
                                     "--model", "transformer", "--epochs", "30", "--batch-size", "128", "--lr", "0.001"],
}
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "results", "book_tasks.json")


def machine():
    from seqattn import backend

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "backend": backend.get_backend(), **backend.device_info()}


def run(name, args):
    cmd = [sys.executable, "-m", "seqattn", "train", *args, "--quiet", "--json", "--force", "--save", os.path.join("runs", f"{name}.npz")]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    history = json.loads(out.strip().splitlines()[-1])["history"]
    return {"command": "seqattn train " + " ".join(args), "history": history, "wall_seconds": time.perf_counter() - start,
            "machine": machine()["cpu"]}


def text_table(results):
    """Runs on text pairs: chrF and BLEU (sacrebleu, 0-100) on the test split."""
    lines = ["| run | command | chrF, best (epoch) | last epoch: chrF, BLEU | s/epoch | target tokens/s |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        h = r["history"]
        best = max(range(len(h)), key=lambda k: h[k]["chrf"])
        sec = sum(e["seconds"] for e in h) / len(h)
        tok = sum(e["tokens_per_second"] for e in h) / len(h)
        lines.append(f"| {name} | `{r['command']}` | {h[best]['chrf']:.1f} ({best + 1}) | **{h[-1]['chrf']:.1f}**, "
                     f"**{h[-1]['bleu']:.1f}** | {sec:.1f} | {tok:,.0f} |")
    return "\n".join(lines)


def table(results):
    text = {k: r for k, r in results.items() if "chrf" in r["history"][-1]}
    if text:
        book = {k: r for k, r in results.items() if k not in text}
        return table(book) + "\n\n" + text_table(text)
    lines = ["| run | command | epochs 1, 2, 3 (%) | best (epoch) | last epoch | s/epoch |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        accs = [h["accuracy"] * 100 for h in r["history"]]
        shown = ", ".join(f"{a:.1f}" for a in accs[:3])
        best = max(range(len(accs)), key=accs.__getitem__)
        sec = sum(h["seconds"] for h in r["history"]) / len(r["history"])
        lines.append(f"| {name} | `{r['command']}` | {shown} | {accs[best]:.2f} ({best + 1}) | **{accs[-1]:.2f}** | {sec:.1f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", nargs="*", choices=list(RUNS))
    args = p.parse_args()
    results = {}
    if os.path.exists(OUT):
        with open(OUT) as f:
            results = json.load(f)["runs"]
    for name in args.only or RUNS:
        print(f"running {name} ...", flush=True)
        results[name] = run(name, RUNS[name])
        with open(OUT, "w") as f:
            json.dump({"machine": machine(), "runs": results}, f, indent=1)
    ordered = {k: results[k] for k in RUNS if k in results}
    print(table(ordered))


if __name__ == "__main__":
    main()
