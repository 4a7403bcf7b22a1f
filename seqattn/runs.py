"""A run of the command, prepared: the backend, the threads and the ranks of the process; every
option, input and output checked; the data read and the codec fitted, before any epoch is spent.
The command (``seqattn.cli``) parses and reports; what it does is here."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

from . import __version__
from .data.tasks import EXAMPLES
from .errors import OptionError, UsageError, quoted
from .flags import FLAGS, MODEL_FLAGS
from .options import DATA, check_count, resolve, resolve_data


NOTHING_HELD_OUT = "too few pairs to hold any out: testing on the training pairs"  # train, eval and splits say it alike
MIN_DIST_TIMEOUT = 1  # seconds: below it, ranks that join well would be taken for ranks that never joined


def choose_backend(name):
    from .backend import check_environment, set_backend

    if name:
        set_backend(name)
    check_environment()


def one_process(args):
    """The backend and the BLAS threads of a command that runs in one process (eval, predict,
    attention)."""
    from .distributed import ONE

    choose_backend(args.backend)
    choose_threads(args.threads, ONE, lambda *a: print(*a, file=sys.stderr))


def load_checkpoint(path, with_meta=False, key="model"):
    from .checkpoint import CheckpointError
    from .models import load
    from .paths import check_input

    check_input(path, key)
    ck = load(path)
    if ck.codec is None:
        raise CheckpointError(f"{path!r} has no vocabulary or data format inside; it was not saved by `seqattn train`")
    return (ck.model, ck.codec, ck.meta) if with_meta else (ck.model, ck.codec)


def check_plots():
    from .plots import pyplot

    pyplot()  # a one-line error naming the extra to install, before any training


def parse_columns(text):
    """``--columns 2,1`` -> (1, 0): the 0-based columns of source and target."""
    if text is None:
        return None
    from .data.codec import MAX_COLUMNS

    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
        raise UsageError(f"--columns takes two column numbers such as 1,2 or 2,1, got {quoted(text)}")
    a, b = (int(p) for p in parts)
    if not (1 <= a <= MAX_COLUMNS and 1 <= b <= MAX_COLUMNS) or a == b:
        raise UsageError(f"--columns takes two different column numbers from 1 to {MAX_COLUMNS:,}, got {quoted(text)}")
    return a - 1, b - 1


def data_options(args, resumed):
    """How text is read, checked before any file is read."""
    files = [k for k in ("valid", "test") if getattr(args, k) is not None]
    options = resolve_data({k: getattr(args, k) for k in DATA}, args.task, resumed, parse_columns(args.columns),
                           args.max_length, files)
    if options.get("tokens") == "subword":
        from .data.tokens import require

        require("sentencepiece", what="--tokens subword")  # before any work
    return options


def data_of(args, resumed):
    """The data to train on: --task or --data, or a resumed run's own (with its --valid, --test
    and --examples) -> the options taken from the checkpoint."""
    from .data.source import resumed_data

    if args.task is None and args.data is None and not args.resume:
        raise UsageError("train needs --task or --data (or --resume, which takes the checkpoint's)")
    if not args.resume:
        return []
    chosen, taken = resumed_data(resumed.get("source"), args.task, args.data, args.examples, args.valid, args.test,
                                 where=repr(args.resume))
    for key, value in chosen.items():
        setattr(args, key, value)
    return taken


def is_text(args, resumed):
    """Whether the run trains on tab-separated text pairs (their recipe): a resumed run's codec
    says, else the data file's first line."""
    from .data import file_format

    if resumed.get("codec"):
        return resumed["codec"].get("format") == "tsv"
    return args.task is None and args.data is not None and file_format(args.data) == "tsv"


def outputs(args, opts, name):
    """Every file the run writes (checkpoint, -best, plots, the metrics log's CSV, options and
    TensorBoard folder), checked before the first epoch, each as the checkpoint is: writable, not
    a link or a special file, never a file that seqattn did not write, and none of them one file
    with another or with an input; the checkpoints owned by this run until it ends -> (save,
    best, plot, attention picture, log stem)."""
    from .checkpoint import check_target
    from .paths import Lock, check_distinct, check_writable, same_file
    from .runlog import log_paths

    save = args.save or args.resume or os.path.join("runs", f"{name}-{opts.model}.npz")  # a resumed run goes on in its file
    check_target(save, "save", continuing=same_file(args.resume, save), force=args.force)
    best = None
    if args.keep_best:  # named after --save: another --save is the way to another name
        stem, ext = os.path.splitext(save)
        best = f"{stem}-best{ext or '.npz'}"
        check_target(best, "keep_best", continuing=args.resume is not None, force=args.force, choose="<save>")
    plot, attention = args.plot, None
    if plot:
        check_writable(plot, "plot", picture=True)
        if opts.model_class.has_attention:
            stem, ext = os.path.splitext(plot)
            attention = f"{stem}-attention{ext}"
            check_writable(attention, "plot", picture=True)
        check_plots()
    log = log_stem(args, save)
    logs = [("log", path) for path in log_paths(log).values()] if log else []
    check_distinct([("save", save), ("keep_best", best, "<save>"), ("plot", plot), ("plot", attention), *logs],
                   [(k, getattr(args, k)) for k in ("data", "valid", "test") if getattr(args, k)])
    for path, key, choose in ((save, "save", None), (best, "keep_best", "<save>")):
        if path:
            args._hold.enter_context(Lock(path, key, choose))
    return save, best, plot, attention, log


@dataclass
class Run:
    """What rank 0 prepares for a training run (options checked, outputs checked, data read, codec
    fitted) and sends to every rank; the codec travels as its meta."""

    opts: object
    name: str
    save: str
    best: str | None
    plot: str | None
    attention: str | None  # the attention maps' picture
    codec: object
    train: object
    valid: object
    test: object
    test_note: str
    text_scores: bool
    source: dict  # where the data came from (data.source.describe), for the checkpoint
    log: str | None  # the metrics log's path without .csv (None: no log)
    patience: int | None  # epochs without a better score before stopping (None: never)

    def __getstate__(self):
        return {**self.__dict__, "codec": self.codec.to_meta()}

    def __setstate__(self, state):
        from .data.codec import Codec

        self.__dict__.update(state, codec=Codec.from_meta(state["codec"]))


def prepare(args, say):
    """Everything a run checks and reads before its first epoch -> Run."""
    from .data import load_dataset
    from .data.codec import Codec
    from .data.source import describe
    from .memory import check_run
    from .models import read_meta
    from .paths import check_input

    for key in ("data", "valid", "test", "resume"):
        if getattr(args, key) is not None:
            check_input(getattr(args, key), key)
    resumed = read_meta(args.resume) if args.resume else {}
    if resumed and "trainer" not in resumed:
        raise UsageError(f"{args.resume!r} holds a model but no training state to resume from")
    data_taken = data_of(args, resumed)
    given = {k: getattr(args, k) for k in ("model", "hidden", "wordvec", "init", "reverse", "batch_size", "seed", "max_grad",
                                           "optimizer", "lr", "beta1", "beta2", "schedule", "warmup", "lr_floor",
                                           "label_smoothing", "epochs", *MODEL_FLAGS)}
    opts, taken = resolve(given, args.task, resumed, text=is_text(args, resumed))
    taken += stopping(args, resumed)
    check_count("examples", args.examples)
    check_count("patience", args.patience, unit=" epoch")
    name = args.task or os.path.splitext(os.path.basename(args.data))[0]
    save, best, plot, attention, log = outputs(args, opts, name)
    source = args.data or f"task {args.task}"
    text_options = data_options(args, resumed)
    examples = args.examples or EXAMPLES
    data = load_dataset(args.task, args.data, opts.reverse, n=examples,
                        codec=Codec.from_meta(resumed["codec"]) if resumed.get("codec") else None,
                        valid=args.valid, test=args.test, max_length=args.max_length,
                        check_lengths=lambda c, ls, lt, lines: check_run(opts, c, ls, lt, lines, source), **text_options)
    codec, train, valid = data.codec, data.train, data.valid
    if data.dropped:
        say(f"left out {data.dropped:,} of {data.dropped + len(train):,} training pairs longer than {args.max_length} tokens")
    if opts.lr == 0:
        say("warning: --lr 0 leaves the weights as they are")
    updates = opts.epochs * math.ceil(len(train) / opts.batch_size)
    if opts.warmup > updates:
        say(f"warning: --warmup {opts.warmup} is more updates than the run's {updates:,}: the rate climbs for the whole "
            f"run and never reaches --lr {opts.lr:g}; lower --warmup, or train longer")
    if taken or data_taken:
        say(f"resuming {args.resume}: {', '.join(FLAGS[k] for k in data_taken + taken)} as in the checkpoint")
    if resumed and "epochs" not in taken:
        note = longer_or_shorter(opts, resumed, math.ceil(len(train) / opts.batch_size))
        if note:
            say(note)
    warn_unknown(say, codec, train, resumed)
    warn_unspaced(say, codec, train)
    test_note = ""
    if len(valid) == 0:
        valid = train
        test_note = NOTHING_HELD_OUT
    text_scores = codec.format == "tsv" and have_text_scores(say)
    record = describe(args.task, args.data, examples, valid=args.valid, test=args.test)
    for key, what in (("valid", "every epoch is scored on"), ("test", "the run is tested on")):
        if "file" in record and record.get(key, {}).get("sha256") == record["file"]["sha256"]:
            say(f"warning: --{key} {getattr(args, key)} holds the very pairs of --data {args.data}, so {what} training pairs, "
                "which inflates every score; give pairs held out from training")
    return Run(opts, name, save, best, plot, attention, codec, train, valid, data.test, test_note, text_scores, record, log,
               args.patience)


def recipe_line(opts):
    """How the run trains, in one line under its header: the recipe's choices that a user of the
    book's tasks or of text pairs meets first (``--help`` and the options log hold every one)."""
    schedule = opts.schedule + (f" to {opts.lr_floor:g} of it" if opts.schedule != "constant" else "")
    schedule += f", {opts.warmup} updates of warm-up" if opts.warmup else ""
    wordvec = f"word vectors {opts.wordvec}, " if opts.wordvec else ""
    clip = f"clipping at {opts.max_grad:g}" if opts.max_grad else "no clipping"
    return (f"{opts.epochs} epoch{'s' * (opts.epochs != 1)}, {wordvec}batches of {opts.batch_size}, {opts.optimizer} at {opts.lr:g} ({schedule}), "
            f"{clip}, sources {'reversed' if opts.reverse else 'as written'}")


def stopping(args, resumed):
    """A resumed run's --patience and --keep-best, where not given, as its checkpoint records them
    (so that it stops, and keeps its best, as the uninterrupted run would), and its --log none (a
    run without a metrics log goes on without one) -> those taken."""
    theirs, taken = (resumed or {}).get("trainer") or {}, []
    if args.log is None and (resumed or {}).get("log") is False:
        args.log = "none"
        taken.append("log")
    elif args.log is None and isinstance((resumed or {}).get("log_file"), str):  # a --log of its own: it goes on there
        from .runlog import is_log_of

        recorded = os.path.join(os.path.dirname(os.path.abspath(args.resume)), resumed["log_file"])
        if is_log_of(os.path.splitext(recorded)[0], args.resume):  # only a log there that names this checkpoint as its run's
            args.log = recorded
            taken.append("log")
    if args.patience is None and theirs.get("patience") is not None:
        args.patience = theirs["patience"]
        taken.append("patience")
    if not args.keep_best and theirs.get("keep_best"):
        args.keep_best = True
        taken.append("keep_best")
    return taken


def longer_or_shorter(opts, resumed, updates):
    """What ``--epochs`` given on resuming does to the run (``updates``: of one epoch), in words,
    or None where it changes nothing: the run ends at another epoch, and a cosine or linear
    schedule, whose total is the run's updates, is stretched (or squeezed) to end there from the
    resumed update on, so the rate goes on from another value."""
    from .checkpoint import run_epochs
    from .optim import Schedule

    theirs, done = run_epochs(resumed), resumed["trainer"]["epoch"]
    if theirs is None or theirs == opts.epochs or opts.epochs <= done:
        return None  # unknown, the same, or nothing left to train (which training says)
    words = (f"--epochs {opts.epochs} {'lengthens' if opts.epochs > theirs else 'shortens'} the run of {theirs} "
             f"epoch{'s' * (theirs != 1)}")
    if opts.schedule not in ("cosine", "linear"):
        return words
    step = (resumed.get("optimizer") or {}).get("iter", done * updates) + 1
    rate = [opts.lr * Schedule(opts.schedule, opts.warmup, e * updates, opts.lr_floor)(step) for e in (theirs, opts.epochs)]
    return (f"{words}: its {opts.schedule} schedule is {'stretched' if opts.epochs > theirs else 'squeezed'} to reach "
            f"its floor at epoch {opts.epochs} instead of {theirs}, from here on, so the rate goes on at {rate[1]:.3g} "
            f"instead of {rate[0]:.3g}")


def join(args, say):
    """This process's communicator (several ranks when a launcher started several), with the
    backend and the BLAS threads agreed on every rank -> (communicator, the threads in words)."""
    from .distributed import world

    if args.dist_timeout is not None and not MIN_DIST_TIMEOUT <= args.dist_timeout < math.inf:  # NaN, inf: every wait is bounded
        raise OptionError(f"<dist_timeout> must be a number of seconds of at least {MIN_DIST_TIMEOUT} (the ranks take a "
                          f"moment to join) and finite, got {args.dist_timeout}")
    host = world(args.distributed, args.dist_timeout, device=False)
    host.agree(lambda: choose_backend(args.backend))
    comm = world(args.distributed, args.dist_timeout)
    return comm, comm.agree(lambda: choose_threads(args.threads, comm, say if comm.root else lambda *a: None))


def choose_threads(value, comm, say):
    """Set this process's BLAS threads (``--threads``, SEQATTN_THREADS, the BLAS's variables or the
    default), warn when the machine's ranks would run more threads than it has cores -> the
    threads in words."""
    from .threads import blas_threads, choose, oversubscribed, set_threads

    n, source = choose(value, comm.local_size)
    if n is not None:
        n = set_threads(n)  # what the BLAS really runs
        if n is None:
            say(f"warning: threadpoolctl is not installed, so {source} cannot set the BLAS threads: pip install threadpoolctl")
    n = blas_threads() if n is None else n
    warning = oversubscribed(n, comm.local_size)
    if warning:
        say(f"warning: {warning}")
    return f"{n} BLAS thread{'s' if n != 1 else ''}" if n else "BLAS threads unknown"


def _path_from(path, folder):
    """``path`` from ``folder`` (absolute where there is no way from one to the other)."""
    try:
        return os.path.relpath(os.path.abspath(path), folder)
    except ValueError:  # another drive (Windows)
        return os.path.abspath(path)


def log_record(stem, save):
    """What a checkpoint at ``save`` records of its run's metrics log at ``stem``: {"log": whether
    there is one}, and where the log is not the default one named after the checkpoint, its CSV's
    path from the checkpoint's folder ("log_file"), which a resume takes where --log is not given
    and the log there is this checkpoint's (its options name it): a checkpoint never sends a run's
    writes elsewhere."""
    record = {"log": stem is not None}
    if stem is not None and os.path.abspath(stem) != os.path.abspath(os.path.splitext(save)[0]):
        record["log_file"] = _path_from(stem + ".csv", os.path.dirname(os.path.abspath(save)))
    return record


def log_stem(args, save):
    """Where the run's metrics log goes (--log PATH.csv; beside the checkpoint, named after it, by
    default), its files checked before any work as the checkpoint is (``runlog.check_log``: never
    a file seqattn did not write, nor another run's log unless this run continues it or --force)
    -> its path without .csv, or None for --log none."""
    from .paths import check_writable, same_file
    from .runlog import check_log, is_log_of

    if args.log == "none":
        return None
    if args.log is not None:
        check_writable(args.log, "log", ending=".csv")
        if not args.log.endswith(".csv"):  # the log's other files are named after its stem: one spelling for all
            raise OptionError(f"<log> {args.log!r} must end in .csv in lower case, such as "
                              f"{os.path.splitext(args.log)[0] + '.csv'!r}: its options and TensorBoard files are named after it")
    stem = os.path.splitext(args.log or save)[0]
    # the log of the resumed run: the one it records, or by default the one named after its checkpoint
    continuing = args.resume is not None and (is_log_of(stem, args.resume) or (args.log is None and same_file(args.resume, save)))
    check_log(stem, "log", continuing=continuing, force=args.force)
    return stem


def run_log(args, run, opts):
    """The run's per-epoch metrics log (runlog.RunLog), with its options."""
    from dataclasses import asdict

    from .runlog import RunLog

    if run.log is None:
        return None
    given = {k: v for k, v in vars(args).items() if v not in (None, False) and k != "command" and not k.startswith("_")}
    options = {"given": given, "options": asdict(opts), "data": run.source, "checkpoint": run.save,
               "checkpoint_file": _path_from(run.save, os.path.dirname(os.path.abspath(run.log))), "seqattn": __version__}
    return RunLog(run.log, options)


def kept(trainer, save):
    """What an interrupted run leaves in ``save``, in words."""
    key = os.fspath(save)
    if key in trainer.saved:
        return f"{save} holds epoch {trainer.saved[key]}, the last this run finished"
    if os.path.lexists(save) and trainer.history:
        return f"{save} is as it was (epoch {len(trainer.history)}); no epoch of this run finished"
    return "no epoch finished, and nothing was saved"


def warn_unknown(say, codec, train, resumed):
    """Warn when much of the training text is <unk>: too rare for a new vocabulary, or not in a
    resumed checkpoint's."""
    if codec.vocab.unk is None:
        return
    sides = ((train.x, codec.vocab), (train.t[:, 1:], codec.target_vocab))
    if resumed:
        unknown = [int((a == v.unk_id).sum()) for a, v in sides]
        if any(unknown):
            say(f"warning: {unknown[0]} source and {unknown[1]} target tokens of the training pairs are not in the "
                "checkpoint's vocabularies and are read as <unk>")
        return
    shares = []
    for ids, vocab in sides:
        real = ids != codec.pad_id
        shares.append(float((ids[real] == vocab.unk_id).mean()) if real.any() else 0.0)
    if max(shares) > 0.2:
        say(f"warning: {shares[0]:.0%} of the source and {shares[1]:.0%} of the target tokens are <unk> "
            "(seen fewer than --min-count times, or beyond --max-vocab); the model cannot learn them")


def warn_unspaced(say, codec, train, sample=2000):
    """Warn when word tokens make most lines of a side one token of wide characters: text written
    without spaces between words (Chinese, Japanese), which words would learn as whole sentences."""
    import unicodedata

    if codec.format != "tsv" or not len(train):
        return
    for side, texts, tokens in (("source", train.sources, codec.tokens), ("target", train.targets, codec.target_tokens)):
        if tokens.kind != "word":
            continue
        texts = texts[:sample]
        whole = sum(len(tokens.split(t)) == 1 and any(unicodedata.east_asian_width(c) in "WF" for c in t) for t in texts)
        if whole >= len(texts) / 2:
            say(f"warning: {whole:,} of {len(texts):,} {side} lines are one word token of wide characters: text written "
                "without spaces between words (such as Chinese or Japanese) is better read with --tokens char or "
                "--tokens subword")
            return


def have_text_scores(say):
    """Whether sacrebleu is there for BLEU and chrF; without it, one warning and exact match only."""
    from .data.tokens import MissingExtra, require

    try:
        require("sacrebleu", what="BLEU and chrF")
        return True
    except MissingExtra as exc:
        say(f"warning: {exc}; scoring exact match only")
        return False


def pairs_to_score(args, codec, meta):
    """What ``eval`` scores: the pairs of --data, or a split of the checkpoint's own data (by
    default the held-out pairs every epoch was scored on) -> (Pairs, what they are)."""
    from .data import read_lines
    from .data.source import is_same_file, source_name, split_lines, split_name

    source = meta.get("source")
    if args.data is not None:
        if args.split is not None:
            raise UsageError("--split picks a split of the checkpoint's own data; leave it out with --data")
        if source and is_same_file(source.get("file"), args.data):
            print(f"warning: {args.data} is the file the model was trained on, so most of its pairs were training pairs, "
                  "which inflates the scores; leave out --data to score its held-out split", file=sys.stderr)
        return codec.read(read_lines(args.data), args.data), args.data
    if source is None:
        raise UsageError(f"{args.model!r} does not record its data (it was written by an earlier version); give --data FILE")
    split = args.split or "held-out"
    if split == "test" and "test" not in source:
        raise UsageError(f"{args.model!r} was trained without a --test file; choose --split held-out or train")
    lines = split_lines(source, where=repr(args.model), which=(split,))[split]
    if not lines and split == "held-out":  # too few pairs to hold any out: training scored the training pairs
        lines = split_lines(source, where=repr(args.model), which=("train",))["train"]
        return codec.read(lines, source_name(source)), f"the training pairs of {source_name(source)} ({NOTHING_HELD_OUT})"
    return codec.read(lines, split_name(source, split)), split_name(source, split)
