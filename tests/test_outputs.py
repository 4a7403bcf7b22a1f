"""Every output of a run (checkpoint, -best, pictures, the metrics log's CSV and options, its
TensorBoard folder) goes through the same checks before the first epoch: a file seqattn did not
write is never replaced, another run's only when continued or forced, nothing is written through
a link, a folder is a folder, no name is changed behind the user's back, a special file is never
an output; and nothing is written before the first epoch ends."""

import os

import pytest

from seqattn.cli import main
from seqattn.runlog import summary_writer

TINY = ["train", "--task", "addition", "--examples", "300", "--epochs", "1", "--hidden", "8", "--wordvec", "4", "--quiet"]


def _error(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("seqattn train: error: "), out.err
    return lines[0], out.out


def test_a_log_file_seqattn_did_not_write_is_never_replaced(capsys, tmp_path):
    mine = {name: tmp_path / name for name in ("mine.csv", "mine.options.json", "z.csv", "pairs.csv")}
    for path in mine.values():
        path.write_text("precious\n")
    err, out = _error(capsys, [*TINY, "--save", str(tmp_path / "c.npz"), "--log", str(mine["mine.csv"])])
    assert "mine.csv' exists and is not a seqattn metrics log; refusing to overwrite it" in err and "epoch" not in out
    mine["mine.csv"].unlink()
    err, _ = _error(capsys, [*TINY, "--save", str(tmp_path / "c.npz"), "--log", str(mine["mine.csv"])])
    assert "mine.options.json' exists and is not a seqattn metrics log's options" in err
    err, _ = _error(capsys, [*TINY, "--save", str(tmp_path / "z.npz")])  # the default log, beside --save
    assert "z.csv' exists and is not a seqattn metrics log" in err
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{w}\t{w[::-1]}\n" for w in ["abc", "ba", "cab", "aa"] * 10))
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY[5:], "--save", str(tmp_path / "p.npz"),
                             "--log", str(tmp_path / "pairs.tsv")])
    assert "--log" in err and "must end in .csv, such as" in err
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY[5:], "--save", str(tmp_path / "p.npz"),
                             "--log", str(mine["pairs.csv"])])
    assert "pairs.csv' exists and is not a seqattn metrics log" in err
    assert all(p.read_text() == "precious\n" for p in mine.values() if p.exists())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.options.json", "pairs.csv", "pairs.tsv", "z.csv"]


def test_another_runs_log_is_replaced_only_when_its_run_is_continued_or_with_force(capsys, tmp_path):
    save = tmp_path / "r.npz"
    assert main([*TINY, "--save", str(save)]) == 0
    save.unlink()  # its log stays
    err, _ = _error(capsys, [*TINY, "--save", str(save)])
    assert "r.csv' already holds the metrics log of another run: continue that run with --resume, replace it with --force" in err
    assert main([*TINY, "--save", str(save), "--force"]) == 0
    other = tmp_path / "s.npz"
    assert main([*TINY, "--save", str(other), "--log", str(tmp_path / "r.csv"), "--force"]) == 0
    # the log records s.npz now: resuming r.npz does not continue it, resuming s.npz does
    err, _ = _error(capsys, ["train", "--resume", str(save), "--epochs", "2", "--quiet", "--log", str(tmp_path / "r.csv")])
    assert "already holds the metrics log of another run" in err
    assert main(["train", "--resume", str(other), "--save", str(tmp_path / "t.npz"), "--epochs", "2", "--quiet",
                 "--log", str(tmp_path / "r.csv")]) == 0
    assert (tmp_path / "r.csv").read_text().splitlines()[-1].startswith("2,")


@pytest.mark.skipif(summary_writer() is None, reason="neither tensorboardX nor torch's tensorboard is installed")
def test_the_tensorboard_folder_is_checked_as_the_other_outputs(capsys, tmp_path):
    (tmp_path / "q-tensorboard").write_text("x\n")
    err, _ = _error(capsys, [*TINY, "--save", str(tmp_path / "q.npz")])
    assert "--log" in err and "q-tensorboard' is a file, where the folder of TensorBoard's event files goes" in err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "r-tensorboard").symlink_to(elsewhere)
    err, _ = _error(capsys, [*TINY, "--save", str(tmp_path / "r.npz")])
    assert "r-tensorboard' is a symbolic link" in err
    (tmp_path / "s-tensorboard").mkdir()
    (tmp_path / "s-tensorboard" / "notes.txt").write_text("mine\n")
    err, _ = _error(capsys, [*TINY, "--save", str(tmp_path / "s.npz")])
    assert "holds 'notes.txt', which is not one of TensorBoard's event files" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "q-tensorboard", "r-tensorboard", "s-tensorboard"]
    assert os.listdir(elsewhere) == []


def test_picture_and_log_names_are_never_changed_and_special_files_are_never_outputs(capsys, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    err, _ = _error(capsys, [*TINY, "--save", str(tmp_path / "a.npz"), "--plot", str(fifo)])
    assert f"--plot {str(fifo)!r} must end in .png, such as {str(fifo) + '.png'!r}" in err
    for flag, words in (("--plot", "must end in .png"), ("--log", "must end in .csv"),
                        ("--save", "'/dev/null' is not a regular file: it is a character device")):
        err, _ = _error(capsys, [*TINY, "--save", str(tmp_path / "b.npz"), flag, os.devnull])
        assert words in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]
    rc = main(["attention", "--model", str(tmp_path / "none.npz"), "abc", "--out", str(tmp_path / "dir")])  # not dir.png
    assert rc == 2 and "--out" in capsys.readouterr().err and sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_nothing_is_written_before_the_first_epoch_ends(capsys, tmp_path, monkeypatch):
    from seqattn.trainer import Trainer

    def interrupted(self, x, t, weight=1.0):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "step", interrupted)
    assert main([*TINY, "--save", str(tmp_path / "runs" / "m.npz")]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "seqattn train: interrupted; no epoch finished, and nothing was saved"
    assert os.listdir(tmp_path / "runs") == []  # no checkpoint, no CSV, options or TensorBoard folder
