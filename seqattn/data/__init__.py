"""Vocabularies, the book's question_answer files, tab-separated pairs, and the built-in tasks."""

from .codec import Codec, Dataset, Pairs, load_dataset, load_pairs, load_qa
from .tasks import TASKS, addition_lines, date_lines
from .text import DataError, file_format, read_lines
from .tokens import TOKENS, MissingExtra, make_tokens
from .vocab import Vocab, VocabularyError

__all__ = ["Codec", "DataError", "Dataset", "MissingExtra", "Pairs", "TASKS", "TOKENS", "make_tokens", "Vocab", "VocabularyError", "addition_lines", "date_lines", "file_format", "load_dataset",
           "load_pairs", "load_qa", "read_lines"]
