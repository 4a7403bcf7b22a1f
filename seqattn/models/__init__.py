"""Seq2seq, PeekySeq2seq, AttentionSeq2seq and TransformerSeq2seq, and loading them from checkpoints."""

from ..checkpoint import CheckpointError, load_model
from .base import Seq2seqBase, attention_weights_of
from .seq2seq import ATTENTION_OPTIONS, MODELS, AttentionSeq2seq, PeekySeq2seq, Seq2seq
from .transformer import TRANSFORMER_OPTIONS, TransformerSeq2seq

MODELS["transformer"] = TransformerSeq2seq


def model_from_config(config):
    """Build an untrained model from a checkpoint's configuration."""
    config = dict(config)
    kind = config.pop("model", None)
    if kind not in MODELS:
        raise CheckpointError(f"unknown model kind {kind!r} in checkpoint; expected one of {', '.join(MODELS)}")
    return MODELS[kind](**config)


__all__ = ["ATTENTION_OPTIONS", "TRANSFORMER_OPTIONS", "TransformerSeq2seq", "AttentionSeq2seq", "CheckpointError", "MODELS", "PeekySeq2seq", "Seq2seq", "Seq2seqBase",
           "attention_weights_of", "load_model", "model_from_config"]
