"""``python -m benchmarks.index``: one table of every result in benchmarks/results/, written to
benchmarks/results/README.md: which file, which machine, what each ratio means. Run after adding
a result (``python -m benchmarks`` runs it itself).

Shapes are named: the benchmarks write them as {"N": 128, "T": 29, ...}; older files wrote bare
lists, which are named here by their case."""

from __future__ import annotations

import glob
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

# What each number of a case's shape is (N batch, T steps, D input width, H hidden width).
SHAPE_NAMES = {
    "lstm": ("N", "T", "D", "H"),
    "attention": ("N", "Te", "Td", "H"),  # encoder steps, decoder steps
    "mha": ("N", "T", "E", "heads"),
    "transformer-step": ("N", "Ts", "Tt"),  # source and target steps
    "transformer-decode": ("examples",),
    "transformer-encode": ("examples",),
    "text-epoch": ("pairs", "batch", "wordvec", "hidden"),
    "epoch": ("examples", "batch", "hidden"),
    "eval": ("examples",),
}

BASELINES = ("book-per-step", "per-step", "one-at-a-time", "recompute")  # what seqattn's speed-up is over


def named_shape(case, shape):
    """A case's shape as {name: size}; a shape already named is kept."""
    if isinstance(shape, dict):
        return dict(shape)
    names = SHAPE_NAMES.get(case) or SHAPE_NAMES.get(case.split("-")[0]) or tuple(f"d{i}" for i in range(len(shape)))
    return dict(zip(names, shape))


def shape_text(case, shape):
    return " ".join(f"{k}={v:,}" for k, v in named_shape(case, shape).items())


def machine_text(info):
    if not info:
        return "not recorded"
    if isinstance(info, str):
        return info
    parts = [f"{info.get('cpu', '?')}, {info.get('cores', '?')} cores"]
    parts += [f"{k} {info[k]}" for k in ("gpu", "numpy", "torch") if info.get(k)]
    return ", ".join(parts)


def harness_table(rows):
    """Markdown: one row per case, shape, backend and threads of a ``python -m benchmarks`` file."""
    idx = {(r["case"], shape_text(r["case"], r["shape"]), r["impl"], r["backend"], r["threads"]): r["median"] for r in rows}
    keys = sorted({(r["case"], shape_text(r["case"], r["shape"]), r["threads"], r["backend"]) for r in rows
                   if r["impl"] in ("seqattn", "batched")})
    lines = ["| case | shape | backend | threads | seqattn ms | ÷ GEMM floor | ÷ torch | speed-up over the baseline |",
             "|---|---|---|---|---|---|---|---|"]
    for case, shape, threads, be in keys:
        ours = idx.get((case, shape, "seqattn", be, threads)) or idx.get((case, shape, "batched", be, threads))
        floor = idx.get((case, shape, "gemm-floor", be, threads))
        tdev = "torch-cpu" if be == "numpy" else "torch-cuda"
        tf32 = "-tf32" if be.endswith("-tf32") else ""  # cupy with TF32 against torch with TF32
        timpl = ("torch" if (case, shape, "torch" + tf32, tdev, threads) in idx else "torch-cudnn") + tf32
        torch_t = idx.get((case, shape, timpl, tdev, threads))
        base = next(((b, idx[(case, shape, b, be, threads)]) for b in BASELINES if (case, shape, b, be, threads) in idx), None)
        lines.append(f"| {case} | {shape} | {be} | {threads} | {ours * 1e3:.1f} | {_ratio(floor and ours / floor)} | "
                     f"{_ratio(torch_t and ours / torch_t)} | "
                     f"{f'{base[1] / ours:.1f}x ({base[0]})' if base else '-'} |")
    return "\n".join(lines)


def _ratio(x):
    return f"{x:.2f}" if x else "-"


def _pair_table(before, after):
    """Markdown: every row of a before/after pair of harness files, after's time ÷ before's."""
    def key(r):
        return (r["case"], shape_text(r["case"], r["shape"]), r["impl"], r["backend"], r["threads"])

    b = {key(r): r["median"] for r in before["rows"]}
    lines = ["| case | shape | implementation | backend | threads | before ms | after ms | after ÷ before |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(after["rows"], key=key):
        k = key(r)
        if k in b:
            lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {k[4]} | {b[k] * 1e3:.1f} | {r['median'] * 1e3:.1f} | "
                         f"{r['median'] / b[k]:.3f} |")
    return "\n".join(lines)


def _ab_table(data):
    """Markdown: a ``python -m benchmarks.ab`` file, the medians of its rounds and after ÷ before."""
    if "runs" in data:  # {"runs": {"before": [round {case: s}], "after": [...]}}
        cases = list(data["runs"]["before"][0])
        med = {side: {c: statistics.median(r[c] for r in data["runs"][side]) for c in cases} for side in ("before", "after")}
    else:  # {"before": {case: [s per round]}, "after": {...}}
        cases = list(data["before"])
        med = {side: {c: statistics.median(data[side][c]) for c in cases} for side in ("before", "after")}
    lines = ["| case | before ms (median) | after ms (median) | after ÷ before |", "|---|---|---|---|"]
    for c in cases:
        lines.append(f"| {c} | {med['before'][c] * 1e3:.1f} | {med['after'][c] * 1e3:.1f} | {med['after'][c] / med['before'][c]:.3f} |")
    return "\n".join(lines)


def _accuracy_table(runs, machine=None):
    lines = ["| run | command | last epoch's accuracy (%) | best (epoch) | machine |", "|---|---|---|---|---|"]
    for name, run in runs.items():
        accs = run.get("accuracy") or [h.get("accuracy") for h in run.get("history", [])]
        accs = [a for a in accs if a is not None]
        best = max(range(len(accs)), key=accs.__getitem__) if accs else None
        last = f"{accs[-1] * 100:.2f}" if accs else "-"
        best_text = f"{accs[best] * 100:.2f} ({best + 1})" if accs else "-"
        lines.append(f"| {name} | `{run.get('command', '')}` | {last} | {best_text} | {machine_text(run.get('machine') or machine)} |")
    return "\n".join(lines)


def _short(text, width=90):
    """The first sentence of ``text``, cut at a word before ``width`` characters."""
    text = text.split(". ")[0]
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " ..."


def kind(data, name):
    if data.get("kind") == "text-quality":
        return "text-quality"
    if "rows" in data and data["rows"] and "config" in data["rows"][0]:
        return "ranks"
    if "rows" in data:
        return "harness"
    if "runs" in data and isinstance(data["runs"], dict) and "before" in data["runs"] or "after_over_before" in data:
        return "ab"
    return "training"


def build():
    """The text of results/README.md from every JSON file there."""
    files = {os.path.basename(p): json.load(open(p, encoding="utf-8")) for p in sorted(glob.glob(os.path.join(RESULTS, "*.json")))}
    out = ["# Benchmark results", "",
           "Generated by `python -m benchmarks.index` from the JSON files in this folder; do not edit by hand.", "",
           "How to read the ratios (every time is the median of the repetitions; each file names its machine, and "
           "times compare only within one machine):", "",
           "- **÷ torch**, **÷ GEMM floor**, **after ÷ before**: seqattn's time divided by the other's. "
           "**Lower is faster**: 0.54 means seqattn takes 54% of torch's time (it is faster); 1.10 means it takes 10% longer.",
           "- **speed-up over the baseline**: the baseline's time divided by seqattn's (the book's per-step code, one "
           "example at a time, or recomputing the prefix). **Higher is faster**: 22x means seqattn is 22 times as fast.",
           "- Shapes name their sizes: N batch, T time steps (Te encoder, Td decoder, Ts source, Tt target), D input "
           "width, H hidden width, E model width.", "",
           "## The files", "", "| file | what | machine | date |", "|---|---|---|---|"]
    sections = []
    pairs = {}
    for name, data in files.items():
        k = kind(data, name)
        stem = name[: -len(".json")]
        if k == "harness":
            what = "`python -m benchmarks`" + (f", threads {', '.join(map(str, data.get('threads', [])))}")
            for side in ("before", "after"):
                if stem.endswith(f"-{side}"):
                    pairs.setdefault(stem[: -len(side) - 1], {})[side] = data
                    what += f"; the {side} side of a change (see below)"
            sections.append(f"## {name}\n\nMachine: {machine_text(data.get('machine'))}; {data.get('date', '')}.\n\n"
                            f"{harness_table(data['rows'])}")
        elif k == "ranks":
            what = "`python -m benchmarks.distributed`" + (" --quick" if data.get("quick") else "") + ": ranks against threads"
            from .distributed import table as ranks_table  # its own tables, written once (late: it imports __main__)

            sections.append(f"## {name}\n\nMachine: {machine_text(data.get('machine'))}; {data.get('date', '')}. "
                            "Times are epoch seconds; a ratio of two times (`2x1 / 1x2`: 2 processes of 1 thread against "
                            "1 process of 2) is lower-is-faster for the first.\n\n"
                            f"{ranks_table(data['rows'], data['main_job'])}")
        elif k == "ab":
            what = data.get("what") or f"`python -m benchmarks.ab`, before {data.get('before')}, after {data.get('after')}"
            sections.append(f"## {name}\n\n{what.rstrip('.')}. Machine: {machine_text(data.get('machine'))}; "
                            f"{data.get('threads', 1)} thread.\n\n{_ab_table(data)}")
            what = _short(what)
        elif k == "text-quality":
            from .text_quality import feeding_text, table as quality_table  # its own table, written once

            what = data["what"]
            feeding = f"\n\n{feeding_text(data['feeding'])}" if data.get("feeding") else ""
            sections.append(f"## {name}\n\n{what} Machine: {machine_text(data.get('machine'))}; {data.get('date', '')}.\n\n"
                            f"{quality_table(data['runs'])}{feeding}")
            what = _short(what)
        else:
            what = data.get("what") or "training runs of the command, with their histories"
            sections.append(f"## {name}\n\n{what}\n\n{_accuracy_table(data['runs'], data.get('machine'))}")
            what = _short(what)
        machine = data.get("machine") if k != "training" else "each run's own (see its table)"
        out.append(f"| [{name}](#{name.replace('.', '').lower()}) | {what} | {machine_text(machine)} | {data.get('date', '-')} |")
    for stem, sides in sorted(pairs.items()):
        if len(sides) == 2:
            sections.append(f"## {stem}: after ÷ before\n\nThe same harness before and after a change "
                            f"({stem}-before.json, {stem}-after.json), on {machine_text(sides['after'].get('machine'))}.\n\n"
                            f"{_pair_table(sides['before'], sides['after'])}")
    return "\n".join(out) + "\n\n" + "\n\n".join(sections) + "\n"


def main():
    path = os.path.join(RESULTS, "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(build())
    print(path)


if __name__ == "__main__":
    main()
