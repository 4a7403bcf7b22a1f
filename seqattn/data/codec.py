"""How a trained model reads and writes text: the vocabulary, the file format, reversal and
widths. Saved in every checkpoint so that ``eval``, ``predict`` and ``attention`` treat new input
exactly as training did."""

from __future__ import annotations

from . import text as T
from .tasks import TASKS
from .vocab import Vocab


class Codec:
    def __init__(self, vocab, format, reverse=False, source_width=None, target_width=None):
        if format not in ("qa", "tsv"):
            raise ValueError(f"unknown data format {format!r}: expected 'qa' or 'tsv'")
        self.vocab, self.format, self.reverse = vocab, format, reverse
        self.source_width, self.target_width = source_width, target_width

    @property
    def start_id(self):
        return self.vocab.start_id

    @property
    def stop_id(self):
        return self.vocab.end_id  # None for the book's fixed-width format

    @property
    def pad_id(self):
        return self.vocab.pad_id

    @property
    def sample_size(self):
        return self.target_width - 1

    def encode_sources(self, texts, source="input"):
        if self.format == "qa":
            x = T.encode_qa(texts, self.vocab, self.source_width, source)
            return x[:, ::-1].copy() if self.reverse else x
        return T.encode_sources(texts, self.vocab, self.reverse, source=source)

    def source_chars(self, text):
        """The source characters in reading order, as wide as the encoder sees them."""
        return list(text.ljust(self.source_width)) if self.format == "qa" else list(text)

    def load_lines(self, lines, source):
        """All lines of a file in the training format -> (x, t) encoded with this vocabulary."""
        if self.format == "qa":
            qs, ans = T.parse_qa(lines, source)
            if len(qs[0]) != self.source_width or len(ans[0]) != self.target_width:
                raise T.DataError(f"{source}: questions and answers are {len(qs[0])} and {len(ans[0])} wide, "
                                  f"but the model was trained on {self.source_width} and {self.target_width}")
            return self.encode_sources(qs, source), T.encode_qa(ans, self.vocab, self.target_width, source)
        srcs, tgts = T.parse_pairs(lines, source)
        return self.encode_sources(srcs, source), T.encode_targets(tgts, self.vocab, self.target_width, source)

    def decode(self, ids):
        """Generated ids (N, S) -> texts (the book's answers lose their padding spaces)."""
        texts = [self.vocab.decode(row) for row in ids]
        return [t.rstrip() for t in texts] if self.format == "qa" else texts

    def decode_chars(self, ids):
        """Generated ids -> the list of output symbols, up to and including the stop symbol."""
        out = []
        for i in ids:
            out.append(self.vocab.id_to_char[int(i)])
            if self.stop_id is not None and int(i) == self.stop_id:
                break
        return out

    def to_meta(self):
        return {"format": self.format, "reverse": self.reverse, "source_width": self.source_width,
                "target_width": self.target_width}

    @classmethod
    def from_meta(cls, meta, vocab: Vocab):
        return cls(vocab, meta["format"], meta["reverse"], meta["source_width"], meta["target_width"])


def load_dataset(task=None, path=None, reverse=False, seed=1984, n=50000, data_seed=0):
    """A built-in task or a file -> (train, test, codec). Train and test are (x, t) pairs."""
    if task is not None:
        lines, source = TASKS[task](n, data_seed), f"task {task}"
        fmt = "qa"
    else:
        lines, source = T.read_lines(path), str(path)
        fmt = T.detect_format(lines)
    if fmt == "qa":
        train, test, vocab = T.load_qa(lines, seed, reverse, source=source)
    else:
        train, test, vocab = T.load_pairs(lines, seed, reverse, source=source)
    return train, test, Codec(vocab, fmt, reverse, train[0].shape[1], train[1].shape[1])
