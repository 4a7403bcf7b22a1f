"""The ``seqattn`` command: train, eval, predict, attention. Parsing and the commands only: the
options are resolved in ``seqattn.options``, models describe themselves (``seqattn.models``),
and every error the library raises names an option, which is spelt here as its flag."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import sys

from . import __version__, runs
from .data.source import SPLITS
from .data.tasks import EXAMPLES, TASKS
from .data.tokens import SUBWORD_TYPES, TOKENS
from .errors import QUOTE_LIMIT, OptionError, UsageError, quoted
from .flags import FLAGS, MODEL_FLAGS
from .models import MODELS
from .optim import OPTIMIZERS, SCHEDULES
from .options import TRAINING, check_count, data_default, describe_default, model_option_takers


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line that names the command (``seqattn train:
    error: ...; see seqattn train --help``), exit status 2, quoting at most QUOTE_LIMIT characters
    of a value; the commands' parsers are of this class too."""

    _QUOTED = re.compile(f"'([^']{{{QUOTE_LIMIT + 1},}})'")

    def error(self, message):
        message = self._QUOTED.sub(lambda m: quoted(m.group(1)), " ".join(str(message).split()))
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def parse(argv=None):
    """The command line -> its arguments; an argument no command takes is the error of the
    command it was given to."""
    p = _parser()
    args, extra = p.parse_known_args(argv)
    if extra:
        given = " ".join(extra)
        p.commands[args.command].error(f"unrecognized arguments: {given if len(given) <= QUOTE_LIMIT else quoted(given)}")
    return args


def _parser():
    p = _Parser(prog="seqattn", description="Seq2seq models with attention, on numpy or cupy.")
    p.add_argument("--version", action="version", version=f"seqattn {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    backend = dict(choices=["numpy", "cupy", "auto"], help="array backend (default: SEQATTN_BACKEND, else auto: cupy "
                   "when a CUDA device is present)")
    threads = dict(metavar="N", help="BLAS threads of each process, or auto (default: SEQATTN_THREADS, else the BLAS's own "
                   "variables, else auto: the cores less one, shared among this machine's ranks)")

    # Training options default to None so that a resumed run can tell what was given from what
    # was not; the defaults are filled in by seqattn.options.resolve.
    t = sub.add_parser("train", help="train a model on a built-in task or a data file")
    src = t.add_mutually_exclusive_group()  # one of them, or --resume (whose data is taken)
    src.add_argument("--task", choices=list(TASKS), help="a built-in task, generated (see --examples); the seeded tenth "
                     "is held out and scored after every epoch")
    src.add_argument("--data", metavar="FILE", help="the book's 'question_answer' lines, or source<TAB>target pairs; the "
                     "seeded tenth is held out (or --valid). With --resume, the checkpoint's own data is the default")
    t.add_argument("--valid", metavar="FILE", help="pairs to score after every epoch (default: a seeded tenth of --data)")
    t.add_argument("--test", metavar="FILE", help="pairs to score once, after training")
    t.add_argument("--columns", help="the tab-separated columns of source and target, from 1 (default 1,2; 2,1 swaps)")
    t.add_argument("--tokens", choices=TOKENS, help="how tab-separated pairs are split: char, word (words and "
                   "punctuation) or subword (sentencepiece, trained on the training split; needs the [text] extra) "
                   f"(default {data_default('tokens')}; files in the book's format are read character by character)")
    t.add_argument("--lower", action="store_true", default=None, help="lower-case word and subword tokens (default "
                   f"{data_default('lower')})")
    t.add_argument("--vocab-size", type=int, help=f"subword pieces per side (default {data_default('vocab_size')} at most: "
                   "sentencepiece stops where the data supports fewer)")
    t.add_argument("--subword-type", choices=SUBWORD_TYPES, help=f"unigram or bpe (default {data_default('subword_type')})")
    t.add_argument("--min-count", type=int, help=f"tokens seen fewer times become <unk> (default {data_default('min_count')})")
    t.add_argument("--max-vocab", type=int, help="keep at most this many of the most frequent tokens per side (default: all)")
    t.add_argument("--max-length", type=int, help="leave out training pairs with more tokens than this on a side "
                   "(default: keep all)")
    kinds = list(MODELS)
    t.add_argument("--model", choices=kinds, help=f"the model: {', '.join(kinds)} (default {TRAINING['model']})")
    for key, (flag, choices, helptext) in MODEL_FLAGS.items():  # the models' own options
        takes = model_option_takers(key)
        default = MODELS[takes[0]].options[key]
        helptext = f"{helptext} (of {', '.join(takes)}; default {describe_default(key)})"
        if isinstance(default, bool):
            t.add_argument(flag, dest=key, action="store_true", default=None, help=helptext)
        else:
            t.add_argument(flag, dest=key, type=type(default), choices=choices, help=helptext)
    t.add_argument("--reverse", action=argparse.BooleanOptionalAction, default=None, help=f"reverse the source sequences, "
                   f"the book's trick (default {describe_default('reverse')})")
    t.add_argument("--epochs", type=int, help=f"the epoch to train up to (default {describe_default('epochs')}; with "
                   "--resume, the resumed run's own, and another lengthens or shortens the run: a cosine or linear "
                   "schedule is stretched to reach its floor at the new last epoch, from the resumed update on)")
    t.add_argument("--batch-size", type=int, help=f"pairs per update (default {describe_default('batch_size')})")
    t.add_argument("--hidden", type=int, help=f"LSTM width, or the Transformer's d_model (default {describe_default('hidden')})")
    t.add_argument("--wordvec", type=int, help=f"width of the LSTM models' embeddings (default {describe_default('wordvec')})")
    t.add_argument("--lr", type=float, help=f"learning rate, where the schedule starts (default {describe_default('lr')})")
    t.add_argument("--max-grad", type=float, help=f"clip the gradient norm to this, 0: no clipping (default "
                   f"{describe_default('max_grad')})")
    t.add_argument("--optimizer", help=f"{', '.join(OPTIMIZERS)} (default {describe_default('optimizer')})")
    t.add_argument("--beta1", type=float, help=f"Adam's beta1 (default {describe_default('beta1')})")
    t.add_argument("--beta2", type=float, help=f"Adam's beta2 (default {describe_default('beta2')})")
    t.add_argument("--schedule", choices=SCHEDULES, help="learning rate over the updates: constant, rsqrt (warm-up then "
                   "1/sqrt), cosine or linear decay to --lr-floor by the last epoch (default "
                   f"{describe_default('schedule')})")
    t.add_argument("--warmup", type=int, help=f"updates of linear warm-up (default {describe_default('warmup')})")
    t.add_argument("--lr-floor", type=float, help="where cosine and linear decay end, as a fraction of --lr (default "
                   f"{describe_default('lr_floor')})")
    t.add_argument("--label-smoothing", type=float, help="train towards (1 - e) one-hot + e / V (default "
                   f"{describe_default('label_smoothing')})")
    t.add_argument("--keep-best", action="store_true", help="also keep the checkpoint of the best held-out score as "
                   "NAME-best.npz: exact match, or chrF on text pairs (default off; with --resume, as the resumed run)")
    t.add_argument("--patience", type=int, help="stop after this many epochs without a better held-out score (exact "
                   "match, or chrF on text pairs; default: never stop early; with --resume, the resumed run's)")
    t.add_argument("--init", choices=["default", "book"], help="weight initialisation: 'book' is the book's (embeddings "
                   f"at 1/100 scale; default: {describe_default('init')})")
    t.add_argument("--seed", type=int, help=f"seed of the weights, batches and dropout (default {describe_default('seed')})")
    t.add_argument("--examples", type=int, help=f"examples generated for --task (default {EXAMPLES:,}; with --resume, "
                   "the checkpoint's)")
    t.add_argument("--backend", **backend)
    t.add_argument("--threads", **threads)
    t.add_argument("--distributed", choices=["auto", "off"], default="auto", help="auto (default): data-parallel over the "
                   "ranks when started by mpiexec, srun or another MPI launcher; off: this process alone")
    t.add_argument("--dist-timeout", type=float, default=600.0, metavar="SECONDS", help="end the job when a rank has waited "
                   "this long for the others, from their start on (a rank stalled, died or never joined; at least 1, default 600)")
    t.add_argument("--save", metavar="PATH", help="checkpoint written after every epoch (default runs/NAME-MODEL.npz; "
                   "with --resume, the resumed file)")
    t.add_argument("--resume", metavar="PATH", help="continue from a checkpoint saved by an earlier run: its options, "
                   "--epochs, vocabulary and data (--task or --data, --valid, --test, --examples) are taken unless given, "
                   "so that --resume alone goes on as the run would have")
    t.add_argument("--force", action="store_true", help="overwrite an existing checkpoint at --save with a new run")
    t.add_argument("--plot", metavar="PATH.png", help="save the accuracy curve as this PNG (and the attention maps of "
                   "attention models as PATH-attention.png); a name not ending in .png is refused")
    t.add_argument("--log", metavar="PATH.csv", help="the per-epoch metrics as CSV (a name ending in .csv), with the "
                   "options as PATH.options.json and TensorBoard event files in PATH-tensorboard/ when tensorboardX is "
                   "installed ('none': no log; default: beside --save and named after it, so runs/NAME-MODEL.csv beside "
                   "the default --save). Files there that are not a seqattn log are never replaced")
    t.add_argument("--quiet", action="store_true", help="no progress bar (default: a bar when tqdm is installed)")
    t.add_argument("--json", action="store_true", help="print the history as JSON at the end; log lines go to "
                   "standard error (default off)")

    checkpoint = dict(required=True, metavar="PATH", help="a checkpoint written by seqattn train")
    beam = dict(type=int, default=1, help="beam width (default 1: greedy)")
    e = sub.add_parser("eval", help="exact match (and BLEU and chrF for text pairs) of a checkpoint on the held-out pairs "
                       "it was scored on in training, or on a file")
    e.add_argument("--model", **checkpoint)
    e.add_argument("--data", metavar="FILE", help="score every pair of this file (default: a split of the checkpoint's own "
                   "data, see --split)")
    e.add_argument("--split", choices=SPLITS, help="which split of the checkpoint's own data: held-out (the default: what "
                   "every epoch was scored on, the seeded tenth or --valid), train, or test (its --test file)")
    e.add_argument("--json", action="store_true", help="print the scores as one JSON object (default off)")
    e.add_argument("--beam", **beam)
    e.add_argument("--backend", **backend)
    e.add_argument("--threads", **threads)
    e.add_argument("--show", type=int, default=5, help="examples to print with their answers (default 5)")

    r = sub.add_parser("predict", help="answer questions with a checkpoint")
    r.add_argument("--model", **checkpoint)
    r.add_argument("--beam", **beam)
    r.add_argument("--backend", **backend)
    r.add_argument("--threads", **threads)
    r.add_argument("text", nargs="+", help="the questions or sentences to answer")

    a = sub.add_parser("attention", help="draw what the model attends to while it answers, one row per text")
    a.add_argument("--model", **checkpoint)
    a.add_argument("--out", required=True, metavar="FILE.png", help="the PNG to write (a name ending in .png)")
    a.add_argument("--backend", **backend)
    a.add_argument("--threads", **threads)
    a.add_argument("text", nargs="+", help="one or more questions or sentences")

    w = sub.add_parser("splits", help="write the train, held-out (and test) splits of a checkpoint's data, or of a task "
                       "or file, to files")
    of = w.add_mutually_exclusive_group(required=True)
    of.add_argument("--model", metavar="PATH", help="the splits a checkpoint was trained and scored on")
    of.add_argument("--task", choices=list(TASKS), help="the splits that seqattn train --task would make")
    of.add_argument("--data", metavar="FILE", help="the splits that seqattn train --data would make")
    w.add_argument("--examples", type=int, help=f"examples generated for --task (default {EXAMPLES:,})")
    w.add_argument("--out", required=True, metavar="DIR", help="the folder to write train, held-out and test files into "
                   "(.txt for the book's format, .tsv for pairs)")
    w.add_argument("--force", action="store_true", help="overwrite split files already there (default off)")
    p.commands = sub.choices
    return p


def cmd_train(args):
    from .backend import get_backend
    from .metrics import evaluate
    from .paths import same_file
    from .trainer import Trainer

    say = _printer(args.json)
    comm, threads = runs.join(args, say)
    say = say if comm.root else (lambda *a: None)  # rank 0 alone prints
    run = comm.share(lambda: runs.prepare(args, say))  # rank 0 checks and reads; every rank gets the same run
    opts, codec, train, valid, test = run.opts, run.codec, run.train, run.valid, run.test
    longest = max(max(p.x.shape[1], p.t.shape[1]) for p in (train, valid, test) if p is not None)
    model = opts.make_model(codec, longest)
    trainer = Trainer(model, opts.make_optimizer(), **opts.trainer_options(), progress=not args.quiet, log=say,
                      codec=codec, meta={"data": run.name, "source": run.source, **runs.log_record(run.log, run.save)},
                      keep_best=run.best, patience=run.patience,
                      scorer=lambda m: evaluate(m, valid, codec, text=run.text_scores, comm=comm)[0],
                      monitor="chrf" if run.text_scores else "accuracy", comm=comm)
    runlog = runs.run_log(args, run, opts) if comm.root else None  # rank 0 alone writes
    if runlog is not None:
        trainer.callbacks.append(runlog)
    split = "valid" if args.valid else "held-out"
    scored = f"the {len(valid)} training examples ({run.test_note})" if run.test_note else f"{len(valid)} {split} examples"
    vocab = f"{len(codec.vocab)}" if codec.target_vocab is codec.vocab else f"{len(codec.vocab)} + {len(codec.target_vocab)}"
    ranks = f" on each of {comm.size} ranks" if comm.size > 1 else ""
    held = f"no held-out examples ({run.test_note})" if run.test_note else f"{len(valid)} {split} examples"
    say(f"{opts.model} on {run.name}: {len(train)} training and {held}, "
        f"{codec.tokens.kind} tokens, vocabulary {vocab}, hidden {opts.hidden}, backend {get_backend()}, {threads}{ranks}")
    say(runs.recipe_line(opts))
    args._kept = (lambda: runs.kept(trainer, run.save)) if comm.root else str  # what an interruption from here on leaves
    history = trainer.fit(train.x, train.t, opts.epochs, start_id=codec.start_id, checkpoint=run.save, resume=args.resume)
    if args.resume and trainer.epoch == trainer.resumed_at:
        say(f"nothing left to train: {args.resume} has finished {len(history)} of --epochs {opts.epochs}"
            + ("" if same_file(run.save, args.resume) else f"; {run.save} holds the same"))
    elif history and "accuracy" in history[-1]:
        say(f"{_scores_line(history[-1])} on {scored}; checkpoint {run.save}")
    result = {"history": history}
    if test is not None:
        result["test"], _ = evaluate(model, test, codec, text=run.text_scores, comm=comm)
        say(f"{_scores_line(result['test'])} on the {len(test)} examples of --test {args.test}")
    if run.plot and comm.root:
        from .plots import MAX_DRAWN, attention_figure, plot_history

        plot_history(history, run.plot, title=f"{opts.model} on {run.name}")
        say(f"accuracy curve: {run.plot}")
        if run.attention:  # the first held-out inputs short enough to draw
            drawn = list(itertools.islice((t for t in valid.sources if len(codec.source_chars(t)) <= MAX_DRAWN), 3))
            if drawn:
                attention_figure(model, codec, drawn, run.attention)
                say(f"attention maps: {run.attention}")
            else:
                say(f"attention maps: none drawn, every {split} input has more than {MAX_DRAWN} tokens "
                    "(seqattn attention draws shorter inputs of your own)")
    if runlog is not None:
        runlog.close()
        if runlog.written():
            say(f"metrics log: {', '.join(runlog.written())}")
    if args.json and comm.root:
        print(json.dumps(result))
    return 0


def _another_rank():
    """Whether a launcher started this process as one of several and not as rank 0."""
    from .distributed.launch import detect

    launch = detect()
    return launch is not None and launch.several and launch.rank != 0


def _printer(to_stderr):
    return (lambda *a: print(*a, file=sys.stderr, flush=True)) if to_stderr else (lambda *a: print(*a, flush=True))


def _scores_line(scores):
    from .metrics import bleu_name

    parts = [f"accuracy {scores['accuracy'] * 100:.2f}%"]
    parts += [f"{name} {scores[key]:.2f}" for key, name in (("bleu", bleu_name(scores)), ("chrf", "chrF")) if key in scores]
    return ", ".join(parts)


def cmd_eval(args):
    from .metrics import evaluate
    from .paths import check_input

    runs.one_process(args)
    if args.show < 0 or args.beam < 1:
        raise UsageError("--show must be 0 or more and --beam at least 1")
    if args.data is not None:
        check_input(args.data, "data")
    model, codec, meta = runs.load_checkpoint(args.model, with_meta=True)
    pairs, what = runs.pairs_to_score(args, codec, meta)
    print(f"scoring {what}", file=sys.stderr)
    text_scores = codec.format == "tsv" and runs.have_text_scores(lambda m: print(m, file=sys.stderr))
    scores, pred = evaluate(model, pairs, codec, beam_width=args.beam, text=text_scores, alignment=True)
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
    if "alignment" in scores:
        print(_alignment_line(scores["alignment"]))
    return 0


def _alignment_line(a):
    f = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    by_step = ", ".join(map(f, a["final_by_step"][:8])) + (" ..." if len(a["final_by_step"]) > 8 else "")
    whose = f" (the mean of {a['heads']} heads of the last block)" if a.get("heads", 1) > 1 else ""
    return (f"attention{whose}: weight on the source token read last {f(a['final_early'])} at output steps 1-3, "
            f"{f(a['final_late'])} from step 4 (by step: {by_step}); argmax alignment monotone {f(a['monotone'])}, "
            f"Kendall tau {f(a['kendall_tau'])}, covers {f(a['coverage'])} of the source")


def _check_inputs(texts, codec):
    """Refuse empty inputs; warn of what the model may not answer well."""
    for warning in codec.input_warnings(texts):
        print(f"warning: {warning}", file=sys.stderr)


def cmd_splits(args):
    from .data.codec import read_pairs
    from .data.source import describe, split_lines, write_splits
    from .models import read_meta
    from .paths import check_input

    if not args.out:
        raise UsageError("--out must name a folder to write the splits into")
    if args.examples is not None and args.task is None:
        raise UsageError("--examples is the size of a built-in --task; the pairs of --model or --data are those of its file")
    for key in ("model", "data"):
        if getattr(args, key) is not None:
            check_input(getattr(args, key), key)
    if args.model is not None:
        source = read_meta(args.model).get("source")
        if source is None:
            raise UsageError(f"{args.model!r} does not record its data (it was written by an earlier version)")
    else:
        check_count("examples", args.examples)
        if args.data is not None:
            read_pairs(args.data)  # what train --data would refuse is refused here too
        source = describe(args.task, args.data, args.examples or EXAMPLES)
    splits = split_lines(source, where=repr(args.model) if args.model else "the data",
                         fix="give the data file with --data in place of --model")
    suffix = ".txt" if "\t" not in next(iter(splits["train"] or splits["held-out"]), "") else ".tsv"
    recorded = [("data" if key == "file" else key, source[key]["path"]) for key in ("file", "valid", "test") if key in source]
    inputs = [(k, getattr(args, k)) for k in ("model", "data") if getattr(args, k)] + recorded
    empty = [name for name, lines in splits.items() if not lines]
    for name, path in write_splits({k: v for k, v in splits.items() if v}, args.out, suffix, force=args.force, inputs=inputs).items():
        print(f"{path}: {len(splits[name]):,} pair{'s' * (len(splits[name]) != 1)} ({name})")
    for name in empty:  # a file of no pairs is one that train --valid would refuse
        print(f"no {name} split ({len(splits['train']):,} pairs: {runs.NOTHING_HELD_OUT})")
    return 0


def cmd_predict(args):
    from .backend import to_device, to_numpy

    runs.one_process(args)
    if args.beam < 1:
        raise UsageError(f"--beam must be at least 1, got {args.beam}")
    model, codec = runs.load_checkpoint(args.model)
    _check_inputs(args.text, codec)
    x = to_device(codec.encode_sources(args.text, source="the command line"))
    out = to_numpy(model.generate(x, codec.start_id, codec.sample_size, beam_width=args.beam, stop_id=codec.stop_id))
    for q, a in zip(args.text, codec.decode(out)):
        print(f"{q} -> {a}")
    return 0


def cmd_attention(args):
    from .paths import check_distinct, check_writable
    from .plots import attention_figure, check_drawn

    runs.one_process(args)
    out = args.out
    check_writable(out, "out", picture=True)
    check_distinct([("out", out)], [("model", args.model)])
    runs.check_plots()
    model, codec = runs.load_checkpoint(args.model)
    if not model.has_attention:
        with_attention = " or ".join(f"--model {k}" for k, cls in MODELS.items() if cls.has_attention)
        raise UsageError(f"{args.model} is a {model.kind} model, which has no attention; train one with {with_attention}")
    check_drawn(codec, args.text)
    _check_inputs(args.text, codec)
    attention_figure(model, codec, args.text, out)
    print(out)
    return 0


def main(argv=None):
    args = parse(argv)
    if args.command != "train" and _another_rank():
        return 0  # eval, predict, attention and splits run in one process: under a launcher, rank 0 answers once
    from .backend import BackendError
    from .checkpoint import CheckpointError
    from .data import DataError, VocabularyError
    from .data.tokens import MissingExtra
    from .trainer import TrainingError

    handlers = {"train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "attention": cmd_attention, "splits": cmd_splits}
    try:
        with contextlib.ExitStack() as args._hold:  # what the command holds while it runs (its checkpoints' locks)
            return handlers[args.command](args)
    except OptionError as exc:
        return _fail(args, exc, exc.render(FLAGS))
    except (UsageError, BackendError, CheckpointError, DataError, VocabularyError, TrainingError, MissingExtra, ValueError,
            RuntimeError) as exc:
        return _fail(args, exc, str(exc))
    except BrokenPipeError:  # the reader of the output stopped (`seqattn ... | head`): end quietly, as a shell tool does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that Python's last flush at exit has nowhere to fail
        return 1
    except OSError as exc:  # a file that could not be read or written; an earlier checkpoint is kept
        return _fail(args, exc, f"{exc.strerror or exc} ({exc.filename or 'a file'})")
    except MemoryError as exc:
        return _fail(args, exc, f"out of memory{f' ({exc})' if str(exc) else ''}; ask for less (a smaller --batch-size, "
                     "--hidden or --beam, or shorter inputs)")
    except KeyboardInterrupt as exc:
        kept = args._kept() if getattr(args, "_kept", None) else "nothing was written" if args.command == "train" else ""
        return _fail(args, exc, kept, 130, what="interrupted", sep="; " if kept else "")
    except Exception as exc:  # a bug: one line here, the traceback in a file for the report
        return _fail(args, exc, f"({type(exc).__name__}: {exc}); this is a bug in seqattn {__version__}: please report it"
                     f"{_traceback_file(exc)}", what="internal error", sep=" ")


def _fail(args, exc, message, code=2, what="error", sep=": "):
    """Print the one line of an error once -> the exit status. In a job of several ranks, rank 0
    prints what every rank met (a check before training, a stop that every rank decided alike),
    while a rank that met an error of its own prints it and ends every rank."""
    from .distributed import current, detect, on_every_rank

    message = " ".join(line.strip() for line in str(message).splitlines() if line.strip())  # one line, whatever it says
    comm = current()
    if comm is not None and comm.size > 1:
        if on_every_rank(exc):
            if comm.root:
                print(f"seqattn {args.command}: {what}{sep}{message}", file=sys.stderr)
            return code
        print(f"seqattn {args.command}: {what} on rank {comm.rank} of {comm.size}{sep}{message}", file=sys.stderr)
        comm.abort(code)
    launch = detect() if getattr(args, "distributed", "off") == "auto" else None
    if launch is None or not launch.several or launch.rank == 0:  # before the ranks joined, every rank met it: rank 0 says it
        print(f"seqattn {args.command}: {what}{sep}{message}", file=sys.stderr)
    return code


def _traceback_file(exc):
    """Write the traceback of ``exc`` to a new file -> ' with the traceback in PATH' (or nothing
    where no file can be written)."""
    import tempfile
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix="seqattn-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"seqattn {__version__}, {' '.join(sys.argv)}\n")
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=f)
        return f" with the traceback in {path}"
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
