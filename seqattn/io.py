"""Files that an interruption cannot damage: written to a temporary file beside the target,
flushed to disk, then renamed over it in one step."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, or does not fit the model it is loaded into."""


def write_npz_atomic(path, arrays: dict, meta: dict):
    """Save ``arrays`` (name -> numpy array) and ``meta`` (JSON-able) to ``path`` atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
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
    """Load a file written by ``write_npz_atomic``: returns (arrays dict, meta dict)."""
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
    return arrays, meta
