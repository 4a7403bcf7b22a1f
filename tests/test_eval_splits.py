"""eval scores the split a model was tested on: the checkpoint records its data (a task by name
and seed, a file by size and SHA-256), so eval needs no --data; splits are written to files;
--resume alone trains on the checkpoint's own data."""

import json
import os

import pytest

from seqattn.cli import main

WORDS = ["abc", "ba", "cab", "aa", "bcb", "ca", "acb", "b", "abca", "cc", "bac", "cba"]


def _json(capsys):
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("evalsplit")
    data = d / "pairs.tsv"
    data.write_text("".join(f"{w}\t{w[::-1]}\n" for w in WORDS * 25))
    ckpt = d / "m.npz"
    rc = main(["train", "--data", str(data), "--model", "attention", "--epochs", "3", "--hidden", "24", "--wordvec", "8",
               "--lr", "0.02", "--batch-size", "32", "--save", str(ckpt), "--quiet"])
    assert rc == 0
    return d, data, ckpt


def test_eval_without_data_gives_the_training_runs_last_score(text_run, capsys, tmp_path):
    pytest.importorskip("sacrebleu")
    d, data, ckpt = text_run
    from seqattn.checkpoint import read

    last = read(ckpt)[1]["trainer"]["history"][-1]
    capsys.readouterr()
    assert main(["eval", "--model", str(ckpt), "--json"]) == 0
    scores = _json(capsys)
    assert scores["n"] == 30  # the held-out tenth of 300 pairs
    for key in ("accuracy", "bleu", "chrf"):
        assert scores[key] == pytest.approx(last[key], abs=1e-9), key
    assert main(["eval", "--model", str(ckpt), "--data", str(data), "--json"]) == 0  # the whole file: training pairs too
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 300
    assert "is the file the model was trained on" in captured.err


def test_eval_without_data_on_a_task_regenerates_its_split(tmp_path, capsys):
    ckpt = tmp_path / "add.npz"
    assert main(["train", "--task", "addition", "--model", "peeky", "--reverse", "--epochs", "2", "--examples", "2000",
                 "--hidden", "24", "--quiet", "--json", "--save", str(ckpt)]) == 0
    last = _json(capsys)["history"][-1]
    assert main(["eval", "--model", str(ckpt), "--json"]) == 0
    scores = _json(capsys)
    assert scores["n"] == 200 and scores["accuracy"] == last["accuracy"]
    assert main(["eval", "--model", str(ckpt), "--split", "train", "--json"]) == 0
    assert _json(capsys)["n"] == 1800


def test_splits_are_written_and_score_as_the_checkpoint_did(text_run, tmp_path, capsys):
    d, data, ckpt = text_run
    out = tmp_path / "splits"
    assert main(["splits", "--model", str(ckpt), "--out", str(out)]) == 0
    train, held = (out / "train.tsv").read_text().splitlines(), (out / "held-out.tsv").read_text().splitlines()
    assert len(train) == 270 and len(held) == 30
    assert sorted(train + held) == sorted(data.read_text().splitlines())
    capsys.readouterr()
    assert main(["eval", "--model", str(ckpt), "--json"]) == 0
    own = _json(capsys)
    assert main(["eval", "--model", str(ckpt), "--data", str(out / "held-out.tsv"), "--json"]) == 0
    assert _json(capsys)["accuracy"] == own["accuracy"]
    assert main(["splits", "--model", str(ckpt), "--out", str(out)]) == 2  # not over files already there
    assert "exists" in capsys.readouterr().err
    assert main(["splits", "--task", "date", "--examples", "100", "--out", str(tmp_path / "date")]) == 0
    assert len((tmp_path / "date" / "held-out.txt").read_text().splitlines()) == 10


def test_a_changed_or_missing_data_file_is_refused_in_one_line(tmp_path, capsys):
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{w}\t{w[::-1]}\n" for w in WORDS * 5))
    ckpt = tmp_path / "m.npz"
    assert main(["train", "--data", str(data), "--epochs", "1", "--hidden", "8", "--quiet", "--save", str(ckpt)]) == 0
    data.write_text(data.read_text() + "abc\tcba\n")
    capsys.readouterr()
    assert main(["eval", "--model", str(ckpt)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has changed since training" in err
    os.rename(data, tmp_path / "moved.tsv")
    assert main(["eval", "--model", str(ckpt)]) == 2
    assert "is not there any more; give the pairs to score with --data" in capsys.readouterr().err
    assert main(["eval", "--model", str(ckpt), "--split", "test"]) == 2
    capsys.readouterr()
    assert main(["splits", "--model", str(ckpt), "--out", str(tmp_path / "s")]) == 2  # its fix is one that splits takes
    assert capsys.readouterr().err.strip().endswith("give the data file with --data in place of --model")
    assert main(["splits", "--data", str(tmp_path / "moved.tsv"), "--out", str(tmp_path / "s")]) == 0
    assert main(["train", "--resume", str(ckpt), "--epochs", "2", "--quiet"]) == 2
    assert capsys.readouterr().err.strip().endswith("give the pairs to train on with --data")


def test_a_file_too_small_to_hold_pairs_out_is_scored_and_split_as_training_scored_it(tmp_path, capsys):
    """Fewer than 10 pairs: training scores its training pairs (nothing is held out), and eval and
    splits follow it, where eval said "no examples" and splits wrote an empty held-out file."""
    data = tmp_path / "nine.tsv"
    data.write_text("".join(f"{w}\t{w[::-1]}\n" for w in WORDS[:9]))
    ckpt = tmp_path / "m.npz"
    assert main(["train", "--data", str(data), "--epochs", "1", "--hidden", "8", "--quiet", "--save", str(ckpt)]) == 0
    assert "testing on the training pairs" in capsys.readouterr().out
    assert main(["eval", "--model", str(ckpt), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["n"] == 9 and "scoring the training pairs of" in err and "too few pairs" in err
    assert main(["splits", "--model", str(ckpt), "--out", str(tmp_path / "s")]) == 0
    assert "no held-out split (9 pairs: too few pairs to hold any out" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "s")) == [".seqattn-splits.json", "train.tsv"]


@pytest.mark.parametrize("argv, words", [
    (["--out", ""], "--out must name a folder"),
    (["--out", "{tmp}/s", "--examples", "500"], "--examples is the size of a built-in --task"),
])
def test_splits_refuses_what_it_would_ignore(tmp_path, capsys, argv, words):
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{w}\t{w[::-1]}\n" for w in WORDS * 5))
    assert main(["splits", "--data", str(data), *(a.format(tmp=tmp_path) for a in argv)]) == 2
    assert words in capsys.readouterr().err and not (tmp_path / "s").exists()


def test_resume_without_task_or_data_takes_the_checkpoints(tmp_path, capsys):
    ckpt = tmp_path / "add.npz"
    assert main(["train", "--task", "addition", "--model", "peeky", "--epochs", "1", "--examples", "1000", "--hidden", "16",
                 "--quiet", "--save", str(ckpt)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(ckpt), "--epochs", "2", "--quiet", "--save", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "--task, --examples," in out and "900 training" in out
    assert main(["train", "--epochs", "1"]) == 2
    assert "needs --task or --data" in capsys.readouterr().err


def test_a_0_3_0_checkpoint_asks_for_data(capsys):
    path = os.path.join(os.path.dirname(__file__), "data", "v0.3.0", "add-peeky.npz")
    assert main(["eval", "--model", path]) == 2
    assert "give --data" in capsys.readouterr().err


def test_splits_of_a_file_are_refused_where_train_would_refuse_it(tmp_path, capsys):
    mixed = tmp_path / "mixed.tsv"
    mixed.write_text("".join(f"{w}\t{w[::-1]}\n" for w in WORDS * 10) + "16+75  _91  \n")
    assert main(["train", "--data", str(mixed), "--epochs", "1", "--quiet", "--save", str(tmp_path / "m.npz")]) == 2
    train_err = capsys.readouterr().err.strip()
    assert main(["splits", "--data", str(mixed), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.split("error: ")[1] == train_err.split("error: ")[1] == f"{mixed}, line 121: no tab between source and target in '16+75  _91  '"
    assert not (tmp_path / "d").exists()
    inside = tmp_path / "in"
    inside.mkdir()
    (inside / "train.tsv").write_text(mixed.read_text().rsplit("16+75", 1)[0])
    assert main(["splits", "--data", str(inside / "train.tsv"), "--out", str(inside), "--force"]) == 2  # not over its input
    assert "is the --data file; refusing to overwrite an input" in capsys.readouterr().err


def test_eval_names_the_split_it_scores_and_reads_only_that_splits_files(tmp_path, capsys):
    tr, va, te = (tmp_path / f"{n}.tsv" for n in ("tr", "va", "te"))
    for path, words in ((tr, WORDS * 10), (va, WORDS[:6]), (te, WORDS[6:])):
        path.write_text("".join(f"{w}\t{w[::-1]}\n" for w in words))
    ckpt = tmp_path / "m.npz"
    assert main(["train", "--data", str(tr), "--valid", str(va), "--test", str(te), "--epochs", "1", "--hidden", "8",
                 "--quiet", "--save", str(ckpt)]) == 0
    capsys.readouterr()
    for split, name in ((None, f"the --valid file {va}"), ("test", f"the --test file {te}"), ("train", f"the training file {tr}")):
        assert main(["eval", "--model", str(ckpt), "--json", *(["--split", split] if split else [])]) == 0
        assert capsys.readouterr().err.splitlines()[0] == f"scoring {name}"
    te.write_text("abc\tcba\n")  # only the test file changed: the held-out split is still there
    assert main(["eval", "--model", str(ckpt), "--json"]) == 0
    capsys.readouterr()
    assert main(["eval", "--model", str(ckpt), "--split", "test"]) == 2
    assert "the --test file" in capsys.readouterr().err
    va.unlink()
    os.symlink("/dev/zero", va)  # where the file was, now a device
    assert main(["eval", "--model", str(ckpt)]) == 2
    assert f"the --valid file {str(va)!r} that it was trained with is now a character device" in capsys.readouterr().err


def test_splits_force_replaces_split_files_only(text_run, tmp_path, capsys):
    """--force replaces the splits seqattn wrote in the folder (its record holds their SHA-256),
    never a file of the user's that has a split's name, whatever it holds: a checkpoint, a note,
    a data file of pairs, an edited split."""
    _, data, ckpt = text_run
    out = tmp_path / "s"
    assert main(["splits", "--model", str(ckpt), "--out", str(out)]) == 0
    written = (out / "train.tsv").read_bytes()
    assert main(["splits", "--model", str(ckpt), "--out", str(out), "--force"]) == 0  # its own splits: replaced
    assert (out / "train.tsv").read_bytes() == written
    for foreign in (ckpt.read_bytes(), b"my notes\n", data.read_bytes(), written.replace(b"\n", b"\r\n")):
        (out / "held-out.tsv").write_bytes(foreign)
        capsys.readouterr()
        assert main(["splits", "--model", str(ckpt), "--out", str(out), "--force"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "is not a split that seqattn wrote there" in err, err
        assert (out / "held-out.tsv").read_bytes() == foreign
    (out / "held-out.tsv").unlink()
    (out / "held-out.tsv").mkdir()
    assert main(["splits", "--model", str(ckpt), "--out", str(out), "--force"]) == 2
    assert "where the held-out split goes, is a folder" in capsys.readouterr().err
