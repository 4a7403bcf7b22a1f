"""The seqattn command end to end on tiny data."""

import json
import subprocess
import sys

import pytest

from seqattn.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    pairs = d / "pairs.tsv"
    words = ["abc", "ba", "cab", "aa", "bcb", "ca", "acb", "b"]
    pairs.write_text("".join(f"{w}\t{w[::-1]}\n" for w in words * 40))
    ckpt = d / "m.npz"
    rc = main(["train", "--data", str(pairs), "--tokens", "char", "--model", "attention", "--epochs", "6", "--hidden", "24", "--wordvec", "8",
               "--lr", "0.02", "--batch-size", "32", "--save", str(ckpt), "--plot", str(d / "curve.png"), "--quiet"])
    assert rc == 0
    return d, pairs, ckpt


def test_train_writes_checkpoint_and_plots(trained, capsys):
    d, _, ckpt = trained
    assert ckpt.exists() and (d / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (d / "curve-attention.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_json(trained, capsys):
    d, pairs, ckpt = trained
    assert main(["eval", "--model", str(ckpt), "--data", str(pairs), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 320 and out["accuracy"] > 0.9
    # the pairs reverse their source, and the encoder reads it reversed (the default for text): the
    # first output attends to the token the encoder read first, not last, and in reading order the
    # argmax alignment runs backwards through the source
    a = out["alignment"]
    assert a["final_by_step"][0] < 0.5 and a["kendall_tau"] < -0.5 and a["monotone"] < 0.5 and a["rows"] == 320


def test_eval_text_and_predict(trained, capsys):
    d, pairs, ckpt = trained
    assert main(["eval", "--model", str(ckpt), "--data", str(pairs), "--show", "2"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "weight on the source token read last" in out and "Kendall tau -" in out
    assert main(["predict", "--model", str(ckpt), "abc", "cab"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["abc -> cba", "cab -> bac"]


def test_attention_command(trained, capsys):
    d, _, ckpt = trained
    out = d / "att.png"
    assert main(["attention", "--model", str(ckpt), "abc", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def _error(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    return err


def test_errors_are_one_line_exit_2(trained, capsys, tmp_path):
    d, pairs, ckpt = trained
    assert "does not exist" in _error(capsys, ["eval", "--model", str(d / "none.npz"), "--data", str(pairs)])
    assert "does not exist" in _error(capsys, ["train", "--data", str(d / "none.txt"), "--epochs", "1"])
    assert main(["predict", "--model", str(ckpt), "abz"]) == 0  # an unseen character of text pairs: <unk>, and said
    assert "warning: 'z' not in the model's vocabulary, read as <unk>" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(ckpt.read_bytes()[:100])
    assert "damaged" in _error(capsys, ["predict", "--model", str(bad), "abc"])
    assert "is an option of --model attention" in _error(capsys, ["train", "--data", str(pairs), "--model", "peeky", "--bidirectional"])


def test_cupy_backend_without_gpu_is_a_clear_error(trained, capsys):
    from seqattn.backend import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present here")
    err = _error(capsys, ["predict", "--backend", "cupy", "--model", str(trained[2]), "abc"])
    assert "cupy-cuda12x" in err or "no CUDA device" in err


def test_attention_needs_attention_model(tmp_path, capsys):
    data = tmp_path / "add.txt"
    data.write_text("".join(line + "\n" for line in __import__("seqattn.data", fromlist=["x"]).addition_lines(200)))
    ckpt = tmp_path / "p.npz"
    assert main(["train", "--data", str(data), "--model", "peeky", "--epochs", "1", "--hidden", "8", "--save", str(ckpt), "--quiet"]) == 0
    capsys.readouterr()
    assert "no attention" in _error(capsys, ["attention", "--model", str(ckpt), "1+1", "--out", str(tmp_path / "x.png")])
    # the book's format: eval on a file of another width is refused clearly
    other = tmp_path / "wide.txt"
    other.write_text("1+1    _2    \n")
    assert "trained on 7 and 5" in _error(capsys, ["eval", "--model", str(ckpt), "--data", str(other)])


def test_usage_errors_exit_2():
    out = subprocess.run([sys.executable, "-m", "seqattn", "train", "--task", "sums"], capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_transformer_through_the_command(tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    words = ["abc", "ba", "cab", "aa", "bcb", "ca", "acb", "b"]
    pairs.write_text("".join(f"{w}\t{w[::-1]}\n" for w in words * 40))
    ckpt = tmp_path / "t.npz"
    assert main(["train", "--data", str(pairs), "--model", "transformer", "--hidden", "32", "--heads", "2", "--layers", "1",
                 "--ffn", "64", "--dropout", "0", "--epochs", "16", "--lr", "0.005", "--warmup", "20", "--batch-size", "32",
                 "--save", str(ckpt), "--quiet", "--keep-best", "--label-smoothing", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "transformer on pairs" in out and (tmp_path / "t-best.npz").exists()
    assert main(["eval", "--model", str(ckpt), "--data", str(pairs), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] > 0.9
    assert main(["predict", "--model", str(ckpt), "abc", "--beam", "3"]) == 0
    assert capsys.readouterr().out.strip() == "abc -> cba"
    assert main(["attention", "--model", str(ckpt), "cab", "--out", str(tmp_path / "heads.png")]) == 0
    assert (tmp_path / "heads.png").read_bytes()[:4] == b"\x89PNG"
    assert "is an option of --model transformer" in _error(capsys, ["train", "--data", str(pairs), "--heads", "2"])
    assert "--wordvec is not an option of --model transformer" in _error(
        capsys, ["train", "--data", str(pairs), "--model", "transformer", "--wordvec", "8"])


def test_a_usage_error_is_one_line_naming_the_command(capsys):
    for argv, words in ((["train", "--bogus"], "seqattn train: error: unrecognized arguments: --bogus; see seqattn train --help"),
                        (["eval"], "seqattn eval: error: the following arguments are required: --model; see seqattn eval --help"),
                        (["train", "--epochs", "x" * 10**5], "seqattn train: error: argument --epochs: invalid int value: 'xxx"),
                        ([], "seqattn: error: the following arguments are required: command; see seqattn --help")):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        err = capsys.readouterr().err
        assert exit.value.code == 2 and len(err.splitlines()) == 1 and err.startswith(words) and len(err) < 400, err


INTERRUPTED_IMPORT = r"""
import sys

class Interrupt:  # Ctrl-C while the command's modules are imported
    def find_spec(self, name, path=None, target=None):
        if name == "seqattn.cli":
            raise KeyboardInterrupt

sys.meta_path.insert(0, Interrupt())
sys.argv = ["seqattn", "predict", "--model", "m.npz", "abc"]
from seqattn.__main__ import main
sys.exit(main())
"""

AFTER_THE_LAST_LINE = r"""
import os, signal, sys, time
sys.argv = ["seqattn", "eval", "--model", "none.npz"]
from seqattn.__main__ import main
status = main()
os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after the last line: the status stands
time.sleep(0.2)
sys.exit(status)
"""


def test_ctrl_c_at_any_moment_is_one_line_and_after_the_last_line_changes_nothing(tmp_path):
    r = subprocess.run([sys.executable, "-c", INTERRUPTED_IMPORT], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert (r.returncode, r.stderr) == (130, "seqattn predict: interrupted\n")
    r = subprocess.run([sys.executable, "-c", AFTER_THE_LAST_LINE], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "does not exist" in r.stderr, r.stderr


def test_seqattn_imports_nothing_heavy_before_the_command_can_answer_ctrl_c():
    r = subprocess.run([sys.executable, "-c", "import sys, seqattn, seqattn.__main__; print('numpy' in sys.modules)"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr


def test_an_empty_backend_variable_is_as_if_unset():
    import os

    r = subprocess.run([sys.executable, "-c", "from seqattn import backend; print(backend.get_backend())"],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, SEQATTN_BACKEND=""))
    assert r.returncode == 0 and r.stdout.strip() in ("numpy", "cupy"), r.stderr


def test_messages_that_were_not_true(trained, capsys, tmp_path):
    d, pairs, ckpt = trained
    # --keep-best takes no value: another name for its file is another --save
    best = tmp_path / "m-best.npz"
    best.write_text("mine\n")
    assert main(["train", "--data", str(pairs), "--epochs", "1", "--quiet", "--save", str(tmp_path / "m.npz"), "--keep-best"]) == 2
    err = capsys.readouterr().err
    assert "--keep-best" in err and err.strip().endswith("choose another --save") and "choose another --keep-best" not in err
    # the log follows --save, as the help says
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "beside --save and named after it" in " ".join(capsys.readouterr().out.split())
    # the same pairs to train and to score on are warned of, as eval warns of them
    assert main(["train", "--data", str(pairs), "--valid", str(pairs), "--epochs", "1", "--hidden", "8", "--quiet",
                 "--save", str(tmp_path / "v.npz"), "--log", "none"]) == 0
    assert f"warning: --valid {pairs} holds the very pairs of --data {pairs}" in capsys.readouterr().out
    # a resumed run of a task keeps its examples
    add = tmp_path / "add.npz"
    assert main(["train", "--task", "addition", "--examples", "300", "--epochs", "1", "--hidden", "8", "--quiet",
                 "--save", str(add), "--log", "none"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(add), "--examples", "400", "--epochs", "2", "--quiet", "--log", "none"]) == 2
    assert "--examples 400 differs from the checkpoint's 300" in capsys.readouterr().err


def test_this_version_writes_what_its_readme_says_of_0_3_0():
    import seqattn
    from seqattn.checkpoint import FORMAT

    assert seqattn.__version__ == "0.4.0" and FORMAT == 2  # 0.3.0's format, read as it was (tests/test_compat.py)


def test_text_pairs_have_a_recipe_of_their_own_and_the_books_data_keep_the_books(tmp_path, capsys):
    """What a run leaves out comes from its data's recipe: tab-separated pairs get the text
    recipe, a file in the book's format and the book's tasks the book's; --help prints them."""
    from seqattn.checkpoint import read
    from seqattn.options import RECIPES, TRAINING, describe_default, resolve

    for task, text, key in (("addition", False, "addition"), ("date", True, "date"), (None, False, None), (None, True, "text")):
        opts, _ = resolve({}, task, text=text)
        want = {**TRAINING, **RECIPES[key]}
        assert {k: getattr(opts, k) for k in RECIPES[key]} == {k: want[k] for k in RECIPES[key]}, key
    pairs, book = tmp_path / "pairs.tsv", tmp_path / "book.txt"
    pairs.write_text("".join(f"{w}\t{w[::-1]}\n" for w in ["abc", "ba", "cab", "aa"] * 10))
    book.write_text("".join(f"{a}+{b}".ljust(4) + "_" + f"{a + b}".ljust(3) + "\n" for a in range(1, 9) for b in range(1, 6)))
    for path, key in ((pairs, "text"), (book, None)):
        ckpt = tmp_path / f"{path.stem}.npz"
        assert main(["train", "--data", str(path), "--epochs", "1", "--hidden", "8", "--quiet", "--save", str(ckpt)]) == 0
        _, meta = read(ckpt)
        recipe = {**TRAINING, **RECIPES[key]}
        assert meta["trainer"]["batch_size"] == recipe["batch_size"] and meta["config"]["wordvec_size"] == recipe["wordvec"]
        assert meta["codec"]["reverse"] == recipe["reverse"] and meta["trainer"]["schedule"]["name"] == recipe["schedule"]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for key in ("batch_size", "wordvec", "lr"):
        words = describe_default(key)
        assert words in shown
        if RECIPES["text"][key] != RECIPES[None][key]:
            assert f"{RECIPES['text'][key]:g} on text pairs" in words, words


RUN = ["--task", "addition", "--examples", "300", "--hidden", "16", "--model", "transformer", "--dropout", "0.1", "--heads",
       "2", "--ffn", "16", "--layers", "1", "--warmup", "2", "--batch-size", "32", "--quiet"]


def _state(path):
    """The arrays (weights and the optimizer's slots) and the history without its timings."""
    import numpy as np

    from seqattn.checkpoint import read

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k.startswith(("model/", "optimizer/"))}
    history = [{k: v for k, v in h.items() if "second" not in k} for h in read(path)[1]["trainer"]["history"]]
    return arrays, history


def test_resume_alone_goes_on_with_the_interrupted_run_bit_for_bit(tmp_path, capsys, monkeypatch):
    """Ctrl-C after epoch 2 of 4, then `train --resume part.npz` and nothing else: the run's own 4
    epochs, its cosine schedule (whose total is 4 epochs' updates), dropout, its patience and kept
    best, and its own file, give what the uninterrupted run gives, bit for bit. --epochs on resuming lengthens the run and
    says how the schedule is stretched."""
    import numpy as np

    from seqattn import trainer as T

    monkeypatch.chdir(tmp_path)
    assert main(["train", *RUN, "--epochs", "4", "--keep-best", "--patience", "5", "--save", "full.npz"]) == 0
    init = T.Trainer.__init__

    def interrupted_after_epoch_2(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.callbacks.append(lambda trainer, record: (_ for _ in ()).throw(KeyboardInterrupt) if trainer.epoch == 2 else None)

    monkeypatch.setattr(T.Trainer, "__init__", interrupted_after_epoch_2)
    assert main(["train", *RUN, "--epochs", "4", "--keep-best", "--patience", "5", "--save", "part.npz"]) == 130
    assert "part.npz holds epoch 2" in capsys.readouterr().err
    monkeypatch.setattr(T.Trainer, "__init__", init)
    (tmp_path / "part2.npz").write_bytes((tmp_path / "part.npz").read_bytes())

    assert main(["train", "--resume", "part.npz", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "--epochs, --patience, --keep-best as in the checkpoint" in out and "checkpoint part.npz" in out
    assert not (tmp_path / "runs").exists()
    (full, full_history), (resumed, history) = _state(tmp_path / "full.npz"), _state(tmp_path / "part.npz")
    assert history == full_history and [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert full.keys() == resumed.keys()
    for k in full:
        np.testing.assert_array_equal(resumed[k], full[k], err_msg=k)
    assert _state(tmp_path / "part-best.npz")[1] == _state(tmp_path / "full-best.npz")[1]

    assert main(["train", "--resume", "part2.npz", "--epochs", "6", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "--epochs 6 lengthens the run of 4 epochs: its cosine schedule is stretched to reach its floor at epoch 6 " \
           "instead of 4" in out
    _, longer = _state(tmp_path / "part2.npz")
    assert [h["epoch"] for h in longer] == [1, 2, 3, 4, 5, 6] and longer[:2] == full_history[:2]
    assert longer[2]["lr"] > full_history[2]["lr"]


def test_the_epochs_of_a_run_saved_before_they_were_recorded_are_read_from_its_schedule():
    from seqattn.checkpoint import read, run_epochs

    meta = {"trainer": {"epoch": 2, "schedule": {"name": "cosine", "warmup": 0, "total": 36, "floor": 0.1}},
            "optimizer": {"iter": 18}}
    assert run_epochs(meta) == 4  # 9 updates an epoch
    assert run_epochs({**meta, "trainer": {**meta["trainer"], "epochs": 5}}) == 5
    assert run_epochs({**meta, "optimizer": {"iter": 16}}) is None  # not a whole number of epochs: unknown
    assert run_epochs({}) is None
    import os

    old = read(os.path.join(os.path.dirname(__file__), "data", "v0.3.0", "add-peeky.npz"))[1]  # 1 of 1 epoch, 3 updates
    assert "epochs" not in old["trainer"] and run_epochs(old) == 1


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    """`seqattn train ... | head -1`: the next line finds the pipe closed; the command ends with
    status 1 and says nothing (no error about a file, no traceback), as a shell tool does. (1000
    epochs: it is still printing when the pipe closes, however slow the machine.)"""
    proc = subprocess.Popen([sys.executable, "-m", "seqattn", "train", "--task", "addition", "--examples", "300", "--epochs",
                             "1000", "--hidden", "8", "--log", "none", "--quiet", "--save", str(tmp_path / "m.npz")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().startswith(b"attention on addition")
        proc.stdout.close()
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1 and err == b"", err
