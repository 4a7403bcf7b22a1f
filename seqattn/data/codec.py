"""How a trained model reads and writes text: the vocabulary, the file format, reversal, widths
and padding. The codec is the one owner of turning text into ids and back, for training,
evaluation, prediction and plots alike, and it is saved in every checkpoint so that ``eval``,
``predict`` and ``attention`` treat new input exactly as training did.

Formats: "qa", the book's fixed-width ``question_answer`` lines (padded with spaces, reversal
reverses the whole width); "tsv", ``source<TAB>target`` pairs of any length (right-padded with
<pad>, targets as <s> text </s>, reversal reverses each source's real tokens).
"""

from __future__ import annotations

import numpy as np

from . import text as T
from .vocab import Vocab


class Codec:
    def __init__(self, vocab, format, reverse=False, source_width=None, target_width=None):
        if format not in ("qa", "tsv"):
            raise ValueError(f"unknown data format {format!r}: expected 'qa' or 'tsv'")
        self.vocab, self.format, self.reverse = vocab, format, reverse
        self.source_width, self.target_width = source_width, target_width
        self.lengths = None  # {"source": [...], "target": [...]} of the lines it was fitted on

    @classmethod
    def fit(cls, lines, format, reverse=False, source="data"):
        """A codec for ``lines`` (vocabulary and widths from them) -> (codec, x, t), all encoded."""
        if format == "qa":
            srcs, tgts = T.parse_qa(lines, source)
            vocab = T.qa_vocab(srcs, tgts)
            codec = cls(vocab, "qa", reverse, len(srcs[0]), len(tgts[0]))
        else:
            srcs, tgts = T.parse_pairs(lines, source)
            vocab = T.pairs_vocab(srcs, tgts)
            codec = cls(vocab, "tsv", reverse, max(map(len, srcs)), max(map(len, tgts)) + 2)
        codec.lengths = {"source": [len(x) for x in srcs], "target": [len(x) for x in tgts]}
        return (codec, *codec.encode_pairs(srcs, tgts, source))

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

    # ------------------------------------------------------------------------ text -> ids
    def encode_sources(self, texts, source="input"):
        """Source texts -> (N, width) ids, reversed if the model was trained reversed."""
        if self.format == "qa":
            x = T.encode_fixed(texts, self.vocab, self.source_width, source)
            return x[:, ::-1].copy() if self.reverse else x
        ids = [self.vocab.encode(t, where=f"{source}, line {n}") for n, t in enumerate(texts, 1)]
        if self.reverse:
            ids = [a[::-1] for a in ids]
        return T.pad_rows(ids, self.pad_id, source=source, what="characters")

    def encode_targets(self, texts, source="input"):
        """Target texts -> (N, width) ids starting with the start symbol."""
        if self.format == "qa":
            return T.encode_fixed(texts, self.vocab, self.target_width, source)
        v = self.vocab
        ids = [np.concatenate(([v.start_id], v.encode(t, where=f"{source}, line {n}"), [v.end_id])) for n, t in enumerate(texts, 1)]
        width = max(self.target_width or 0, max(len(a) for a in ids))
        return T.pad_rows(ids, self.pad_id, width, source)

    def encode_pairs(self, srcs, tgts, source="input"):
        return self.encode_sources(srcs, source), self.encode_targets(tgts, source)

    def load_lines(self, lines, source):
        """All lines of a file in the training format -> (x, t) encoded with this vocabulary."""
        if self.format == "qa":
            srcs, tgts = T.parse_qa(lines, source)
            if len(srcs[0]) != self.source_width or len(tgts[0]) != self.target_width:
                raise T.DataError(f"{source}: questions and answers are {len(srcs[0])} and {len(tgts[0])} wide, "
                                  f"but the model was trained on {self.source_width} and {self.target_width}")
        else:
            srcs, tgts = T.parse_pairs(lines, source)
        return self.encode_pairs(srcs, tgts, source)

    # ------------------------------------------------------------------------ ids -> text
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

    def decode_sources(self, x):
        """Encoded sources (N, Ts) -> the texts a user would type (reversal undone)."""
        rows = [np.asarray(r) for r in x]
        if self.pad_id is not None:
            rows = [r[r != self.pad_id] for r in rows]
        if self.reverse:
            rows = [r[::-1] for r in rows]
        return [self.vocab.decode(r, stop_at_end=False) for r in rows]

    def source_chars(self, text):
        """The source symbols of ``text`` in reading order, as many as the encoder sees."""
        return list(text.ljust(self.source_width)) if self.format == "qa" else list(text)

    def reading_order(self, weights, text):
        """Attention weights (S_out, Ts) over an encoded ``text`` -> (S_out, len(source_chars))
        with the source in reading order, whatever order the encoder saw it in."""
        w = weights[:, : len(self.source_chars(text))]
        return w[:, ::-1] if self.reverse else w

    # ------------------------------------------------------------------------ checkpoints
    def to_meta(self):
        return {"vocab": self.vocab.to_dict(), "format": self.format, "reverse": self.reverse,
                "source_width": self.source_width, "target_width": self.target_width}

    @classmethod
    def from_meta(cls, meta):
        return cls(Vocab.from_dict(meta["vocab"]), meta["format"], meta["reverse"], meta["source_width"], meta["target_width"])


def load_dataset(task=None, path=None, reverse=False, seed=1984, n=50000, data_seed=0, codec=None):
    """A built-in task or a file -> (train, test, codec). Train and test are (x, t) pairs.

    With ``codec`` (a resumed run's), the data is encoded with it and must be in its format."""
    from .tasks import TASKS

    if task is not None:
        lines, source, fmt = TASKS[task](n, data_seed), f"task {task}", "qa"
    else:
        lines, source = T.read_lines(path), str(path)
        fmt = T.detect_format(lines)
    if codec is None:
        codec, x, t = Codec.fit(lines, fmt, reverse, source)
    else:
        if fmt != codec.format:
            raise T.DataError(f"{source} is in the {fmt!r} format but the checkpoint was trained on {codec.format!r}")
        x, t = codec.load_lines(lines, source)
    return (*T.split(x, t, seed), codec)
