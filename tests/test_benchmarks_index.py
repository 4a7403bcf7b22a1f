"""benchmarks/results/README.md is generated from the JSON files: every file, its machine, what
each ratio means, and shapes by name."""

import glob
import json
import os
import re

from benchmarks import index


def test_the_index_is_generated_and_up_to_date():
    with open(os.path.join(index.RESULTS, "README.md"), encoding="utf-8") as f:
        assert f.read() == index.build(), "run python -m benchmarks.index"


def test_the_index_names_every_file_its_machine_and_what_ratios_mean():
    text = index.build()
    for path in glob.glob(os.path.join(index.RESULTS, "*.json")):
        assert f"| [{os.path.basename(path)}]" in text
    assert "**Lower is faster**" in text and "**Higher is faster**" in text
    assert not re.search(r"\| \[\d+(, \d+)*\] \|", text)  # no bare list for a shape
    assert "| N=128 T=29 D=16 H=256 |" in text


def test_every_case_of_the_results_has_named_sizes():
    for path in glob.glob(os.path.join(index.RESULTS, "*.json")):
        with open(path, encoding="utf-8") as f:
            for row in (r for r in json.load(f).get("rows", []) if "shape" in r):
                named = index.named_shape(row["case"], row["shape"])
                assert not any(k.startswith("d") and k[1:].isdigit() for k in named), (path, row["case"])
    assert index.named_shape("attention-dot", [128, 29, 11, 256]) == {"N": 128, "Te": 29, "Td": 11, "H": 256}
    assert index.named_shape("lstm", {"N": 1}) == {"N": 1}
