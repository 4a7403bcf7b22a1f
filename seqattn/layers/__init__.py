"""Layers with the book's contract: ``params``, ``grads``, ``forward``, ``backward``.

The book's step-by-step layers (one object per time step) are in ``seqattn.layers.book``; the
``LSTM``, ``RNN``, ``GRU``, ``WeightSum``, ``AttentionWeight`` and ``Attention`` here are those.
"""

from .affine import Affine, TimeAffine
from .attention import SCORES, TimeAttention
from ..packed import Packed, flat
from .base import Composite, Layer, frozen_weights
from .book import GRU, LSTM, RNN, Attention, AttentionWeight, WeightSum
from .dropout import TimeDropout
from .embedding import Embedding, TimeEmbedding
from .feed import FEED_SCORES, TimeFeedLSTM
from .loss import Softmax, SoftmaxWithLoss, TimeSoftmaxWithLoss
from .lstm import TimeBiLSTM, TimeLSTM
from .recurrent import TimeGRU, TimeRNN
from .transformer import FeedForward, LayerNorm, MultiHeadAttention, PositionalEncoding, sinusoid_table

__all__ = [
    "Affine", "Attention", "AttentionWeight", "Composite", "Embedding", "FEED_SCORES", "FeedForward", "GRU", "Layer", "LayerNorm", "LSTM",
    "MultiHeadAttention", "Packed", "PositionalEncoding", "RNN", "SCORES", "sinusoid_table",
    "Softmax", "SoftmaxWithLoss", "TimeAffine", "TimeAttention", "TimeBiLSTM", "TimeDropout", "TimeEmbedding",
    "TimeFeedLSTM", "TimeGRU", "TimeLSTM", "TimeRNN", "TimeSoftmaxWithLoss", "WeightSum", "flat", "frozen_weights",
]
