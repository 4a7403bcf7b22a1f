"""The documentation: every public name and method has a docstring, the reference covers every
module, and the pictures are small and shown. (``mkdocs build --strict`` fails on the same
missing docstrings, through the hook in docs/hooks/api_coverage.py, and on broken links.)"""

import importlib.util
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_spec = importlib.util.spec_from_file_location("api_coverage", DOCS / "hooks" / "api_coverage.py")
api_coverage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api_coverage)


def test_every_public_name_and_method_has_a_docstring():
    assert api_coverage.missing_docstrings() == []


def test_a_missing_docstring_is_found(monkeypatch):
    from seqattn.layers import TimeLSTM
    from seqattn.layers.recurrent import TimeRecurrent
    from seqattn.trainer import Trainer

    monkeypatch.setattr(Trainer.fit, "__doc__", None)
    monkeypatch.setattr(TimeRecurrent.reset_state, "__doc__", "")  # inherited by TimeLSTM
    monkeypatch.setattr(TimeLSTM, "__doc__", None)
    missing = set(api_coverage.missing_docstrings())
    assert {"seqattn.trainer.Trainer.fit", "seqattn.layers.recurrent.TimeRecurrent.reset_state",
            "seqattn.layers.lstm.TimeLSTM"} <= missing


def test_every_module_is_in_the_reference_or_said_to_be_internal():
    assert api_coverage.unlisted_modules() == []
    shown = set()
    for page in (DOCS / "reference").glob("*.md"):
        shown |= set(re.findall(r"^::: (\S+)", page.read_text(), flags=re.M))
    assert shown == set(api_coverage.PUBLIC) - {"seqattn"}  # seqattn's own names are the backend's


def test_pictures_are_small_and_every_one_is_shown():
    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    shown = set(re.findall(r"img/([\w.-]+\.png)", pages))
    stored = {p.name for p in (DOCS / "img").glob("*.png")}
    assert shown == stored
    for name in stored:
        assert (DOCS / "img" / name).stat().st_size < 80_000, name
