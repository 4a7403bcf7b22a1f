"""Hostile files and faults through the command: checkpoints that are bombs or lies, special files,
outputs that collide, two runs on one checkpoint, interrupted and empty resumes, memory that
options ask for, odd text, and errors nobody foresaw. Each is one line and exit status 2 (130 for
Ctrl-C), no traceback, no hang, bounded memory, nothing lost or overwritten."""

import copy
import json
import io
import os
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from seqattn import checkpoint
from seqattn.checkpoint import read_npz, write_npz_atomic
from seqattn.cli import main
from seqattn.errors import OptionError

WORDS = ["abc", "ba", "cab", "aa", "bcb", "ca", "acb", "b"]
TINY = ["--epochs", "1", "--hidden", "8", "--wordvec", "4", "--batch-size", "32", "--quiet", "--log", "none"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A data file and a checkpoint trained one epoch on it (read-only: tests copy what they change)."""
    d = tmp_path_factory.mktemp("hostile")
    pairs = d / "pairs.tsv"
    pairs.write_text("".join(f"{w}\t{w[::-1]}\n" for w in WORDS * 10))
    ckpt = d / "m.npz"
    assert main(["train", "--data", str(pairs), "--tokens", "char", *TINY, "--save", str(ckpt)]) == 0
    return pairs, ckpt


@pytest.fixture
def pairs(made):
    return made[0]


def _error(capsys, argv, status=2):
    """Run the command -> (its error line, its standard output): the status, no traceback, and one
    line of error, the last (warnings and notes may come before it)."""
    rc = main(argv)
    out = capsys.readouterr()
    assert rc == status, out
    lines = out.err.strip().splitlines()
    errors = [line for line in lines if line.startswith("seqattn ")]
    assert len(errors) == 1 and errors[0] == lines[-1] and "Traceback" not in out.err, out.err
    return lines[-1], out.out


def _members(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write_zip(path, members, extra=()):
    """A zip of ``members`` (name -> bytes) and then ``extra``: (name, zlib stream, inflated size) written raw."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, chunks, size in extra:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as f:
                for chunk in chunks(size):
                    f.write(chunk)


def _zeros(size, chunk=1 << 22):
    for _ in range(size // chunk):
        yield bytes(chunk)


def _npy_header(shape, descr="<f4"):
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(b, {"descr": descr, "fortran_order": False, "shape": shape})
    return b.getvalue()


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------- 1. read before it is checked
def test_a_deflate_bomb_is_never_inflated(capsys, made, tmp_path):
    """An extra member, and a weight's member with data after its array, each inflating to 256 MiB
    from well under 1 MiB: loading reads only what the model needs (and one byte more, to see that a
    member ends where its array does)."""
    _, ckpt = made
    members = _members(ckpt)
    bomb = tmp_path / "bomb.npz"
    _write_zip(bomb, members, [("extra.npy", _zeros, 256 << 20)])
    tail = tmp_path / "tail.npz"
    name = "model/decoder.affine.b.npy"
    _write_zip(tail, {k: v for k, v in members.items() if k != name},
               [(name, lambda size: [members[name], *_zeros(size)], 256 << 20)])
    for path, status in ((bomb, 0), (tail, 2)):
        assert path.stat().st_size < 2 << 20
        rc, peak = _peak_bytes(lambda: main(["predict", "--model", str(path), "abc"]))
        assert rc == status and peak < 32 << 20, peak  # the bomb would be 256 MiB
    assert "member model/decoder.affine.b goes on after its array" in capsys.readouterr().err


@pytest.mark.parametrize("member,header,words", [
    ("model/decoder.affine.W.npy", _npy_header((10**6, 10**6)), "weight decoder.affine.W is of shape (1000000, 1000000), expected"),
    ("model/decoder.affine.W.npy", _npy_header((16, 7), "|O"), "damaged or not a seqattn checkpoint"),
    ("__meta__.npy", _npy_header((), "<U100000000"), "more than the 64 MiB a checkpoint's meta may have"),
])
def test_a_header_is_checked_before_its_data_is_read(capsys, made, tmp_path, member, header, words):
    _, ckpt = made
    members = _members(ckpt)
    members[member] = header  # the header alone: reading its data would fail, or allocate terabytes
    path = tmp_path / "lie.npz"
    _write_zip(path, members)
    err, _ = _error(capsys, ["predict", "--model", str(path), "abc"])
    assert words in err


def test_a_damaged_weight_is_caught_by_its_checksum(capsys, made, tmp_path):
    """np.savez stores members as they are: a changed byte of a weight is found by the member's
    CRC, which is checked because the reader reads to the member's end."""
    _, ckpt = made
    data = bytearray(ckpt.read_bytes())
    member = _members(ckpt)["model/decoder.affine.W.npy"]
    at = bytes(data).index(member) + len(member) - 2
    data[at] ^= 0x01
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    err, _ = _error(capsys, ["predict", "--model", str(path), "abc"])
    assert "damaged or not a seqattn checkpoint (BadZipFile: Bad CRC-32" in err


def test_an_optimizer_slot_is_checked_before_it_is_read_on_resume(capsys, made, tmp_path):
    pairs, ckpt = made
    members = _members(ckpt)
    members["optimizer/m/decoder.affine.W.npy"] = _npy_header((10**6, 10**6))
    path = tmp_path / "lie.npz"
    _write_zip(path, members)
    err, out = _error(capsys, ["train", "--data", str(pairs), "--epochs", "2", "--quiet", "--resume", str(path), "--save", str(path)])
    assert "the optimizer's m of decoder.affine.W is of shape (1000000, 1000000)" in err and "epoch   2" not in out


# ------------------------------------------------------------------ 2. metadata is trusted
def _tampered(made, tmp_path, change, arrays_change=None):
    arrays, meta = read_npz(made[1])
    meta = copy.deepcopy(meta)
    change(meta)
    arrays = dict(arrays)
    if arrays_change:
        arrays_change(arrays)
    path = tmp_path / "t.npz"
    write_npz_atomic(path, arrays, meta)
    return path


def _set(*keys, value=None, delete=False):
    def change(meta):
        node = meta
        for k in keys[:-1]:
            node = node[k]
        if delete:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value(node[keys[-1]]) if callable(value) else value
    return change


PREDICT_TAMPERING = [
    (_set("codec", "vocab", delete=True), "codec.vocab is missing"),
    (_set("codec", "target_vocab", "tokens", value=lambda t: t[:-1]), "codec.target_vocab has 6 tokens but config.target_vocab_size is 7"),
    (_set("codec", "target_width", value=10**6), "codec.target_width must be from 2 to 100,000, got 1,000,000"),
    (_set("codec", "format", value=3), "codec.format must be a string, got 3"),
    (_set("codec", "columns", value=[1, 1]), "codec.columns must be two different columns"),
    (_set("codec", "vocab", "pad", value="<nope>"), "codec.vocab.pad '<nope>' is not one of its tokens"),
    (_set("config", "hidden_size", value="8"), "config.hidden_size must be a whole number, got the string '8'"),
    (_set("config", "vocab_size", value=10**8), ("the weights of its configuration take 1,600,003,916 bytes at least (float32), and its weight members hold",
                                                  "config.vocab_size is 100,000,000, so its model would need")),
    (_set("config", "hidden_size", value=10**5), "config.hidden_size is 100,000, so its model would need about"),
    (_set("config", "hidden_size", value=10**30), "config.hidden_size must be from 1 to 2,147,483,647, got 1,000,"),
    (_set("log", value="yes"), "log must be true or false"),
    (_set("config", "score", value="cosine"), "unknown config.score 'cosine'"),
    (_set("config", "pad_id", value=7), "config.pad_id must be from 0 to 6, got 7"),
    (_set("config", "dtype", value="int32"), "config.dtype must be one of 'float32', 'float64'"),
    (_set("config", "bogus", value=1), "config.bogus is not a field of a attention model's configuration"),
    (_set("config", delete=True), "no configuration inside"),
    (_set("format", value="2"), "has checkpoint format '2'"),
    (_set("source", "file", "sha256", value="x"), "source.file.sha256 is not a SHA-256 in hexadecimal"),
    (_set("source", "file", value=None), "source.file is null"),
    (_set("codec", "task", value="poetry"), "codec.task must be one of 'addition', 'date'"),
    # every field that is used is typed and ranged: the split's seeds and ratio (a null one would
    # give eval and splits a fresh random split), columns, tokens the tokenizer could make
    (_set("source", "split_seed", value=None), "source.split_seed is null"),
    (_set("source", "test_ratio", value=None), "source.test_ratio is null"),
    (_set("source", "test_ratio", value=0), "source.test_ratio must be above 0 and below 1, got 0"),
    (_set("source", value=lambda s: {"split_seed": 1984, "test_ratio": 0.1, "task": "addition", "examples": 100,
                                     "data_seed": None}), "source.data_seed is null"),
    (_set("source", "file", "path", value="p" * 5000), "source.file.path must be at most 4,096 characters long"),
    (_set("codec", "columns", value=[0, 2**70]), "codec.columns must be two different columns from 0 to 9,999"),
    (_set("codec", "vocab", "tokens", value=lambda t: t[:-1] + ["a b"]), "codec.vocab.tokens[6] is 'a b', which char tokens never are"),
    (_set("codec", value=lambda c: dict(c, tokens={"kind": "word", "lower": False},
                                        vocab=dict(c["vocab"], tokens=c["vocab"]["tokens"][:-1] + [""]))),
     "codec.vocab.tokens[6] is '', which word tokens never are"),
    (_set("codec", value=None), "codec is null"),
    (_set("trainer", value=None), "trainer is null"),
]


@pytest.mark.parametrize("change,words", PREDICT_TAMPERING)
def test_a_tampered_schema_is_one_line_naming_the_field(capsys, made, tmp_path, change, words):
    path = _tampered(made, tmp_path, change)
    err, out = _error(capsys, ["predict", "--model", str(path), "abc"])
    assert any(w in err for w in ((words,) if isinstance(words, str) else words)) and str(path) in err and out == "", err


@pytest.mark.parametrize("field, words", [("[" * 100_000 + "]" * 100_000, "is nested deeper than any checkpoint's"),
                                          ("9" * 5000, "holds a number of thousands of digits")])
def test_metadata_that_json_cannot_hold_is_said_in_words(capsys, made, tmp_path, field, words):
    """JSON that Python's reader refuses for its depth or its digits: the checkpoint is damaged,
    said in words, not in the reader's advice to a programmer."""
    arrays, meta = read_npz(made[1])
    path = tmp_path / "j.npz"
    np.savez(path, __meta__=np.array(json.dumps(dict(meta, x=None)).replace('"x": null', f'"x": {field}')),
             **{k: v for k, v in arrays.items()})
    err, _ = _error(capsys, ["predict", "--model", str(path), "abc"])
    assert words in err and "damaged" in err and "set_int_max_str_digits" not in err


RESUME_TAMPERING = [
    (_set("trainer", "history", value="x"), None, "trainer.history must be a list, got the string 'x'"),
    (_set("trainer", "history", value=lambda h: [dict(h[0], accuracy=5)]), None, "trainer.history[0].accuracy must be"),
    (_set("trainer", "epoch", value=3), None, "trainer.history must have 3 items, got 1"),
    (_set("trainer", "schedule", "name", value="step"), None, "trainer.schedule.name must be one of"),
    (_set("optimizer", "iter", delete=True), None, "optimizer.iter is missing"),
    (_set("optimizer", "beta2", value=2.0), None, "optimizer.beta2 must be at least 0 and below 1, got 2.0"),
    (_set("optimizer", "name", value=["Adam"]), None, "optimizer.name must be a string"),
    (_set("trainer", "base_lr", value=None), None, "trainer.base_lr is null"),
    (_set("trainer", "seed", delete=True), None, "trainer.seed is missing"),
    (_set("trainer", "max_grad", delete=True), None, "trainer.max_grad is missing"),  # null is no clipping; absent is not written
    (_set("trainer", "history", value=lambda h: [dict(h[0], accuracy=None)]), None, "trainer.history[0].accuracy is null"),
    (_set("trainer", "history", value=lambda h: [dict(h[0], rouge="high")]), None,
     "trainer.history[0].rouge must be a finite number, got the string 'high'"),
    (lambda m: None, lambda a: a.__setitem__("optimizer/v/decoder.affine.b", -np.ones_like(a["optimizer/v/decoder.affine.b"])),
     "the optimizer's v of decoder.affine.b holds negative values"),
    (lambda m: None, lambda a: a.pop("optimizer/m/encoder.embed.W"), "the optimizer's m of encoder.embed.W is missing"),
]


@pytest.mark.parametrize("change,arrays_change,words", RESUME_TAMPERING)
def test_a_tampered_training_state_is_refused_on_resume(capsys, made, tmp_path, change, arrays_change, words):
    path = _tampered(made, tmp_path, change, arrays_change)
    before = path.read_bytes()
    err, out = _error(capsys, ["train", "--data", str(made[0]), "--epochs", "2", "--quiet", "--resume", str(path), "--save", str(path)])
    assert words in err and "epoch   2" not in out and path.read_bytes() == before


def test_numbers_of_any_size_are_ranged_and_positions_are_the_vocabularys(capsys, made, tmp_path):
    path = _tampered(made, tmp_path, _set("trainer", "max_grad", value=2**70))  # finite, however large: clips nothing
    assert main(["train", "--data", str(made[0]), "--epochs", "2", "--quiet", "--resume", str(path), "--save", str(path)]) == 0
    capsys.readouterr()
    task = tmp_path / "add.npz"
    assert main(["train", "--task", "addition", "--examples", "300", *TINY, "--save", str(task)]) == 0
    capsys.readouterr()
    change = _set("codec", "positions", value=lambda p: ["x" * 200_000] + p[1:])
    err, _ = _error(capsys, ["predict", "--model", str(_tampered((None, task), tmp_path, change)), "1+1"])
    assert "codec.positions[0] must hold characters of codec.vocab, each once, got 'xxx" in err and len(err) < 400


def test_a_field_of_any_length_is_named_in_a_short_line(capsys, made, tmp_path):
    path = _tampered(made, tmp_path, lambda m: m["config"].__setitem__("y" * 10**5, 1))
    err, _ = _error(capsys, ["predict", "--model", str(path), "abc"])
    assert "'config.yyyy" in err and "(100,007 characters) is not a field of" in err and len(err) < 400


@pytest.fixture(scope="module")
def subword(tmp_path_factory):
    """A checkpoint of subword tokens (made by the library: no training needed) and its meta."""
    pytest.importorskip("sentencepiece")
    from seqattn.data import load_pairs
    from seqattn.models import AttentionSeq2seq

    lines = [f"{a} {b}\t{b} {a}" for a in ("red", "green", "blue", "yellow") for b in ("cat", "dog", "bird", "fish")] * 3
    _, _, codec = load_pairs(lines, tokens="subword", vocab_size=40)
    model = AttentionSeq2seq(len(codec.vocab), 4, 8, target_vocab_size=len(codec.target_vocab), pad_id=codec.pad_id)
    path = tmp_path_factory.mktemp("subword") / "s.npz"
    model.save_params(path, codec)
    return path


def test_a_subword_model_must_load_and_agree_with_the_vocabulary(capsys, subword, tmp_path):
    from seqattn.data.tokens import make_tokens

    other = make_tokens("subword", ["zebra quux xylophone", "quokka jazz"] * 5, vocab_size=30).to_meta()["model"]
    for change, words in (
        (_set("codec", "tokens", "model", value=""), "codec.tokens.model is empty: a subword model has pieces"),
        (_set("codec", "tokens", "model", value="bm90IGEgbW9kZWw="), "codec.tokens.model cannot be loaded"),
        (_set("codec", "tokens", "model", value=other), "which subword tokens never are"),  # another model's pieces
    ):
        made = (None, subword)
        err, _ = _error(capsys, ["predict", "--model", str(_tampered(made, tmp_path, change)), "red cat"])
        assert words in err, err
    assert main(["predict", "--model", str(subword), "red cat"]) == 0


def test_a_missing_extra_is_said_as_such_not_as_a_bad_checkpoint(capsys, subword, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # import sentencepiece: ImportError
    err, _ = _error(capsys, ["predict", "--model", str(subword), "red cat"])
    assert f"{str(subword)!r}, a checkpoint of subword tokens, needs the sentencepiece package: pip install" in err
    assert "not a valid" not in err


def test_nan_weights_are_refused(capsys, made, tmp_path):
    path = _tampered(made, tmp_path, lambda m: None,
                     lambda a: a.__setitem__("model/decoder.affine.W", np.full_like(a["model/decoder.affine.W"], np.nan)))
    err, _ = _error(capsys, ["predict", "--model", str(path), "abc"])
    assert "weight decoder.affine.W holds NaN or infinite values" in err


def test_a_0_3_0_style_checkpoint_without_optional_fields_still_loads(capsys, made, tmp_path):
    """The schema asks for what the format always wrote, and no more: a library checkpoint without
    codec, optimizer or trainer loads."""
    from seqattn.models import load_model

    path = _tampered(made, tmp_path, lambda m: [m.pop(k) for k in ("codec", "optimizer", "trainer", "data")])
    model, meta = load_model(path)
    assert "codec" not in meta and model.config["hidden_size"] == 8


# ----------------------------------------------------------------------- 3. special files
FIFO_SCRIPT = r"""
import os, sys
from seqattn.cli import main
d, pairs = sys.argv[1], sys.argv[2]
fifo = os.path.join(d, "fifo.npz")
os.mkfifo(fifo)
tiny = ["--epochs", "1", "--hidden", "8", "--wordvec", "4", "--quiet"]
for argv in (["train", "--data", pairs, *tiny, "--save", fifo],
             ["train", "--data", pairs, *tiny, "--save", os.path.join(d, "a.npz"), "--resume", fifo],
             ["eval", "--model", fifo, "--data", pairs],
             ["predict", "--model", fifo, "abc"],
             ["train", "--data", fifo, *tiny, "--save", os.path.join(d, "b.npz")],
             ["train", "--data", pairs, "--test", fifo, *tiny, "--save", os.path.join(d, "c.npz")],
             ["train", "--data", pairs, *tiny, "--save", "/dev/zero"],
             ["train", "--data", d, *tiny, "--save", os.path.join(d, "e.npz")],
             ["train", "--data", pairs, "--valid", "/dev/null", *tiny, "--save", os.path.join(d, "f.npz")],
             ["attention", "--model", fifo, "abc", "--out", os.path.join(d, "g.png")],
             ["splits", "--data", fifo, "--out", os.path.join(d, "splits")],
             ["splits", "--model", fifo, "--out", os.path.join(d, "splits")]):
    print(main(argv), flush=True)
"""


def test_special_files_are_refused_without_being_opened(pairs, tmp_path):
    """A FIFO as --save, --resume, --model, --data or --test would block on open; /dev/zero as
    --save would be read without end; a directory or a device is not a data file."""
    out = subprocess.run([sys.executable, "-c", FIFO_SCRIPT, str(tmp_path), str(pairs)], capture_output=True, text=True,
                         timeout=120)
    errors = out.stderr.strip().splitlines()
    assert out.stdout.split() == ["2"] * 12 and len(errors) == 12, out.stderr
    for line, kind in zip(errors, ["named pipe"] * 6 + ["character device", "directory", "character device"] + ["named pipe"] * 3):
        assert f"is not a regular file: it is a {kind}" in line, line
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".npz") and p != "fifo.npz"]


def test_the_library_readers_refuse_special_files(tmp_path):
    from seqattn.data import DataError, read_lines
    from seqattn.models import CheckpointError, load

    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="is not a regular file: it is a named pipe"):
        read_lines(fifo)
    with pytest.raises(CheckpointError, match="is not a regular file: it is a named pipe"):
        load(fifo)
    assert not checkpoint.is_checkpoint(fifo) and not checkpoint.is_checkpoint("/dev/zero")


# ---------------------------------------------------------------------- 4. output paths
def test_every_output_is_checked_before_the_first_epoch(capsys, pairs, tmp_path):
    base = ["train", "--data", str(pairs), *TINY]
    (tmp_path / "c-attention.png").mkdir()
    kept = tmp_path / "kept.png"
    os.link(pairs, kept)  # a hard link to the data: writing the picture through it would replace the data
    for argv, words in [
        (["--save", str(tmp_path / "a.npz"), "--plot", str(tmp_path / "curve.txt")], "must end in .png"),
        (["--save", str(tmp_path / "x.png"), "--plot", str(tmp_path / "x.png")], "are one file"),
        (["--save", str(tmp_path / "c.npz"), "--plot", str(tmp_path / "c.png")], "c-attention.png' is a directory"),
        (["--save", str(tmp_path / "d.npz"), "--plot", str(kept)], "exists and is not a picture that seqattn drew"),
        (["--save", str(tmp_path / ("n" * 300 + ".npz"))], "is 304 bytes long, and this file system allows"),
        (["--save", str(tmp_path / "e.npz"), "--keep-best", "--plot", str(tmp_path / "e-best.npz")], "must end in .png"),
    ]:
        err, out = _error(capsys, base + argv)
        assert words in err and "epoch" not in out, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c-attention.png", "kept.png"]
    assert pairs.read_text().startswith("abc\tcba")


def test_a_picture_seqattn_did_not_draw_is_never_replaced_by_the_command_or_the_library(capsys, pairs, tmp_path):
    """A PNG the user made (here with matplotlib) is kept by --plot, attention --out and the
    library's plots; a picture seqattn drew (its "Software" text says so) is replaced. The library's
    plots refuse special files and links as the command does: root's /dev/null stays a device."""
    from seqattn.paths import drawn_by_seqattn
    from seqattn.plots import plot_history, plot_losses, pyplot

    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    holiday = tmp_path / "holiday.png"
    fig.savefig(holiday)
    plt.close(fig)
    before = holiday.read_bytes()
    save = tmp_path / "m.npz"
    err, out = _error(capsys, ["train", "--data", str(pairs), *TINY, "--save", str(save), "--plot", str(holiday)])
    assert "--plot" in err and "exists and is not a picture that seqattn drew" in err and "epoch" not in out
    history = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5}]
    for draw in (lambda p: plot_history(history, p), lambda p: plot_losses([1.0, 0.5], 20, path=p)):
        with pytest.raises(OptionError, match="is not a picture that seqattn drew"):
            draw(holiday)
        with pytest.raises(OptionError, match="must end in .png"):  # and a device named .png is not a regular file
            draw(os.devnull)
        link = tmp_path / "link.png"
        link.symlink_to(pairs)
        with pytest.raises(OptionError, match="is a symbolic link"):
            draw(link)
        link.unlink()
    assert holiday.read_bytes() == before and os.path.exists(os.devnull) and not os.path.isfile(os.devnull)
    assert plt.get_fignums() == []  # refused before a figure was made: none left open
    plot_losses([1.0, 0.5], 20, path=os.fsencode(tmp_path / "bytes.png"))  # a path as bytes, as os.fspath allows
    assert drawn_by_seqattn(tmp_path / "bytes.png") and plt.get_fignums() == []
    curve = tmp_path / "curve.png"
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(save), "--force", "--plot", str(curve)]) == 0
    assert drawn_by_seqattn(curve) and not drawn_by_seqattn(holiday) and not drawn_by_seqattn(pairs)
    plot_losses([1.0, 0.5], 20, path=curve)  # a picture seqattn drew is replaced
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(save), "--force", "--plot", str(curve)]) == 0


@pytest.mark.parametrize("flag", ["--save", "--log", "--plot"])
def test_an_output_that_needs_thousands_of_new_folders_is_refused_before_training(capsys, pairs, tmp_path, flag):
    """A path 1,500 folders deep trained, then ended in "maximum recursion depth exceeded"
    (os.makedirs recurses once a folder)."""
    deep = os.path.join(tmp_path, "d/" * 1500 + {"--save": "m.npz", "--log": "run.csv", "--plot": "p.png"}[flag])
    argv = ["train", "--data", str(pairs), *TINY, "--save", str(tmp_path / "m.npz"), flag, deep]
    err, out = _error(capsys, argv)
    assert f"{flag} " in err and "would need 1,500 new folders, more than the 64 seqattn makes" in err and "epoch" not in out
    assert os.listdir(tmp_path) == []


def test_folders_are_made_without_recursion(tmp_path):
    """Under a recursion limit that os.makedirs could not make 300 folders within."""
    import inspect

    from seqattn.paths import make_folders

    deep, limit = os.path.join(tmp_path, *["d"] * 300), sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 60)
    try:
        with pytest.raises(RecursionError):
            os.makedirs(os.path.join(tmp_path, *["e"] * 300))  # what the limit does to a recursive maker
        make_folders(deep)
        make_folders(deep)  # there already
    finally:
        sys.setrecursionlimit(limit)
    assert os.path.isdir(deep)


def test_a_symlinked_output_is_not_written_through(capsys, pairs, tmp_path):
    link = tmp_path / "curve.png"
    link.symlink_to(pairs)
    before = pairs.read_bytes()
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY, "--save", str(tmp_path / "m.npz"), "--plot", str(link)])
    assert "is a symbolic link" in err
    ck = tmp_path / "ck.npz"
    ck.symlink_to(tmp_path / "elsewhere.npz")
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY, "--save", str(ck)])
    assert "is a symbolic link" in err
    out = tmp_path / "att.png"
    out.symlink_to(pairs)
    err, _ = _error(capsys, ["attention", "--model", str(tmp_path / "none.npz"), "abc", "--out", str(out)])
    assert "is a symbolic link" in err and pairs.read_bytes() == before


def test_an_output_that_is_the_standard_output_is_refused(made, tmp_path):
    pairs, ckpt = made
    target = tmp_path / "m.npz"
    target.write_bytes(ckpt.read_bytes())
    with open(target, "ab") as stdout:
        out = subprocess.run([sys.executable, "-m", "seqattn", "train", "--data", str(pairs), *TINY, "--save", str(target),
                              "--force", "--json"], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)
    assert out.returncode == 2 and "is where the standard output goes" in out.stderr
    assert target.read_bytes() == ckpt.read_bytes()


def test_a_long_name_fits_its_temporary_and_lock_files_or_is_refused_at_once(capsys, pairs, tmp_path):
    """A checkpoint name as long as the file system allows less the suffix: its temporary file and
    its lock (longer names) still fit; the -best name of --keep-best, and the metrics log's
    .options.json beside it, would not, and are refused before the first epoch."""
    save = tmp_path / ("n" * 247 + ".npz")
    err, out = _error(capsys, ["train", "--data", str(pairs), *TINY, "--save", str(save), "--keep-best"])
    assert "-best.npz' cannot be written" in err and "is 256 bytes long" in err and "epoch" not in out
    err, out = _error(capsys, ["train", "--data", str(pairs), *TINY[:-2], "--save", str(save)])
    assert err.startswith("seqattn train: error: --log") and ".options.json' cannot be written" in err and "epoch" not in out
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(save)]) == 0
    assert os.listdir(tmp_path) == [save.name]


def test_the_metrics_log_and_the_splits_are_outputs_too(capsys, made, tmp_path):
    """The metrics log's files are checked with the other outputs (and are not one of them), and
    `seqattn splits` checks its files before writing any, and writes each whole."""
    pairs, ckpt = made
    err, out = _error(capsys, ["train", "--data", str(pairs), *TINY[:-2], "--save", str(tmp_path / "m.csv"),
                               "--log", str(tmp_path / "m.csv")])
    assert "--log" in err and "m.csv" in err and "are one file" in err and "epoch" not in out
    link = tmp_path / "out" / "train.tsv"
    link.parent.mkdir()
    link.symlink_to(pairs)
    err, _ = _error(capsys, ["splits", "--model", str(ckpt), "--out", str(link.parent), "--force"])
    assert "--out" in err and "is a symbolic link" in err and sorted(os.listdir(link.parent)) == ["train.tsv"]
    assert main(["splits", "--model", str(ckpt), "--out", str(tmp_path / "s")]) == 0
    assert sorted(os.listdir(tmp_path / "s")) == [".seqattn-splits.json", "held-out.tsv", "train.tsv"]  # and the record of them


def test_a_missing_folder_is_made_and_nothing_is_left_beside_the_checkpoint(capsys, pairs, tmp_path):
    save = tmp_path / "new" / "dir" / "m.npz"
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(save), "--plot", str(tmp_path / "new" / "p.png")]) == 0
    assert os.listdir(save.parent) == ["m.npz"] and sorted(os.listdir(tmp_path / "new")) == ["dir", "p-attention.png", "p.png"]


# ------------------------------------------------------------------- 5. two runs, one file
def _wait_for(path, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert os.path.exists(path), proc.stderr.read() if proc.poll() is not None else "not there in time"


def test_two_concurrent_writers_on_one_checkpoint(capsys, pairs, tmp_path):
    save = tmp_path / "m.npz"
    first = subprocess.Popen([sys.executable, "-m", "seqattn", "train", "--data", str(pairs), "--epochs", "100000", "--hidden", "8",
                              "--wordvec", "4", "--quiet", "--log", "none", "--save", str(save)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(save, first)  # the first has finished an epoch, and holds the file
        err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY, "--save", str(save), "--force"])
        assert f"is being written by another run (process {first.pid})" in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert checkpoint.read(save)[1]["trainer"]["epoch"] >= 1
    assert main(["train", "--data", str(pairs), *TINY, "--save", str(save), "--force"]) == 0  # the killed run's lock is gone
    assert checkpoint.read(save)[1]["trainer"]["epoch"] == 1 and os.listdir(tmp_path) == ["m.npz"]


HOLDER = r"""
import sys, time
from seqattn.paths import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write(b"half a checkpoint")
    print("writing", flush=True)
    time.sleep(120)
"""


def test_the_clean_up_spares_a_temporary_file_whose_writer_runs(made, tmp_path):
    from seqattn.models import load_model

    model, _ = load_model(made[1])
    path = tmp_path / "m.npz"
    writer = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        temps = [p for p in os.listdir(tmp_path) if p.startswith(".tmp-m.npz-")]
        assert len(temps) == 1
        model.save_params(path)
        assert os.path.exists(tmp_path / temps[0])  # another writer's file in progress
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    model.save_params(path)
    assert os.listdir(tmp_path) == ["m.npz"]  # its writer is gone: cleared


# --------------------------------------------------------------- 6. resume that claims much
def test_resume_into_a_new_file_with_nothing_left_writes_it(capsys, made, tmp_path):
    pairs, ckpt = made
    new = tmp_path / "b.npz"
    assert main(["train", "--data", str(pairs), "--epochs", "1", "--quiet", "--resume", str(ckpt), "--save", str(new)]) == 0
    out = capsys.readouterr().out
    assert f"nothing left to train: {ckpt} has finished 1 of --epochs 1; {new} holds the same" in out
    assert checkpoint.read(new)[1]["trainer"] == checkpoint.read(ckpt)[1]["trainer"]
    same = tmp_path / "same.npz"
    same.write_bytes(ckpt.read_bytes())
    assert main(["train", "--data", str(pairs), "--epochs", "1", "--quiet", "--resume", str(same), "--save", str(same)]) == 0
    out = capsys.readouterr().out
    assert "nothing left to train" in out and "; checkpoint" not in out and same.read_bytes() == ckpt.read_bytes()


def test_interrupts_say_what_is_kept(capsys, pairs, tmp_path, monkeypatch):
    from seqattn import metrics, trainer

    real, calls = trainer.Trainer.step, []

    def step_then_interrupt(after):
        def step(self, *a, **k):
            calls.append(1)
            if len(calls) > after:
                raise KeyboardInterrupt
            return real(self, *a, **k)
        return step

    save = tmp_path / "m.npz"
    monkeypatch.setattr(trainer.Trainer, "step", step_then_interrupt(0))
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY, "--save", str(save)], status=130)
    assert err == "seqattn train: interrupted; no epoch finished, and nothing was saved" and not save.exists()
    calls.clear()
    monkeypatch.setattr(trainer.Trainer, "step", step_then_interrupt(3))  # 3 batches an epoch
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY, "--epochs", "3", "--save", str(save)], status=130)
    assert err == f"seqattn train: interrupted; {save} holds epoch 1, the last this run finished"
    calls.clear()
    monkeypatch.setattr(trainer.Trainer, "step", step_then_interrupt(0))
    err, _ = _error(capsys, ["train", "--data", str(pairs), "--epochs", "3", "--quiet", "--resume", str(save), "--save", str(save)],
                    status=130)
    assert err == f"seqattn train: interrupted; {save} is as it was (epoch 1); no epoch of this run finished"

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.Trainer, "step", real)
    monkeypatch.setattr("seqattn.plots.plot_history", interrupted)  # after the last epoch, while drawing
    err, _ = _error(capsys, ["train", "--data", str(pairs), *TINY, "--save", str(save), "--force", "--plot", str(tmp_path / "p.png")],
                    status=130)
    assert err == f"seqattn train: interrupted; {save} holds epoch 1, the last this run finished"
    monkeypatch.setattr(metrics, "evaluate", interrupted)
    err, _ = _error(capsys, ["eval", "--model", str(save), "--data", str(pairs)], status=130)
    assert err == "seqattn eval: interrupted"


# -------------------------------------------------------------------- 7. memory options ask
@pytest.mark.parametrize("argv,flag", [
    (["--hidden", "1000000"], "--hidden 1,000,000"),
    (["--wordvec", "10000000"], "--wordvec 10,000,000"),
    (["--layers", "100000"], "--layers 100,000"),
    (["--model", "transformer", "--ffn", "100000000", "--heads", "2"], "--ffn 100,000,000"),
    (["--model", "transformer", "--layers", "1000000", "--heads", "2"], "--layers 1,000,000"),
])
def test_sizes_that_cannot_fit_are_refused_naming_the_flag(capsys, pairs, tmp_path, argv, flag):
    err, out = _error(capsys, ["train", "--data", str(pairs), "--epochs", "1", "--quiet", "--save", str(tmp_path / "m.npz"), *argv])
    assert f"a model with {flag} would need about" in err and "more than half of this machine's memory" in err
    assert "epoch" not in out and not (tmp_path / "m.npz").exists()


def test_evaluation_data_that_could_not_fit_is_refused_naming_its_line(capsys, made, monkeypatch):
    """Training pairs are measured before they are encoded; the pairs of eval (and --valid,
    --test) are refused before an array larger than memory is made of them."""
    from seqattn.data import text

    pairs, ckpt = made
    monkeypatch.setattr(text, "memory_limit", lambda: 1000)  # a machine where 80 rows of 4 ids do not fit
    err, _ = _error(capsys, ["eval", "--model", str(ckpt), "--data", str(pairs)])
    assert f"{pairs}, line 1: 3 tokens; 80 rows that wide would need" in err and "more than half of this machine's memory" in err


def test_a_batch_larger_than_the_data_is_what_the_data_makes(capsys, pairs, tmp_path):
    assert main(["train", "--data", str(pairs), *TINY, "--batch-size", "10000000", "--save", str(tmp_path / "m.npz")]) == 0


def test_a_beam_that_cannot_fit_is_refused_naming_the_flag(capsys, made):
    pairs, ckpt = made
    for argv in (["predict", "--model", str(ckpt), "--beam", "100000000", "abc"],
                 ["eval", "--model", str(ckpt), "--data", str(pairs), "--beam", "100000000"]):
        err, out = _error(capsys, argv)
        assert err.startswith(f"seqattn {argv[0]}: error: --beam 100,000,000: decoding") and "lower --beam" in err and out == ""


# ------------------------------------------------------------------------------- 8. text
def test_text_options_with_the_books_format_are_refused(capsys, tmp_path):
    data = tmp_path / "qa.txt"
    data.write_text("1+1  _2  \n2+2  _4  \n" * 5)
    for flag, value in (("--columns", "2,1"), ("--min-count", "2"), ("--max-vocab", "5")):
        err, out = _error(capsys, ["train", "--data", str(data), *TINY, flag, value, "--save", str(tmp_path / "m.npz")])
        assert f"{flag} is for tab-separated pairs" in err and "epoch" not in out


def test_lone_carriage_returns_end_lines(tmp_path):
    from seqattn.data import read_lines

    path = tmp_path / "cr.tsv"
    path.write_bytes(b"a\tb\rc\td\re\tf\r\ng\th\n\r")
    assert read_lines(path) == ["a\tb", "c\td", "e\tf", "g\th"]
    path.write_bytes(b"a\tb\rc\t\xff\r")
    with pytest.raises(Exception, match="line 2: not UTF-8"):
        read_lines(path)


def test_a_text_with_no_tokens_names_its_line(capsys, pairs, tmp_path):
    data = tmp_path / "p.tsv"
    data.write_text(pairs.read_text() + "\uffed\tabc\n")
    err, _ = _error(capsys, ["train", "--data", str(data), "--tokens", "word", *TINY, "--save", str(tmp_path / "m.npz")])
    assert "line 81: the source '\uffed' has no word tokens" in err
    data.write_text(pairs.read_text() + "abc\t\uffed \uffed\n")
    err, _ = _error(capsys, ["train", "--data", str(data), "--tokens", "word", *TINY, "--save", str(tmp_path / "m.npz")])
    assert "line 81: the target" in err and "has no word tokens" in err
    ckpt = tmp_path / "w.npz"
    assert main(["train", "--data", str(pairs), "--tokens", "word", *TINY, "--save", str(ckpt)]) == 0
    capsys.readouterr()
    err, _ = _error(capsys, ["predict", "--model", str(ckpt), "\uffed"])
    assert "has no word tokens" in err


def test_files_follow_the_umask_and_a_replaced_file_keeps_its_mode(capsys, pairs, tmp_path):
    old = os.umask(0o022)
    try:
        save, plot = tmp_path / "m.npz", tmp_path / "p.png"
        assert main(["train", "--data", str(pairs), *TINY, "--save", str(save), "--plot", str(plot)]) == 0
        assert stat.S_IMODE(save.stat().st_mode) == 0o644 and stat.S_IMODE(plot.stat().st_mode) == 0o644
        save.chmod(0o640)
        assert main(["train", "--data", str(pairs), *TINY, "--save", str(save), "--force"]) == 0
        assert stat.S_IMODE(save.stat().st_mode) == 0o640
    finally:
        os.umask(old)


# -------------------------------------------------------------------- 10. unforeseen errors
def test_an_unforeseen_error_from_a_file_names_the_file(capsys, made, monkeypatch):
    from seqattn.data import text, vocab

    pairs, ckpt = made

    def broken(*a, **k):
        raise KeyError("surprise")

    monkeypatch.setattr(vocab.Vocab, "__init__", broken)
    err, _ = _error(capsys, ["predict", "--model", str(ckpt), "abc"])
    assert err.startswith(f"seqattn predict: error: {str(ckpt)!r} is not a valid seqattn checkpoint (KeyError")
    monkeypatch.undo()
    monkeypatch.setattr(text, "parse_pairs", broken)
    from seqattn.data import codec
    monkeypatch.setattr(codec, "parse_pairs", broken)
    err, _ = _error(capsys, ["eval", "--model", str(ckpt), "--data", str(pairs)])
    assert f"{pairs} is not a valid data file (KeyError" in err


def test_an_internal_error_is_one_line_and_a_traceback_file(capsys, made, monkeypatch, tmp_path):
    from seqattn import metrics

    pairs, ckpt = made
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))

    def bug(*a, **k):
        return {}["missing"]

    monkeypatch.setattr(metrics, "evaluate", bug)
    err, _ = _error(capsys, ["eval", "--model", str(ckpt), "--data", str(pairs)])
    assert err.startswith("seqattn eval: internal error (KeyError: 'missing'); this is a bug in seqattn")
    report = err.rsplit("traceback in ", 1)[1]
    assert os.path.dirname(report) == str(tmp_path) and "Traceback" in open(report).read()

    def no_memory(*a, **k):
        raise MemoryError

    monkeypatch.setattr(metrics, "evaluate", no_memory)
    err, _ = _error(capsys, ["eval", "--model", str(ckpt), "--data", str(pairs)])
    assert err.startswith("seqattn eval: error: out of memory")


# ----------------------------------------------------------------------- 11. huge counts
def test_every_task_refuses_what_it_cannot_make_at_once(capsys, tmp_path):
    from seqattn.data.tasks import ADDITION_PAIRS, CAPACITY, TASKS

    for task in TASKS:
        start = time.monotonic()
        err, _ = _error(capsys, ["train", "--task", task, "--examples", str(CAPACITY[task] + 1), "--save", str(tmp_path / "m.npz")])
        assert "ask for at most that many examples" in err and f"{CAPACITY[task]:,}" in err
        assert time.monotonic() - start < 10  # refused before any example is made
    lines = TASKS["addition"](ADDITION_PAIRS, 0)  # every distinct pair, made at once instead of by rejection
    pairs = {tuple(sorted(map(int, ln.split("_")[0].split("+")))) for ln in lines}
    assert len(lines) == len(pairs) == ADDITION_PAIRS
    assert all(int(ln.split("_")[1]) == sum(map(int, ln.split("_")[0].split("+"))) for ln in lines[:1000])
