"""The models of chapters 7 and 8."""

from __future__ import annotations

from ..errors import OptionError, choice, fraction, positive_int
from ..layers import FEED_SCORES, SCORES
from .base import Seq2seqBase
from .decoders import AttentionDecoders, Decoder, PeekyDecoder
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
ATTENTION_OPTIONS = {"score": "dot", "bidirectional": False, "num_layers": 1, "skip": False, "dropout": 0.0,
                     "input_feeding": False}


@register
class AttentionSeq2seq(Seq2seqBase):
    """``AttentionSeq2seq(vocab_size, wordvec_size, hidden_size, score="dot", bidirectional=False,
    num_layers=1, skip=False, dropout=0.0, input_feeding=False)`` (chapter 8 and its extensions).

    The decoder attends over all encoder states and puts [context; LSTM output] into the affine.
    ``bidirectional``: the encoder's layers run hidden_size/2 units each way, so its states are
    hidden_size wide; decoder layer k starts from [forward final h; backward final h] of encoder
    layer k. ``num_layers`` stacks LSTMs in both encoder and decoder, ``skip`` adds residual
    connections between stacked layers, ``dropout`` is applied between layers. ``input_feeding``
    (Luong et al. 2015): every decoder step also reads the previous step's context, the attention
    running inside the decoder's time loop (``layers.TimeFeedLSTM``; dot or general score, one layer).
    """

    kind = "attention"
    decoder_class = AttentionDecoders
    options = ATTENTION_OPTIONS
    added_options = ("input_feeding",)  # seqattn 0.3.0's checkpoints have no input feeding
    has_attention = True

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=256, score="dot", bidirectional=False,
                 num_layers=1, skip=False, dropout=0.0, input_feeding=False, **kw):
        super().__init__(vocab_size, wordvec_size, hidden_size, score=score, bidirectional=bidirectional,
                         num_layers=num_layers, skip=skip, dropout=dropout, input_feeding=input_feeding, **kw)

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
        if args.get("input_feeding") and (args["score"] not in FEED_SCORES or args["num_layers"] != 1):
            raise OptionError(f"<input_feeding> takes the {' or '.join(FEED_SCORES)} <score> and <num_layers> 1, "
                              f"not {args['score']} and {args['num_layers']}")

    @classmethod
    def part_options(cls, score, bidirectional, num_layers, skip, dropout, input_feeding):
        """The options -> (the encoder's, the decoder's) keyword arguments."""
        stack = dict(num_layers=num_layers, skip=skip, dropout=dropout)
        return dict(stack, bidirectional=bidirectional), dict(stack, score=score, input_feeding=input_feeding)

