"""The encoder: embedding and an LSTM stack. It hands on all hidden states and each layer's
final state; which of them a decoder uses is the decoder's business."""

from __future__ import annotations

from dataclasses import dataclass

from ..layers import Composite, TimeEmbedding
from .stack import LSTMStack


@dataclass
class EncoderOutput:
    hs: object  # (N, T, H) hidden states of the last layer
    finals: list  # each layer's final h, (N, H)
    mask: object  # (N, T) bool or None


class Encoder(Composite):
    def __init__(self, ini, V, D, H, **stack_options):
        self.embed = TimeEmbedding(ini.embedding(V, D))
        self.stack = LSTMStack(ini, D, H, **stack_options)
        self.adopt([("embed", self.embed), ("", self.stack)])
        self.drops = self.stack.drops

    @staticmethod
    def count(V, D, H, **stack_options):
        """The weights of an encoder built with these arguments, without building it."""
        return V * D + LSTMStack.count(D, H, **stack_options)

    def forward(self, xs, mask=None):
        """xs: (N, T) int ids -> EncoderOutput."""
        hs = self.stack.forward(self.embed.forward(xs), mask)
        return EncoderOutput(hs, self.stack.finals(), mask)

    def backward(self, dhs, dfinals):
        """dhs: (N, T, H) or None (decoders that only read the final states)."""
        if dhs is None:
            dhs = self.embed.xp().zeros(self.stack_shape, dtype=self.embed.dtype)
        self.embed.backward(self.stack.backward(dhs, dfinals))

    @property
    def stack_shape(self):
        N, T = self.embed.idx.shape
        return (N, T, self.stack.H)
