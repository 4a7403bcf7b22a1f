"""Seq2seq, PeekySeq2seq and AttentionSeq2seq, and loading them from checkpoints."""

from ..io import CheckpointError, read_npz
from .base import Seq2seqBase, attention_weights_of
from .seq2seq import MODELS, AttentionSeq2seq, PeekySeq2seq, Seq2seq


def model_from_config(config):
    """Build an untrained model from a checkpoint's configuration."""
    config = dict(config)
    kind = config.pop("model", None)
    if kind not in MODELS:
        raise CheckpointError(f"unknown model kind {kind!r} in checkpoint; expected one of {', '.join(MODELS)}")
    if kind != "attention":
        for key in ("score", "bidirectional", "num_layers", "skip", "dropout"):
            config.pop(key, None)
    return MODELS[kind](**config)


def load_model(path):
    """Rebuild the model saved at ``path`` (weights, configuration, vocabulary): (model, meta)."""
    arrays, meta = read_npz(path)
    if "config" not in meta:
        raise CheckpointError(f"{path!r} is not a seqattn model checkpoint (no configuration inside)")
    try:
        model = model_from_config(meta["config"])
    except TypeError as exc:
        raise CheckpointError(f"{path!r} holds a configuration this version cannot build: {exc}") from None
    model.set_state(arrays, meta, path)
    return model, meta


__all__ = ["AttentionSeq2seq", "CheckpointError", "MODELS", "PeekySeq2seq", "Seq2seq", "Seq2seqBase",
           "attention_weights_of", "load_model", "model_from_config"]
