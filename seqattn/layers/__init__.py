"""Layers with the book's contract: ``params``, ``grads``, ``forward``, ``backward``."""

from .affine import Affine, TimeAffine
from .attention import Attention, AttentionWeight, TimeAttention, WeightSum
from .base import Layer
from .dropout import TimeDropout
from .embedding import Embedding, TimeEmbedding
from .loss import Softmax, SoftmaxWithLoss, TimeSoftmaxWithLoss
from .lstm import LSTM, TimeBiLSTM, TimeLSTM
from .rnn import GRU, RNN, TimeGRU, TimeRNN

__all__ = [
    "Affine", "Attention", "AttentionWeight", "Embedding", "GRU", "Layer", "LSTM", "RNN", "Softmax",
    "SoftmaxWithLoss", "TimeAffine", "TimeAttention", "TimeBiLSTM", "TimeDropout", "TimeEmbedding",
    "TimeGRU", "TimeLSTM", "TimeRNN", "TimeSoftmaxWithLoss", "WeightSum",
]
