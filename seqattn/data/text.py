"""Text files of pairs: the book's ``question_answer`` format and tab-separated pairs.

Both give ``(x_train, t_train), (x_test, t_test), vocab`` with a seeded 10% test split.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from ..errors import OptionError, quoted
from ..memory import memory_limit
from ..paths import open_regular
from .vocab import Vocab, VocabularyError

PAD, START, END, UNK = "<pad>", "<s>", "</s>", "<unk>"


class DataError(ValueError):
    """A data file is empty or a line is not in the expected format."""


@contextlib.contextmanager
def reading(source):
    """Inside the block, an error that none of the checks of ``source``'s content foresaw is still
    one line, a DataError that names the file (a data file may be anything)."""
    try:
        yield
    except (DataError, VocabularyError, OptionError, ImportError, MemoryError):
        raise
    except Exception as exc:
        raise DataError(f"{source} is not a valid data file ({type(exc).__name__}: {str(exc)[:200]})") from exc


def open_data(path):
    """A data file opened for reading in binary: a regular file (a directory, a FIFO or a device
    is refused without being opened) no larger than half of this machine's memory, as it is read
    whole."""
    f = open_regular(path, DataError, "data file")
    size = os.fstat(f.fileno()).st_size
    if size > memory_limit():
        f.close()
        raise DataError(f"data file {os.fspath(path)!r} is {size / 2**30:,.1f} GiB, more than half of this machine's memory; "
                        "seqattn reads a data file whole")
    return f


def read_lines(path):
    """The lines of a UTF-8 text file without their line ends (LF, CRLF or CR alone; a byte-order
    mark at the start is dropped); a clear error, with the line number, if it is not UTF-8 or holds
    a NUL character. Only a regular file is read (``open_data``)."""
    path = os.fspath(path)
    with open_data(path) as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        before = data[:start]
        line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1
        raise DataError(f"{path}, line {line}: not UTF-8 text (byte {data[start]:#04x}); save the file as UTF-8") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if "\x00" in text:  # UTF-16 without a byte-order mark decodes as UTF-8 with a NUL in every other place
        line = next(n for n, ln in enumerate(lines, 1) if "\x00" in ln)
        raise DataError(f"{path}, line {line}: a NUL character, which text never holds (is it UTF-16, or not text?); "
                        "save the file as UTF-8")
    while lines and not lines[-1].strip() and "\t" not in lines[-1]:  # blank lines at the end; a tab holds fields
        lines.pop()
    if not lines:
        raise DataError(f"{path}: the file is empty" + ("" if not text else " (it holds only blank lines)"))
    return lines


SPLIT_SEED, TEST_RATIO = 1984, 0.1  # the seeded held-out tenth of a task or a file


def split_order(n, seed=SPLIT_SEED, test_ratio=TEST_RATIO):
    """A seeded shuffle of ``n`` examples -> (training indices, test indices): the last
    ``test_ratio`` of the shuffle is the test split."""
    order = np.random.default_rng(seed).permutation(n)
    at = n - int(n * test_ratio)
    return order[:at], order[at:]


# ------------------------------------------------------------------------ the book's format
def parse_qa(lines, source="data"):
    """Lines like ``16+75  _91  `` -> (questions, answers); answers keep their leading ``_``."""
    questions, answers = [], []
    width = None
    for n, line in enumerate(lines, 1):
        if not line:
            raise DataError(f"{source}, line {n}: empty line; remove it (one pair a line)")
        at = line.find("_")
        if at < 0:
            raise DataError(f"{source}, line {n}: no '_' between question and answer in {quoted(line)}")
        if not line[:at].strip() or not line[at + 1 :].strip():
            raise DataError(f"{source}, line {n}: empty {'question' if not line[:at].strip() else 'answer'} in {quoted(line)}")
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
            raise DataError(f"{source}, line {first_line + n}: {quoted(text)} is longer than the model's {width} characters")
        out[n] = vocab.encode(text.ljust(width), where=f"{source}, line {first_line + n}")
    return out


# --------------------------------------------------------------------- tab-separated pairs
def parse_pairs(lines, source="data", columns=(0, 1)):
    """Tab-separated lines -> (sources, targets) from the two ``columns`` (0-based; further
    columns, such as an attribution, are ignored, never merged into a field)."""
    sources, targets = [], []
    a, b = columns
    need = max(columns) + 1
    for n, line in enumerate(lines, 1):
        if not line.strip() and "\t" not in line:  # a tab holds fields, and says which one is empty
            raise DataError(f"{source}, line {n}: empty line; remove it (one pair a line)")
        fields = line.split("\t")
        if len(fields) < need:
            what = "no tab between source and target" if len(fields) == 1 else f"{len(fields)} columns, fewer than {need}"
            raise DataError(f"{source}, line {n}: {what} in {quoted(line)}")
        s, t = fields[a].strip(), fields[b].strip()
        if not s or not t:
            raise DataError(f"{source}, line {n}: empty {'source' if not s else 'target'} (column {(a if not s else b) + 1})")
        sources.append(s)
        targets.append(t)
    if not sources:
        raise DataError(f"{source}: no examples")
    return sources, targets


def pairs_vocab(token_lists, min_count=1, max_vocab=None):
    """One side's vocabulary: <pad>, <s>, </s>, <unk> (the same ids on both sides), then its tokens."""
    vocab = Vocab.from_counts(token_lists, (PAD, START, END, UNK), min_count, max_vocab)
    vocab.pad, vocab.start, vocab.end, vocab.unk = PAD, START, END, UNK
    return vocab


def pad_rows(rows, pad_id, width=None, source="input", what="tokens"):
    """Id arrays of any length -> (N, width) ids, right-padded with ``pad_id``."""
    width = width or max((len(a) for a in rows), default=1)
    if len(rows) * width * 8 > memory_limit():
        k = max(range(len(rows)), key=lambda i: len(rows[i]))
        raise DataError(f"{source}, line {k + 1}: {len(rows[k]):,} {what}; {len(rows):,} rows that wide would need "
                        f"{len(rows) * width * 8 / 2**30:,.1f} GiB, more than half of this machine's memory")
    out = np.full((len(rows), width), pad_id, dtype=np.int64)
    for n, a in enumerate(rows):
        if len(a) > width:
            raise DataError(f"{source}, line {n + 1}: {len(a)} {what}, more than the model's {width}")
        out[n, : len(a)] = a
    return out


def file_format(path):
    """The format of a data file from its first line ('tsv' or 'qa'), without reading the rest;
    None when it cannot be opened (reading it says why)."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except OSError:
        return None
    return "tsv" if b"\t" in first else "qa"


def detect_format(lines):
    """'tsv' when the first line has a tab, else the book's 'qa'."""
    return "tsv" if "\t" in lines[0] else "qa"
