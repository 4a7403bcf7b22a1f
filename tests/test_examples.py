"""Every example runs in its quick mode, so an example that no longer runs fails the suite, and it
draws the pictures its tutorial page shows (under the same names as in docs/img)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if p.stem != "common")


def test_there_is_an_example_per_tutorial_page():
    pages = sorted(p.stem for p in (ROOT / "docs" / "tutorial").glob("*.md") if p.stem != "index")
    shown = {}
    for page in pages:
        text = (ROOT / "docs" / "tutorial" / f"{page}.md").read_text()
        named = [e for e in EXAMPLES if f"examples/{e}.py" in text]
        assert len(named) == 1, f"docs/tutorial/{page}.md names {named or 'no example'}"
        assert f"docs/tutorial/output/{named[0]}.txt" in text, f"docs/tutorial/{page}.md does not show what it printed"
        shown[named[0]] = page
    assert sorted(shown) == EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_quickly_and_draws_its_pictures(name, tmp_path):
    env = dict(os.environ, SEQATTN_BACKEND="numpy", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    pictures = sorted(tmp_path.glob("*.png"))
    assert pictures, f"{name} drew no picture"
    for picture in pictures:
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (ROOT / "docs" / "img" / picture.name).is_file(), f"{picture.name} is not in docs/img"
