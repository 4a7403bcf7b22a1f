"""Loaders, generators and vocabularies."""

import datetime

import numpy as np
import pytest

from seqattn.data import load_dataset, DataError, Vocab, VocabularyError, addition_lines, date_lines, load_pairs, load_qa
from seqattn.data.codec import Codec
from seqattn.data.text import parse_qa, read_lines


def test_addition_lines_are_correct_and_seeded():
    lines = addition_lines(2000, seed=3)
    assert lines == addition_lines(2000, seed=3) and lines != addition_lines(2000, seed=4)
    for line in lines:
        assert len(line) == 12
        q, a = line.split("_")
        x, y = map(int, q.strip().split("+"))
        assert 0 <= x <= 999 and 0 <= y <= 999 and int(a) == x + y
    pairs = [tuple(sorted(map(int, line.split("_")[0].split("+")))) for line in lines]
    assert len(set(pairs)) == len(pairs)  # no pair twice, as in the book's file
    widths = [len(line.split("+")[0]) for line in lines]
    assert widths.count(1) > 100 and widths.count(2) > 300  # short operands are common

def test_date_lines_cover_formats_and_are_correct():
    lines = date_lines(3000, seed=1)
    assert lines == date_lines(3000, seed=1)
    assert len({len(line) for line in lines}) == 1 and len(lines[0]) == 40
    qs = [line[:29].strip() for line in lines]
    assert any(q.isupper() for q in qs) and any(q.islower() for q in qs) and any("/" in q for q in qs)
    assert any(q[0].isupper() and not q.isupper() for q in qs)
    for line in lines:
        d = datetime.date.fromisoformat(line[30:])
        assert datetime.date(1970, 1, 1) <= d <= datetime.date(2020, 12, 31)
        q = line[:29].lower()
        assert str(d.day) in q and (str(d.year) in q or f"{d.year % 100:02d}" in q)


def test_load_qa_split_vocab_and_reverse():
    lines = addition_lines(100, seed=0)
    (xtr, ttr), (xte, tte), vocab = load_qa(lines, seed=5)
    assert xtr.shape == (90, 7) and ttr.shape == (90, 5) and xte.shape == (10, 7)
    assert vocab.start == "_" and set(vocab.tokens) == set("0123456789+ _")
    assert all(vocab.decode(t) .startswith("_") for t in ttr)
    (xr, _), _, _ = load_qa(lines, seed=5, reverse=True)
    np.testing.assert_array_equal(xr, xtr[:, ::-1])
    (x2, _), _, _ = load_qa(lines, seed=6)
    assert not np.array_equal(x2, xtr)


@pytest.mark.parametrize("lines,message", [
    (["1+1  _2  ", "12+3 _15"], "line 2: question and answer are 5 and 3 characters wide"),
    (["1+1  _2  ", "1+1   2  "], r"line 2: no '_'"),
    ([], "no examples"),
])
def test_qa_errors_name_the_line(lines, message):
    with pytest.raises(DataError, match=message):
        parse_qa(lines, "f.txt")


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "e.txt").write_text("\n\n")
    with pytest.raises(DataError, match="the file is empty"):
        read_lines(tmp_path / "e.txt")
    with pytest.raises(DataError, match="does not exist"):
        read_lines(tmp_path / "nope.txt")


def test_pairs_padding_masks_and_end_symbol():
    lines = ["abc\tx", "a\tyyyy", "bb\tzz"] * 10
    (xtr, ttr), _, codec = load_pairs(lines, seed=0, tokens="char")
    vocab, tv = codec.vocab, codec.target_vocab
    assert vocab.pad_id == tv.pad_id == 0 and tv.start_id == 1 and tv.end_id == 2 and tv.unk_id == 3
    assert set(vocab.tokens[4:]) == set("abc") and set(tv.tokens[4:]) == set("xyz")  # one vocabulary per side
    assert xtr.shape[1] == 3 and ttr.shape[1] == 6
    for x, t in zip(xtr, ttr):
        src = vocab.decode(x)
        assert src in ("abc", "a", "bb")
        tgt = tv.decode(t[1:])
        assert {"abc": "x", "a": "yyyy", "bb": "zz"}[src] == tgt
        assert t[0] == tv.start_id and t[1 + len(tgt)] == tv.end_id
    (xr, _), _, _ = load_pairs(lines, seed=0, reverse=True, tokens="char")
    assert {vocab.decode(x) for x in xr} == {"cba", "a", "bb"}
    with pytest.raises(DataError, match="line 2: no tab"):
        load_pairs(["a\tb", "ab"])


def test_vocab_round_trip_and_unknown_character():
    v = Vocab.from_texts(["hello", "world"], specials=("<pad>",))
    v.pad = "<pad>"
    assert v.decode(v.encode("lower")) == "lower"
    assert Vocab.from_dict(v.to_dict()) == v
    with pytest.raises(VocabularyError, match=r"character 'z' in data.txt, line 4 \(column 3 of 'hez'\)"):
        v.encode("hez", where="data.txt, line 4")


def test_codec_pads_and_refuses_too_long():
    (x, t), _, vocab = load_qa(addition_lines(50), seed=0)
    codec = Codec(vocab, "qa", True, 7, 5)
    ids = codec.encode_sources(["1+2"])
    assert vocab.decode(ids[0][::-1]) == "1+2    "
    with pytest.raises(DataError, match="longer than the model's 7"):
        codec.encode_sources(["1234+5678"])
    with pytest.raises(VocabularyError, match="'x'"):
        codec.encode_sources(["1x2"])


@pytest.mark.parametrize("fmt", ["qa", "tsv"])
@pytest.mark.parametrize("reverse", [False, True])
def test_codec_owns_reversal_both_ways(fmt, reverse):
    """Training data, new input and the texts shown back all go through the codec: what it
    encodes it decodes to the text as typed, and attention columns come back in reading order."""
    if fmt == "qa":
        lines = ["1+2  _3 ", "12+9 _21"]
        srcs = ["1+2  ", "12+9 "]
    else:
        lines = ["abc\tx", "a\tyy", "cab\tz"]
        srcs = ["abc", "a", "cab"]
    d = load_dataset(lines=lines, reverse=reverse, test_ratio=0.0, tokens="char")
    codec, x = d.codec, d.train.x
    srcs = [srcs[i - 1] for i in d.train_lines]  # the seeded order of the training pairs
    np.testing.assert_array_equal(codec.encode_sources(srcs), x)
    assert codec.decode_sources(x) == srcs
    first = x[0][x[0] != codec.pad_id] if codec.pad_id is not None else x[0]
    assert codec.vocab.decode(first, stop_at_end=False) == (srcs[0][::-1] if reverse else srcs[0])
    # a weight map whose column j is the encoder's position j, read back in the text's order
    w = np.arange(x.shape[1], dtype=float)[None, :]
    cols = codec.reading_order(w, srcs[0])[0]
    shown = [codec.vocab.id_to_char[int(x[0, int(j)])] for j in cols]
    assert shown == codec.source_chars(srcs[0])
    restored = Codec.from_meta(codec.to_meta())
    np.testing.assert_array_equal(restored.encode_sources(srcs), x)
