"""Inputs outside what a model learned are warned of: the built-in tasks' range and format,
characters where no training question had them, and what a 0.3.0 checkpoint cannot tell."""

import datetime
import os

import pytest

from seqattn.cli import main
from seqattn.data import load_dataset
from seqattn.data.codec import Codec
from seqattn.data.tasks import CASES, DATE_FORMATS, FIRST, LAST, parse_date


@pytest.fixture(scope="module")
def addition_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("add") / "add.npz"
    assert main(["train", "--task", "addition", "--model", "peeky", "--epochs", "1", "--examples", "2000",
                 "--hidden", "16", "--quiet", "--save", str(path)]) == 0
    return path


def test_predict_warns_of_addition_questions_outside_the_task(addition_model, capsys):
    capsys.readouterr()
    assert main(["predict", "--model", str(addition_model), "1000+1", "12 + 34", "12+34"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3  # every input is still answered
    warnings = captured.err.splitlines()
    assert len(warnings) == 2
    assert "'1000+1'" in warnings[0] and "0 to 999" in warnings[0]
    assert "'12 + 34'" in warnings[1] and "'a+b'" in warnings[1]
    assert main(["predict", "--model", str(addition_model), "12+34", "999+999", "0+7"]) == 0
    assert capsys.readouterr().err == ""


def test_dates_outside_the_years_or_formats_are_warned_of():
    codec = load_dataset("date", n=500).codec
    assert codec.task == "date"
    assert codec.input_warnings(["TUESDAY, SEPTEMBER 25, 1984", "2/10/93", "september 27, 1994"]) == []
    [w] = codec.input_warnings(["september 27, 2025"])
    assert "2025-09-27" in w and "1970 to 2020" in w
    [w] = codec.input_warnings(["the 27th of september"])
    assert "none of the date task's formats" in w


def test_the_date_patterns_read_back_every_generated_format():
    day = FIRST
    while day <= LAST:
        for f in DATE_FORMATS:
            for case in CASES:
                assert parse_date(case(f(day))) == day, case(f(day))
        day += datetime.timedelta(days=97)


def test_characters_where_training_had_none_are_warned_of_in_any_book_file():
    codec = load_dataset(lines=["1+2    _3   ", "12+3   _15  ", "5+67   _72  ", "123+4  _127 "]).codec
    assert codec.task is None and codec.positions[0] == "15"
    assert codec.input_warnings(["12+3", "1+2"]) == []
    [w] = codec.input_warnings(["1 + 2"])
    assert "a space at character 2" in w
    [w] = codec.input_warnings(["123+45"])
    assert "'5' at character 6" in w and "the longest training question has 5 characters" in w
    again = Codec.from_meta(codec.to_meta())
    assert again.positions == codec.positions and again.task is None
    assert Codec.from_meta(load_dataset("addition", n=100).codec.to_meta()).task == "addition"


def test_a_0_3_0_checkpoint_knows_no_task_and_warns_of_nothing_new(capsys):
    path = os.path.join(os.path.dirname(__file__), "data", "v0.3.0", "add-peeky.npz")
    assert main(["predict", "--model", path, "1000+1"]) == 0
    assert capsys.readouterr().err == ""
