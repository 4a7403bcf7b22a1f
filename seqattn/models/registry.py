"""The models by kind, and building them: from a configuration (a checkpoint's), or from a
checkpoint file with its codec.

Every model class registers itself with ``@register`` under its ``kind``; nothing else lists the
kinds, so a new model is its own file and one decorator."""

from __future__ import annotations

from dataclasses import dataclass

from ..checkpoint import CheckpointError, read, set_weights
from ..data.codec import Codec

MODELS = {}  # kind -> model class, in the order the classes registered


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


@dataclass
class Checkpoint:
    model: object
    codec: object  # None when the model was saved without one
    meta: dict


def load(path):
    """Rebuild everything a checkpoint holds for using the model: Checkpoint(model, codec, meta)."""
    arrays, meta = read(path)
    try:
        model = model_from_config(meta["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path!r} holds a configuration this version cannot build: {exc}") from None
    set_weights(model, arrays, meta, path)
    codec = Codec.from_meta(meta["codec"]) if meta.get("codec") is not None else None
    return Checkpoint(model, codec, meta)


def load_model(path):
    """(model, meta) of the checkpoint at ``path``."""
    ck = load(path)
    return ck.model, ck.meta
