"""How a text becomes tokens and tokens become text again: characters, words, or subwords.

- ``char``: every character is a token (the book's way: its format is always read so).
- ``word``: words and punctuation marks, split by one documented rule (the default for
  tab-separated pairs, ``TEXT_TOKENS``). A word is a run of letters,
  digits and underscores; every other visible character is a token of its own; whitespace only
  separates. A token written right after the previous one, with no space between, is stored with
  the joiner ``￭`` in front (``"Go."`` -> ``go ￭.``; ``"l'homme"`` -> ``l ￭' ￭homme``), so joining
  gives the text back with its spacing (runs of whitespace become one space; a ``￭`` in the
  text itself is dropped). ``lower=True`` lower-cases first.
- ``subword``: a sentencepiece model (unigram or BPE) trained on the training split, one per side;
  its bytes are kept in the codec, and so in every checkpoint. Needs the ``[text]`` extra.

``normalise(text)`` is what ``join(split(text))`` gives back: the text as the model sees it.
"""

from __future__ import annotations

import base64
import re
import unicodedata

from ..install import install_hint
from ..errors import OptionError

JOINER = "\uffed"  # ￭, as in OpenNMT's tokenizer
_WORD = re.compile(r"\w+|[^\w\s]")
TOKENS = ("char", "word", "subword")
# How tab-separated pairs are split when no tokens are asked for: words and punctuation, which
# translated as well as sentencepiece's pieces and far better than characters at the text recipe,
# with no extra package (benchmarks/results/text-quality-*.json: the -words, -chars and default
# rows). The book's format is read character by character whatever is asked.
TEXT_TOKENS = "word"
# Subword pieces a side, at most: sentencepiece stops below it where the text supports fewer (the
# few thousand short Tatoeba pairs of benchmarks/text_quality.py give 970-3,400 a side). Fewer
# pieces did worse there (English-French, chrF 27.0 at 500, 28.7 at 1,000, 31.7 at 2,000 and up).
SUBWORD_PIECES = 8000
SUBWORD_TYPES = ("unigram", "bpe")
MAX_PIECE = 16  # characters of a subword piece at most (sentencepiece's max_sentencepiece_length)
_RUN = re.compile(r"\S+")
_LETTER = re.compile(r"[^\W_]")


def least_tokens(text, kind, enough):
    """How many ``kind`` tokens ``text`` has at least, found without tokenizing it (so that a
    line of 50 MB is refused before a subword model is fitted on it), counted up to ``enough``.
    ``char``: its characters. ``word``: one a whitespace-separated run (each holds a word or a
    mark). ``subword``: one a run that holds a letter or digit (sentencepiece splits at
    whitespace too), and one a ``8 * MAX_PIECE`` characters of the runs (a piece is at most
    MAX_PIECE characters of the text as NFKC composes it, which joins far fewer than 8 into one)."""
    if kind == "char":
        return len(text)
    runs = chars = 0
    for m in _RUN.finditer(text.replace(JOINER, "") if kind == "word" else text):
        run = m.group()
        if kind == "word" or _LETTER.search(run):
            runs += 1
            chars += len(run)
            if runs >= enough:
                break
    return max(runs, chars // (8 * MAX_PIECE)) if kind == "subword" else runs


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the install."""


def require(module, extra="text", what=None):
    """Import an optional dependency or raise MissingExtra naming the pip install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{what or module} needs the {module} package: {install_hint(extra)}") from None


class CharTokens:
    kind = "char"
    lower = False

    def split(self, text):
        return list(text)

    def join(self, tokens):
        return "".join(tokens)

    def normalise(self, text):
        """The text as the model sees it: what joining its tokens gives back."""
        return self.join(self.split(text))

    def shown(self, token):
        """A token as a plot labels it."""
        return token

    def to_meta(self):
        return {"kind": self.kind}


class WordTokens(CharTokens):
    """Words and punctuation. ``nfc``: the text is first put in Unicode's composed form (NFC), so
    that an accent typed as a separate mark makes the same word as the composed letter (``True``
    for every new codec; a checkpoint written before it keeps its tokens as they were)."""

    kind = "word"

    def __init__(self, lower=False, nfc=True):
        self.lower, self.nfc = lower, nfc

    def split(self, text):
        text = text.replace(JOINER, "")
        if self.nfc:
            text = unicodedata.normalize("NFC", text)
        if self.lower:
            text = text.lower()
        return [m.group() if m.start() == 0 or text[m.start() - 1].isspace() else JOINER + m.group()
                for m in _WORD.finditer(text)]

    def join(self, tokens):
        out = []
        for tok in tokens:
            if tok.startswith(JOINER):
                out.append(tok[len(JOINER):])
            else:
                out.append((" " if out else "") + tok)
        return "".join(out)

    def shown(self, token):
        return token[len(JOINER):] if token.startswith(JOINER) else token

    def to_meta(self):
        return {"kind": self.kind, "lower": self.lower, **({"nfc": True} if self.nfc else {})}


class SubwordTokens(CharTokens):
    kind = "subword"

    def __init__(self, model, model_type="unigram", lower=False):
        spm = require("sentencepiece", what="--tokens subword")
        self.model, self.model_type, self.lower = bytes(model), model_type, lower
        self.sp = spm.SentencePieceProcessor(model_proto=self.model)

    @classmethod
    def train(cls, texts, vocab_size, model_type="unigram", lower=False, seed=0):
        """A sentencepiece model of at most ``vocab_size`` pieces trained on ``texts``."""
        import io

        spm = require("sentencepiece", what="--tokens subword")
        if model_type not in SUBWORD_TYPES:
            raise ValueError(f"unknown subword model {model_type!r}: expected {' or '.join(SUBWORD_TYPES)}")
        texts = [t.lower() if lower else t for t in texts]
        buf = io.BytesIO()
        if hasattr(spm, "set_random_generator_seed"):
            spm.set_random_generator_seed(seed)
        # No ids for pad, bos or eos inside sentencepiece: the vocabulary adds its own specials.
        try:
            spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=buf, vocab_size=vocab_size,
                                           model_type=model_type, character_coverage=1.0, hard_vocab_limit=False,
                                           max_sentencepiece_length=MAX_PIECE,
                                           bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0,
                                           minloglevel=2, num_threads=1)
        except RuntimeError as exc:
            import re

            need = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", str(exc))
            if need:
                raise OptionError(f"<vocab_size> {vocab_size} is too small: this text needs at least {need.group(2)} pieces "
                                  "(one per distinct character, and sentencepiece's own); raise <vocab_size>") from None
            raise OptionError(f"sentencepiece could not train <vocab_size> {vocab_size} pieces: {str(exc).splitlines()[0]}") from None
        return cls(buf.getvalue(), model_type, lower)

    def split(self, text):
        return self.sp.encode(text.lower() if self.lower else text, out_type=str)

    def join(self, tokens):
        return self.sp.decode_pieces(list(tokens))

    def to_meta(self):
        return {"kind": self.kind, "model_type": self.model_type, "lower": self.lower,
                "model": base64.b64encode(self.model).decode("ascii")}


def tokens_from_meta(meta):
    kind = (meta or {"kind": "char"})["kind"]
    if kind == "char":
        return CharTokens()
    if kind == "word":
        return WordTokens(meta.get("lower", False), meta.get("nfc", False))
    if kind == "subword":
        return SubwordTokens(base64.b64decode(meta["model"]), meta.get("model_type", "unigram"), meta.get("lower", False))
    raise ValueError(f"unknown token kind {kind!r}: expected one of {', '.join(TOKENS)}")


def make_tokens(kind, texts=(), lower=False, vocab_size=SUBWORD_PIECES, model_type="unigram", seed=0):
    """The tokenizer of ``kind`` ("char", "word" or "subword", trained on ``texts``)."""
    if kind == "char":
        if lower:
            raise ValueError("lower-casing is an option of word and subword tokens, not of characters")
        return CharTokens()
    if kind == "word":
        return WordTokens(lower)
    if kind == "subword":
        return SubwordTokens.train(texts, vocab_size, model_type, lower, seed)
    raise ValueError(f"unknown token kind {kind!r}: expected one of {', '.join(TOKENS)}")
