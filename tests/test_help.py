"""Help that tells the truth: every option of every subcommand says what it does, and the
training defaults it prints are the recipes' and the models' own, per task and model."""

import argparse

import pytest

from seqattn.cli import _parser, main
from seqattn.models import MODELS
from seqattn.options import RECIPES, TASK_NAMES, defaults, describe_default


def _subcommands():
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_option_has_help(name):
    parser = _subcommands()[name]
    for action in parser._actions:
        assert action.help and action.help != argparse.SUPPRESS, f"seqattn {name} {action.option_strings or action.dest}"
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            d = f"{action.default:g}" if isinstance(action.default, float) else action.default
            said = f"default {d}" in action.help or f"{d} (default)" in action.help
            assert said, f"{action.option_strings}: default {action.default} not said"


def test_the_training_defaults_shown_are_the_recipes():
    text = " ".join(_subcommands()["train"].format_help().split())
    for (task, pairs), name in TASK_NAMES.items():  # epochs per task, from the recipes themselves
        assert f"{RECIPES[task or ('text' if pairs else None)]['epochs']} on" in text
    assert describe_default("epochs") in text
    for key in ("hidden", "dropout", "max_grad", "warmup", "lr", "num_layers"):
        words = describe_default(key)
        assert " ".join(words.split()) in text, key
        for kind, cls in MODELS.items():
            if key in cls.options or key in cls.sizes or key in ("max_grad", "warmup", "lr"):
                for task, pairs in TASK_NAMES:  # every model's default on every kind of data is in the words
                    value = defaults(kind, task, pairs)[key]
                    assert (f"{value:g}" if isinstance(value, float) else str(value)) in words, (key, kind, task)
    assert "transformer: 0 on addition and date, 0.1 on files in the book's format and text pairs" in describe_default("dropout")
    assert "chrF on text pairs" in text  # what --keep-best and --patience follow


def test_attention_draws_several_texts_in_one_call(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    ckpt = tmp_path / "m.npz"
    assert main(["train", "--task", "date", "--model", "attention", "--epochs", "1", "--examples", "300", "--hidden", "16",
                 "--quiet", "--save", str(ckpt)]) == 0
    out = tmp_path / "att.png"
    assert main(["attention", "--model", str(ckpt), "--out", str(out), "september 27, 1994", "2/10/93", "27.09.94"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    import matplotlib.image

    height, width = matplotlib.image.imread(str(out)).shape[:2]
    assert width > 2.5 * height  # three panels side by side
