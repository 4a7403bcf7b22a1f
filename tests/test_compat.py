"""Checkpoints written by seqattn 0.3.0 load and predict exactly as they did then.

``tests/data/v0.3.0`` holds one small checkpoint per model and text format, written by the 0.3.0
command, with what ``seqattn predict`` printed for them (greedy and beam 3), the ids greedy search
gave, and the loss of a teacher-forced pass over those ids."""

import json
import os

import numpy as np
import pytest

from seqattn import cli
from seqattn.models import load

HERE = os.path.join(os.path.dirname(__file__), "data", "v0.3.0")
EXPECTED = json.load(open(os.path.join(HERE, "expected.json"), encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_0_3_0_checkpoint_predicts_as_it_did(name, capsys):
    want = EXPECTED[name]
    if "subword" in name:
        pytest.importorskip("sentencepiece")
    path = os.path.join(HERE, name)
    for beam, lines in want["predict"].items():
        assert cli.main(["predict", "--model", path, "--beam", beam, *want["inputs"]]) == 0
        assert capsys.readouterr().out.splitlines() == lines
    ck = load(path)
    model, codec = ck.model, ck.codec
    x = codec.encode_sources(want["inputs"])
    ys = model.generate(x, codec.start_id, codec.sample_size, stop_id=codec.stop_id)
    assert ys.tolist() == want["generated"]
    ts = np.concatenate([np.full((len(ys), 1), codec.start_id), ys], axis=1)
    model.set_train(False)
    assert float(model.forward(x, ts)) == pytest.approx(want["loss"], rel=1e-6)
