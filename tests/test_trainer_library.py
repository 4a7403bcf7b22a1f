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
    d = load_dataset(path=pairs)
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
    d = load_dataset(path=pairs)
    opts = recipe(model)
    trainer = Trainer(opts.make_model(d.codec), opts.make_optimizer(), codec=d.codec, **opts.trainer_options())
    trainer.save(tmp_path / "lib.npz")
    library = read(tmp_path / "lib.npz")[1]["trainer"]
    for key in ("batch_size", "max_grad", "seed", "base_lr", "label_smoothing"):
        assert library[key] == command[key], key
    assert {k: library["schedule"][k] for k in ("name", "warmup", "floor")} == \
        {k: command["schedule"][k] for k in ("name", "warmup", "floor")}
    assert command["max_grad"] == (1.0 if model == "transformer" else 5.0)
