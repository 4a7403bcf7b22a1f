"""The models of chapters 7 and 8."""

from __future__ import annotations

from ..errors import OptionError, choice, fraction, positive_int
from ..layers import SCORES
from .base import Seq2seqBase
from .decoders import AttentionDecoder, Decoder, PeekyDecoder
from .registry import register


@register
class Seq2seq(Seq2seqBase):
    """``Seq2seq(vocab_size, wordvec_size, hidden_size)``: the encoder's final state starts the
    decoder (chapter 7)."""

    kind = "seq2seq"
    decoder_class = Decoder


@register
class PeekySeq2seq(Seq2seqBase):
    """``PeekySeq2seq(vocab_size, wordvec_size, hidden_size)``: the decoder also sees the encoder's
    final state at every step, beside its input and its output (chapter 7)."""

    kind = "peeky"
    decoder_class = PeekyDecoder


# The options only the attention model takes, with their defaults: the one list that the
# command line, checkpoints and the constructor follow.
ATTENTION_OPTIONS = {"score": "dot", "bidirectional": False, "num_layers": 1, "skip": False, "dropout": 0.0}


@register
class AttentionSeq2seq(Seq2seqBase):
    """``AttentionSeq2seq(vocab_size, wordvec_size, hidden_size, score="dot", bidirectional=False,
    num_layers=1, skip=False, dropout=0.0)`` (chapter 8 and its extensions).

    The decoder attends over all encoder states and puts [context; LSTM output] into the affine.
    ``bidirectional``: the encoder's layers run hidden_size/2 units each way, so its states are
    hidden_size wide; decoder layer k starts from [forward final h; backward final h] of encoder
    layer k. ``num_layers`` stacks LSTMs in both encoder and decoder, ``skip`` adds residual
    connections between stacked layers, ``dropout`` is applied between layers.
    """

    kind = "attention"
    decoder_class = AttentionDecoder
    options = ATTENTION_OPTIONS
    has_attention = True

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=256, score="dot", bidirectional=False,
                 num_layers=1, skip=False, dropout=0.0, **kw):
        super().__init__(vocab_size, wordvec_size, hidden_size, score=score, bidirectional=bidirectional,
                         num_layers=num_layers, skip=skip, dropout=dropout, **kw)

    @classmethod
    def check_options(cls, args):
        """As ``Seq2seqBase.check_options``, and the score, layers, dropout and an even
        hidden size for a bidirectional encoder."""
        super().check_options(args)
        choice("score", args["score"], SCORES)
        positive_int("num_layers", args["num_layers"])
        fraction("dropout", args["dropout"])
        if args["bidirectional"] and args["hidden_size"] % 2:
            raise OptionError("a bidirectional encoder splits <hidden_size> between directions: it must be even, "
                              f"got {args['hidden_size']}")

    @classmethod
    def part_options(cls, score, bidirectional, num_layers, skip, dropout):
        """The options -> (the encoder's, the decoder's) keyword arguments."""
        stack = dict(num_layers=num_layers, skip=skip, dropout=dropout)
        return dict(stack, bidirectional=bidirectional), dict(stack, score=score)

