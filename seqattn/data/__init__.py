"""Vocabularies, the book's question_answer files, tab-separated pairs, and the built-in tasks."""

from .codec import Codec, load_dataset
from .tasks import TASKS, addition_lines, date_lines
from .text import DataError, load_pairs, load_qa, read_lines
from .vocab import Vocab, VocabularyError

__all__ = ["Codec", "DataError", "TASKS", "Vocab", "VocabularyError", "addition_lines", "date_lines", "load_dataset",
           "load_pairs", "load_qa", "read_lines"]
