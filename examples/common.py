"""What the examples share: the --quick and --out flags, and printing a few answers.

Each example trains with the book's hyperparameters in full mode (the numbers and pictures on its
tutorial page) and a tiny model on a little data with ``--quick`` (a few seconds; the tests run
every example that way). Pictures go to ``docs/img/`` in full mode and to ``runs/examples/`` with
``--quick``, unless ``--out`` says where.
"""

from __future__ import annotations

import argparse
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def parse(doc, argv=None):
    """The example's flags -> args, with ``args.out`` the folder for its pictures."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny run of a few seconds (what the tests run)")
    p.add_argument("--out", help="folder for the pictures (default: docs/img, or runs/examples with --quick)")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = os.path.join(HERE, "..", "runs", "examples") if args.quick else os.path.join(HERE, "..", "docs", "img")
    os.makedirs(args.out, exist_ok=True)
    return args


def show_answers(model, pairs, codec, k=5):
    """Print the model's answers to the first ``k`` test questions, each marked right or wrong."""
    ids = model.generate(pairs.x[:k], codec.start_id, codec.sample_size, stop_id=codec.stop_id)
    answers = codec.decode(pairs.t[:k, 1:])  # the targets after the start symbol, as text
    for question, answer, got in zip(pairs.sources[:k], answers, codec.decode(ids)):
        mark = "right" if got == answer else f"wrong, the answer is {answer}"
        print(f"  {question.strip():>28} -> {got}  ({mark})")
