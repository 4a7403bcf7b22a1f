"""A record of a run that common tools read, beside its checkpoint: the metrics of every epoch as
CSV (always; one row an epoch, as Keras's CSVLogger writes them, rewritten whole after each epoch
so that a resumed run's file holds every epoch), the run's options as JSON, and TensorBoard event
files when tensorboardX (the ``[tensorboard]`` extra) or torch's SummaryWriter is installed, as
JoeyNMT writes them: a scalar per metric per epoch, and the options as text.

Nothing is written before the first epoch ends, and a log's files are checked before any work as
the checkpoint is (``check_log``): a file seqattn did not write is never replaced (its CSV starts
``epoch,loss``, its JSON names seqattn and its options, its folder holds event files only), nor
another run's log unless the run is continued or replaced on purpose."""

from __future__ import annotations

import csv
import io
import json
import os
import re

from .errors import OptionError
from .paths import atomic_write, check_folder, check_writable, open_regular

# The history's columns in the order a reader looks for them; any others follow.
FIRST_COLUMNS = ("epoch", "loss", "accuracy", "bleu", "chrf", "lr", "seconds", "examples_per_second", "tokens_per_second")


def log_paths(stem):
    """The files of a run's log for ``stem`` (the checkpoint's path without .npz)."""
    return {"csv": f"{stem}.csv", "options": f"{stem}.options.json", "tensorboard": f"{stem}-tensorboard"}


_EVENTS = re.compile(r"events\.out\.tfevents\..+")  # the files TensorBoard writers make
_MAX_OPTIONS = 1 << 20  # a log's options file is far smaller


def _head(path, size):
    """The first ``size`` bytes of the regular file ``path`` (b"" if it cannot be read)."""
    try:
        with open_regular(path, OSError) as f:
            return f.read(size)
    except OSError:
        return b""


def _logged_options(path):
    """The options file of a seqattn log at ``path`` as a dict (a JSON object that names the seqattn
    that wrote it and its options, at most _MAX_OPTIONS bytes), or None when it is not one."""
    try:
        data = json.loads(_head(path, _MAX_OPTIONS + 1).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    ours = isinstance(data, dict) and isinstance(data.get("seqattn"), str) and isinstance(data.get("options"), dict)
    return data if ours else None


def is_log_file(path, kind):
    """Whether the existing file ``path`` is a ``kind`` ("csv" or "options") file of a seqattn log:
    the CSV's header starts with ``epoch,loss``; the options are ``_logged_options``'."""
    if kind == "csv":
        return _head(path, 64).startswith(b"epoch,loss")
    return _logged_options(path) is not None


def logged_checkpoints(stem):
    """Where the checkpoint of the log at ``stem`` is, as its options record it: the path it was
    given (``checkpoint``) and, where recorded, the path from the log's own folder
    (``checkpoint_file``), which holds when the two were moved together -> a list (empty when none)."""
    options = _logged_options(log_paths(stem)["options"]) or {}
    found = [options.get("checkpoint")]
    if isinstance(options.get("checkpoint_file"), str):
        found.append(os.path.join(os.path.dirname(os.path.abspath(stem)), options["checkpoint_file"]))
    return [c for c in found if isinstance(c, str) and c and "\0" not in c]


def is_log_of(stem, checkpoint):
    """Whether the log at ``stem`` is the log of the run whose last checkpoint is ``checkpoint``."""
    from .paths import same_file

    return any(same_file(checkpoint, c) for c in logged_checkpoints(stem))


def check_log(stem, key="log", continuing=False, force=False, tensorboard=None, choose=None):
    """Refuse, before any work, a log at ``stem`` (option ``key``) that cannot be written, or
    whose files are there and not a seqattn log's (never replaced), or (unless ``continuing``, the
    run that wrote it resumed, or ``force``) another run's log. ``tensorboard``: whether its event
    folder will be written (by default, when a SummaryWriter is installed): a folder that holds
    only event files, never a file or a link."""
    paths = log_paths(stem)
    choose = choose or f"<{key}>"
    for kind, what in (("csv", "metrics log"), ("options", "metrics log's options")):
        path = paths[kind]
        check_writable(path, key, choose=choose)
        if not os.path.lexists(path):
            continue
        if not is_log_file(path, kind):
            raise OptionError(f"<{key}> {path!r} exists and is not a seqattn {what}; refusing to overwrite it: "
                              f"choose another {choose}, or <log> none")
        if not continuing and not force:
            raise OptionError(f"<{key}> {path!r} already holds the {what} of another run: continue that run with <resume>, "
                              f"replace it with <force>, or choose another {choose}")
    if tensorboard if tensorboard is not None else summary_writer() is not None:
        check_folder(paths["tensorboard"], key, lambda name: _EVENTS.fullmatch(name) is not None,
                     "TensorBoard's event files", choose)


def summary_writer():
    """TensorBoard's SummaryWriter class from tensorboardX or torch, or None when neither is there."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
    return SummaryWriter


def history_csv(history):
    """A history (a list of dicts) as CSV text, one row an epoch."""
    keys = [k for k in FIRST_COLUMNS if any(k in h for h in history)]
    keys += sorted({k for h in history for k in h} - set(keys))
    out = io.StringIO()
    writer = csv.DictWriter(out, keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


class RunLog:
    """``RunLog(stem, options)``: a Trainer callback (``trainer.callbacks.append(log)``) that
    writes the log's files after every epoch, the first time its options too (nothing before).
    ``options``: JSON-able, the run's options. Its files are checked when it is made
    (``check_log``): a seqattn log there is replaced, anything else refused."""

    def __init__(self, stem, options, tensorboard=True):
        self.paths = log_paths(stem)
        self.options = options
        self.Writer = summary_writer() if tensorboard else None
        check_log(stem, "stem", continuing=True, tensorboard=self.Writer is not None)
        self.writer = None
        self.started = False

    def _start(self):
        write_text_atomic(self.paths["options"], json.dumps(self.options, indent=2, sort_keys=True) + "\n")
        self.writer = self.Writer(self.paths["tensorboard"]) if self.Writer is not None else None
        if self.writer is not None:
            table = "\n".join(f"| {k} | {v} |" for k, v in sorted(_flat(self.options).items()))
            self.writer.add_text("options", "| option | value |\n|---|---|\n" + table, 0)
            self.writer.flush()
        self.started = True

    def __call__(self, trainer, record):
        if not self.started:
            self._start()
        write_text_atomic(self.paths["csv"], history_csv(trainer.history))
        if self.writer is not None:
            for key, value in record.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["epoch"])
            self.writer.flush()

    def close(self):
        """Close the TensorBoard writer (the CSV and JSON files are written whole after each epoch)."""
        if self.writer is not None:
            self.writer.close()

    def written(self):
        """The paths written, for the run's last message."""
        return [p for p in self.paths.values() if os.path.exists(p)] if self.started else []


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file renamed over it: a reader (a plotting
    tool polling the CSV) sees the old file or the new one, never half of one."""
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))


def _flat(options, prefix=""):
    out = {}
    for key, value in options.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
