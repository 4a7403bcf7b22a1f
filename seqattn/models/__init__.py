"""Seq2seq, PeekySeq2seq, AttentionSeq2seq and TransformerSeq2seq, and loading them from checkpoints.

Each model registers itself under its ``kind`` (``MODELS``); ``load`` rebuilds a checkpoint's
model and codec."""

from ..errors import CheckpointError
from .base import Seq2seqBase, attention_weights_of
from .registry import MODELS, Checkpoint, load, load_model, model_from_config, read_meta, register
from .seq2seq import ATTENTION_OPTIONS, AttentionSeq2seq, PeekySeq2seq, Seq2seq
from .transformer import TRANSFORMER_OPTIONS, TransformerSeq2seq

__all__ = ["ATTENTION_OPTIONS", "AttentionSeq2seq", "Checkpoint", "CheckpointError", "MODELS", "PeekySeq2seq", "Seq2seq",
           "Seq2seqBase", "TRANSFORMER_OPTIONS", "TransformerSeq2seq", "attention_weights_of", "load", "load_model",
           "model_from_config", "read_meta", "register"]
