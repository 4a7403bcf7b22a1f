"""How a trained model reads and writes text: the vocabularies, the tokens, the file format,
reversal, widths and padding. The codec is the one owner of turning text into ids and back, for
training, evaluation, prediction and plots alike, and it is saved in every checkpoint so that
``eval``, ``predict`` and ``attention`` treat new input exactly as training did.

Formats: "qa", the book's fixed-width ``question_answer`` lines (characters, one vocabulary for
both sides, padded with spaces, reversal reverses the whole width); "tsv", tab-separated pairs of
any length (characters, words or subwords; each side its own vocabulary with <pad>, <s>, </s> and
<unk>; right-padded with <pad>, targets as <s> text </s>, reversal reverses each source's real
tokens).
"""

from __future__ import annotations

from typing import NamedTuple

import base64
import binascii
import re

import numpy as np

from ..errors import quoted
from ..schema import Fields
from .text import (
    SPLIT_SEED, TEST_RATIO, DataError, detect_format, encode_fixed, pad_rows, pairs_vocab, parse_pairs, parse_qa, qa_vocab,
    read_lines, reading, split_order,
)
from .tasks import EXAMPLES, INPUT_PROBLEMS, TASKS
from .tokens import (
    JOINER, SUBWORD_PIECES, SUBWORD_TYPES, TEXT_TOKENS, TOKENS, CharTokens, least_tokens, make_tokens, require,
    tokens_from_meta,
)
from .vocab import Vocab

MAX_WIDTH = 100_000  # tokens in one sequence: none longer is trained on, or read from a checkpoint
MAX_COLUMNS = 10_000  # tab-separated columns that --columns may name
_WORD_TOKEN = re.compile(f"{JOINER}?(?:\\w+|[^\\w\\s{JOINER}])")  # what WordTokens.split makes


class Pairs(NamedTuple):
    """Encoded pairs and the texts they came from (targets as written, the references of BLEU)."""
    x: np.ndarray
    t: np.ndarray
    sources: list
    targets: list

    def take(self, idx):
        """The pairs at ``idx`` (a sequence of indices), in that order."""
        return Pairs(self.x[idx], self.t[idx], [self.sources[i] for i in idx], [self.targets[i] for i in idx])

    def __len__(self):
        return len(self.x)


class Codec:
    """``Codec(vocab, format, reverse, source_width, target_width, target_vocab=None, tokens=None,
    target_tokens=None, columns=(0, 1))``: ``vocab`` and ``tokens`` read the source side,
    ``target_vocab`` and ``target_tokens`` (the same as the source's when not given) the target
    side; ``columns`` are the two tab-separated fields a "tsv" file's pairs are read from.

    What training showed, so that inputs outside it are warned of: ``task`` (the built-in task's
    name, or None) and, for the book's fixed-width format, ``positions``: the characters that
    training questions had at each position (None: not recorded, as in checkpoints of 0.3.0)."""

    def __init__(self, vocab, format, reverse=False, source_width=None, target_width=None, *, target_vocab=None,
                 tokens=None, target_tokens=None, columns=(0, 1), task=None, positions=None):
        if format not in ("qa", "tsv"):
            raise ValueError(f"unknown data format {format!r}: expected 'qa' or 'tsv'")
        self.vocab, self.format, self.reverse = vocab, format, reverse
        self.target_vocab = target_vocab if target_vocab is not None else vocab
        self.tokens = tokens if tokens is not None else CharTokens()
        self.target_tokens = target_tokens if target_tokens is not None else self.tokens
        self.columns = tuple(columns)
        self.source_width, self.target_width = source_width, target_width
        self.task, self.positions = task, positions
        if self.vocab.pad_id != self.target_vocab.pad_id:
            raise ValueError("the source and target vocabularies must give <pad> the same id")

    @classmethod
    def fit(cls, srcs, tgts, format, reverse=False, *, tokens=TEXT_TOKENS, lower=False, vocab_size=SUBWORD_PIECES,
            subword_type="unigram", min_count=1, max_vocab=None, columns=(0, 1), seed=0):
        """A codec fitted on the texts of training pairs: vocabularies (and for ``tokens="subword"``
        a sentencepiece model per side, of about ``vocab_size`` pieces) and widths from them.
        ``tokens``: "word" (words and punctuation, ``TEXT_TOKENS``), "char" or "subword".
        "qa": the book's one character vocabulary; "tsv": one vocabulary per side, tokens seen fewer
        than ``min_count`` times and beyond the ``max_vocab`` most frequent become <unk>."""
        if format == "qa":
            width = len(srcs[0])
            positions = ["".join(sorted({q[i] for q in srcs})) for i in range(width)]
            return cls(qa_vocab(srcs, tgts), "qa", reverse, width, len(tgts[0]), positions=positions)
        src_tok = make_tokens(tokens, srcs, lower, vocab_size, subword_type, seed)
        tgt_tok = make_tokens(tokens, tgts, lower, vocab_size, subword_type, seed) if tokens == "subword" else src_tok
        S, U = [src_tok.split(x) for x in srcs], [tgt_tok.split(x) for x in tgts]
        return cls(pairs_vocab(S, min_count, max_vocab), "tsv", reverse, max(map(len, S)), max(map(len, U)) + 2,
                   target_vocab=pairs_vocab(U, min_count, max_vocab), tokens=src_tok, target_tokens=tgt_tok,
                   columns=columns)

    def token_lengths(self, srcs, tgts):
        """(source lengths, target lengths) in tokens of texts, as this codec splits them."""
        if self.format == "qa":
            return [len(x) for x in srcs], [len(x) for x in tgts]
        return [len(self.tokens.split(x)) for x in srcs], [len(self.target_tokens.split(x)) for x in tgts]

    @property
    def start_id(self):
        """The id that starts every target (the book's ``_``, or ``<s>``)."""
        return self.target_vocab.start_id

    @property
    def stop_id(self):
        """The id that ends a target (``</s>``); None for the book's fixed-width format."""
        return self.target_vocab.end_id  # None for the book's fixed-width format

    @property
    def pad_id(self):
        """The padding id (``<pad>``); None for the book's fixed-width format."""
        return self.vocab.pad_id

    @property
    def sample_size(self):
        """How many ids to generate for an answer: the target width less the start symbol."""
        return self.target_width - 1

    # ------------------------------------------------------------------------ text -> ids
    def _split(self, tokens, texts, source, lines, side):
        """Each text's tokens; a text with none (all of it spaces or joiners) is a DataError that
        names its line (``lines``: the line number of each text, from 1 by default)."""
        pieces = [tokens.split(t) for t in texts]
        for k, p in enumerate(pieces):
            if not p:
                line = lines[k] if lines is not None else k + 1
                raise DataError(f"{source}, line {line}: the {side} {quoted(texts[k])} has no {tokens.kind} tokens; "
                                "give text the model can read")
        return pieces

    def encode_sources(self, texts, source="input", lines=None):
        """Source texts -> (N, width) ids, reversed if the model was trained reversed."""
        if self.format == "qa":
            x = encode_fixed(texts, self.vocab, self.source_width, source)
            return x[:, ::-1].copy() if self.reverse else x
        pieces = self._split(self.tokens, texts, source, lines, "source")
        ids = [self.vocab.encode(p, where=f"{source}, line {n}") for n, p in enumerate(pieces, 1)]
        if self.reverse:
            ids = [a[::-1] for a in ids]
        return pad_rows(ids, self.pad_id, source=source, what="tokens")

    def encode_targets(self, texts, source="input", lines=None):
        """Target texts -> (N, width) ids starting with the start symbol."""
        if self.format == "qa":
            return encode_fixed(texts, self.vocab, self.target_width, source)
        v = self.target_vocab
        pieces = self._split(self.target_tokens, texts, source, lines, "target")
        ids = [np.concatenate(([v.start_id], v.encode(p, where=f"{source}, line {n}"), [v.end_id]))
               for n, p in enumerate(pieces, 1)]
        width = max(self.target_width or 0, max((len(a) for a in ids), default=2))
        return pad_rows(ids, self.pad_id, width, source)

    def encode_pairs(self, srcs, tgts, source="input", lines=None):
        """(source texts, target texts) -> (x (N, Ts), t (N, Tt)) int ids."""
        return self.encode_sources(srcs, source, lines), self.encode_targets(tgts, source, lines)

    def parse(self, lines, source):
        """Lines in this codec's format -> (sources, targets) texts."""
        if self.format == "qa":
            srcs, tgts = parse_qa(lines, source)
            if self.source_width is not None and (len(srcs[0]) != self.source_width or len(tgts[0]) != self.target_width):
                raise DataError(f"{source}: questions and answers are {len(srcs[0])} and {len(tgts[0])} wide, "
                                  f"but the model was trained on {self.source_width} and {self.target_width}")
            return srcs, tgts
        return parse_pairs(lines, source, self.columns)

    def read(self, lines, source):
        """All lines of a file in the training format -> Pairs encoded with this codec."""
        with reading(source):
            srcs, tgts = self.parse(lines, source)
            _leave_out_too_long(srcs, tgts, range(len(srcs)), "char" if self.format == "qa" else self.tokens.kind, None,
                                source, training=False)
            return Pairs(*self.encode_pairs(srcs, tgts, source), srcs, tgts)

    def input_warnings(self, texts):
        """What ``texts`` (inputs to answer) hold that training never showed the model, as
        warnings: inputs outside the built-in task's range or format, characters at positions
        where no training question had them, inputs longer than any in training, tokens outside
        the vocabulary; a DataError for an empty input."""
        for k, text in enumerate(texts, 1):
            if not text.strip():
                raise DataError(f"input {k} is empty; give the text to answer")
        warnings = []
        problem = INPUT_PROBLEMS.get(self.task)
        if problem is not None:  # a built-in task knows its range and formats better than positions can
            warnings += [p for p in map(problem, texts) if p is not None]
        elif self.format == "qa":
            warnings += [w for w in map(self._position_warning, texts) if w is not None]
        if self.format == "qa":
            return warnings
        pieces = [self.tokens.split(t) for t in texts]
        longest = max(len(p) for p in pieces)
        if longest > self.source_width:
            warnings.append(f"an input of {longest} tokens is longer than any the model was trained on "
                            f"({self.source_width}); answers are cut at {self.sample_size} tokens")
        unknown = sorted({self.tokens.shown(tok) for p in pieces for tok in p if tok not in self.vocab})
        if unknown:
            shown = ", ".join(map(quoted, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
            warnings.append(f"{shown} not in the model's vocabulary, read as <unk>")
        return warnings

    def _position_warning(self, text):
        """The first character of a fixed-width ``text`` that no training question had at its
        place, as a warning (None when every one was seen there, or nothing was recorded)."""
        if self.positions is None or len(text) > self.source_width:
            return None  # too long for the model at all: encoding it is the error
        for i, ch in enumerate(text.ljust(self.source_width)):
            if ch not in self.positions[i]:
                what = "a space" if ch == " " else quoted(ch)
                longest = max((i for i, seen in enumerate(self.positions) if seen != " "), default=-1) + 1
                beyond = f" (the longest training question has {longest} characters)" if i >= longest else ""
                return f"{quoted(text)}: no training question had {what} at character {i + 1}{beyond}; the answer is a guess"
        return None

    # ------------------------------------------------------------------------ ids -> text
    def decode(self, ids):
        """Generated ids (N, S) -> texts (the book's answers lose their padding spaces; tokens
        are joined back into normal text)."""
        if self.format == "qa":
            return [self.vocab.decode(row).rstrip() for row in ids]
        return [self.target_tokens.join(self.target_vocab.tokens_of(row)) for row in ids]

    def decode_chars(self, ids):
        """Generated ids -> the list of output symbols as shown in plots, up to and including the
        stop symbol."""
        out = []
        for i in ids:
            out.append(self.target_tokens.shown(self.target_vocab.id_to_char[int(i)]))
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
        return [self.tokens.join(self.vocab.tokens_of(r, stop_at_end=False)) for r in rows]

    def source_chars(self, text):
        """The source symbols of ``text`` in reading order, as many as the encoder sees."""
        return list(text.ljust(self.source_width)) if self.format == "qa" else [self.tokens.shown(t) for t in self.tokens.split(text)]

    def reading_order(self, weights, text):
        """Attention weights (S_out, Ts) over an encoded ``text`` -> (S_out, len(source_chars))
        with the source in reading order, whatever order the encoder saw it in."""
        w = weights[:, : len(self.source_chars(text))]
        return w[:, ::-1] if self.reverse else w

    # ------------------------------------------------------------------------ checkpoints
    def to_meta(self):
        """The codec as JSON-able data (vocabularies, tokens, format, widths, reversal), as
        checkpoints keep it."""
        meta = {"vocab": self.vocab.to_dict(), "format": self.format, "reverse": self.reverse,
                "source_width": self.source_width, "target_width": self.target_width,
                "tokens": self.tokens.to_meta(), "columns": list(self.columns)}
        if self.task is not None:
            meta["task"] = self.task
        if self.positions is not None:
            meta["positions"] = list(self.positions)
        if self.target_vocab is not self.vocab:
            meta["target_vocab"] = self.target_vocab.to_dict()
        if self.target_tokens is not self.tokens:
            meta["target_tokens"] = self.target_tokens.to_meta()
        return meta

    @classmethod
    def from_meta(cls, meta, source="checkpoint"):
        """The codec a checkpoint's ``codec`` meta describes, every field checked first (a
        CheckpointError naming the field and ``source``, the checkpoint)."""
        f = Fields(meta, source, "codec")
        f.only(("vocab", "format", "reverse", "source_width", "target_width", "tokens", "columns", "target_vocab",
                "target_tokens", "task", "positions"), "a codec")
        fmt = f.str("format", choices=("qa", "tsv"))
        reverse = f.bool("reverse")
        source_width, target_width = f.int("source_width", 1, MAX_WIDTH), f.int("target_width", 2, MAX_WIDTH)
        columns = f.list("columns", of=int, length=2, null=True) or [0, 1]
        if min(columns) < 0 or max(columns) >= MAX_COLUMNS or columns[0] == columns[1]:
            raise f.error("columns", f"must be two different columns from 0 to {MAX_COLUMNS - 1:,}, got {columns}")
        specials = ("pad", "start", "end", "unk") if fmt == "tsv" else ("start",)
        vocab = _vocab_from_meta(f.obj("vocab"), specials)
        target_vocab = _vocab_from_meta(f.obj("target_vocab"), specials) if f.has("target_vocab") else None
        if fmt == "qa" and target_vocab is not None:
            raise f.error("target_vocab", "is for tab-separated pairs; the book's format has one vocabulary")
        if target_vocab is not None and target_vocab.pad_id != vocab.pad_id:
            raise f.error("target_vocab.pad", f"has id {target_vocab.pad_id}, and codec.vocab.pad {vocab.pad_id}: they must be one id")
        tokens = _tokens_from_meta(f, "tokens", fmt)
        target_tokens = _tokens_from_meta(f, "target_tokens", fmt) if f.has("target_tokens") else None
        _check_tokens(f.obj("vocab"), vocab, tokens)  # every token one that the tokens can make
        if target_vocab is not None:
            _check_tokens(f.obj("target_vocab"), target_vocab, target_tokens or tokens)
        task = f.str("task", choices=list(TASKS), null=True)
        positions = f.list("positions", of=str, length=source_width if fmt == "qa" else 0, null=True)
        for k, seen in enumerate(positions or ()):  # the characters of a position: each of the vocabulary's, once
            if len(set(seen)) != len(seen) or not set(seen) <= set(vocab.tokens):
                raise f.error(f"positions[{k}]", f"must hold characters of codec.vocab, each once, got {quoted(seen)}")
        return cls(vocab, fmt, reverse, source_width, target_width, target_vocab=target_vocab, tokens=tokens,
                   target_tokens=target_tokens, columns=columns, task=task, positions=positions or None)


def _vocab_from_meta(f, specials):
    """A vocabulary from its meta: unique string tokens, and each of ``specials`` one of them."""
    tokens = f.list("tokens", of=str)
    if not tokens:
        raise f.error("tokens", "is empty")
    if len(set(tokens)) != len(tokens):
        raise f.error("tokens", "holds a token twice")
    known = set(tokens)
    found = {}
    for key in ("pad", "start", "end", "unk"):
        found[key] = f.str(key, null=key not in specials)
        if found[key] is not None and found[key] not in known:
            raise f.error(key, f"{quoted(found[key])} is not one of its tokens")
    return Vocab(tokens, **found)


def _tokens_from_meta(f, key, fmt):
    """A tokenizer from its meta (absent: characters); a subword model must load."""
    t = f.obj(key, null=True)
    if t is None:
        return CharTokens()
    kind = t.str("kind", choices=TOKENS if fmt == "tsv" else ("char",))
    meta = {"kind": kind, "lower": bool(t.bool("lower", null=True))}
    if kind == "word":
        meta["nfc"] = bool(t.bool("nfc", absent=True))  # absent: written before words were put in NFC
    if kind == "subword":
        meta["model_type"] = t.str("model_type", choices=SUBWORD_TYPES, null=True) or "unigram"
        text = t.str("model")
        try:
            model = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise t.error("model", "is not base64 text") from None
        if not model:
            raise t.error("model", "is empty: a subword model has pieces")
        require("sentencepiece", what=f"{t.source!r}, a checkpoint of subword tokens,")  # a missing extra, not a bad file
        meta["model"] = text
    try:
        tokens = tokens_from_meta(meta)
    except Exception as exc:  # sentencepiece's own error for a model it cannot read
        raise t.error("model" if kind == "subword" else "kind", f"cannot be loaded ({type(exc).__name__}: {str(exc)[:120]})") from None
    if kind == "subword" and tokens.sp.get_piece_size() < 1:
        raise t.error("model", "has no pieces")
    return tokens


def _check_tokens(f, vocab, tokens):
    """Every token of ``vocab`` (its Fields ``f``) but its special symbols is one that ``tokens``
    can make: one character; a word or a mark, with or without the joiner (never empty, never
    with a space in it); a piece of the subword model (so the vocabulary has no more tokens
    than the model has pieces)."""
    specials = {vocab.pad, vocab.start, vocab.end, vocab.unk} - {None}
    if tokens.kind == "subword":
        sp = tokens.sp
        makes = lambda tok: sp.id_to_piece(sp.piece_to_id(tok)) == tok  # noqa: E731
    elif tokens.kind == "word":
        makes = lambda tok: _WORD_TOKEN.fullmatch(tok) is not None  # noqa: E731
    else:
        makes = lambda tok: len(tok) == 1  # noqa: E731
    for k, tok in enumerate(vocab.tokens):
        if tok not in specials and not makes(tok):
            raise f.error(f"tokens[{k}]", f"is {quoted(tok)}, which {tokens.kind} tokens never are")


class Dataset(NamedTuple):
    train: Pairs
    valid: Pairs  # what each epoch is scored on: --valid, or the seeded split of the training file
    test: Pairs  # --test, scored once after training; None without it
    codec: Codec
    dropped: int  # training pairs left out by max_length
    train_lines: np.ndarray  # the file's line number of each training pair


def load_dataset(task=None, path=None, reverse=False, seed=SPLIT_SEED, n=EXAMPLES, data_seed=0, codec=None, *, lines=None,
                 source=None, valid=None, test=None, max_length=None, test_ratio=TEST_RATIO, check_lengths=None,
                 **text_options):
    """A built-in task, a file or ``lines`` -> Dataset(train, valid, test, codec, dropped, train_lines).

    Without ``valid`` (a file) the valid split is the seeded ``test_ratio`` of the data. A new
    codec is fitted on the training pairs ("tsv") or on all lines (the book's "qa", as the book
    does); with ``codec`` (a resumed run's) the data is read with it and must be in its format.
    ``max_length`` leaves out training pairs with more tokens on either side (the valid and test
    pairs are all kept); ``text_options`` go to ``Codec.fit``. ``check_lengths(codec, source_lengths,
    target_lengths, line_numbers)`` sees the training pairs' lengths in tokens before anything is
    encoded (to refuse what would not fit in memory)."""
    from .tasks import TASKS

    with reading(source or (f"task {task}" if task is not None else str(path) if path is not None else "data")):
        if task is not None:
            lines, source, fmt = TASKS[task](n, data_seed), f"task {task}", "qa"
        else:
            if lines is None:
                lines, source = read_lines(path), str(path)
            source = source or "data"
            fmt = detect_format(lines)
        reader = codec or Codec(Vocab([]), fmt, columns=text_options.get("columns", (0, 1)))
        if codec is not None and fmt != codec.format:
            raise DataError(f"{source} is in the {fmt!r} format but the checkpoint was trained on {codec.format!r}")
        if fmt == "qa":
            given = [k for k, v in dict(text_options, max_length=max_length).items()
                     if v is not None and not (k == "tokens" and v == "char") and not (k == "lower" and not v)]
            if given:
                raise DataError(f"{source} is in the book's question_answer format, which is read character by character; "
                                f"{', '.join('--' + k.replace('_', '-') for k in given)} {'is' if len(given) == 1 else 'are'} "
                                "for tab-separated pairs")
        srcs, tgts = reader.parse(lines, source)
        if valid is None:
            train_idx, valid_idx = split_order(len(srcs), seed, test_ratio)
        else:
            train_idx, valid_idx = np.arange(len(srcs)), None
        kind = "char" if fmt == "qa" else codec.tokens.kind if codec is not None else text_options.get("tokens") or TEXT_TOKENS
        if valid_idx is not None:  # scored after every epoch: never longer than seqattn takes either
            _leave_out_too_long(srcs, tgts, valid_idx, kind, None, source, training=False)
        train_idx, dropped = _leave_out_too_long(srcs, tgts, train_idx, kind, max_length, source)
        if dropped and not len(train_idx):
            raise DataError(f"{source}: every training pair has more than {max_length} tokens on a side; raise --max-length")
        fitted = codec is None
        if fitted:
            fit_on = range(len(srcs)) if fmt == "qa" else train_idx  # the book fits its vocabulary on every line
            codec = Codec.fit([srcs[i] for i in fit_on], [tgts[i] for i in fit_on], fmt, reverse, **text_options)
            codec.task = task
        ls, lt = codec.token_lengths([srcs[i] for i in train_idx], [tgts[i] for i in train_idx])
        if max_length is not None:
            keep = [k for k, (a, b) in enumerate(zip(ls, lt)) if a <= max_length and b <= max_length]
            if not keep:
                raise DataError(f"{source}: every training pair has more than {max_length} tokens on a side; raise --max-length")
            dropped += len(train_idx) - len(keep)
            train_idx = train_idx[keep]
            ls, lt = [ls[k] for k in keep], [lt[k] for k in keep]
            if fitted:  # widths of what is kept
                codec.source_width, codec.target_width = max(ls), max(lt) + 2
        _check_widths(ls, lt, train_idx + 1, source)
        if check_lengths is not None:
            check_lengths(codec, ls, lt, train_idx + 1)
        if fmt == "qa":  # fixed width: encode every line in file order (errors name the file's lines), then split
            everything = Pairs(*codec.encode_pairs(srcs, tgts, source), srcs, tgts)
            train = everything.take(train_idx)
            valid = everything.take(valid_idx) if valid is None else codec.read(read_lines(valid), str(valid))
        else:
            def encode(idx):
                s, t = [srcs[i] for i in idx], [tgts[i] for i in idx]
                return Pairs(*codec.encode_pairs(s, t, source, lines=idx + 1), s, t)

            train = encode(train_idx)
            valid = encode(valid_idx) if valid is None else codec.read(read_lines(valid), str(valid))
        test = codec.read(read_lines(test), str(test)) if test is not None else None
        return Dataset(train, valid, test, codec, dropped, train_idx + 1)


def read_pairs(path, columns=(0, 1)):
    """The pairs of a data file, read and parsed as ``load_dataset`` reads them (its format from its
    first line; the tab-separated ``columns``) -> (lines, sources, targets); a DataError naming
    the file and the line where ``seqattn train --data`` would refuse it."""
    source = str(path)
    with reading(source):
        lines = read_lines(path)
        return (lines, *Codec(Vocab([]), detect_format(lines), columns=columns).parse(lines, source))


def _leave_out_too_long(srcs, tgts, idx, kind, max_length, source, training=True):
    """The pairs (``idx``; the line of pair i is i + 1) that have more than MAX_WIDTH tokens on a
    side for certain (``least_tokens``: found without tokenizing them), before any codec is fitted
    or text split: the first is refused naming its line, or, of ``training`` pairs, with
    ``max_length`` below its tokens they are left out -> (the indices kept, how many were left out)."""
    keep = []
    for i in idx:
        for side, text, extra in (("source", srcs[i], 0), ("target", tgts[i], 2)):
            room = MAX_WIDTH - extra
            least = least_tokens(text, kind, room + 1) if len(text) > room else 0  # tokens are at most characters (NFKC aside)
            if least > room:
                if max_length is None or least <= max_length:
                    raise DataError(f"{source}, line {i + 1}: its {side} has {len(text):,} characters, more than the "
                                    f"{room:,} {kind} tokens seqattn takes"
                                    + ("; leave out long pairs with --max-length" if training else ""))
                break  # longer than --max-length: left out, as it would be after tokenizing
        else:
            keep.append(i)
    return np.asarray(keep, dtype=np.int64), len(idx) - len(keep)


def _check_widths(source_lengths, target_lengths, line_numbers, source):
    """No training pair longer than MAX_WIDTH tokens on a side (what --max-length keeps)."""
    for side, lengths, extra in (("source", source_lengths, 0), ("target", target_lengths, 2)):
        k = int(np.argmax(lengths)) if len(lengths) else 0
        if len(lengths) and lengths[k] + extra > MAX_WIDTH:
            raise DataError(f"{source}, line {line_numbers[k]}: its {side} has {lengths[k]:,} tokens, more than the "
                            f"{MAX_WIDTH - extra:,} seqattn takes; leave out long pairs with --max-length")


def load_qa(lines, seed=SPLIT_SEED, reverse=False, test_ratio=TEST_RATIO, source="data"):
    """The book's format from lines -> (x_train, t_train), (x_test, t_test), vocab."""
    d = load_dataset(lines=lines, source=source, reverse=reverse, seed=seed, test_ratio=test_ratio)
    if d.codec.format != "qa":
        raise DataError(f"{source}: tab-separated pairs, not the book's question_answer lines; use load_pairs")
    return (d.train.x, d.train.t), (d.valid.x, d.valid.t), d.codec.vocab


def load_pairs(lines, seed=SPLIT_SEED, reverse=False, test_ratio=TEST_RATIO, source="data", **text_options):
    """``source<TAB>target`` lines -> (x_train, t_train), (x_test, t_test), codec. The codec
    (vocabularies, tokens) is fitted on the training split; ``text_options`` as ``Codec.fit``'s."""
    d = load_dataset(lines=lines, source=source, reverse=reverse, seed=seed, test_ratio=test_ratio, **text_options)
    if d.codec.format != "tsv":
        raise DataError(f"{source}, line 1: no tab between source and target in {quoted(lines[0])}")
    return (d.train.x, d.train.t), (d.valid.x, d.valid.t), d.codec
