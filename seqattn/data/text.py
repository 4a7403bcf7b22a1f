"""Text files of pairs: the book's ``question_answer`` format and tab-separated pairs.

Both give ``(x_train, t_train), (x_test, t_test), vocab`` with a seeded 10% test split.
"""

from __future__ import annotations

import os

import numpy as np

from .vocab import Vocab

PAD, START, END = "<pad>", "<s>", "</s>"


class DataError(ValueError):
    """A data file is empty or a line is not in the expected format."""


def read_lines(path):
    """The lines of a UTF-8 text file without their line ends; a clear error if unusable."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"data file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: the file is empty")
    return lines


def split(x, t, seed=1984, test_ratio=0.1):
    """Shuffle with ``seed`` and keep the last ``test_ratio`` as the test split."""
    order = np.random.default_rng(seed).permutation(len(x))
    x, t = x[order], t[order]
    at = len(x) - int(len(x) * test_ratio)
    return (x[:at], t[:at]), (x[at:], t[at:])


# ------------------------------------------------------------------------ the book's format
def parse_qa(lines, source="data"):
    """Lines like ``16+75  _91  `` -> (questions, answers); answers keep their leading ``_``."""
    questions, answers = [], []
    width = None
    for n, line in enumerate(lines, 1):
        if not line:
            raise DataError(f"{source}, line {n}: empty line")
        at = line.find("_")
        if at < 0:
            raise DataError(f"{source}, line {n}: no '_' between question and answer in {line!r}")
        if not line[:at].strip() or not line[at + 1 :].strip():
            raise DataError(f"{source}, line {n}: empty {'question' if not line[:at].strip() else 'answer'} in {line!r}")
        if width is None:
            width = (at, len(line))
        elif (at, len(line)) != width:
            raise DataError(
                f"{source}, line {n}: question and answer are {at} and {len(line) - at} characters wide, "
                f"but line 1's are {width[0]} and {width[1] - width[0]}; pad every line to the same widths with spaces"
            )
        questions.append(line[:at])
        answers.append(line[at:])
    if not questions:
        raise DataError(f"{source}: no examples")
    return questions, answers


def qa_vocab(questions, answers):
    vocab = Vocab.from_texts(q + a for q, a in zip(questions, answers))
    vocab.start = "_"
    return vocab


def encode_fixed(texts, vocab, width, source="input", first_line=1):
    """Fixed-width texts -> (N, width) ids; shorter texts are padded with spaces as in the files."""
    out = np.empty((len(texts), width), dtype=np.int64)
    for n, text in enumerate(texts):
        if len(text) > width:
            raise DataError(f"{source}, line {first_line + n}: {text!r} is longer than the model's {width} characters")
        out[n] = vocab.encode(text.ljust(width), where=f"{source}, line {first_line + n}")
    return out


def load_qa(lines, seed=1984, reverse=False, test_ratio=0.1, source="data"):
    """The book's format from lines -> (x_train, t_train), (x_test, t_test), vocab."""
    from .codec import Codec

    codec, x, t = Codec.fit(lines, "qa", reverse, source)
    return (*split(x, t, seed, test_ratio), codec.vocab)


# --------------------------------------------------------------------- tab-separated pairs
def parse_pairs(lines, source="data"):
    sources, targets = [], []
    for n, line in enumerate(lines, 1):
        if "\t" not in line:
            raise DataError(f"{source}, line {n}: no tab between source and target in {line!r}")
        s, t = line.split("\t", 1)
        if not s or not t:
            raise DataError(f"{source}, line {n}: empty source or target")
        sources.append(s)
        targets.append(t)
    if not sources:
        raise DataError(f"{source}: no examples")
    return sources, targets


def pairs_vocab(sources, targets):
    vocab = Vocab.from_texts(sources + targets, specials=(PAD, START, END))
    vocab.pad, vocab.start, vocab.end = PAD, START, END
    return vocab


def pad_rows(rows, pad_id, width=None, source="input", what="tokens"):
    """Id arrays of any length -> (N, width) ids, right-padded with ``pad_id``."""
    width = width or max(len(a) for a in rows)
    out = np.full((len(rows), width), pad_id, dtype=np.int64)
    for n, a in enumerate(rows):
        if len(a) > width:
            raise DataError(f"{source}, line {n + 1}: {len(a)} {what}, more than the model's {width}")
        out[n, : len(a)] = a
    return out


def load_pairs(lines, seed=1984, reverse=False, test_ratio=0.1, source="data"):
    """``source<TAB>target`` lines -> (x_train, t_train), (x_test, t_test), vocab."""
    from .codec import Codec

    codec, x, t = Codec.fit(lines, "tsv", reverse, source)
    return (*split(x, t, seed, test_ratio), codec.vocab)


def detect_format(lines):
    """'tsv' when the first line has a tab, else the book's 'qa'."""
    return "tsv" if "\t" in lines[0] else "qa"
