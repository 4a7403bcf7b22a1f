"""Bad input through the command: one line and exit status 2, no traceback, nothing lost, never a
hang; and the data readers under random bytes."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqattn import checkpoint
from seqattn.cli import main
from seqattn.data import DataError, VocabularyError, load_dataset
from seqattn.data.text import read_lines
from seqattn.models import load_model

WORDS = ["abc", "ba", "cab", "aa", "bcb", "ca", "acb", "b"]
TINY = ["--epochs", "1", "--hidden", "8", "--wordvec", "4", "--batch-size", "32", "--quiet"]


@pytest.fixture
def pairs(tmp_path):
    p = tmp_path / "pairs.tsv"
    p.write_text("".join(f"{w}\t{w[::-1]}\n" for w in WORDS * 10))
    return p


def _error(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr()
    assert rc == 2, out
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.err, out.err
    return lines[0], out.out


def _run(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "seqattn", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def test_bad_backend_variable_is_one_line_and_help_still_works():
    out = _run("--help", env={"SEQATTN_BACKEND": "bogus"})
    assert out.returncode == 0 and "usage" in out.stdout
    out = _run("predict", "--model", "none.npz", "abc", env={"SEQATTN_BACKEND": "bogus"})
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "SEQATTN_BACKEND" in out.stderr and "bogus" in out.stderr
    out = _run("predict", "--backend", "numpy", "--model", "none.npz", "abc", env={"SEQATTN_BACKEND": "bogus"})
    assert out.returncode == 2 and "does not exist" in out.stderr  # an explicit --backend overrides it


def test_output_paths_are_checked_before_training(capsys, pairs, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    base = ["train", "--data", str(pairs), *TINY]
    for argv, words in [
        (["--save", str(tmp_path)], "is a directory"),
        (["--save", str(a_file / "m.npz")], "is a file, not a directory"),
        (["--save", str(tmp_path / "m.npz"), "--plot", str(a_file / "p.png")], "is a file, not a directory"),
        (["--save", str(pairs)], "is not a seqattn checkpoint; refusing to overwrite"),
    ]:
        err, out = _error(capsys, base + argv)
        assert words in err and "epoch" not in out  # nothing trained
    assert pairs.read_text().startswith("abc\tcba")  # the data was not replaced


def test_existing_checkpoint_needs_resume_or_force(capsys, pairs, tmp_path):
    ckpt = tmp_path / "m.npz"
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(ckpt)]) == 0
    before = ckpt.read_bytes()
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY, "--save", str(ckpt)])
    assert "already holds a checkpoint" in err and "--resume" in err and "--force" in err
    assert ckpt.read_bytes() == before
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(ckpt), "--force"]) == 0
    assert main(["train", "--data", str(pairs), "--epochs", "2", "--quiet", "--resume", str(ckpt), "--save", str(ckpt)]) == 0
    assert checkpoint.read(ckpt)[1]["trainer"]["epoch"] == 2


def test_resume_refuses_changed_options_and_keeps_one_vocabulary(capsys, pairs, tmp_path):
    ckpt = tmp_path / "m.npz"
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(ckpt)]) == 0
    capsys.readouterr()
    for flag, value in [("--lr", "0.5"), ("--batch-size", "16"), ("--seed", "3"), ("--hidden", "16"), ("--model", "peeky")]:
        err, _ = _error(capsys, ["train", "--data", str(pairs), "--epochs", "2", "--quiet", "--resume", str(ckpt),
                                 "--save", str(ckpt), flag, value])
        assert f"{flag} {value} differs from the checkpoint's" in err
    # text pairs are read reversed by default: leaving that out of a resumed run is asking for it
    err, _ = _error(capsys, ["train", "--data", str(pairs), "--epochs", "2", "--resume", str(ckpt), "--save", str(ckpt), "--no-reverse"])
    assert "--reverse False differs from the checkpoint's True" in err
    # the same characters first seen in another order: encoded with the checkpoint's vocabulary
    other = tmp_path / "other.tsv"
    other.write_text("".join(f"{w}\t{w[::-1]}\n" for w in list(reversed(WORDS)) * 10))
    vocab = checkpoint.read(ckpt)[1]["codec"]["vocab"]
    assert main(["train", "--data", str(other), "--epochs", "2", "--quiet", "--resume", str(ckpt), "--save", str(ckpt)]) == 0
    assert "as in the checkpoint" in capsys.readouterr().out
    assert checkpoint.read(ckpt)[1]["codec"]["vocab"] == vocab
    unseen = tmp_path / "unseen.tsv"
    unseen.write_text("abz\tzba\n" * 20)  # 'z' is not in the checkpoint's vocabularies: read as <unk>, and said
    assert main(["train", "--data", str(unseen), "--epochs", "3", "--quiet", "--resume", str(ckpt), "--save", str(ckpt)]) == 0
    assert "18 source and 18 target tokens of the training pairs are not in the checkpoint's vocabularies" in capsys.readouterr().out
    assert checkpoint.read(ckpt)[1]["codec"]["vocab"] == vocab


@pytest.mark.parametrize("argv,words", [
    (["--lr", "-0.1"], "--lr must be positive"),
    (["--max-grad", "-1"], "--max-grad must be 0"),
    (["--dropout", "-0.5", "--layers", "2"], "--dropout must be at least 0"),
    (["--dropout", "1"], "--dropout must be at least 0 and below 1"),
    (["--layers", "0"], "--layers must be at least 1"),
    (["--model", "peeky", "--layers", "2"], "is an option of --model attention"),
])
def test_senseless_numbers_are_refused(capsys, pairs, tmp_path, argv, words):
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY, "--save", str(tmp_path / "m.npz"), *argv])
    assert words in err


def test_zero_learning_rate_warns(capsys, pairs, tmp_path):
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(tmp_path / "m.npz"), "--lr", "0"]) == 0
    assert "warning: --lr 0" in capsys.readouterr().out


def test_impossible_example_count_is_refused_quickly(capsys, tmp_path):
    start = time.monotonic()
    err, _ = _error(capsys, ["train", "--task", "addition", "--examples", "10000000", "--save", str(tmp_path / "m.npz")])
    assert "500,500 distinct pairs" in err and time.monotonic() - start < 30


@pytest.mark.parametrize("line,words", [("_12  ", "line 2: empty question"), ("1+2  _  ", "line 2: empty answer")])
def test_malformed_book_format_names_the_line(capsys, tmp_path, line, words):
    data = tmp_path / "qa.txt"
    data.write_text(f"1+1  _2  \n{line}\n")
    err, _ = _error(capsys, ["train", "--data", str(data), *TINY, "--save", str(tmp_path / "m.npz")])
    assert words in err and str(data) in err


@pytest.mark.parametrize("tokens, line, unit", [("char", "a" * 20000, "characters"), (None, "a " * 20000, "tokens")])
def test_one_huge_pair_is_refused_before_training(capsys, tmp_path, tokens, line, unit):
    data = tmp_path / "long.tsv"
    data.write_text("".join(f"{w}\t{w}\n" for w in WORDS * 5) + line + "\tb\n")
    given = ["--tokens", tokens] if tokens else []  # words by default
    err, out = _error(capsys, ["train", "--data", str(data), *given, "--epochs", "1", "--quiet", "--save", str(tmp_path / "m.npz")])
    assert f"line 41: its source has 20000 {unit}" in err and "GiB" in err and "epoch" not in out


def test_a_single_pair_tests_on_the_training_pairs(capsys, tmp_path):
    data = tmp_path / "one.tsv"
    data.write_text("ab\tba\n")
    assert main(["train", "--data", str(data), *TINY, "--save", str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    assert "testing on the training pairs" in out and "nan" not in out


def test_json_output_is_only_json(capsys, pairs, tmp_path):
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(tmp_path / "m.npz"), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["history"][0]["epoch"] == 1 and "epoch" in out.err


def test_predict_eval_and_attention_inputs(capsys, pairs, tmp_path):
    ckpt = tmp_path / "m.npz"
    assert main(["train", "--data", str(pairs), "--tokens", "char", *TINY, "--save", str(ckpt)]) == 0
    capsys.readouterr()
    assert "input 1 is empty" in _error(capsys, ["predict", "--model", str(ckpt), ""])[0]
    assert "--show must be 0 or more" in _error(capsys, ["eval", "--model", str(ckpt), "--data", str(pairs), "--show", "-1"])[0]
    assert main(["predict", "--model", str(ckpt), "abc" * 10]) == 0
    assert "longer than any the model was trained on" in capsys.readouterr().err
    a_file = tmp_path / "f"
    a_file.write_text("")
    assert "is a file, not a directory" in _error(capsys, ["attention", "--model", str(ckpt), "abc", "--out", str(a_file / "x.png")])[0]
    # a name is never changed behind the user's back: one without .png is refused, naming the fix
    err = _error(capsys, ["attention", "--model", str(ckpt), "abc", "--out", str(tmp_path / "att")])[0]
    assert f"must end in .png, such as {str(tmp_path / 'att.png')!r}" in err and not list(tmp_path.glob("att*"))
    assert main(["attention", "--model", str(ckpt), "abc", "--out", str(tmp_path / "att.png")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "att.png") and (tmp_path / "att.png").exists()
    # a map of 100,000 columns would take minutes and GiB to draw, and no one could read it: refused at once
    err = _error(capsys, ["attention", "--model", str(ckpt), "a" * 100_000, "--out", str(tmp_path / "big.png")])[0]
    assert "input 1 has 100,000 tokens; a map of attention draws at most 300" in err and not (tmp_path / "big.png").exists()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    from seqattn.data import load_pairs
    from seqattn.models import AttentionSeq2seq
    from seqattn.optim import Adam
    from seqattn.trainer import Trainer, TrainingError

    (x, t), _, codec = load_pairs([f"{w}\t{w[::-1]}" for w in WORDS * 10], seed=0, tokens="char")
    model = AttentionSeq2seq(len(codec.vocab), 4, 8, target_vocab_size=len(codec.target_vocab), pad_id=codec.pad_id, seed=0)
    opt = Adam(0.01)
    tr = Trainer(model, opt, batch_size=16, seed=0, progress=False, log=lambda s: None)
    path = tmp_path / "m.npz"
    tr.fit(x, t, 1, checkpoint=path)
    good = path.read_bytes()
    tr.base_lr = 1e4  # the weights explode within the next epoch
    with pytest.raises(TrainingError, match="diverged in epoch 2.*checkpoint of epoch 1.*is kept"):
        tr.fit(x, t, 3, checkpoint=path)
    assert path.read_bytes() == good


def test_layer_and_model_backward_misuse_is_a_clear_error():
    from seqattn.layers import TimeAttention, TimeLSTM
    from seqattn.models import Seq2seq

    with pytest.raises(RuntimeError, match="run forward before backward"):
        TimeAttention().backward(np.zeros((1, 2, 3)))
    with pytest.raises(RuntimeError, match="run forward before backward"):
        Seq2seq(5, 2, 3).backward()
    lstm = TimeLSTM(np.zeros((2, 12)), np.zeros((3, 12)), np.zeros(12))
    lstm.forward(np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match=r"dhs has shape \(2, 3, 3\), but forward gave \(2, 4, 3\)"):
        lstm.backward(np.zeros((2, 3, 3)))


def test_killed_training_always_leaves_a_loadable_checkpoint(pairs, tmp_path):
    """SIGKILL at random moments, some during a save: the checkpoint always loads, and the next
    save clears the temporary file a killed save left."""
    ckpt = tmp_path / "m.npz"
    rng = np.random.default_rng(0)
    argv = ["train", "--data", str(pairs), "--epochs", "100000", "--hidden", "8", "--wordvec", "4", "--batch-size", "64",
            "--quiet", "--save", str(ckpt)]
    for k in range(4):
        extra = ["--resume", str(ckpt)] if ckpt.exists() else ["--force"]
        proc = subprocess.Popen([sys.executable, "-m", "seqattn", *argv, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not ckpt.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.1, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        model, meta = load_model(ckpt)
        assert meta["trainer"]["epoch"] >= 1
    stale = tmp_path / f".tmp-{ckpt.name}-killed.npz"
    stale.write_bytes(b"partial")
    model.save_params(ckpt)
    assert not stale.exists()


@settings(max_examples=40, deadline=None)
@given(data=st.one_of(
    st.binary(max_size=200),
    st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=6).map(
        lambda rows: "\n".join(f"{a}\t{b}" for a, b in rows).encode("utf-8", "surrogatepass")),
    st.lists(st.text(alphabet="12+_ \t\r", max_size=9), max_size=6).map(lambda rows: "\n".join(rows).encode()),
))
def test_data_readers_give_a_dataset_or_their_own_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "data.txt"
    path.write_bytes(data)
    try:
        lines = read_lines(path)
        d = load_dataset(lines=lines, source=str(path), reverse=True, test_ratio=0.0)
    except (DataError, VocabularyError):
        return
    x, t, codec = d.train.x, d.train.t, d.codec
    assert len(x) == len(t) == len(lines) and x.dtype == t.dtype == np.int64
    assert codec.decode_sources(x)[0] is not None


def test_a_failed_save_keeps_the_previous_checkpoint(capsys, pairs, tmp_path, monkeypatch):
    """A disk that fills up in epoch 2: one line, exit 2, and epoch 1's checkpoint intact."""
    import seqattn.checkpoint as ck

    ckpt = tmp_path / "m.npz"
    real, calls = ck.np.savez, []

    def savez(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(ckpt))
        return real(*a, **k)

    monkeypatch.setattr(ck.np, "savez", savez)
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY, "--epochs", "3", "--save", str(ckpt)])
    assert "No space left on device" in err
    assert checkpoint.read(ckpt)[1]["trainer"]["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_a_diverged_resume_says_what_is_kept_truly(tmp_path):
    """Resumed into a new file and diverged in its first epoch: the new file was never written,
    and the message says the resumed checkpoint is as it was."""
    from seqattn.data import load_pairs
    from seqattn.models import AttentionSeq2seq
    from seqattn.optim import Adam
    from seqattn.trainer import Trainer, TrainingError

    (x, t), _, codec = load_pairs([f"{w}\t{w[::-1]}" for w in WORDS * 10], seed=0, tokens="char")

    def trainer():
        model = AttentionSeq2seq(len(codec.vocab), 4, 8, target_vocab_size=len(codec.target_vocab), pad_id=codec.pad_id, seed=0)
        return Trainer(model, Adam(0.01), batch_size=16, seed=0, progress=False, log=lambda s: None, codec=codec)

    from seqattn.checkpoint import read_npz, write_npz_atomic

    first = tmp_path / "a.npz"
    trainer().fit(x, t, 1, checkpoint=first)
    arrays, meta = read_npz(first)
    meta["trainer"]["base_lr"] = 1e4  # the weights explode within the next epoch
    write_npz_atomic(first, arrays, meta)
    new = tmp_path / "b.npz"
    with pytest.raises(TrainingError, match=f"diverged in epoch 2 .*; {first} is as it was .epoch 1., and this run saved nothing;"):
        trainer().fit(x, t, 3, checkpoint=new, resume=first)
    assert not new.exists()
