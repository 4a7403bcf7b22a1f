"""What a new user installs: this project under a name of its own, with its license and metadata,
and install commands that fetch nothing that is not ours."""

import os
import re

import pytest

from seqattn.install import DISTRIBUTION, EXTRAS, install_hint

tomllib = pytest.importorskip("tomllib")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def _project():
    return tomllib.loads(_read("pyproject.toml"))["project"]


def test_the_distribution_has_a_name_of_its_own_and_its_metadata():
    project = _project()
    assert project["name"] == DISTRIBUTION and project["name"] != "seqattn"  # "seqattn" on the index is another project
    assert project["license"] == "MIT" and "MIT License" in _read("LICENSE")
    assert project["urls"] and project["classifiers"] and len(project["description"]) > 40
    assert project["scripts"] == {"seqattn": "seqattn.__main__:main"}


def test_the_install_hints_name_what_each_extra_brings():
    extras = _project()["optional-dependencies"]
    for extra, packages in EXTRAS.items():
        assert tuple(extras[extra]) == packages
        assert f"[{extra}] extra of {DISTRIBUTION}" in install_hint(extra)
        assert not re.search(r"pip install \S*seqattn", install_hint(extra))


# Packages the docs may install that no extra names: pip itself, torch (the benchmarks' peer) and
# NCCL's wheel (for cupy's NCCL, where cupy does not bring it).
PEERS = {"pip", "torch", "nvidia-nccl-cu12"}


def _dependencies():
    """The names of every requirement of the project and its extras."""
    project = _project()
    specs = project["dependencies"] + [r for reqs in project["optional-dependencies"].values() for r in reqs]
    return {re.split(r"[\[<>=~! ;]", r)[0].lower() for r in specs}


# An install argument that is ours: the checkout (".", "./x", with extras), a path to a wheel or
# an option; a bare name is a package from the index.
OURS = re.compile(r"""^['"]?(\.|\./|/|dist/)""")


def _documents():
    """Every file a reader copies install commands from."""
    found = ["README.md", "benchmarks/README.md", ".ci/run"]
    for folder in ("docs", "examples"):
        for base, _, files in os.walk(os.path.join(ROOT, folder)):
            found += sorted(os.path.relpath(os.path.join(base, f), ROOT) for f in files if f.endswith((".md", ".py")))
    return found


@pytest.mark.parametrize("path", _documents())
def test_every_install_command_installs_this_project_or_a_named_dependency(path):
    text = _read(*path.split(os.sep))
    commands = re.findall(r"pip install ([^`\n&|;#]*)", text)
    if path in ("README.md", ".ci/run"):
        assert commands
    for command in commands:
        for arg in command.split():
            if arg.startswith("-") or OURS.match(arg):
                continue
            name = re.split(r"[\[<>=@ ]", arg.strip("'\""))[0].lower()
            assert name not in ("seqattn", DISTRIBUTION), f"{path}: `pip install {command.strip()}` fetches {name} from the index"
            assert name in _dependencies() | PEERS, f"{path}: `pip install {command.strip()}` installs {name}, not a dependency"


def test_the_readme_starts_with_the_two_commands():
    text = _read("README.md")
    first = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [ln for ln in first.splitlines() if ln and not ln.startswith("#")]
    assert len(commands) == 2
    assert "pip install '.[all]'" in commands[0] and "seqattn train --task" in commands[0]
    assert "pip install '.[test]'" in commands[1] and "pytest" in commands[1]


def test_the_readmes_trainings_run_as_written_one_after_another():
    """Followed top to bottom, no `seqattn train` of the README is refused for a checkpoint that an
    earlier one wrote (a new run needs a --save of its own), and a resume's comment says how many
    epochs it adds to the run it continues."""
    import shlex

    from seqattn.options import recipe

    written = {}  # checkpoint -> the epoch its run ends at
    for block in re.findall(r"```bash\n(.*?)```", _read("README.md"), re.S):
        for line in block.splitlines():
            found = re.search(r"seqattn train (.*?)(?:#(.*))?$", line)
            if not found or "..." in line:
                continue
            words = shlex.split(found.group(1))
            flags = {w: words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("--") else True
                     for i, w in enumerate(words) if w.startswith("--")}
            if "--resume" in flags:
                start = written[flags["--resume"]]
                more = {"one": 1, "two": 2, "three": 3}[re.search(r"(\w+) more epochs?", found.group(2)).group(1)]
                assert int(flags["--epochs"]) - start == more, line
                continue
            name = flags.get("--task") or os.path.splitext(os.path.basename(flags["--data"]))[0]
            model = flags.get("--model", "attention")
            save = flags.get("--save", f"runs/{name}-{model}.npz")
            assert save not in written or "--force" in flags, f"{line}: {save} was written by an earlier command"
            written[save] = int(flags.get("--epochs", recipe(model, flags.get("--task")).epochs))
