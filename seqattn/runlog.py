"""A record of a run that common tools read, beside its checkpoint: the metrics of every epoch as
CSV (always; one row an epoch, as Keras's CSVLogger writes them, rewritten whole after each epoch
so that a resumed run's file holds every epoch), the run's options as JSON, and TensorBoard event
files when tensorboardX (the ``[tensorboard]`` extra) or torch's SummaryWriter is installed, as
JoeyNMT writes them: a scalar per metric per epoch, and the options as text."""

from __future__ import annotations

import csv
import io
import json
import os

from .paths import atomic_write

# The history's columns in the order a reader looks for them; any others follow.
FIRST_COLUMNS = ("epoch", "loss", "accuracy", "bleu", "chrf", "lr", "seconds", "examples_per_second", "tokens_per_second")


def log_paths(stem):
    """The files of a run's log for ``stem`` (the checkpoint's path without .npz)."""
    return {"csv": f"{stem}.csv", "options": f"{stem}.options.json", "tensorboard": f"{stem}-tensorboard"}


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
    writes the log's files after every epoch. ``options``: JSON-able, the run's options."""

    def __init__(self, stem, options, tensorboard=True):
        self.paths = log_paths(stem)
        write_text_atomic(self.paths["options"], json.dumps(options, indent=2, sort_keys=True) + "\n")
        Writer = summary_writer() if tensorboard else None
        self.writer = Writer(self.paths["tensorboard"]) if Writer is not None else None
        if self.writer is not None:
            table = "\n".join(f"| {k} | {v} |" for k, v in sorted(_flat(options).items()))
            self.writer.add_text("options", "| option | value |\n|---|---|\n" + table, 0)
            self.writer.flush()

    def __call__(self, trainer, record):
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
        return [p for p in self.paths.values() if os.path.exists(p)]


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
