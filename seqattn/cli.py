"""The ``seqattn`` command: train, eval, predict, attention."""

from __future__ import annotations

import argparse
import json
import os
import sys


from . import __version__

# The book's hyperparameters (chapter 7 for addition, chapter 8 for dates).
TASK_DEFAULTS = {
    "addition": dict(wordvec=16, hidden=128, batch_size=128, epochs=25, max_grad=5.0, lr=0.001),
    "date": dict(wordvec=16, hidden=256, batch_size=128, epochs=10, max_grad=5.0, lr=0.001),
    None: dict(wordvec=16, hidden=256, batch_size=128, epochs=10, max_grad=5.0, lr=0.001),
}


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


def _parser():
    p = argparse.ArgumentParser(prog="seqattn", description="Seq2seq models with attention, on numpy or cupy.")
    p.add_argument("--version", action="version", version=f"seqattn {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on a built-in task or a data file")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", choices=["addition", "date"], help="a built-in task (50,000 generated examples)")
    src.add_argument("--data", metavar="FILE", help="the book's 'question_answer' lines, or source<TAB>target pairs")
    t.add_argument("--model", choices=["seq2seq", "peeky", "attention"], default="attention")
    t.add_argument("--score", choices=["dot", "general", "concat"], default="dot", help="attention score (attention model)")
    t.add_argument("--bidirectional", action="store_true", help="bidirectional encoder (attention model)")
    t.add_argument("--layers", type=int, default=1, help="stacked LSTM layers (attention model)")
    t.add_argument("--skip", action="store_true", help="residual connections between stacked layers")
    t.add_argument("--dropout", type=float, default=0.0, help="dropout between layers (attention model)")
    t.add_argument("--reverse", action="store_true", help="reverse the source sequences (the book's trick)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--hidden", type=int)
    t.add_argument("--wordvec", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--max-grad", type=float, help="clip the gradient norm to this (0: no clipping)")
    t.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov, adagrad, rmsprop or adam")
    t.add_argument("--init", choices=["default", "book"], default="default",
                   help="weight initialisation: 'book' is the book's (embeddings at 1/100 scale)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--examples", type=int, default=50000, help="examples generated for --task")
    t.add_argument("--backend", choices=["numpy", "cupy", "auto"])
    t.add_argument("--save", metavar="PATH", help="checkpoint written after every epoch (default runs/NAME.npz)")
    t.add_argument("--resume", metavar="PATH", help="continue from a checkpoint saved by an earlier run")
    t.add_argument("--plot", metavar="PATH", help="save the accuracy curve as PNG (and attention maps for attention models)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--json", action="store_true", help="print the history as JSON at the end")

    e = sub.add_parser("eval", help="exact-match accuracy of a checkpoint on every line of a file")
    e.add_argument("--model", required=True, metavar="PATH")
    e.add_argument("--data", required=True, metavar="FILE")
    e.add_argument("--json", action="store_true")
    e.add_argument("--beam", type=int, default=1, help="beam width (1: greedy)")
    e.add_argument("--backend", choices=["numpy", "cupy", "auto"])
    e.add_argument("--show", type=int, default=5, help="examples to show")

    r = sub.add_parser("predict", help="answer questions with a checkpoint")
    r.add_argument("--model", required=True, metavar="PATH")
    r.add_argument("--beam", type=int, default=1)
    r.add_argument("--backend", choices=["numpy", "cupy", "auto"])
    r.add_argument("text", nargs="+")

    a = sub.add_parser("attention", help="draw the attention of one example")
    a.add_argument("--model", required=True, metavar="PATH")
    a.add_argument("--out", required=True, metavar="FILE.png")
    a.add_argument("--backend", choices=["numpy", "cupy", "auto"])
    a.add_argument("text")
    return p


def _set_backend(name):
    if name:
        from .backend import set_backend

        set_backend(name)


def _load(path):
    from .data import Codec
    from .io import CheckpointError
    from .models import load_model

    model, meta = load_model(path)
    if "data" not in meta or model.vocab is None:
        raise CheckpointError(f"{path!r} has no vocabulary or data format inside; it was not saved by `seqattn train`")
    return model, Codec.from_meta(meta["data"], model.vocab)


def _attention_figure(model, codec, texts, path):
    from .backend import to_device, to_numpy
    from .models import attention_weights_of
    from .plots import plot_attention

    x = to_device(codec.encode_sources(texts))
    ys = model.generate(x, codec.start_id, codec.sample_size, stop_id=codec.stop_id)
    weights = to_numpy(attention_weights_of(model, x, ys, codec.start_id))
    ys = to_numpy(ys)
    outs = [codec.decode_chars(y) for y in ys]
    srcs = [codec.source_chars(t) for t in texts]
    maps = [w[: len(o), : len(s)] for w, o, s in zip(weights, outs, srcs)]
    if codec.reverse:  # show the source in reading order, whatever order the encoder saw
        maps = [m[:, ::-1] for m in maps]
    plot_attention(maps, srcs, outs, path,
                   titles=[f"{t.strip()} -> {''.join(o).strip()}" for t, o in zip(texts, outs)])


def cmd_train(args):
    from .data import load_dataset
    from .models import MODELS
    from .trainer import Trainer, make_optimizer

    _set_backend(args.backend)
    d = TASK_DEFAULTS[args.task]
    opt = {k: getattr(args, k) if getattr(args, k) is not None else d[k] for k in d}
    if args.model != "attention" and (args.bidirectional or args.layers != 1 or args.skip or args.dropout or args.score != "dot"):
        raise UsageError("--score, --bidirectional, --layers, --skip and --dropout are options of --model attention")
    for k in ("epochs", "batch_size", "hidden", "wordvec"):
        if opt[k] < 1:
            raise UsageError(f"--{k.replace('_', '-')} must be at least 1, got {opt[k]}")
    (x_train, t_train), (x_test, t_test), codec = load_dataset(args.task, args.data, args.reverse, n=args.examples)
    name = args.task or os.path.splitext(os.path.basename(args.data))[0]
    save = args.save or os.path.join("runs", f"{name}-{args.model}.npz")
    kw = dict(pad_id=codec.pad_id, seed=args.seed, init=args.init)
    if args.model == "attention":
        kw.update(score=args.score, bidirectional=args.bidirectional, num_layers=args.layers, skip=args.skip, dropout=args.dropout)
    model = MODELS[args.model](len(codec.vocab), opt["wordvec"], opt["hidden"], **kw)
    model.vocab = codec.vocab
    trainer = Trainer(model, make_optimizer(args.optimizer, opt["lr"]), batch_size=opt["batch_size"],
                      max_grad=opt["max_grad"] or None, seed=args.seed, progress=not args.quiet,
                      stop_id=codec.stop_id, meta={"data": {**codec.to_meta(), "source": name}})
    from .backend import get_backend

    print(f"{args.model} on {name}: {len(x_train)} training and {len(x_test)} test examples, vocabulary {len(codec.vocab)}, "
          f"hidden {opt['hidden']}, backend {get_backend()}", flush=True)
    history = trainer.fit(x_train, t_train, opt["epochs"], x_test, t_test, codec.start_id, checkpoint=save, resume=args.resume)
    last = history[-1] if history else {}
    print(f"accuracy {last.get('accuracy', float('nan')) * 100:.2f}% on {len(x_test)} test examples; checkpoint {save}")
    if args.plot:
        from .plots import plot_history

        plot_history(history, args.plot, title=f"{args.model} on {name}")
        print(f"accuracy curve: {args.plot}")
        if args.model == "attention" and len(x_test):
            stem, ext = os.path.splitext(args.plot)
            texts = _test_texts(codec, x_test[:3])
            _attention_figure(model, codec, texts, f"{stem}-attention{ext or '.png'}")
            print(f"attention maps: {stem}-attention{ext or '.png'}")
    if args.json:
        print(json.dumps({"history": history}))
    return 0


def _test_texts(codec, x):
    """Encoded sources back to the text a user would type."""
    rows = x[:, ::-1] if codec.reverse and codec.format == "qa" else x
    texts = [codec.vocab.decode(r, stop_at_end=False) for r in rows]
    if codec.reverse and codec.format == "tsv":
        texts = [t[::-1] for t in texts]
    return texts


def cmd_eval(args):
    from .data import read_lines
    from .metrics import exact_match

    _set_backend(args.backend)
    model, codec = _load(args.model)
    x, t = codec.load_lines(read_lines(args.data), args.data)
    acc, pred = exact_match(model, x, t, codec.start_id, beam_width=args.beam, stop_id=codec.stop_id)
    if args.json:
        print(json.dumps({"accuracy": acc, "n": len(x), "correct": int(round(acc * len(x)))}))
        return 0
    texts, answers, wanted = _test_texts(codec, x[: args.show]), codec.decode(pred[: args.show]), codec.decode(t[: args.show, 1:])
    for q, a, w in zip(texts, answers, wanted):
        print(f"{'ok ' if a == w else 'BAD'} {q.strip()!r} -> {a!r}" + ("" if a == w else f" (expected {w!r})"))
    print(f"accuracy {acc * 100:.2f}% ({int(round(acc * len(x)))} of {len(x)})")
    return 0


def cmd_predict(args):
    from .backend import to_device, to_numpy

    _set_backend(args.backend)
    model, codec = _load(args.model)
    x = to_device(codec.encode_sources(args.text, source="the command line"))
    out = to_numpy(model.generate(x, codec.start_id, codec.sample_size, beam_width=args.beam, stop_id=codec.stop_id))
    for q, a in zip(args.text, codec.decode(out)):
        print(f"{q} -> {a}")
    return 0


def cmd_attention(args):
    _set_backend(args.backend)
    model, codec = _load(args.model)
    if model.config["model"] != "attention":
        raise UsageError(f"{args.model} is a {model.config['model']} model, which has no attention; train one with --model attention")
    _attention_figure(model, codec, [args.text], args.out)
    print(args.out)
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    from .backend import BackendError
    from .data import DataError, VocabularyError
    from .io import CheckpointError
    from .trainer import TrainingError

    handlers = {"train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "attention": cmd_attention}
    try:
        return handlers[args.command](args)
    except (UsageError, BackendError, CheckpointError, DataError, VocabularyError, TrainingError, ValueError, RuntimeError) as exc:
        print(f"seqattn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"seqattn {args.command}: interrupted; the last finished epoch's checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
