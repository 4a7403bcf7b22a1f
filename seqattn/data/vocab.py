"""A vocabulary: ids for tokens (characters, words or subwords), and back."""

from __future__ import annotations

import numpy as np

from ..errors import quoted


class VocabularyError(ValueError):
    """A token is not in the vocabulary (and the vocabulary has no ``<unk>``)."""


class Vocab:
    """Tokens (and optional special symbols such as ``<pad>``) and their ids.

    ``char_to_id`` and ``id_to_char`` are the book's dictionaries. ``encode(tokens)`` gives an int
    array (a string is a sequence of character tokens). A token never seen becomes ``unk`` when the
    vocabulary has one; without one (the book's character tasks) it raises VocabularyError naming
    it and where it was found.
    """

    def __init__(self, tokens, pad=None, start=None, end=None, unk=None):
        self.tokens = list(tokens)
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("Vocab: tokens must be unique")
        self.char_to_id = {c: i for i, c in enumerate(self.tokens)}
        self.id_to_char = dict(enumerate(self.tokens))
        self.pad, self.start, self.end, self.unk = pad, start, end, unk

    @classmethod
    def from_texts(cls, texts, specials=()):
        """Specials first, then every character of ``texts`` in order of first appearance."""
        tokens = list(specials)
        seen = set(tokens)
        for text in texts:
            for ch in text:
                if ch not in seen:
                    seen.add(ch)
                    tokens.append(ch)
        return cls(tokens)

    @classmethod
    def from_counts(cls, token_lists, specials=(), min_count=1, max_vocab=None):
        """Specials first, then the tokens seen at least ``min_count`` times, most frequent first
        (ties in order of first appearance), at most ``max_vocab`` of them besides the specials."""
        counts = {}
        for tokens in token_lists:
            for tok in tokens:
                counts[tok] = counts.get(tok, 0) + 1
        kept = [t for t, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_count and t not in specials]
        return cls(list(specials) + kept[:max_vocab])

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, ch):
        return ch in self.char_to_id

    def id(self, token):
        """The id of ``token`` (None for None); a KeyError for an unknown token."""
        return None if token is None else self.char_to_id[token]

    @property
    def pad_id(self):
        """The id of the padding symbol, or None."""
        return self.id(self.pad)

    @property
    def start_id(self):
        """The id of the start symbol, or None."""
        return self.id(self.start)

    @property
    def end_id(self):
        """The id of the end symbol, or None."""
        return self.id(self.end)

    @property
    def unk_id(self):
        """The id of ``<unk>``, or None."""
        return self.id(self.unk)

    def encode(self, tokens, where=None):
        """Tokens (a string: its characters) -> (len,) int64 ids. An unknown token is ``unk``
        when the vocabulary has one, else a VocabularyError naming it and ``where`` it was."""
        if self.unk is not None:
            unk = self.unk_id
            return np.array([self.char_to_id.get(tok, unk) for tok in tokens], dtype=np.int64)
        try:
            return np.array([self.char_to_id[tok] for tok in tokens], dtype=np.int64)
        except KeyError as exc:
            tok = exc.args[0]
            place = f" in {where}" if where else ""
            at = list(tokens).index(tok) + 1
            what, pos = ("character", "column") if len(tok) == 1 else ("token", "token")
            text = tokens if isinstance(tokens, str) else " ".join(tokens)
            raise VocabularyError(
                f"{what} {quoted(tok)}{place} ({pos} {at} of {quoted(text)}) is not in the vocabulary; "
                f"known characters: {quoted(''.join(t for t in self.tokens if len(t) == 1))}"
            ) from None

    def tokens_of(self, ids, stop_at_end=True):
        """ids -> tokens, stopping at the end symbol and skipping padding."""
        out = []
        for i in np.asarray(ids).tolist():
            tok = self.id_to_char.get(int(i), "")
            if stop_at_end and self.end is not None and tok == self.end:
                break
            if self.pad is not None and tok == self.pad:
                continue
            out.append(tok)
        return out

    def decode(self, ids, stop_at_end=True):
        """ids -> text of character tokens, stopping at the end symbol and skipping padding."""
        return "".join(self.tokens_of(ids, stop_at_end))

    def to_dict(self):
        """The vocabulary as JSON-able data (tokens and special symbols)."""
        return {"tokens": self.tokens, "pad": self.pad, "start": self.start, "end": self.end, "unk": self.unk}

    @classmethod
    def from_dict(cls, d):
        """The vocabulary that ``to_dict`` described."""
        return cls(d["tokens"], d.get("pad"), d.get("start"), d.get("end"), d.get("unk"))

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.to_dict() == other.to_dict()
