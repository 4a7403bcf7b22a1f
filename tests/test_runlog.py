"""A record of a run that tools read: the per-epoch metrics as CSV beside the checkpoint, the
run's options as JSON, and TensorBoard event files where tensorboardX is installed."""

import csv
import glob
import json
import os
import struct

import pytest

from seqattn.cli import main
from seqattn.runlog import summary_writer


def _train(tmp_path, capsys, *extra, epochs=2):
    rc = main(["train", "--task", "addition", "--model", "peeky", "--epochs", str(epochs), "--examples", "1000",
               "--hidden", "16", "--quiet", "--json", "--save", str(tmp_path / "m.npz"), *extra])
    assert rc == 0
    return json.loads(capsys.readouterr().out)["history"]


def test_the_csv_holds_every_epoch_and_the_options_their_run(tmp_path, capsys):
    history = _train(tmp_path, capsys)
    with open(tmp_path / "m.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row, h in zip(rows, history):
        assert float(row["loss"]) == h["loss"] and float(row["accuracy"]) == h["accuracy"] and float(row["lr"]) == h["lr"]
    options = json.loads((tmp_path / "m.options.json").read_text())
    assert options["options"]["model"] == "peeky" and options["options"]["hidden"] == 16
    assert options["options"]["max_grad"] == 5.0 and options["data"]["task"] == "addition"
    assert options["given"]["epochs"] == 2
    _train(tmp_path, capsys, "--resume", str(tmp_path / "m.npz"), epochs=3)  # a resumed run: every epoch still there
    with open(tmp_path / "m.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3]


@pytest.mark.parametrize("log, words", [
    ("Run.CSV", "must end in .csv in lower case, such as '{tmp}/Run.csv'"),
    (".csv", "must be a file name before its .csv, such as '{tmp}/run.csv'"),
    ("run.txt", "must end in .csv, such as '{tmp}/run.csv'"),
])
def test_a_log_name_is_never_changed_behind_the_users_back(tmp_path, capsys, log, words):
    rc = main(["train", "--task", "addition", "--epochs", "1", "--examples", "1000", "--hidden", "16", "--quiet",
               "--save", str(tmp_path / "m.npz"), "--log", str(tmp_path / log)])
    assert rc == 2 and words.format(tmp=tmp_path) in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_log_none_and_log_elsewhere(tmp_path, capsys):
    _train(tmp_path, capsys, "--log", "none")
    assert not glob.glob(str(tmp_path / "*.csv"))
    _train(tmp_path, capsys, "--force", "--log", str(tmp_path / "logs" / "run.csv"))
    assert (tmp_path / "logs" / "run.csv").exists() and (tmp_path / "logs" / "run.options.json").exists()


def test_a_run_without_a_log_resumes_without_one_and_nothing_left_says_no_log(tmp_path, capsys):
    """--log none is the run's: resumed, it goes on without a log unless --log is given; a resume
    with nothing left to train names no log files it did not write."""
    _train(tmp_path, capsys, "--log", "none")
    _train(tmp_path, capsys, "--resume", str(tmp_path / "m.npz"), epochs=3)
    err = capsys.readouterr().err
    assert not glob.glob(str(tmp_path / "*.csv")) and not glob.glob(str(tmp_path / "*.options.json")), err
    _train(tmp_path, capsys, "--resume", str(tmp_path / "m.npz"), "--log", str(tmp_path / "late.csv"), epochs=4)
    with open(tmp_path / "late.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]  # the history the checkpoint holds
    assert main(["train", "--resume", str(tmp_path / "m.npz"), "--quiet"]) == 0  # epoch 4 of 4: nothing left
    out = capsys.readouterr().out
    assert "metrics log" not in out and "nothing" in out, out


def test_a_run_with_a_log_of_its_own_resumes_into_it_also_when_its_folder_moved(tmp_path, capsys):
    """--log PATH is the run's, as --log none is: a resume alone goes on writing there (the
    checkpoint records the log's path from its own folder, so the two may move together), and
    writes no second log named after the checkpoint."""
    import os
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    main(["train", "--task", "addition", "--model", "peeky", "--epochs", "1", "--examples", "1000", "--hidden", "16",
          "--quiet", "--save", str(run / "m.npz"), "--log", str(run / "logs" / "custom.csv")])
    shutil.move(str(run), str(tmp_path / "moved"))
    capsys.readouterr()
    for epochs in (2, 3):
        assert main(["train", "--resume", str(tmp_path / "moved" / "m.npz"), "--epochs", str(epochs), "--quiet"]) == 0
    assert "--log as in the checkpoint" in capsys.readouterr().out
    with open(tmp_path / "moved" / "logs" / "custom.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3]
    assert sorted(os.listdir(tmp_path / "moved")) == ["logs", "m.npz"]


def test_a_resume_takes_only_its_own_log_never_another_runs_nor_one_a_checkpoint_names(tmp_path, capsys, monkeypatch):
    """The log a checkpoint records is taken only where the log there names that checkpoint as its
    run's: a resume of an earlier checkpoint (whose log another run has continued since) writes a
    log of its own and leaves the other whole (given as --log, it is refused without --force), and
    a checkpoint whose log_file points elsewhere writes nothing there."""
    from seqattn import checkpoint

    t = ["--task", "addition", "--examples", "300", "--hidden", "8", "--quiet"]
    monkeypatch.chdir(tmp_path)
    assert main(["train", *t, "--epochs", "1", "--save", "a.npz", "--log", "run.csv"]) == 0
    assert main(["train", "--resume", "a.npz", "--epochs", "3", "--save", "b.npz", "--quiet"]) == 0  # run.csv goes on as b's
    capsys.readouterr()
    assert main(["train", "--resume", "a.npz", "--epochs", "2", "--save", "c.npz", "--quiet", "--log", "run.csv"]) == 2
    assert "run.csv' already holds the metrics log of another run" in capsys.readouterr().err
    assert main(["train", "--resume", "a.npz", "--epochs", "2", "--save", "c.npz", "--quiet"]) == 0
    for log, epochs in (("run.csv", [1, 2, 3]), ("c.csv", [1, 2])):  # b's history is whole; c's is its own
        with open(log, newline="") as f:
            assert [int(r["epoch"]) for r in csv.DictReader(f)] == epochs
    weights, meta = checkpoint.read_npz("b.npz")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for target in (str(elsewhere / "x.csv"), "../elsewhere/x.csv"):
        os.makedirs("sub", exist_ok=True)
        checkpoint.write_npz_atomic("sub/d.npz", weights, {**meta, "log_file": target})
        assert main(["train", "--resume", "sub/d.npz", "--epochs", "4", "--quiet"]) == 0
        assert os.listdir(elsewhere) == [] and os.path.exists("sub/d.csv")  # its own default log, not the one named
        os.remove("sub/d.npz")
    for bad in ("x.txt", "", "logs/.csv", "a\0.csv"):
        checkpoint.write_npz_atomic("e.npz", weights, {**meta, "log_file": bad})
        assert main(["train", "--resume", "e.npz", "--epochs", "4", "--quiet"]) == 2
        assert "log_file must be the path of a .csv file" in capsys.readouterr().err


def _events(path):
    """The (tag, step, value) scalars of a TensorBoard event file (TFRecord: length, its CRC, the
    record, its CRC)."""
    from tensorboardX.proto import event_pb2

    out = []
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at < len(data):
        (n,) = struct.unpack("<Q", data[at : at + 8])
        event = event_pb2.Event.FromString(data[at + 12 : at + 12 + n])
        at += 12 + n + 4
        out += [(v.tag, event.step, v.simple_value) for v in event.summary.value if v.HasField("simple_value")]
    return out


def test_tensorboard_events_when_the_package_is_there(tmp_path, capsys):
    if summary_writer() is None:
        pytest.skip("neither tensorboardX nor torch's tensorboard is installed")
    pytest.importorskip("tensorboardX")
    history = _train(tmp_path, capsys)
    [events] = glob.glob(str(tmp_path / "m-tensorboard" / "events.out.tfevents.*"))
    scalars = _events(events)
    loss = [(step, value) for tag, step, value in scalars if tag == "loss"]
    assert loss == [(1, pytest.approx(history[0]["loss"])), (2, pytest.approx(history[1]["loss"]))]
    assert {tag for tag, _, _ in scalars} >= {"loss", "accuracy", "lr"}
