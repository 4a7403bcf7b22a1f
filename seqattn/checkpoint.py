"""One home for saving and loading: the model's weights by name (``encoder.lstm0.Wx``, ...), its
options, the codec (vocabulary and text format), and the optimizer's and trainer's state, in one
``.npz`` written atomically.

Layout of a checkpoint (format 2):
    arrays   ``model/<name>`` for every weight; ``optimizer/<slot>/<name>`` for the optimizer's
             state (Adam's m and v, ...)
    meta     JSON under ``__meta__``: format, seqattn_version, config (the model's options),
             codec (how text becomes ids), optimizer (name, step, hyperparameters), trainer
             (epoch, history, batch size, ...), and whatever the caller adds.

Files are written to a temporary file beside the target, flushed to disk, then renamed over it in
one step, so an interruption leaves the old file or the new one, never a damaged one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
import numpy as np

from . import __version__
from .backend import get_xp, to_numpy

FORMAT = 2


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, or does not fit the model it is loaded into."""


# ------------------------------------------------------------------------------ the file
def write_npz_atomic(path, arrays: dict, meta: dict):
    """Save ``arrays`` (name -> numpy array) and ``meta`` (JSON-able) to ``path`` atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    prefix = f".tmp-{os.path.basename(path)}-"
    for stale in os.listdir(folder):  # left by a save that was killed before its rename
        if stale.startswith(prefix) and stale.endswith(".npz"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, stale))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_npz(path):
    """Load a file written by ``write_npz_atomic``: (arrays dict, meta dict)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"checkpoint {path!r} is damaged or not a seqattn checkpoint ({type(exc).__name__}: {exc}); "
            "save it again, or use an earlier checkpoint"
        ) from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path!r} is not a seqattn checkpoint")
    return arrays, meta


def is_checkpoint(path):
    """True when ``path`` is a file that seqattn wrote (any format); it reads only the zip's index."""
    try:
        with zipfile.ZipFile(path) as z:
            return "__meta__.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def read(path):
    """(arrays, meta) of a checkpoint of this format; a one-line CheckpointError otherwise."""
    arrays, meta = read_npz(path)
    fmt = meta.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, int) and fmt < FORMAT:
            raise CheckpointError(
                f"{path!r} was written by an older format (checkpoint format {fmt}, seqattn "
                f"{meta.get('seqattn_version', '?')}) that kept weights by position; seqattn {__version__} reads format "
                f"{FORMAT}, which keeps them by name: train it again, or load it with the seqattn that wrote it")
        raise CheckpointError(f"{path!r} has checkpoint format {fmt!r}, which seqattn {__version__} cannot read (it reads {FORMAT})")
    if "config" not in meta:
        raise CheckpointError(f"{path!r} is not a seqattn model checkpoint (no configuration inside)")
    return arrays, meta


# ----------------------------------------------------------------------------- writing
def save(path, model, *, codec=None, optimizer=None, trainer=None, extra=None):
    """Write ``model`` (and optionally the codec, the optimizer's state, the trainer's state and
    ``extra`` meta) to ``path`` atomically."""
    named = model.named_params()
    arrays = {f"model/{name}": to_numpy(p) for name, p in named}
    meta = {"format": FORMAT, "seqattn_version": __version__, "config": model.config, **(extra or {})}
    if codec is not None:
        meta["codec"] = codec.to_meta()
    if optimizer is not None:
        slots, meta["optimizer"] = optimizer.state()
        for slot, values in slots.items():
            arrays.update({f"optimizer/{slot}/{name}": to_numpy(a) for (name, _), a in zip(named, values)})
    if trainer is not None:
        meta["trainer"] = trainer
    write_npz_atomic(path, arrays, meta)


# ----------------------------------------------------------------------------- reading
def set_weights(model, arrays, meta, path="checkpoint"):
    """Copy the weights of a checkpoint into ``model``, by name, onto the model's device."""
    mine = {k: v for k, v in model.config.items() if k not in ("seed", "init", "dtype")}
    theirs = {k: v for k, v in meta["config"].items() if k not in ("seed", "init", "dtype")}
    if mine != theirs:
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        raise CheckpointError(f"{path!r} holds a different model: " +
                              ", ".join(f"{k} is {theirs.get(k)!r} there but {mine.get(k)!r} here" for k in diff))
    for name, p in model.named_params():
        a = arrays.get(f"model/{name}")
        if a is None or a.shape != p.shape:
            got = "missing" if a is None else f"of shape {a.shape}"
            raise CheckpointError(f"{path!r} does not fit this model: weight {name} is {got}, expected {tuple(p.shape)}")
        p[...] = get_xp(p).asarray(a, dtype=p.dtype)  # onto the model's device, whatever the current backend


def restore_optimizer(optimizer, model, arrays, meta, path="checkpoint"):
    """Give ``optimizer`` the state saved with the model (its slots by weight name)."""
    state = meta.get("optimizer")
    if state is None:
        raise CheckpointError(f"{path!r} holds no optimizer state")
    if state["name"] != type(optimizer).__name__:
        raise CheckpointError(f"{path!r} was trained with {state['name']}, not {type(optimizer).__name__}")
    named = model.named_params()
    slots = {}
    for slot in optimizer.slots:
        keys = [f"optimizer/{slot}/{name}" for name, _ in named]
        if all(k in arrays for k in keys):
            slots[slot] = [arrays[k] for k in keys]
    optimizer.load_state(slots, state, model.params)
