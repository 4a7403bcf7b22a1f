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

A checkpoint is read as a file from anywhere (``Archive``): only the members the format knows are
read, nothing is unpickled, the meta is at most ``MAX_META_BYTES`` and is checked against its
schema, and each array's header (shape and dtype) is checked against what the model expects
before any of its data is read, so that what is decompressed is what the model needs, no more.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import struct
import zipfile

import numpy as np

from . import __version__
from .backend import get_xp, to_numpy
from .errors import CheckpointError, OptionError, quoted
from .memory import memory_limit
from .optim import OPTIMIZERS, SCHEDULES
from .paths import atomic_write, check_writable, open_regular
from .schema import Fields

FORMAT = 2
META = "__meta__"
MAX_META_BYTES = 64 << 20  # the meta as stored (4 bytes a character): vocabularies and subword models fit many times
_MAX_HEADER = 1 << 16  # an .npy header is a short dict
_NPY_MAGIC = b"\x93NUMPY"

__all__ = ["Archive", "CheckpointError", "FORMAT", "check_meta", "check_target", "is_checkpoint", "read", "read_npz",
           "read_state", "restore_optimizer", "save", "set_weights", "write_npz_atomic"]


# ------------------------------------------------------------------------------ the file
def write_npz_atomic(path, arrays: dict, meta: dict):
    """Save ``arrays`` (name -> numpy array) and ``meta`` (JSON-able) to ``path`` atomically."""
    with atomic_write(path) as f:
        np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)


def _damaged(path, exc):
    return CheckpointError(f"checkpoint {path!r} is damaged or not a seqattn checkpoint ({type(exc).__name__}: "
                           f"{str(exc)[:200]}); save it again, or use an earlier checkpoint")


def _read_header(f):
    """(shape, dtype, fortran_order) of the .npy member open at ``f``, read and checked without
    evaluating anything but literals."""
    magic = f.read(8)
    if len(magic) != 8 or magic[:6] != _NPY_MAGIC or magic[6] not in (1, 2, 3):
        raise ValueError("a member is not an .npy array")
    size = struct.unpack("<H" if magic[6] == 1 else "<I", f.read(2 if magic[6] == 1 else 4))[0]
    if size > _MAX_HEADER:
        raise ValueError(f"an .npy header of {size} bytes")
    header = ast.literal_eval(f.read(size).decode("utf-8" if magic[6] == 3 else "latin1"))
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError("an .npy header without descr, fortran_order and shape")
    shape, fortran = header["shape"], header["fortran_order"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape) or not isinstance(fortran, bool):
        raise ValueError(f"an .npy header of shape {shape!r}")
    if not isinstance(header["descr"], str):
        raise ValueError("an .npy array of records")
    dtype = np.dtype(header["descr"])
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "fiubU":
        raise ValueError(f"an .npy array of dtype {dtype}")
    return shape, dtype, fortran


class Archive:
    """``Archive(path)``: a checkpoint opened for reading, its meta read (``meta``, JSON, at most
    MAX_META_BYTES) and checked against the format's schema (``check_meta``). ``array(key,
    shape)`` reads one member, refusing before any of its data is read a header whose shape is
    not ``shape`` or whose dtype is not a float; members the format does not know are never read.
    Use it in a ``with`` block, or let it close when it is collected."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._file = open_regular(self.path, CheckpointError, "checkpoint")
        try:
            self._zip = zipfile.ZipFile(self._file)
            self._members = {info.filename: info for info in self._zip.infolist()}
        except Exception as exc:  # whatever the zip reader makes of a file that is not a zip
            self._file.close()
            raise _damaged(self.path, exc) from None
        try:
            self.meta = check_meta(self._read_meta(), self.path)
        except BaseException:
            self.close()
            raise

    def _read_meta(self):
        if META + ".npy" not in self._members:
            raise CheckpointError(f"{self.path!r} is not a seqattn checkpoint (no {META} inside)")
        text = str(self._read(META, self._meta_header)[()])
        try:
            return json.loads(text)
        except RecursionError:
            raise _damaged(self.path, ValueError(f"its {META} is nested deeper than any checkpoint's")) from None
        except ValueError as exc:
            if "digits" in str(exc):  # Python's limit on the digits of a whole number read from text
                exc = ValueError(f"its {META} holds a number of thousands of digits")
            raise _damaged(self.path, exc) from None

    def _meta_header(self, shape, dtype):
        if shape != () or dtype.kind != "U":
            raise CheckpointError(f"{self.path!r} is not a seqattn checkpoint: its {META} is not text")
        if dtype.itemsize > MAX_META_BYTES:
            raise CheckpointError(f"{self.path!r} is not a seqattn checkpoint: its {META} declares {dtype.itemsize / 2**20:,.0f} MiB "
                                  f"of text, more than the {MAX_META_BYTES >> 20} MiB a checkpoint's meta may have")

    def keys(self):
        """The array members the format knows (``model/...`` and ``optimizer/<slot>/...``)."""
        return [n[:-4] for n in self._members if n.endswith(".npy") and n.startswith(("model/", "optimizer/"))]

    def __contains__(self, key):
        return key + ".npy" in self._members

    def declared_bytes(self, prefix):
        """What the zip's index says its members under ``prefix`` hold, uncompressed (a file's
        claim, checked against what a model needs before the model is built)."""
        return sum(info.file_size for name, info in self._members.items() if name.startswith(prefix))

    def _read(self, key, check):
        """The array of member ``key``; ``check(shape, dtype)`` sees its header first and raises to
        refuse it, before any of its data is read. The bytes the header declares are read, and one
        more to see the member end there (which checks its CRC); a member with more is refused."""
        try:
            with self._zip.open(self._members[key + ".npy"]) as f:
                shape, dtype, fortran = _read_header(f)
                check(shape, dtype)
                buf = bytearray(dtype.itemsize * math.prod(shape))
                view, got = memoryview(buf), 0
                while got < len(buf):
                    n = f.readinto(view[got:])
                    if not n:
                        raise EOFError(f"member {key} ends after {got} of its {len(buf)} bytes")
                    got += n
                if f.read(1):
                    raise ValueError(f"member {key} goes on after its array")
        except CheckpointError:
            raise
        except Exception as exc:  # a damaged zip or member: whatever the readers raise
            raise _damaged(self.path, exc) from None
        return np.frombuffer(buf, dtype).reshape(shape, order="F" if fortran else "C")

    def array(self, key, shape, what=None):
        """Member ``key``: a float array of ``shape`` (its header checked first), or None if the
        file has no such member."""
        if key not in self:
            return None
        shape = tuple(shape)

        def check(found, dtype):
            if dtype.kind != "f" or dtype.itemsize not in (4, 8):
                raise CheckpointError(f"{self.path!r} does not fit this model: {what or key} is of dtype {dtype}, not float32 or float64")
            if found != shape:
                raise CheckpointError(f"{self.path!r} does not fit this model: {what or key} is of shape {found}, expected {shape}")

        return self._read(key, check)

    def read_all(self):
        """Every member the format knows, each at most half of this machine's memory (for tools
        and tests; loading a model reads by the model's shapes instead)."""
        limit = memory_limit()

        def bounded(shape, dtype):
            if dtype.itemsize * math.prod(shape) > limit:
                raise CheckpointError(f"{self.path!r}: a member declares {dtype.itemsize * math.prod(shape) / 2**30:,.0f} GiB")

        return {key: self._read(key, bounded) for key in self.keys()}

    def close(self):
        """Close the file (the arrays already read stay)."""
        with contextlib.suppress(Exception):
            self._zip.close()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_npz(path):
    """(arrays, meta) of the checkpoint at ``path``: every member the format knows, read in full."""
    with Archive(path) as a:
        return a.read_all(), a.meta


def is_checkpoint(path):
    """True when ``path`` is a regular file that seqattn wrote (any format); only the zip's index
    is read, and nothing but a regular file is opened."""
    try:
        with open_regular(path, OSError) as f, zipfile.ZipFile(f) as z:
            return META + ".npy" in z.namelist()
    except Exception:  # not a zip, or not readable: not ours
        return False


def read(path):
    """(Archive, meta) of a checkpoint of this format, its meta checked (``check_meta``); the
    Archive reads the arrays on request, each against the shape the caller expects."""
    archive = Archive(path)
    return archive, archive.meta


# ------------------------------------------------------------------------------ the schema
def check_meta(meta, path):
    """The format's part of a checkpoint's schema: its format, and the optimizer's and trainer's
    states where present; the configuration must be an object that names a model kind (the models
    check the rest of it, and the codec checks its own part). Returns ``meta``."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path!r} is not a seqattn checkpoint")
    fmt = meta.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt < FORMAT:
            raise CheckpointError(
                f"{path!r} was written by an older format (checkpoint format {fmt}, seqattn "
                f"{str(meta.get('seqattn_version', '?'))[:20]}) that kept weights by position; seqattn {__version__} reads format "
                f"{FORMAT}, which keeps them by name: train it again, or load it with the seqattn that wrote it")
        raise CheckpointError(f"{path!r} has checkpoint format {str(fmt)[:20]!r}, which seqattn {__version__} cannot read (it reads {FORMAT})")
    if "config" not in meta:
        raise CheckpointError(f"{path!r} is not a seqattn model checkpoint (no configuration inside)")
    m = Fields(meta, path)
    m.str("seqattn_version", absent=True)
    m.str("data", absent=True)
    m.obj("config").str("model")
    m.obj("codec", absent=True)  # a part seqattn did not write is absent, never null
    m.obj("source", absent=True)
    m.bool("log", absent=True)  # whether the run wrote a metrics log (--log none: false)
    log_file = m.str("log_file", absent=True, longest=4096)  # its CSV from the checkpoint's folder, where --log named it
    if log_file is not None and (not log_file.endswith(".csv") or "\0" in log_file or log_file.endswith(("/.csv", "\\.csv"))):
        raise m.error("log_file", f"must be the path of a .csv file, got {quoted(log_file)}")
    optimizer, trainer = m.obj("optimizer", absent=True), m.obj("trainer", absent=True)
    if optimizer is not None:
        check_optimizer_meta(optimizer)
    if trainer is not None:
        _check_trainer_meta(trainer)
    return meta


def check_optimizer_meta(f):
    """An optimizer's saved state: its name, its step count and its hyperparameters."""
    names = {cls.__name__: cls for cls in OPTIMIZERS.values()}
    cls = names[f.str("name", choices=sorted(names))]
    f.int("iter", 0, 2**53)
    for h in cls.hyper:
        f.number(h, least=0) if h == "lr" else f.number(h, least=0, below=1)
    return cls


# An epoch's record: what the Trainer writes (the scores where it scored them), and any other
# score a scorer gave, each a finite number.
_RECORD = {"loss": None, "accuracy": 1, "bleu": 100, "bleu_order": 4, "chrf": 100, "lr": None, "seconds": None,
           "examples_per_second": None, "tokens_per_second": None}


def _check_trainer_meta(t):
    """The Trainer's state (``Trainer.save``): every field it writes, of its type and in its range;
    only ``max_grad`` (no clipping) and the schedule's ``total`` (not yet trained) may be null, and
    ``epochs`` (the epoch the run trains up to), ``patience`` and ``keep_best``, which earlier
    checkpoints lack, may be absent or null."""
    epochs = t.int("epoch", 0, 10**7)
    history = t.list("history", of=dict, length=epochs)
    for k in range(len(history)):
        r = Fields(history[k], t.source, f"{t.name('history')}[{k}]")
        r.int("epoch", k + 1, k + 1)
        r.number("loss", least=0)
        for key in history[k]:
            if key != "epoch":
                r.number(key, least=0, most=_RECORD.get(key)) if key in _RECORD else r.number(key)
    t.int("batch_size", 1)
    t.number("max_grad", least=0, null=True, present=True)
    t.int("seed", 0, 2**63)
    t.number("base_lr", least=0)
    t.number("label_smoothing", least=0, below=1)
    schedule = t.obj("schedule")
    schedule.str("name", choices=SCHEDULES)
    schedule.int("warmup", 0, 2**53)
    schedule.int("total", 1, 2**53, null=True, present=True)
    schedule.number("floor", 0, 1)
    t.int("epochs", 1, 10**7, null=True)
    t.int("patience", 1, 10**7, null=True)
    t.bool("keep_best", null=True)


def run_epochs(meta):
    """The epoch that the run saved in ``meta`` (a checked meta) trains up to, or None where it
    cannot be known. Earlier checkpoints (0.3.0's among them) do not record it; theirs is read
    from the schedule's total, which ``Trainer.fit`` made the run's epochs times the updates of one
    epoch (the optimizer's updates over the epochs finished)."""
    trainer, optimizer = meta.get("trainer") or {}, meta.get("optimizer") or {}
    if trainer.get("epochs") is not None:
        return trainer["epochs"]
    total, done, updates = (trainer.get("schedule") or {}).get("total"), trainer.get("epoch"), optimizer.get("iter")
    if total and done and updates and updates % done == 0 and total % (updates // done) == 0:
        return total // (updates // done)
    return None


def check_target(path, key, continuing=False, force=False, choose=None):
    """Refuse, before any work, a checkpoint path (option ``key``) that cannot be written, or that
    holds what is not a seqattn checkpoint, or (unless ``continuing``, a run resumed from
    ``path``, or ``force``) a trained one. ``choose``: the option to choose another of
    (``<key>`` by default)."""
    choose = choose or f"<{key}>"
    check_writable(path, key, choose=choose)
    if not os.path.lexists(path):
        return
    if not is_checkpoint(path):
        raise OptionError(f"<{key}> {path!r} exists and is not a seqattn checkpoint; refusing to overwrite it: choose another {choose}")
    if not continuing and not force:
        raise OptionError(f"<{key}> {path!r} already holds a checkpoint: continue it with <resume> {path}, "
                          f"overwrite it with <force>, or choose another {choose}")


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
def _take(arrays, key, shape, path, what, nonnegative=False):
    """Array ``key`` of ``shape`` from an Archive (its header checked before its data is read) or a
    dict; it must be there and finite (and, if ``nonnegative``, at least 0)."""
    if isinstance(arrays, Archive):
        a = arrays.array(key, shape, what)
    else:
        a = arrays.get(key)
        if a is not None and tuple(a.shape) != tuple(shape):
            raise CheckpointError(f"{path!r} does not fit this model: {what} is of shape {tuple(a.shape)}, expected {tuple(shape)}")
    if a is None:
        raise CheckpointError(f"{path!r} does not fit this model: {what} is missing, expected {tuple(shape)}")
    if not np.isfinite(a).all() or (nonnegative and (a < 0).any()):
        bad = "negative" if np.isfinite(a).all() else "NaN or infinite"
        raise CheckpointError(f"{path!r} is damaged: {what} holds {bad} values (a checkpoint is saved only while training "
                              "goes well); use an earlier checkpoint")
    return a


def _same_model(model, meta, path):
    """Refuse a checkpoint of another configuration than ``model``'s (its seed, init and dtype aside)."""
    mine = {k: v for k, v in model.config.items() if k not in ("seed", "init", "dtype")}
    # an option added after the checkpoint was written has its default there (the model it was)
    theirs = {**getattr(model, "options", {}), **meta["config"]}
    theirs = {k: v for k, v in theirs.items() if k not in ("seed", "init", "dtype")}
    if mine != theirs:
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        raise CheckpointError(f"{path!r} holds a different model: " +
                              ", ".join(f"{k} is {theirs.get(k)!r} there but {mine.get(k)!r} here" for k in diff))


def set_weights(model, arrays, meta, path="checkpoint"):
    """Copy the weights of a checkpoint into ``model``, by name, onto the model's device; each is
    checked for its shape (before it is read, from an Archive) and for finite values."""
    _same_model(model, meta, path)
    for name, p in model.named_params():
        a = _take(arrays, f"model/{name}", p.shape, path, f"weight {name}")
        p[...] = get_xp(p).asarray(a, dtype=p.dtype)  # onto the model's device, whatever the current backend


def read_state(path, model, optimizer):
    """(arrays, meta) to resume training ``model`` with ``optimizer`` from: its weights and the
    optimizer's slots, each read against the model's shapes (its header first) and finite, as a
    dict (to send to other ranks, and for ``set_weights`` and ``restore_optimizer``)."""
    with Archive(path) as archive:
        meta = archive.meta
        if "trainer" not in meta:
            raise CheckpointError(f"{path!r} holds a model but no training state to resume from")
        _same_model(model, meta, path)
        arrays = {}
        for name, p in model.named_params():
            arrays[f"model/{name}"] = _take(archive, f"model/{name}", p.shape, path, f"weight {name}")
            for slot in optimizer.slots:
                key = f"optimizer/{slot}/{name}"
                if key in archive:
                    arrays[key] = _take(archive, key, p.shape, path, f"the optimizer's {slot} of {name}", slot in optimizer.nonnegative)
    return arrays, meta


def restore_optimizer(optimizer, model, arrays, meta, path="checkpoint"):
    """Give ``optimizer`` the state saved with the model (its slots by weight name), each slot
    checked as the weights are."""
    if meta.get("optimizer") is None:
        raise CheckpointError(f"{path!r} holds no optimizer state")
    cls = check_optimizer_meta(Fields(meta["optimizer"], path, "optimizer"))
    state = meta["optimizer"]
    if cls is not type(optimizer):
        raise CheckpointError(f"{path!r} was trained with {state['name']}, not {type(optimizer).__name__}")
    named = model.named_params()
    slots = {}
    for slot in optimizer.slots:
        keys = [f"optimizer/{slot}/{name}" for name, _ in named]
        if state["iter"] == 0 and not any(k in arrays for k in keys):
            continue  # saved before the first update: no state yet
        slots[slot] = [_take(arrays, k, p.shape, path, f"the optimizer's {slot} of {name}", slot in optimizer.nonnegative)
                       for k, (name, p) in zip(keys, named)]
    optimizer.load_state(slots, state, model.params)
