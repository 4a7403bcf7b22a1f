"""Real text: corpora as people have them, word and subword tokens, <unk>, length buckets, and
BLEU / chrF as sacrebleu computes them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqattn.cli import main
from seqattn.data import DataError, MissingExtra, load_dataset, make_tokens, read_lines
from seqattn.data.tokens import JOINER, WordTokens, require
from seqattn.trainer import batch_plan

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(os.path.dirname(HERE), "data", "eng-fra-5k.tsv")  # Tatoeba pairs; attribution in column 3

needs_spm = pytest.mark.skipif(not any(os.path.isdir(os.path.join(p, "sentencepiece")) for p in sys.path if p),
                               reason="needs sentencepiece (the [text] extra)")


def _corpus_lines():
    return read_lines(CORPUS)[:300]


# ----------------------------------------------------------------------------- reading files
def test_words_are_read_in_composed_form_and_old_checkpoints_keep_their_tokens():
    """An accent typed as a separate mark (NFD) makes the same word as the composed letter (NFC);
    a codec written before words were composed reads text as it did."""
    from seqattn.data.tokens import WordTokens, tokens_from_meta

    words = make_tokens("word")
    assert words.split("nai\u0308ve e\u0301te\u0301") == words.split("na\u00efve \u00e9t\u00e9") == ["na\u00efve", "\u00e9t\u00e9"]
    assert tokens_from_meta(words.to_meta()).split("e\u0301te\u0301") == ["\u00e9t\u00e9"]
    old = tokens_from_meta({"kind": "word", "lower": False})
    assert isinstance(old, WordTokens) and old.split("nai\u0308ve") == ["nai", "\uffed\u0308", "\uffedve"]
    d = load_dataset(lines=["caf\u00e9\tcoffee", "cafe\u0301 noir\tblack coffee"] * 5, test_ratio=0.0)
    assert "caf\u00e9" in d.codec.vocab.tokens and "cafe" not in d.codec.vocab.tokens


def test_text_without_spaces_read_as_words_and_a_warmup_longer_than_the_run_are_warned_of(tmp_path, capsys):
    """Chinese or Japanese written without spaces would be learnt sentence by sentence as words;
    a warm-up longer than the run never reaches the rate asked for. Both are said before training."""
    pairs = [("我爱你", "I love you ."), ("我喜欢猫", "I like cats ."), ("这是书", "This is a book .")] * 10
    data = tmp_path / "zh.tsv"
    data.write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    base = ["train", "--data", str(data), "--epochs", "1", "--hidden", "8", "--quiet", "--log", "none"]
    assert main([*base, "--wordvec", "4", "--save", str(tmp_path / "a.npz")]) == 0
    out = capsys.readouterr().out
    assert "27 of 27 source lines are one word token of wide characters" in out and "--tokens char" in out
    assert main([*base, "--tokens", "char", "--model", "transformer", "--heads", "2", "--ffn", "8",
                 "--save", str(tmp_path / "b.npz")]) == 0
    out = capsys.readouterr().out
    assert "wide characters" not in out
    assert "--warmup 200 is more updates than the run's 1: the rate climbs for the whole run" in out


def test_text_pairs_are_read_as_words_by_default_and_the_books_format_as_characters(tmp_path, capsys):
    """Words translate best on real text (benchmarks/results/text-quality-*.json), so pairs read as
    words unless told; the book's fixed-width format is characters whatever the default."""
    d = load_dataset(lines=_corpus_lines())
    assert d.codec.tokens.kind == "word" and "Go" in d.codec.vocab.tokens
    assert load_dataset(lines=_corpus_lines(), tokens="char").codec.tokens.kind == "char"
    book = tmp_path / "book.txt"
    book.write_text("".join(f"{a}+{b:<3}_{a + b:<4}\n" for a in range(10) for b in range(10)))
    assert main(["train", "--data", str(book), "--epochs", "1", "--hidden", "8", "--quiet", "--log", "none",
                 "--save", str(tmp_path / "m.npz")]) == 0
    assert "char tokens" in capsys.readouterr().out
    assert main(["train", "--data", CORPUS, "--epochs", "1", "--hidden", "8", "--wordvec", "8", "--max-length", "3",
                 "--quiet", "--log", "none", "--save", str(tmp_path / "t.npz")]) == 0
    assert "word tokens" in capsys.readouterr().out


def test_crlf_and_byte_order_mark_are_accepted(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"\xef\xbb\xbfGo.\tVa !\tattribution 1\r\nHi.\tSalut.\tattribution 2\r\n")
    assert read_lines(path) == ["Go.\tVa !\tattribution 1", "Hi.\tSalut.\tattribution 2"]


def test_invalid_utf8_names_its_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"Go.\tVa !\nHi.\tSalut.\nCaf\xe9\tcaf\xe9\n")
    with pytest.raises(DataError, match=r"pairs.tsv, line 3: not UTF-8 text \(byte 0xe9\)"):
        read_lines(path)


def test_utf16_without_a_byte_order_mark_and_nul_characters_are_refused(tmp_path):
    """ASCII text saved as UTF-16 without a byte-order mark is valid UTF-8 with a NUL in every other
    place: it would train on them, silently; a NUL anywhere in a data file is refused, its line named."""
    text = "Go.\tVa !\nHi.\tSalut.\nRun!\tCours !\n"
    path = tmp_path / "pairs.tsv"
    path.write_bytes(text.encode("utf-16-le"))
    with pytest.raises(DataError, match=r"pairs.tsv, line 1: a NUL character.*UTF-16.*save the file as UTF-8"):
        read_lines(path)
    path.write_text(text.replace("Run!", "Ru\x00n!"))
    with pytest.raises(DataError, match=r"pairs.tsv, line 3: a NUL character"):
        read_lines(path)


def test_a_file_of_tab_only_lines_is_said_to_have_empty_fields_not_to_be_empty(tmp_path):
    path = tmp_path / "tabs.tsv"
    path.write_text("\t\n\t\n\n")
    with pytest.raises(DataError, match="tabs.tsv, line 1: empty source"):
        load_dataset(path=path)


@pytest.mark.parametrize("text, line", [("a\tb\n\nc\td\n", 2), ("a\tb\n   \nc\td\n", 2), ("\na\tb\n", 1)])
def test_a_blank_line_among_pairs_is_an_empty_line_wherever_it_is(tmp_path, text, line):
    """A blank line between pairs was "no tab between source and target in ''"; a blank first line
    was "empty line" (read in the book's format); blank lines at the end are left out."""
    path = tmp_path / "gaps.tsv"
    path.write_text(text)
    with pytest.raises(DataError, match=f"gaps.tsv, line {line}: empty line; remove it"):
        load_dataset(path=path)


def test_an_over_long_line_is_quoted_short_and_refused_before_tokens_are_fitted(tmp_path, capsys, monkeypatch):
    from seqattn.data.tokens import SubwordTokens

    good = "".join(f"{w}\t{w[::-1]}\n" for w in ["abc", "ba", "cab", "aa"] * 25)
    notab = tmp_path / "notab.tsv"
    notab.write_text(good + "a" * 1_000_000 + "\n")
    for argv in (["train", "--data", str(notab), "--epochs", "1", "--quiet", "--save", str(tmp_path / "m.npz")],
                 ["splits", "--data", str(notab), "--out", str(tmp_path / "s")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and len(err) < 400 and "line 101: no tab" in err and "(1,000,000 characters)" in err
    long = tmp_path / "long.tsv"
    long.write_text(good + "a" * (8 * 16 * 100_001) + "\tb\n")  # more than 100,000 pieces of 16 characters at most
    monkeypatch.setattr(SubwordTokens, "train", lambda *a, **k: pytest.fail("a subword model was fitted on it"))
    for tokens in (["--tokens", "subword"], ["--tokens", "char"]):
        argv = ["train", "--data", str(long), *tokens, "--epochs", "1", "--quiet", "--save", str(tmp_path / "m.npz")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "long.tsv, line 101: its source has 12,800,128 characters, more than the 100,000" in err and len(err) < 400
    assert not (tmp_path / "m.npz").exists()


def test_columns_pick_fields_and_extra_columns_are_never_merged():
    lines = _corpus_lines()
    d = load_dataset(lines=lines, test_ratio=0.0)
    assert all("CC-BY" not in t and "\t" not in t for t in d.train.targets + d.train.sources)
    first = lines[d.train_lines[0] - 1].split("\t")
    assert (d.train.sources[0], d.train.targets[0]) == (first[0], first[1])
    swapped = load_dataset(lines=lines, test_ratio=0.0, columns=(1, 0))
    assert swapped.train.sources == d.train.targets and swapped.train.targets == d.train.sources
    with pytest.raises(DataError, match="line 2: 2 columns, fewer than 3"):
        load_dataset(lines=["a\tb\tc", "a\tb"], columns=(2, 0))
    with pytest.raises(DataError, match="line 1: empty target"):
        load_dataset(lines=["a\t \tc"])


def test_max_length_leaves_out_long_training_pairs_only():
    lines = [f"{'a ' * n}\tb" for n in range(1, 21)] * 3
    d = load_dataset(lines=lines, tokens="word", max_length=10, seed=3)
    n_long = sum(1 for ln in lines if len(ln.split("\t")[0].split()) > 10)
    assert d.dropped == n_long - sum(1 for s in d.valid.sources if len(s.split()) > 10) > 0
    kept = [len(s.split()) for s in d.train.sources]
    assert max(kept) <= 10 and d.dropped + len(d.train) == len(lines) - len(d.valid)
    assert max(len(s.split()) for s in d.valid.sources) > 10  # the valid split is scored whole
    with pytest.raises(DataError, match="every training pair has more than 1 tokens"):
        load_dataset(lines=["a b\tc d"] * 5, tokens="word", max_length=1)


@needs_spm
def test_vocabulary_options_that_cannot_work_are_said(tmp_path, capsys):
    path = tmp_path / "p.tsv"
    path.write_text("\n".join(_corpus_lines()[:100]) + "\n", encoding="utf-8")
    rc = main(["train", "--data", str(path), "--tokens", "subword", "--vocab-size", "5", "--epochs", "1", "--quiet",
               "--save", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--vocab-size 5 is too small: this text needs at least" in err and len(err.splitlines()) == 1
    assert main(["train", "--data", str(path), "--tokens", "word", "--min-count", "1000", "--epochs", "1", "--quiet",
                 "--hidden", "8", "--wordvec", "4", "--save", str(tmp_path / "m.npz")]) == 0
    assert "warning: 100% of the source and" in capsys.readouterr().out


def test_the_books_format_refuses_text_options():
    with pytest.raises(DataError, match="question_answer format"):
        load_dataset(lines=["1+2 _3 "] * 4, tokens="word")


# ----------------------------------------------------------------------------- tokens
@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab,.!?' -\t\u00e9\u00c9" + JOINER)), max_size=30), st.booleans())
def test_word_tokens_round_trip_to_the_normalised_text(text, lower):
    tok = WordTokens(lower)
    expected = " ".join(text.replace(JOINER, "").split())
    expected = expected.lower() if lower else expected
    assert tok.join(tok.split(text)) == expected
    assert tok.split(tok.join(tok.split(text))) == tok.split(text)


def test_word_tokens_split_words_from_punctuation():
    tok = WordTokens()
    assert tok.split("Go.") == ["Go", JOINER + "."]
    assert tok.split("Va !") == ["Va", "!"]
    assert tok.split("l'homme, 12") == ["l", JOINER + "'", JOINER + "homme", JOINER + ",", "12"]
    assert tok.join(["go", JOINER + "."]) == "go."


@needs_spm
@pytest.mark.parametrize("kind", ["unigram", "bpe"])
def test_subword_tokens_round_trip_and_are_reproducible(kind):
    lines = _corpus_lines()
    english = [ln.split("\t")[0] for ln in lines]
    tok = make_tokens("subword", english, vocab_size=200, model_type=kind)
    assert tok.join(tok.split("I'm hungry.")) == "I'm hungry."
    assert all(tok.join(tok.split(t)) == " ".join(t.split()) for t in english)
    assert len(tok.split("unbelievably")) > 1  # a word it never saw is cut into known pieces
    again = make_tokens("subword", english, vocab_size=200, model_type=kind)
    assert again.model == tok.model


def test_a_missing_extra_names_the_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    with pytest.raises(MissingExtra, match=r"pip install 'sentencepiece>=0.1.99' 'sacrebleu>=2.3' \(the \[text\] extra"):
        require("sentencepiece", what="--tokens subword")
    rc = main(["train", "--data", CORPUS, "--tokens", "subword", "--epochs", "1", "--save", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "--tokens subword needs the sentencepiece package" in err
    assert not (tmp_path / "m.npz").exists()


# ----------------------------------------------------------------------------- vocabularies
def test_each_side_has_its_own_vocabulary_and_unk():
    lines = ["the cat\tle chat", "the dog\tle chien", "a cat\tun chat", "the cat sat\tle chat assis", "the end\tla fin"] * 3
    d = load_dataset(lines=lines, tokens="word", test_ratio=0.0)
    src, tgt = d.codec.vocab, d.codec.target_vocab
    assert "chat" in tgt and "chat" not in src and "cat" in src and "cat" not in tgt
    assert src.pad_id == tgt.pad_id and src.unk == tgt.unk == "<unk>"
    rare = load_dataset(lines=lines, tokens="word", test_ratio=0.0, min_count=4)  # 'dog', 'sat', 'a', 'end' seen 3 times
    assert "dog" not in rare.codec.vocab and "cat" in rare.codec.vocab
    x = rare.codec.encode_sources(["the dog"])
    assert x[0, 1] == rare.codec.vocab.unk_id
    capped = load_dataset(lines=lines, tokens="word", test_ratio=0.0, max_vocab=2)
    assert capped.codec.vocab.tokens[4:] == ["the", "cat"]  # the two most frequent (12 and 9 times)
    from seqattn.models import AttentionSeq2seq

    m = AttentionSeq2seq(len(src), 4, 8, target_vocab_size=len(tgt), pad_id=src.pad_id, seed=0)
    assert m.decoder.affine.params[0].shape[1] == len(tgt) and m.encoder.embed.params[0].shape[0] == len(src)
    m.forward(d.train.x, d.train.t)  # target ids index the target softmax


def test_unseen_characters_of_the_books_tasks_stay_an_error():
    from seqattn.data import VocabularyError

    d = load_dataset(lines=["1+2 _3 ", "4+5 _9 "], test_ratio=0.0)
    with pytest.raises(VocabularyError, match="character 'x'"):
        d.codec.encode_sources(["1+x"])


# ----------------------------------------------------------------------------- batches
@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=300), st.integers(1, 40), st.integers(0, 5))
def test_bucketed_batches_cover_every_example_once(lengths, batch_size, seed):
    N, W = len(lengths), max(lengths)
    x = np.zeros((N, W), dtype=np.int64)
    for i, n in enumerate(lengths):
        x[i, :n] = 5
    t = np.zeros((N, W + 1), dtype=np.int64)  # <s> then as many tokens as the source, right-padded
    for i, n in enumerate(lengths):
        t[i, : n + 1] = 6
    plan = batch_plan(x, t, batch_size, np.random.default_rng(seed), pad_id=0, pool=3)
    seen = np.concatenate([b for b, _, _ in plan])
    assert sorted(seen.tolist()) == list(range(N))
    assert all(len(b) <= batch_size for b, _, _ in plan)
    for b, sw, tw in plan:  # each batch cut to its longest sequences, nothing real cut off
        assert (x[b, sw:] == 0).all() and sw == max(1, (x[b] != 0).sum(1).max())
        assert (t[b, tw:] == 0).all()


def test_buckets_cut_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, 4000)
    x = (np.arange(40)[None, :] < lengths[:, None]).astype(np.int64) * 7
    plan = batch_plan(x, x, 64, np.random.default_rng(1), pad_id=0)
    bucketed = sum(len(b) * sw for b, sw, _ in plan)
    random_batches = sum(len(b) * (x[b] != 0).sum(1).max() for b in np.array_split(rng.permutation(4000), 63))
    assert bucketed < 0.6 * random_batches


def test_generating_in_length_order_changes_no_output():
    from seqattn.metrics import predict
    from seqattn.models import AttentionSeq2seq, TransformerSeq2seq

    d = load_dataset(lines=_corpus_lines(), tokens="word", test_ratio=0.0)
    x = d.train.x[:40]
    for m in (AttentionSeq2seq(len(d.codec.vocab), 8, 16, target_vocab_size=len(d.codec.target_vocab), pad_id=0, seed=1),
              TransformerSeq2seq(len(d.codec.vocab), 16, 2, 1, 32, target_vocab_size=len(d.codec.target_vocab), pad_id=0,
                                 seed=1)):
        whole = m.generate(x, d.codec.start_id, 12, stop_id=d.codec.stop_id)
        np.testing.assert_array_equal(predict(m, x, d.codec.start_id, 12, batch_size=7, stop_id=d.codec.stop_id), whole)


# ----------------------------------------------------------------------------- scores
needs_sacrebleu = pytest.mark.skipif(not any(os.path.isdir(os.path.join(p, "sacrebleu")) for p in sys.path if p),
                                     reason="needs sacrebleu (the [text] extra)")


@needs_sacrebleu
def test_bleu_and_chrf_agree_with_sacrebleus_command_line(tmp_path):
    from seqattn.metrics import text_scores

    lines = _corpus_lines()[:60]
    refs = [ln.split("\t")[1] for ln in lines]
    hyps = [r if i % 3 else " ".join(r.split()[:-1]) or r for i, r in enumerate(refs)]  # some outputs cut short
    (tmp_path / "ref.txt").write_text("\n".join(refs) + "\n", encoding="utf-8")
    (tmp_path / "hyp.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "sacrebleu", str(tmp_path / "ref.txt"), "-i", str(tmp_path / "hyp.txt"),
                          "-m", "bleu", "chrf", "-b"], capture_output=True, text=True, check=True).stdout
    bleu, chrf = json.loads(out)
    ours = text_scores(hyps, refs)
    assert abs(ours["bleu"] - bleu) < 0.051 and abs(ours["chrf"] - chrf) < 0.051
    assert 0 < ours["bleu"] < 100
    assert "bleu_order" not in ours  # references of 4 tokens and more: BLEU as published


@needs_sacrebleu
def test_bleu_on_references_shorter_than_4_tokens_counts_the_matches_they_can_hold():
    """No reference of 4 tokens: BLEU-4 is 0 for any output, a perfect one included; the scores
    count matches of up to the longest reference's length instead, and say so, whatever the outputs."""
    import sacrebleu

    from seqattn.metrics import bleu_name, text_scores

    refs = ["Va !", "Cours !", "Je suis là."]  # 13a tokens: 2, 2, 4 -> order 4; without the last, 2
    short = text_scores(refs[:2], refs[:2])
    assert short == {"bleu": 100.0, "chrf": 100.0, "bleu_order": 2}  # exactly 100 at most: the checkpoint schema holds it to that
    assert sacrebleu.corpus_bleu(refs[:2], [refs[:2]]).score == 0.0  # what BLEU-4 says of it
    half = text_scores(["Va !", "Marche lentement maintenant !"], refs[:2])
    assert half["bleu_order"] == 2 and 0 < half["bleu"] < 100 and bleu_name(half) == "BLEU-2"
    assert bleu_name({"bleu_order": 2.0}) == "BLEU-2"  # as a history record holds it
    full = text_scores(refs, refs)
    assert full["bleu"] == pytest.approx(100) and "bleu_order" not in full and bleu_name(full) == "BLEU"
    assert text_scores(["x"], ["Va"])["bleu_order"] == 1


@needs_sacrebleu
def test_words_through_the_command(tmp_path, capsys):
    """Train on word tokens with --valid and --test files, then eval --json and predict, which
    detokenises."""
    lines = _corpus_lines()
    (tmp_path / "train.tsv").write_text("\n".join(lines[:240]) + "\n", encoding="utf-8")
    (tmp_path / "valid.tsv").write_text("\n".join(lines[240:270]) + "\n", encoding="utf-8")
    (tmp_path / "test.tsv").write_text("\n".join(lines[270:]) + "\n", encoding="utf-8")
    ckpt = tmp_path / "m.npz"
    rc = main(["train", "--data", str(tmp_path / "train.tsv"), "--valid", str(tmp_path / "valid.tsv"), "--test",
               str(tmp_path / "test.tsv"), "--tokens", "word", "--lower", "--epochs", "2", "--hidden", "16", "--wordvec", "8",
               "--batch-size", "32", "--max-length", "6", "--quiet", "--json", "--save", str(ckpt)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    result = json.loads(captured.out)
    assert {"accuracy", "bleu", "chrf", "tokens_per_second"} <= set(result["history"][-1])
    assert set(result["test"]) == {"accuracy", "bleu", "chrf"}
    assert "240 training and 30 valid examples" in captured.err or "valid examples" in captured.err
    assert main(["eval", "--model", str(ckpt), "--data", str(tmp_path / "test.tsv"), "--json", "--beam", "2"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n"] == 30 and 0 <= scores["chrf"] <= 100 and 0 <= scores["bleu"] <= 100
    # predict prints joined text: no joiner marks, no space before a glued full stop
    assert main(["predict", "--model", str(ckpt), "I'm hungry."]) == 0
    out = capsys.readouterr().out
    assert out.startswith("I'm hungry. -> ") and JOINER not in out


@needs_spm
def test_a_subword_checkpoint_predicts_in_a_fresh_process(tmp_path, capsys):
    ckpt = tmp_path / "sp.npz"
    assert main(["train", "--data", CORPUS, "--tokens", "subword", "--vocab-size", "150", "--model", "transformer",
                 "--hidden", "16", "--heads", "2", "--layers", "1", "--ffn", "32", "--epochs", "1", "--quiet",
                 "--save", str(ckpt)]) == 0
    capsys.readouterr()
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    out = subprocess.run([sys.executable, "-m", "seqattn", "predict", "--model", str(ckpt), "Tom is here."],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Tom is here. -> ") and "\u2581" not in out.stdout  # pieces joined back into words
