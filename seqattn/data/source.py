"""Where a run's pairs came from, recorded in its checkpoint, so that the splits it trained and
was scored on can be found again: a built-in task is generated again from its name, size and
seed; a file is read again and must be the same file (its size and SHA-256 are recorded).

The splits: "train" (what the model was trained on, before ``--max-length``), "held-out" (what
every epoch was scored on: the seeded tenth, or the ``--valid`` file) and "test" (the ``--test``
file, when the run had one)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat

from ..errors import OptionError
from ..paths import atomic_write, check_distinct, check_writable, kind_of
from .tasks import CAPACITY, TASKS
from .text import SPLIT_SEED, TEST_RATIO, DataError, open_data, read_lines, split_order

SPLITS = ("held-out", "train", "test")


def fingerprint(path):
    """A file as a checkpoint records it: {"path" (absolute), "bytes", "sha256"}."""
    digest = hashlib.sha256()
    with open_data(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"path": os.path.abspath(path), "bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


def describe(task=None, path=None, examples=None, data_seed=0, valid=None, test=None):
    """The record of a run's data for its checkpoint's meta (JSON)."""
    meta = {"split_seed": SPLIT_SEED, "test_ratio": TEST_RATIO}
    if task is not None:
        meta.update(task=task, examples=examples, data_seed=data_seed)
    else:
        meta["file"] = fingerprint(path)
    for key, value in (("valid", valid), ("test", test)):
        if value is not None:
            meta[key] = fingerprint(value)
    return meta


def is_same_file(record, path):
    """Whether ``path`` holds the very bytes that ``record`` (a fingerprint) describes."""
    return (record is not None and os.path.isfile(path) and os.path.getsize(path) == record["bytes"]
            and fingerprint(path)["sha256"] == record["sha256"])


SCORE_FIX = "give the pairs to score with --data"  # what eval can do where a recorded file is gone


def _lines_of(record, what, where, fix=SCORE_FIX):
    """The lines of a recorded file, which must still be there and the same; ``fix``: what the
    user can do where it is not."""
    path = record["path"]
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise DataError(f"{where}: {what} {path!r} that it was trained with is not there any more; {fix}") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{where}: {what} {path!r} that it was trained with is now {kind_of(mode)}, not that file; {fix}")
    if not is_same_file(record, path):
        raise DataError(f"{where}: {what} {path!r} has changed since training (it was {record['bytes']:,} bytes with "
                        f"SHA-256 {record['sha256'][:12]}...), so its splits cannot be found again; {fix}")
    return read_lines(path)


def split_lines(meta, where="the checkpoint", which=SPLITS, fix=SCORE_FIX):
    """A run's data record -> {split: the lines of that split, in the data's own format}, for the
    splits ``which`` ("test" only when the run had a --test file). Only the files those splits
    come from are read (and must be the files of the record; ``fix``: what to do where not)."""
    splits = {}
    if "test" in which and "test" in meta:
        splits["test"] = _lines_of(meta["test"], "the --test file", where, fix)
    if "valid" in meta and "held-out" in which:
        splits["held-out"] = _lines_of(meta["valid"], "the --valid file", where, fix)
    if "train" in which or ("held-out" in which and "valid" not in meta):
        if "task" in meta:
            lines = TASKS[meta["task"]](meta["examples"], meta["data_seed"])
        else:
            lines = _lines_of(meta["file"], "the data file", where, fix)
        if "valid" in meta:
            splits["train"] = lines
        else:
            train_idx, valid_idx = split_order(len(lines), meta["split_seed"], meta["test_ratio"])
            splits["train"], splits["held-out"] = [lines[i] for i in train_idx], [lines[i] for i in valid_idx]
    return {k: splits[k] for k in SPLITS if k in splits and k in which}


def source_name(meta):
    """How a data record is named in messages: "task date" or the file's path."""
    return f"task {meta['task']}" if "task" in meta else meta["file"]["path"]


def split_name(meta, split):
    """How ``split`` of a data record is named in messages: "the held-out split of task date",
    "the --valid file PATH", "the --test file PATH"."""
    if split == "test":
        return f"the --test file {meta['test']['path']}"
    if "valid" in meta:
        return f"the --valid file {meta['valid']['path']}" if split == "held-out" else f"the training file {source_name(meta)}"
    return f"the {split} split of {source_name(meta)}"


MANIFEST = ".seqattn-splits.json"  # in a folder of splits: the files seqattn wrote there, by SHA-256


def write_splits(splits, folder, suffix, force=False, inputs=()):
    """Write each split's lines to ``folder``/SPLIT``suffix`` (UTF-8, one pair a line, each file
    whole or not at all) -> the paths. Every path is checked before any is written (option
    ``out``), none of them one of the ``inputs`` ((option, path) pairs); an existing file is
    refused unless ``force``, and even then unless ``folder``'s MANIFEST records it as a split
    seqattn wrote there, unchanged since (never a file of the user's, whatever it holds)."""
    paths = {name: os.path.join(folder, f"{name}{suffix}") for name in splits}
    for name, path in paths.items():
        if os.path.isdir(path):
            raise DataError(f"{path!r}, where the {name} split goes, is a folder; move it, or choose another folder")
        check_writable(path, "out")
    check_distinct([("out", p) for p in paths.values()], inputs)
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing and not force:
        raise DataError(f"{existing[0]!r} exists; choose another folder or overwrite with --force")
    manifest = os.path.join(folder, MANIFEST)
    check_writable(manifest, "out")
    written = _read_manifest(manifest)
    for path in existing:
        if written.get(os.path.basename(path)) != fingerprint(path)["sha256"]:
            raise DataError(f"{path!r} is not a split that seqattn wrote there, or it changed since; --force replaces only "
                            "those: move it, or choose another folder")
    for name, path in paths.items():
        data = "".join(line + "\n" for line in splits[name]).encode("utf-8")
        with atomic_write(path) as f:
            f.write(data)
        written[os.path.basename(path)] = hashlib.sha256(data).hexdigest()
    with atomic_write(manifest) as f:
        f.write(json.dumps({"seqattn_splits": 1, "files": written}, indent=1).encode("utf-8"))
    return paths


def _read_manifest(path):
    """The files a folder's MANIFEST records (name -> SHA-256); none where there is no manifest.
    A file of that name that is not one is refused, never replaced."""
    if not os.path.lexists(path):
        return {}
    try:
        with open_data(path) as f:
            record = json.loads(f.read(1 << 20).decode("utf-8"))
        files = record["files"]
        if record.get("seqattn_splits") != 1 or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise ValueError
        return dict(files)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, DataError):
        raise DataError(f"{path!r} is not the record of splits seqattn keeps there; move it, or choose another folder") from None


def check_record(f):
    """A checkpoint's data record (its ``source``, as ``Fields``), every field checked: the split's
    seed and ratio, and a task of at most its CAPACITY examples and its seed, or a file's
    fingerprint; the --valid and --test files' fingerprints where the run had them."""
    task = f.str("task", choices=list(TASKS), absent=True)
    f.int("split_seed", 0, 2**63)  # numpy's seeds are whole numbers from 0
    f.number("test_ratio", above=0, below=1)
    if task is not None:
        f.int("examples", 1, CAPACITY[task])
        f.int("data_seed", 0, 2**63)
    else:
        _check_fingerprint(f.obj("file"))
    for key in ("valid", "test"):
        record = f.obj(key, absent=True)
        if record is not None:
            _check_fingerprint(record)


def _check_fingerprint(f):
    f.str("path", longest=4096)  # PATH_MAX
    f.int("bytes", 0, 2**63)
    if not re.fullmatch(r"[0-9a-f]{64}", f.str("sha256")):
        raise f.error("sha256", "is not a SHA-256 in hexadecimal")


def resumed_data(meta, task=None, data=None, examples=None, valid=None, test=None, where="the checkpoint"):
    """A resumed run given no ``task`` or ``data`` trains on its checkpoint's own: its data
    record ``meta`` -> ({"task", "data", "examples", "valid", "test"}, the names taken from it).
    A recorded file must still be there and the same."""
    chosen = {"task": task, "data": data, "examples": examples, "valid": valid, "test": test}
    if task is not None or data is not None:
        return chosen, []
    if not meta:
        raise DataError(f"{where} does not record its data (it was written by an earlier version); give --task or --data")
    if "task" in meta:
        if examples is not None and examples != meta["examples"]:
            raise OptionError(f"<examples> {examples:,} differs from the checkpoint's {meta['examples']:,}: a resumed run "
                              "trains on its own examples (with another count, its held-out split would hold other pairs, "
                              "some of them trained on); leave <examples> out, or give <task> for other data")
        chosen.update(task=meta["task"], examples=meta["examples"])
        taken = ["task"] + (["examples"] if examples is None else [])
    else:
        _lines_of(meta["file"], "the data file", where, "give the pairs to train on with --data")  # there, and the same
        chosen["data"], taken = meta["file"]["path"], ["data"]
    for key in ("valid", "test"):
        if chosen[key] is None and key in meta:
            _lines_of(meta[key], f"the --{key} file", where, f"give it with --{key}")
            chosen[key] = meta[key]["path"]
            taken.append(key)
    return chosen, taken
