"""The models by kind, and building them: from a configuration (a checkpoint's), or from a
checkpoint file with its codec.

Every model class registers itself with ``@register`` under its ``kind``; nothing else lists the
kinds, so a new model is its own file and one decorator.

A checkpoint is checked whole before a model is built from it (``read_meta``): the file format's
part (``checkpoint.check_meta``), the configuration against the model class it names (every
field there, of its type and in its range, and a model that fits in memory and in the weights the
file holds), and the codec against the configuration (vocabularies as large as the embeddings and
the softmax, sequences the model can take)."""

from __future__ import annotations

from dataclasses import dataclass

from ..checkpoint import Archive, CheckpointError, set_weights
from ..data.codec import Codec
from ..data.source import check_record
from ..data.tokens import MissingExtra
from ..errors import OptionError
from ..memory import check_checkpoint_model
from ..schema import Fields
from .init import SCHEMES

MODELS = {}  # kind -> model class, in the order the classes registered
COMMON = ("model", "vocab_size", "target_vocab_size", "pad_id", "seed", "init", "dtype")  # every model's configuration


def register(cls):
    """Class decorator: make ``cls`` buildable by its ``kind`` (the command's --model)."""
    if cls.kind in MODELS:
        raise ValueError(f"a model of kind {cls.kind!r} is already registered ({MODELS[cls.kind].__name__})")
    MODELS[cls.kind] = cls
    return cls


def model_from_config(config):
    """Build an untrained model from a checkpoint's configuration."""
    config = dict(config)
    kind = config.pop("model", None)
    if kind not in MODELS:
        raise CheckpointError(f"unknown model kind {kind!r} in checkpoint; expected one of {', '.join(MODELS)}")
    return MODELS[kind](**config)


MOST = 2**31 - 1  # a size or count in a configuration: what an index of 32 bits holds


def check_config(config, path):
    """A checkpoint's configuration (a dict) checked against the class of the model it names:
    every field present (but an option the class added later, which takes its default), of its
    type, in its range, and nothing else -> the class."""
    from .base import DTYPES

    f = Fields(config, path, "config")
    cls = MODELS[f.str("model", choices=list(MODELS))]
    V, Vt = f.int("vocab_size", 1, MOST), f.int("target_vocab_size", 1, MOST)
    pad = f.int("pad_id", 0, min(V, Vt) - 1, null=True)
    f.int("seed", 0, null=True)
    f.str("init", choices=SCHEMES)
    f.str("dtype", choices=DTYPES)
    if pad is None and "pad_id" not in config:
        raise f.error("pad_id", "is missing")
    sizes = [arg for arg in dict.fromkeys(cls.sizes.values()) if arg not in cls.options]
    for arg in sizes:
        f.int(arg, 1, MOST)
    for key, default in cls.options.items():
        if key not in config and key in cls.added_options:  # written before the option existed: its default
            continue
        if isinstance(default, bool):
            f.bool(key)
        elif isinstance(default, int):
            f.int(key, 1, MOST)
        elif isinstance(default, float):
            f.number(key)
        else:
            f.str(key)
    f.only([*COMMON, *sizes, *cls.options], f"a {cls.kind} model's configuration")
    try:
        cls.check_options({k: config.get(k, cls.options.get(k)) for k in [*sizes, *cls.options]})
    except OptionError as exc:
        raise CheckpointError(f"{path!r} is not a valid seqattn checkpoint: {exc.render({k: f'config.{k}' for k in config})}") from None
    return cls


def _check_codec(codec, config, cls, path):
    """The codec must read text into what the model takes: its vocabularies as large as the
    embedding and the softmax, padding where the model pads, sequences the model can hold."""
    pairs = [("vocab", len(codec.vocab), "vocab_size", config["vocab_size"]),
             ("target_vocab" if codec.target_vocab is not codec.vocab else "vocab", len(codec.target_vocab),
              "target_vocab_size", config["target_vocab_size"])]
    for field, n, key, size in pairs:
        if n != size:
            raise CheckpointError(f"{path!r} is not a valid seqattn checkpoint: codec.{field} has {n:,} tokens but "
                                  f"config.{key} is {size:,}")
    if codec.pad_id != config["pad_id"]:
        raise CheckpointError(f"{path!r} is not a valid seqattn checkpoint: codec.vocab pads with id {codec.pad_id} but "
                              f"config.pad_id is {config['pad_id']}")
    longest = cls.longest(config)
    for key in ("source_width", "target_width"):
        width = getattr(codec, key)
        if longest is not None and width is not None and width > longest:
            raise CheckpointError(f"{path!r} is not a valid seqattn checkpoint: codec.{key} is {width:,}, more than the "
                                  f"{longest:,} steps its model takes")


@dataclass
class Checkpoint:
    model: object
    codec: object  # None when the model was saved without one
    meta: dict


def _inspect(archive):
    """(model class, codec or None) of an open checkpoint, everything in its meta checked, and its
    model's weights checked to fit in memory and in what the file holds, before anything is built."""
    path, meta = archive.path, archive.meta
    cls = check_config(meta["config"], path)
    config = meta["config"]
    check_checkpoint_model(cls, config, path)
    held, needed = archive.declared_bytes("model/"), 4 * cls.weight_count(config)
    if held < needed:
        raise CheckpointError(f"{path!r} is damaged: the weights of its configuration take {needed:,} bytes at least "
                              f"(float32), and its weight members hold {held:,} bytes")
    if meta.get("source") is not None:
        check_record(Fields(meta["source"], path, "source"))
    codec = None
    if meta.get("codec") is not None:
        codec = Codec.from_meta(meta["codec"], path)
        _check_codec(codec, config, cls, path)
    return cls, codec


def _unexpected(path, exc):
    return CheckpointError(f"{path!r} is not a valid seqattn checkpoint ({type(exc).__name__}: {str(exc)[:200]})")


def read_meta(path):
    """A checkpoint's meta, checked whole (format, configuration, codec, optimizer and trainer
    state: one CheckpointError line naming the field) without reading a weight."""
    try:
        with Archive(path) as archive:
            _inspect(archive)
            return archive.meta
    except (CheckpointError, MemoryError, MissingExtra):  # a missing extra is not the file's fault
        raise
    except Exception as exc:  # what no check foresaw is still the file's fault, said in one line
        raise _unexpected(path, exc) from None


def load(path):
    """Rebuild everything a checkpoint holds for using the model: Checkpoint(model, codec, meta)."""
    try:
        with Archive(path) as archive:
            cls, codec = _inspect(archive)
            model = model_from_config(archive.meta["config"])
            set_weights(model, archive, archive.meta, archive.path)
            return Checkpoint(model, codec, archive.meta)
    except (CheckpointError, MemoryError, MissingExtra):  # a missing extra is not the file's fault
        raise
    except Exception as exc:
        raise _unexpected(path, exc) from None


def load_model(path):
    """(model, meta) of the checkpoint at ``path``."""
    ck = load(path)
    return ck.model, ck.meta
