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
    rc = main(["train", "--data", str(pairs), "--model", "attention", "--epochs", "6", "--hidden", "24", "--wordvec", "8",
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


def test_eval_text_and_predict(trained, capsys):
    d, pairs, ckpt = trained
    assert main(["eval", "--model", str(ckpt), "--data", str(pairs), "--show", "2"]) == 0
    assert "accuracy" in capsys.readouterr().out
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
