"""The ``seqattn`` command: train, eval, predict, attention."""

from __future__ import annotations

import argparse
import json
import os
import sys


from . import __version__
from .layers import SCORES
from .models import MODELS
from .data.tokens import SUBWORD_TYPES, TOKENS
from .optim import SCHEDULES

# How the models' own options are spelt on the command line: option -> (flag, choices, help).
# Which model takes which option, and its default, is the models' ``options`` lists.
MODEL_FLAGS = {
    "score": ("--score", SCORES, "attention score"),
    "bidirectional": ("--bidirectional", None, "bidirectional encoder"),
    "num_layers": ("--layers", None, "stacked layers (LSTM layers; Transformer blocks on each side)"),
    "skip": ("--skip", None, "residual connections between stacked LSTM layers"),
    "dropout": ("--dropout", None, "dropout between layers"),
    "num_heads": ("--heads", None, "attention heads"),
    "ffn_size": ("--ffn", None, "width of the feed-forward layers"),
    "activation": ("--activation", ("relu", "gelu"), "the feed-forward activation"),
    "norm": ("--norm", ("pre", "post"), "layer norm before each sublayer (pre) or after the residual sum (post)"),
    "positions": ("--positions", ("sinusoid", "learned"), "position vectors"),
}
DERIVED = {"d_model", "max_len"}  # the Transformer's width is --hidden; max_len follows the data

# The book's hyperparameters (chapter 7 for addition, chapter 8 for dates), and the Transformer's.
# Rates decay along a cosine to a tenth by the last epoch. On addition the cosine starts at twice
# the book's fixed rate of 0.001, so that its mean rate is about the book's (25 epochs of reversed
# peeky: 99.6% at the last epoch, against 99.1% from 0.001); --schedule constant --lr 0.001 is the
# book's own recipe. The Transformer learns the generated tasks best without dropout.
TASK_DEFAULTS = {
    "addition": dict(wordvec=16, hidden=128, batch_size=128, epochs=25, max_grad=5.0, lr=0.002),
    "date": dict(wordvec=16, hidden=256, batch_size=128, epochs=10, max_grad=5.0, lr=0.001),
    None: dict(wordvec=16, hidden=256, batch_size=128, epochs=10, max_grad=5.0, lr=0.001),
}
TRAINING_DEFAULTS = dict(schedule="cosine", warmup=0, lr_floor=0.1, beta1=0.9, beta2=0.999, label_smoothing=0.0)
TRANSFORMER_DEFAULTS = dict(hidden=128, warmup=200, max_grad=1.0, lr=0.001)
TRANSFORMER_TASK_DEFAULTS = dict(dropout=0.0)


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


def _parser():
    p = argparse.ArgumentParser(prog="seqattn", description="Seq2seq models with attention, on numpy or cupy.")
    p.add_argument("--version", action="version", version=f"seqattn {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    # Training options default to None so that a resumed run can tell what was given from what
    # was not; the defaults are filled in by _training_options.
    t = sub.add_parser("train", help="train a model on a built-in task or a data file")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", choices=["addition", "date"], help="a built-in task (50,000 generated examples)")
    src.add_argument("--data", metavar="FILE", help="the book's 'question_answer' lines, or source<TAB>target pairs")
    t.add_argument("--valid", metavar="FILE", help="pairs to score after every epoch (default: a seeded tenth of --data)")
    t.add_argument("--test", metavar="FILE", help="pairs to score once, after training")
    t.add_argument("--columns", help="the tab-separated columns of source and target, from 1 (default 1,2; 2,1 swaps)")
    t.add_argument("--tokens", choices=TOKENS, help="char (default), word (words and punctuation) or subword "
                   "(sentencepiece, trained on the training split; needs seqattn[text])")
    t.add_argument("--lower", action="store_true", default=None, help="lower-case word and subword tokens")
    t.add_argument("--vocab-size", type=int, help="subword pieces per side (default 8000; fewer if the data has fewer)")
    t.add_argument("--subword-type", choices=SUBWORD_TYPES, help="unigram (default) or bpe")
    t.add_argument("--min-count", type=int, help="tokens seen fewer times become <unk> (default 1)")
    t.add_argument("--max-vocab", type=int, help="keep at most this many of the most frequent tokens per side")
    t.add_argument("--max-length", type=int, help="leave out training pairs with more tokens than this on a side")
    t.add_argument("--model", choices=list(MODELS), help="seq2seq, peeky, attention (default) or transformer")
    for key, (flag, choices, helptext) in MODEL_FLAGS.items():  # the models' own options
        takes = [m for m, cls in MODELS.items() if key in cls.options]
        default = MODELS[takes[0]].options[key]
        helptext = f"{helptext} ({', '.join(takes)}; default {default})"
        if isinstance(default, bool):
            t.add_argument(flag, dest=key, action="store_true", default=None, help=helptext)
        else:
            t.add_argument(flag, dest=key, type=type(default), choices=choices, help=helptext)
    t.add_argument("--reverse", action="store_true", default=None, help="reverse the source sequences (the book's trick)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--hidden", type=int, help="LSTM width, or the Transformer's d_model (default 128)")
    t.add_argument("--wordvec", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--max-grad", type=float, help="clip the gradient norm to this (0: no clipping)")
    t.add_argument("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop or adam (default)")
    t.add_argument("--beta1", type=float, help="Adam's beta1 (default 0.9)")
    t.add_argument("--beta2", type=float, help="Adam's beta2 (default 0.999)")
    t.add_argument("--schedule", choices=SCHEDULES, help="learning rate over the updates: constant, rsqrt (warm-up then "
                   "1/sqrt), cosine (default) or linear decay to --lr-floor by the last epoch")
    t.add_argument("--warmup", type=int, help="updates of linear warm-up (default 0; 200 for the Transformer)")
    t.add_argument("--lr-floor", type=float, help="where cosine and linear decay end, as a fraction of --lr (default 0.1)")
    t.add_argument("--label-smoothing", type=float, help="train towards (1 - e) one-hot + e / V (default 0)")
    t.add_argument("--keep-best", action="store_true", help="also keep the checkpoint of the best test accuracy (NAME-best.npz)")
    t.add_argument("--patience", type=int, help="stop after this many epochs without a better test accuracy")
    t.add_argument("--init", choices=["default", "book"], help="weight initialisation: 'book' is the book's (embeddings at 1/100 scale)")
    t.add_argument("--seed", type=int, help="seed of the weights, batches and dropout (default 0)")
    t.add_argument("--examples", type=int, default=50000, help="examples generated for --task")
    t.add_argument("--backend", choices=["numpy", "cupy", "auto"])
    t.add_argument("--save", metavar="PATH", help="checkpoint written after every epoch (default runs/NAME-MODEL.npz)")
    t.add_argument("--resume", metavar="PATH", help="continue from a checkpoint saved by an earlier run")
    t.add_argument("--force", action="store_true", help="overwrite an existing checkpoint at --save with a new run")
    t.add_argument("--plot", metavar="PATH", help="save the accuracy curve as PNG (and attention maps for attention models)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--json", action="store_true", help="print the history as JSON at the end (log lines go to stderr)")

    e = sub.add_parser("eval", help="exact match (and BLEU and chrF for text pairs) of a checkpoint on every line of a file")
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
    from .backend import check_environment, set_backend

    if name:
        set_backend(name)
    check_environment()


def _load(path):
    from . import checkpoint

    ck = checkpoint.load(path)
    if ck.codec is None:
        raise checkpoint.CheckpointError(f"{path!r} has no vocabulary or data format inside; it was not saved by `seqattn train`")
    return ck.model, ck.codec


def _png(path):
    """A picture's path with the .png that matplotlib would otherwise add silently."""
    return path if os.path.splitext(path)[1] else path + ".png"


def _check_writable(path, flag):
    """Refuse, before any work, an output path that cannot be written."""
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise UsageError(f"{flag} {path!r} is a directory; give a file name")
    parent = os.path.dirname(full)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path!r} cannot be written: {parent!r} is a file, not a directory")
    if not os.access(parent, os.W_OK) or (os.path.exists(full) and not os.access(full, os.W_OK)):
        raise UsageError(f"{flag} {path!r} cannot be written: no permission")


def _check_plots():
    from .plots import pyplot

    pyplot()  # a one-line error naming the extra to install, before any training


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
    titles = [f"{t.strip()} -> {a}" for t, a in zip(texts, codec.decode(ys))]
    if weights.ndim == 4:  # the Transformer's (N, heads, S, Ts): one panel per head, first example
        heads = weights[0]
        maps = [codec.reading_order(w[: len(outs[0])], texts[0]) for w in heads]
        plot_attention(maps, [srcs[0]] * len(maps), [outs[0]] * len(maps), path,
                       titles=[f"head {h + 1} of the last layer: {titles[0]}" for h in range(len(maps))])
        return
    maps = [codec.reading_order(w[: len(o)], t) for w, o, t in zip(weights, outs, texts)]
    plot_attention(maps, srcs, outs, path, titles=titles)


def _training_options(args, resumed):
    """Every training option: as given, else the resumed checkpoint's, else the default. A given
    option that contradicts the checkpoint is refused (a resumed run keeps its options)."""
    config, trainer, optim, codec = (resumed.get(k) or {} for k in ("config", "trainer", "optimizer", "codec"))
    schedule = trainer.get("schedule") or {}
    model = args.model or config.get("model") or "attention"
    transformer = model == "transformer"
    d = {**TASK_DEFAULTS[args.task], **TRAINING_DEFAULTS, **(TRANSFORMER_DEFAULTS if transformer else {}),
         **(TRANSFORMER_TASK_DEFAULTS if transformer and args.task else {})}
    own = MODELS[model].options
    for key, (flag, _, _) in MODEL_FLAGS.items():
        if getattr(args, key) is not None and key not in own:
            takers = " and ".join(m for m, cls in MODELS.items() if key in cls.options)
            raise UsageError(f"{flag} is an option of --model {takers}, not of --model {model}")
    if transformer and args.wordvec is not None:
        raise UsageError("--wordvec is not an option of --model transformer: its embeddings are --hidden wide")
    # option: (flag, the checkpoint's value, the default)
    table = {
        "model": ("--model", config.get("model"), "attention"),
        "hidden": ("--hidden", config.get("d_model" if transformer else "hidden_size"), d["hidden"]),
        "wordvec": ("--wordvec", config.get("wordvec_size"), d["wordvec"]),
        "init": ("--init", config.get("init"), "default"),
        "reverse": ("--reverse", codec.get("reverse"), False),
        "batch_size": ("--batch-size", trainer.get("batch_size"), d["batch_size"]),
        "seed": ("--seed", trainer.get("seed"), 0),
        "max_grad": ("--max-grad", (trainer.get("max_grad") or 0.0) if trainer else None, d["max_grad"]),
        "optimizer": ("--optimizer", str(optim.get("name", "")).lower() or None, "adam"),
        "lr": ("--lr", trainer.get("base_lr", optim.get("lr")), d["lr"]),
        "beta1": ("--beta1", optim.get("beta1"), d["beta1"]),
        "beta2": ("--beta2", optim.get("beta2"), d["beta2"]),
        "schedule": ("--schedule", schedule.get("name"), d["schedule"]),
        "warmup": ("--warmup", schedule.get("warmup"), d["warmup"]),
        "lr_floor": ("--lr-floor", schedule.get("floor"), d["lr_floor"]),
        "label_smoothing": ("--label-smoothing", trainer.get("label_smoothing"), d["label_smoothing"]),
        **{k: (MODEL_FLAGS[k][0], config.get(k), d.get(k, own[k])) for k in own if k not in DERIVED},
    }
    opt, taken = {}, []
    for key, (flag, theirs, default) in table.items():
        given = getattr(args, key)
        if given is not None and resumed and theirs is not None and given != theirs:
            raise UsageError(f"{flag} {given} differs from the checkpoint's {theirs}: a resumed run keeps its "
                             f"options (leave {flag} out), or start a new run with --force")
        if given is None and resumed and theirs is not None:
            taken.append(flag)
        opt[key] = given if given is not None else theirs if (resumed and theirs is not None) else default
    opt["epochs"] = args.epochs if args.epochs is not None else d["epochs"]
    flag = {k: v[0] for k, v in table.items()}
    for k in ("epochs", "batch_size", "hidden", "wordvec", "num_layers", "num_heads", "ffn_size"):
        if k in opt and opt[k] < 1:
            raise UsageError(f"{flag.get(k, '--' + k)} must be at least 1, got {opt[k]}")
    checks = [
        (args.examples >= 1, f"--examples must be at least 1, got {args.examples}"),
        (opt["lr"] >= 0, f"--lr must be positive, got {opt['lr']} (a negative rate climbs the loss)"),
        (opt["max_grad"] >= 0, f"--max-grad must be 0 (no clipping) or positive, got {opt['max_grad']}"),
        (0 <= opt.get("dropout", 0) < 1, f"--dropout must be at least 0 and below 1, got {opt.get('dropout')}"),
        (0 <= opt["label_smoothing"] < 1, f"--label-smoothing must be at least 0 and below 1, got {opt['label_smoothing']}"),
        (0 <= opt["lr_floor"] <= 1, f"--lr-floor is a fraction of --lr, from 0 to 1, got {opt['lr_floor']}"),
        (opt["warmup"] >= 0, f"--warmup must be 0 or more updates, got {opt['warmup']}"),
        (0 <= opt["beta1"] < 1 and 0 <= opt["beta2"] < 1, "--beta1 and --beta2 must be at least 0 and below 1"),
        (args.patience is None or args.patience >= 1, f"--patience must be at least 1 epoch, got {args.patience}"),
        (opt["optimizer"] == "adam" or (args.beta1 is None and args.beta2 is None), "--beta1 and --beta2 are Adam's"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    return opt, taken


DATA_FLAGS = {"tokens": "--tokens", "lower": "--lower", "vocab_size": "--vocab-size", "subword_type": "--subword-type",
              "min_count": "--min-count", "max_vocab": "--max-vocab"}


def _columns(text):
    """``--columns 2,1`` -> (1, 0): the 0-based columns of source and target."""
    try:
        a, b = (int(c) for c in text.split(","))
    except ValueError:
        raise UsageError(f"--columns takes two column numbers such as 1,2 or 2,1, got {text!r}") from None
    if a < 1 or b < 1 or a == b:
        raise UsageError(f"--columns takes two different column numbers from 1, got {text!r}")
    return a - 1, b - 1


def _data_options(args, resumed):
    """The options of how text is read: checked before any file is read. A resumed run reads
    with the checkpoint's codec, so only --columns (if it agrees) and --max-length apply."""
    given = {k: getattr(args, k) for k in DATA_FLAGS if getattr(args, k) is not None}
    if args.task and (given or args.columns or args.max_length or args.valid or args.test):
        raise UsageError("--valid, --test, --columns, --tokens and the vocabulary options are for --data files; "
                         "the built-in tasks are generated character by character")
    if resumed and given:
        raise UsageError(f"{', '.join(DATA_FLAGS[k] for k in given)}: a resumed run keeps the checkpoint's tokens and "
                         "vocabularies; leave them out, or start a new run with --force")
    for key in ("vocab_size", "min_count", "max_vocab"):
        if given.get(key) is not None and given[key] < 1:
            raise UsageError(f"{DATA_FLAGS[key]} must be at least 1, got {given[key]}")
    if args.max_length is not None and args.max_length < 1:
        raise UsageError(f"--max-length must be at least 1, got {args.max_length}")
    kind = given.get("tokens", "char")
    if kind == "char" and given.get("lower"):
        raise UsageError("--lower is for --tokens word or subword; characters keep their case")
    if kind != "subword" and ("vocab_size" in given or "subword_type" in given):
        raise UsageError("--vocab-size and --subword-type are options of --tokens subword")
    if kind == "subword":
        from .data.tokens import require

        require("sentencepiece", what="--tokens subword")  # before any work
    for flag, path in (("--valid", args.valid), ("--test", args.test)):
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"{flag} {path!r} does not exist")
    options = {k: v for k, v in given.items()}
    if args.columns is not None:
        columns = _columns(args.columns)
        codec = resumed.get("codec") or {}
        theirs = tuple(codec.get("columns", (0, 1)))
        if resumed and columns != theirs:
            raise UsageError(f"--columns {args.columns} differs from the checkpoint's {theirs[0] + 1},{theirs[1] + 1}")
        options["columns"] = columns
    return options


def _build_model(opt, codec):
    own = {k: opt[k] for k in MODELS[opt["model"]].options if k not in DERIVED}
    common = dict(pad_id=codec.pad_id, seed=opt["seed"], init=opt["init"])
    if codec.target_vocab is not codec.vocab:
        common["target_vocab_size"] = len(codec.target_vocab)
    if opt["model"] == "transformer":
        max_len = max(64, opt.get("longest", 0), codec.source_width, codec.target_width)
        return MODELS["transformer"](len(codec.vocab), opt["hidden"], max_len=max_len, **common, **own)
    return MODELS[opt["model"]](len(codec.vocab), opt["wordvec"], opt["hidden"], **common, **own)


def _check_save_path(save, args, continuing=False):
    """Never overwrite what is not a seqattn checkpoint, nor a trained checkpoint unasked."""
    from .checkpoint import is_checkpoint

    _check_writable(save, "--save")
    if not os.path.exists(save):
        return
    if not is_checkpoint(save):
        raise UsageError(f"--save {save!r} exists and is not a seqattn checkpoint; refusing to overwrite it: choose another --save")
    continuing = continuing or (args.resume is not None and os.path.exists(args.resume) and os.path.samefile(args.resume, save))
    if not continuing and not args.force:
        raise UsageError(f"--save {save!r} already holds a checkpoint: continue it with --resume {save}, "
                         "overwrite it with --force, or choose another --save")


# A batch's working memory, in floats per example per step of hidden width (recurrent caches,
# workspaces and gradients of both LSTMs) and per score (scores, softmax and their gradients).
_FLOATS_PER_HIDDEN_STEP, _FLOATS_PER_SCORE = 24, 4


def _check_batch_memory(codec, opt, source, source_lengths, target_lengths, line_numbers):
    """Refuse, before anything is encoded, data whose longest example would need a batch larger
    than memory."""
    N, H, V = opt["batch_size"], opt["hidden"], len(codec.target_vocab)
    Ts, Tt = max(source_lengths, default=0), max(target_lengths, default=0) + 2
    need = 4 * N * ((Ts + Tt) * H * _FLOATS_PER_HIDDEN_STEP + Tt * (V + Ts) * _FLOATS_PER_SCORE)
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        limit = 8 << 30
    if need <= limit:
        return
    side, lengths = max((("source", source_lengths), ("target", target_lengths)), key=lambda kv: max(kv[1]))
    k = max(range(len(lengths)), key=lengths.__getitem__)
    unit = "characters" if codec.tokens.kind == "char" else "tokens"
    raise UsageError(f"{source}, line {line_numbers[k]}: its {side} has {lengths[k]} {unit} (the median is "
                     f"{sorted(lengths)[len(lengths) // 2]}), so one batch of {N} would need about {need / 2**30:.0f} GiB, "
                     f"more than half of this machine's memory; leave out long pairs with --max-length, or lower --batch-size")


def cmd_train(args):
    from .checkpoint import load_codec, read
    from .data import load_dataset
    from .metrics import evaluate
    from .optim import Schedule, make_optimizer
    from .trainer import Trainer

    _set_backend(args.backend)
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    resumed = read(args.resume)[1] if args.resume else {}
    if resumed and "trainer" not in resumed:
        raise UsageError(f"{args.resume!r} holds a model but no training state to resume from")
    opt, taken = _training_options(args, resumed)
    name = args.task or os.path.splitext(os.path.basename(args.data))[0]
    save = args.save or os.path.join("runs", f"{name}-{opt['model']}.npz")
    _check_save_path(save, args)
    best = None
    if args.keep_best:
        stem, ext = os.path.splitext(save)
        best = f"{stem}-best{ext or '.npz'}"
        _check_save_path(best, args, continuing=args.resume is not None)
    plot = _png(args.plot) if args.plot else None
    if plot:
        _check_writable(plot, "--plot")
        _check_plots()
    source = args.data or f"task {args.task}"
    text_options = _data_options(args, resumed)
    data = load_dataset(args.task, args.data, opt["reverse"], n=args.examples, codec=load_codec(resumed) if resumed else None,
                        valid=args.valid, test=args.test, max_length=args.max_length,
                        check_lengths=lambda c, ls, lt, lines: _check_batch_memory(c, opt, source, ls, lt, lines), **text_options)
    codec, train, valid = data.codec, data.train, data.valid
    if data.dropped:
        say(f"left out {data.dropped:,} of {data.dropped + len(train):,} training pairs longer than {args.max_length} tokens")
    if opt["lr"] == 0:
        say("warning: --lr 0 leaves the weights as they are")
    if taken:
        say(f"resuming {args.resume}: {', '.join(taken)} as in the checkpoint")
    if not resumed and codec.vocab.unk is not None:
        shares = [_unk_share(train.x, codec.vocab, codec.pad_id), _unk_share(train.t[:, 1:], codec.target_vocab, codec.pad_id)]
        if max(shares) > 0.2:
            say(f"warning: {shares[0]:.0%} of the source and {shares[1]:.0%} of the target tokens are <unk> "
                "(seen fewer than --min-count times, or beyond --max-vocab); the model cannot learn them")
    if resumed and codec.vocab.unk is not None:
        unknown = [int((a == v.unk_id).sum()) for a, v in ((train.x, codec.vocab), (train.t, codec.target_vocab))]
        if any(unknown):
            say(f"warning: {unknown[0]} source and {unknown[1]} target tokens of the training pairs are not in the "
                "checkpoint's vocabularies and are read as <unk>")
    test_note = ""
    if len(valid) == 0:
        valid = train
        test_note = " (too few pairs for a test split: testing on the training pairs)"
    text_scores = codec.format == "tsv" and _have_text_scores(say)
    splits = [train, valid] + ([data.test] if data.test is not None else [])
    opt["longest"] = max(max(p.x.shape[1], p.t.shape[1]) for p in splits)
    model = _build_model(opt, codec)
    betas = {"beta1": opt["beta1"], "beta2": opt["beta2"]} if opt["optimizer"] == "adam" else {}
    trainer = Trainer(model, make_optimizer(opt["optimizer"], opt["lr"], **betas), batch_size=opt["batch_size"],
                      max_grad=opt["max_grad"] or None, seed=opt["seed"], progress=not args.quiet, log=say,
                      stop_id=codec.stop_id, codec=codec, meta={"data": name},
                      schedule=Schedule(opt["schedule"], opt["warmup"], floor=opt["lr_floor"]),
                      label_smoothing=opt["label_smoothing"], keep_best=best, patience=args.patience,
                      scorer=lambda m: evaluate(m, valid, codec, text=text_scores)[0],
                      monitor="chrf" if text_scores else "accuracy")
    from .backend import get_backend

    vocab = f"{len(codec.vocab)}" if codec.target_vocab is codec.vocab else f"{len(codec.vocab)} + {len(codec.target_vocab)}"
    say(f"{opt['model']} on {name}: {len(train)} training and {len(valid)} {'valid' if args.valid else 'test'} examples{test_note}, "
        f"{codec.tokens.kind} tokens, vocabulary {vocab}, hidden {opt['hidden']}, backend {get_backend()}")
    history = trainer.fit(train.x, train.t, opt["epochs"], start_id=codec.start_id, checkpoint=save, resume=args.resume)
    if history and "accuracy" in history[-1]:
        say(f"{_scores_line(history[-1])} on {len(valid)} {'valid' if args.valid else 'test'} examples{test_note}; checkpoint {save}")
    result = {"history": history}
    if data.test is not None:
        result["test"], _ = evaluate(model, data.test, codec, text=text_scores)
        say(f"{_scores_line(result['test'])} on the {len(data.test)} examples of --test {args.test}")
    if plot:
        from .plots import plot_history

        plot_history(history, plot, title=f"{opt['model']} on {name}")
        say(f"accuracy curve: {plot}")
        if opt["model"] in ("attention", "transformer"):
            stem, ext = os.path.splitext(plot)
            _attention_figure(model, codec, valid.sources[:3], f"{stem}-attention{ext}")
            say(f"attention maps: {stem}-attention{ext}")
    if args.json:
        print(json.dumps(result))
    return 0


def _unk_share(ids, vocab, pad_id):
    """The share of the real (not padding) tokens of ``ids`` that are <unk>."""
    real = ids != pad_id
    return float((ids[real] == vocab.unk_id).mean()) if real.any() else 0.0


def _have_text_scores(say):
    """Whether sacrebleu is there for BLEU and chrF; without it, one warning and exact match only."""
    from .data.tokens import MissingExtra, require

    try:
        require("sacrebleu", what="BLEU and chrF")
        return True
    except MissingExtra as exc:
        say(f"warning: {exc}; scoring exact match only")
        return False


def _scores_line(scores):
    parts = [f"accuracy {scores['accuracy'] * 100:.2f}%"]
    parts += [f"{name} {scores[key]:.2f}" for key, name in (("bleu", "BLEU"), ("chrf", "chrF")) if key in scores]
    return ", ".join(parts)


def cmd_eval(args):
    from .data import read_lines
    from .metrics import evaluate

    _set_backend(args.backend)
    if args.show < 0 or args.beam < 1:
        raise UsageError("--show must be 0 or more and --beam at least 1")
    model, codec = _load(args.model)
    pairs = codec.read(read_lines(args.data), args.data)
    text_scores = codec.format == "tsv" and _have_text_scores(lambda m: print(m, file=sys.stderr))
    scores, pred = evaluate(model, pairs, codec, beam_width=args.beam, text=text_scores)
    acc, n = scores["accuracy"], len(pairs)
    if args.json:
        print(json.dumps({**scores, "n": n, "correct": int(round(acc * n))}))
        return 0
    shown = slice(0, args.show)
    answers = codec.decode(pred[shown])
    wanted = codec.decode(pairs.t[shown, 1:]) if codec.format == "qa" else pairs.targets[shown]
    same = (lambda a, w: a == w) if codec.format == "qa" else (lambda a, w: a == codec.target_tokens.normalise(w))
    for q, a, w in zip(pairs.sources[shown], answers, wanted):
        ok = same(a, w)
        print(f"{'ok ' if ok else 'BAD'} {q.strip()!r} -> {a!r}" + ("" if ok else f" (expected {w!r})"))
    print(f"{_scores_line(scores)} ({int(round(acc * n))} of {n} exactly right)")
    return 0


def _check_inputs(texts, codec):
    for k, text in enumerate(texts, 1):
        if not text.strip():
            raise UsageError(f"input {k} is empty; give the text to answer")
    if codec.format != "tsv":
        return
    pieces = [codec.tokens.split(t) for t in texts]
    longest = max(len(p) for p in pieces)
    if longest > codec.source_width:
        print(f"warning: an input of {longest} tokens is longer than any the model was trained on "
              f"({codec.source_width}); answers are cut at {codec.sample_size} tokens", file=sys.stderr)
    unknown = sorted({codec.tokens.shown(tok) for p in pieces for tok in p if tok not in codec.vocab})
    if unknown:
        shown = ", ".join(map(repr, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
        print(f"warning: {shown} not in the model's vocabulary, read as <unk>", file=sys.stderr)


def cmd_predict(args):
    from .backend import to_device, to_numpy

    _set_backend(args.backend)
    if args.beam < 1:
        raise UsageError(f"--beam must be at least 1, got {args.beam}")
    model, codec = _load(args.model)
    _check_inputs(args.text, codec)
    x = to_device(codec.encode_sources(args.text, source="the command line"))
    out = to_numpy(model.generate(x, codec.start_id, codec.sample_size, beam_width=args.beam, stop_id=codec.stop_id))
    for q, a in zip(args.text, codec.decode(out)):
        print(f"{q} -> {a}")
    return 0


def cmd_attention(args):
    _set_backend(args.backend)
    out = _png(args.out)
    _check_writable(out, "--out")
    _check_plots()
    model, codec = _load(args.model)
    if model.config["model"] not in ("attention", "transformer"):
        raise UsageError(f"{args.model} is a {model.config['model']} model, which has no attention; "
                         "train one with --model attention or --model transformer")
    _check_inputs([args.text], codec)
    _attention_figure(model, codec, [args.text], out)
    print(out)
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    from .backend import BackendError
    from .data import DataError, VocabularyError
    from .checkpoint import CheckpointError
    from .data.tokens import MissingExtra
    from .trainer import TrainingError

    handlers = {"train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "attention": cmd_attention}
    try:
        return handlers[args.command](args)
    except (UsageError, BackendError, CheckpointError, DataError, VocabularyError, TrainingError, MissingExtra, ValueError,
            RuntimeError) as exc:
        print(f"seqattn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file that could not be read or written; an earlier checkpoint is kept
        print(f"seqattn {args.command}: error: {exc.strerror or exc} ({exc.filename or 'a file'})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"seqattn {args.command}: interrupted; the last finished epoch's checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
