"""A character vocabulary: ids for characters, and back."""

from __future__ import annotations

import numpy as np


class VocabularyError(ValueError):
    """A character is not in the vocabulary."""


class Vocab:
    """Characters (and optional special symbols such as ``<pad>``) and their ids.

    ``char_to_id`` and ``id_to_char`` are the book's dictionaries. ``encode(text)`` gives an int
    array; a character never seen raises VocabularyError naming it and where it was found.
    """

    def __init__(self, tokens, pad=None, start=None, end=None):
        self.tokens = list(tokens)
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("Vocab: tokens must be unique")
        self.char_to_id = {c: i for i, c in enumerate(self.tokens)}
        self.id_to_char = dict(enumerate(self.tokens))
        self.pad, self.start, self.end = pad, start, end

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

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, ch):
        return ch in self.char_to_id

    def id(self, token):
        return None if token is None else self.char_to_id[token]

    @property
    def pad_id(self):
        return self.id(self.pad)

    @property
    def start_id(self):
        return self.id(self.start)

    @property
    def end_id(self):
        return self.id(self.end)

    def encode(self, text, where=None):
        try:
            return np.array([self.char_to_id[ch] for ch in text], dtype=np.int64)
        except KeyError as exc:
            ch = exc.args[0]
            place = f" in {where}" if where else ""
            col = text.index(ch) + 1
            raise VocabularyError(
                f"character {ch!r}{place} (column {col} of {text!r}) is not in the vocabulary; "
                f"known characters: {''.join(t for t in self.tokens if len(t) == 1)!r}"
            ) from None

    def decode(self, ids, stop_at_end=True):
        """ids -> text, stopping at the end symbol and skipping padding."""
        out = []
        for i in np.asarray(ids).tolist():
            tok = self.id_to_char.get(int(i), "")
            if stop_at_end and self.end is not None and tok == self.end:
                break
            if self.pad is not None and tok == self.pad:
                continue
            out.append(tok)
        return "".join(out)

    def to_dict(self):
        return {"tokens": self.tokens, "pad": self.pad, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, d):
        return cls(d["tokens"], d.get("pad"), d.get("start"), d.get("end"))

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.to_dict() == other.to_dict()
