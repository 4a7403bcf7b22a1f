"""Before and after a change to a hot path, side by side: ``python -m benchmarks.ab BEFORE AFTER``.

BEFORE and AFTER are checkouts of seqattn (``git worktree add /tmp/before HEAD~1`` makes one).
Each round runs one process per checkout, alternately, at 1 thread, and times the cases that the
design's speed promises are stated in: TimeLSTM and TimeAttention forward + backward at the date
task's shape, 20 training steps of the date attention model, an epoch of 20 batches of it
through the Trainer, the evaluation of 600 dates, the update (clipping and Adam) and 20
training steps of a two-block Transformer, and 20 steps of 16 pairs of the text recipe's
Transformer with English-French vocabularies (1.7 M weights).
Alternating rounds keep a busy or throttled machine from favouring one side; the table gives
every round and the ratio of the medians. Results go to benchmarks/results/<name>.json.

    python -m benchmarks.ab /tmp/before . --rounds 3 --name ab-ops
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def cases():
    """The measurements of one process (whichever seqattn is first on sys.path) -> seconds."""
    import numpy as np

    from seqattn.data import date_lines, load_qa
    from seqattn.layers import TimeAttention, TimeLSTM
    from seqattn.metrics import exact_match
    from seqattn.models import AttentionSeq2seq, TransformerSeq2seq
    from seqattn.optim import Adam, clip_grads

    def median(fn, repeat=7, warmup=2):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    rng = np.random.default_rng(0)

    def rand(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype("float32")

    out = {}
    N, T, D, H = 128, 29, 16, 256
    lstm = TimeLSTM(rand(D, 4 * H, scale=D**-0.5), rand(H, 4 * H, scale=H**-0.5), np.zeros(4 * H, "float32"))
    xs, dhs = rand(N, T, D), rand(N, T, H)
    out["lstm"] = median(lambda: (lstm.forward(xs), lstm.backward(dhs)))
    K, Q, dc = rand(128, 29, 256), rand(128, 11, 256), rand(128, 11, 256)
    for score, kw in [("dot", {}), ("general", {"W": rand(256, 256, scale=1 / 16)}),
                      ("concat", {"W": rand(512, 256, scale=1 / 22), "v": rand(256, scale=1 / 16)})]:
        layer = TimeAttention(score, **kw)
        out["attention-" + score] = median(lambda: (layer.forward(K, Q), layer.backward(dc)))  # noqa: B023
    (x, t), (xt, tt), vocab = load_qa(date_lines(6000, 0), seed=1984, reverse=True)
    model = AttentionSeq2seq(len(vocab), 16, 256, seed=0)
    opt = Adam()

    def steps():
        for i in range(20):
            model.forward(x[i * 128 : (i + 1) * 128], t[i * 128 : (i + 1) * 128])
            model.backward()
            clip_grads(model.grads, 5.0)
            opt.update(model.params, model.grads)

    out["train-20-steps"] = median(steps, repeat=3, warmup=1)
    from seqattn.trainer import Trainer

    def epoch():  # the Trainer's loop around the same steps: batch plan, progress off, loss read once
        Trainer(model, opt, batch_size=128, max_grad=5.0, progress=False, log=lambda s: None).fit(x[:2560], t[:2560], 1)

    out["trainer-epoch-20-batches"] = median(epoch, repeat=3, warmup=1)
    out["eval-600"] = median(lambda: exact_match(model, xt, tt, vocab.start_id), repeat=5, warmup=1)
    # the Transformer: many small weights (92 arrays with two blocks a side), so the update's own cost shows
    model = TransformerSeq2seq(len(vocab), 128, 4, 2, 256, seed=0, dropout=0.0)
    opt = Adam()

    def update():
        clip_grads(model.grads, 5.0)
        opt.update(model.params, model.grads)

    model.forward(x[:128], t[:128])
    model.backward()
    out["transformer-clip-adam"] = median(update, repeat=21, warmup=3)
    out["transformer-20-steps"] = median(steps, repeat=3, warmup=1)
    # the Transformer of the text recipe on English-French words (vocabularies 1,162 and 2,329, 1.7 M
    # weights): a rank's share of a batch of 32 pairs is 16, where the update is half the step
    model = TransformerSeq2seq(1162, 128, 4, 2, 512, seed=0, target_vocab_size=2329)
    opt = Adam()
    xs, ts = rng.integers(4, 1162, (20, 16, 9)), rng.integers(4, 2329, (20, 16, 11))

    def text_steps():
        for i in range(20):
            model.forward(xs[i], ts[i])
            model.backward()
            clip_grads(model.grads, 1.0)
            opt.update(model.params, model.grads)

    out["text-transformer-20-steps-of-16"] = median(text_steps, repeat=3, warmup=1)
    return out


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks.ab")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--name", default="ab")
    p.add_argument("--case", action="store_true", help=argparse.SUPPRESS)  # one measuring process
    args = p.parse_args()
    if args.case:
        print(json.dumps(cases()))
        return
    from . import index
    from .__main__ import HERE, THREAD_VARS, machine

    env = dict(os.environ, **{v: "1" for v in THREAD_VARS})
    runs = {"before": [], "after": []}
    for r in range(args.rounds):
        for side in ("before", "after"):
            tree = os.path.abspath(getattr(args, side))
            print(f"-- round {r + 1}: {side} ({tree})", file=sys.stderr, flush=True)
            # run as a script, so that seqattn comes from the checkout under test and nowhere else
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", "x", "y"],
                                 env=dict(env, PYTHONPATH=tree), cwd=tree, stdout=subprocess.PIPE, text=True, check=True).stdout
            runs[side].append(json.loads(out.strip().splitlines()[-1]))
    lines = ["| case | before ms (each round) | after ms (each round) | after / before (medians) |", "|---|---|---|---|"]
    for case in runs["before"][0]:
        b = [r[case] * 1e3 for r in runs["before"]]
        a = [r[case] * 1e3 for r in runs["after"]]
        lines.append(f"| {case} | {', '.join(f'{v:.1f}' for v in b)} | {', '.join(f'{v:.1f}' for v in a)} | "
                     f"{statistics.median(a) / statistics.median(b):.3f} |")
    table = "\n".join(lines)
    with open(os.path.join(HERE, "results", f"{args.name}.json"), "w") as f:
        json.dump({"before": args.before, "after": args.after, "threads": 1, "machine": machine(), "runs": runs}, f, indent=1)
    index.main()
    print(table)


if __name__ == "__main__":
    main()
