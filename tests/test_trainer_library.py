"""The Trainer as a reader of the book uses it: the same accuracy as evaluate(), the book's fit
signature and plot(), and the command's recipe in the library."""

import numpy as np
import pytest

from seqattn.cli import main
from seqattn.checkpoint import read
from seqattn.data import load_dataset
from seqattn.metrics import evaluate
from seqattn.models import AttentionSeq2seq, Seq2seq
from seqattn.optim import Adam
from seqattn.options import recipe
from seqattn.trainer import Trainer

WORDS = ["abc", "ba", "cab", "aa", "bcb", "ca", "acb", "b", "abca", "cc"]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    path.write_text("".join(f"{w}\t{w[::-1]}\n" for w in WORDS * 30))
    return path


def test_the_trainers_accuracy_is_evaluates(pairs):
    d = load_dataset(path=pairs, tokens="char")
    c = d.codec
    model = AttentionSeq2seq(len(c.vocab), 8, 24, target_vocab_size=len(c.target_vocab), pad_id=c.pad_id, seed=0)
    history = Trainer(model, Adam(0.02), batch_size=32, codec=c, progress=False, log=lambda *a: None).fit(
        d.train.x, d.train.t, 6, d.valid.x, d.valid.t)  # start and end symbols from the codec
    scores, _ = evaluate(model, d.valid, c, text=False)
    assert history[-1]["accuracy"] == scores["accuracy"] > 0.5  # generation past </s> would make it 0


def test_the_books_fit_signature_and_plot(tmp_path):
    d = load_dataset("addition", n=2000)
    V = len(d.codec.vocab)
    model = Seq2seq(V, 16, 32, seed=0)
    lines = []
    trainer = Trainer(model, Adam(), log=lines.append, progress=False)
    for _ in range(2):  # the book calls fit once per epoch
        trainer.fit(d.train.x, d.train.t, max_epoch=1, batch_size=128, max_grad=5.0, eval_interval=5)
    assert trainer.epoch == 2 and trainer.batch_size == 128 and trainer.max_grad == 5.0
    per_epoch = (len(d.train.x) + 127) // 128 // 5
    assert len(trainer.loss_list) == 2 * per_epoch
    assert trainer.loss_list[-1] < trainer.loss_list[0]
    book = [ln for ln in lines if ln.startswith("| epoch ")]
    assert book[0].startswith("| epoch 1 |  iter 5 / 15 | time ") and "| loss " in book[0]
    fig = trainer.plot(path=str(tmp_path / "loss.png"))
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG" and fig.axes[0].get_xlabel() == "iterations"
    trainer.fit(d.train.x, d.train.t, max_epoch=2)
    assert trainer.epoch == 4
    with pytest.raises(TypeError, match="not both"):
        trainer.fit(d.train.x, d.train.t, 5, max_epoch=1)


def test_plot_without_eval_interval_draws_the_epochs(tmp_path):
    d = load_dataset("addition", n=500)
    trainer = Trainer(Seq2seq(len(d.codec.vocab), 8, 16, seed=0), Adam(), progress=False, log=lambda *a: None)
    trainer.fit(d.train.x, d.train.t, 2, d.valid.x, d.valid.t, start_id=d.codec.start_id)
    trainer.plot(path=str(tmp_path / "h.png"))
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("model", ["attention", "transformer"])
def test_the_librarys_recipe_trains_as_the_command(pairs, tmp_path, model):
    ckpt = tmp_path / "m.npz"
    assert main(["train", "--data", str(pairs), "--model", model, "--epochs", "1", "--quiet", "--save", str(ckpt)]) == 0
    command = read(ckpt)[1]["trainer"]
    opts = recipe(model, text=True)  # the pairs are tab-separated text: their recipe
    d = load_dataset(path=pairs, reverse=opts.reverse, tokens="char")
    trainer = Trainer(opts.make_model(d.codec), opts.make_optimizer(), codec=d.codec, **opts.trainer_options())
    trainer.save(tmp_path / "lib.npz")
    library = read(tmp_path / "lib.npz")[1]["trainer"]
    for key in ("batch_size", "max_grad", "seed", "base_lr", "label_smoothing"):
        assert library[key] == command[key], key
    assert {k: library["schedule"][k] for k in ("name", "warmup", "floor")} == \
        {k: command["schedule"][k] for k in ("name", "warmup", "floor")}
    assert command["max_grad"] == (1.0 if model == "transformer" else 5.0)


def test_the_library_checks_its_arguments_once_at_the_edge_naming_each(tmp_path):
    """The book's habits with wrong values: one OptionError (a ValueError) naming the argument,
    before any work, never a ZeroDivisionError deep inside or a silently wrong update."""
    from seqattn.errors import OptionError
    from seqattn.optim import SGD, Momentum, RMSprop

    x = np.zeros((8, 3), dtype=np.int64)
    t = np.zeros((8, 4), dtype=np.int64)
    model = Seq2seq(5, 4, 4, seed=0)
    trainer = Trainer(model, Adam(), progress=False, log=lambda *a: None)
    for kwargs, words in (({"batch_size": 0}, "batch_size must be at least 1, got 0"),
                          ({"batch_size": -5}, "batch_size must be at least 1, got -5"),
                          ({"max_grad": -1.0}, "max_grad must be a finite number of at least 0, got -1.0"),
                          ({"max_grad": float("nan")}, "max_grad must be a finite number of at least 0, got nan"),
                          ({"max_epoch": 1.5}, "max_epoch must be a whole number, got 1.5")):
        with pytest.raises(OptionError, match=words):
            trainer.fit(x, t, **kwargs)
    with pytest.raises(OptionError, match="x and t must have a row each per pair, got 8 and 7 rows"):
        trainer.fit(x, t[:7], max_epoch=1)
    with pytest.raises(OptionError, match="x_test must be a 2-D array of integer ids"):
        trainer.fit(x, t, max_epoch=1, t_test=t)
    with pytest.raises(OptionError, match="t must be a 2-D array of integer ids .pairs x steps., got 2-D float64"):
        trainer.fit(x, t.astype(float), max_epoch=1)
    assert trainer.epoch == 0 and trainer.batch_size == 128 and trainer.max_grad is None  # nothing was changed or trained
    for make, words in ((lambda: Adam(lr=float("nan")), "lr must be a finite number of at least 0, got nan"),
                        (lambda: Adam(lr=-1), "lr must be a finite number of at least 0, got -1"),
                        (lambda: Adam(beta1=1), "beta1 must be at least 0 and below 1, got 1"),
                        (lambda: SGD(lr=float("inf")), "lr must be a finite number"),
                        (lambda: Momentum(momentum=-0.1), "momentum must be at least 0 and below 1"),
                        (lambda: RMSprop(decay_rate=1.0), "decay_rate must be at least 0 and below 1"),
                        (lambda: Trainer(model, None), "optimizer must be one of seqattn.optim's optimizers"),
                        (lambda: Trainer(None, Adam()), "model must be a seqattn model, such as .*, got 'NoneType', which has no params"),
                        (lambda: trainer.plot(ylim=5), r"ylim must be a pair \(low, high\) of numbers, such as \(0, 3\), got '5'"),
                        (lambda: Trainer(model, Adam(), max_grad=-1), "max_grad must be a finite number of at least 0"),
                        (lambda: Trainer(model, Adam(), max_grad=10**400), "max_grad must be a finite number of at least 0"),
                        (lambda: Trainer(model, Adam(), seed=-1), "seed must be at least 0"),
                        (lambda: Trainer(model, Adam(), patience=0), "patience must be at least 1")):
        with pytest.raises(OptionError, match=words):
            make()
    assert Trainer(model, Adam(), max_grad=0).max_grad is None  # 0: no clipping, as --max-grad 0


def test_save_params_replaces_only_a_checkpoint(tmp_path):
    from seqattn.errors import OptionError
    import os

    model = Seq2seq(5, 4, 4, seed=0)
    with pytest.raises(OptionError, match="is a directory; give a file name"):
        model.save_params(str(tmp_path))
    text = tmp_path / "notes.npz"
    text.write_text("mine\n")
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    for path, words in ((text, "exists and is not a seqattn checkpoint; refusing to overwrite it"),
                        (fifo, "is not a regular file: it is a named pipe")):
        with pytest.raises(OptionError, match=words):
            model.save_params(path)
    assert text.read_text() == "mine\n"
    model.save_params(tmp_path / "m.npz")
    model.save_params(tmp_path / "m.npz")  # a checkpoint is replaced
    trainer = Trainer(model, Adam(), progress=False, log=lambda *a: None)
    with pytest.raises(OptionError, match="checkpoint .* exists and is not a seqattn checkpoint"):
        trainer.fit(np.zeros((4, 3), dtype=np.int64), np.zeros((4, 4), dtype=np.int64), max_epoch=1, checkpoint=text)
    assert trainer.epoch == 0 and sorted(os.listdir(tmp_path)) == ["fifo.npz", "m.npz", "notes.npz"]
