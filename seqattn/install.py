"""What to install for an optional feature. The distribution is ``seqattn-dlfs2`` (the name
``seqattn`` on the package index belongs to an unrelated project), so a hint never says
``pip install seqattn[...]``: it names the packages an extra brings, which are what is missing."""

from __future__ import annotations

DISTRIBUTION = "seqattn-dlfs2"

# The extras of pyproject.toml that bring one feature each (tests hold the two together).
EXTRAS = {
    "gpu": ("cupy-cuda12x>=13",),
    "cuda13": ("cupy-cuda13x>=13",),
    "plot": ("matplotlib>=3.5",),
    "progress": ("tqdm>=4.60",),
    "text": ("sentencepiece>=0.1.99", "sacrebleu>=2.3"),
    "tensorboard": ("tensorboardX>=2.5",),
    "mpi": ("mpi4py>=4", "mpich>=4"),
}


def install_hint(extra):
    """``text`` -> "pip install 'sentencepiece>=0.1.99' 'sacrebleu>=2.3' (the [text] extra of seqattn-dlfs2)"."""
    packages = " ".join(f"'{p}'" for p in EXTRAS[extra])
    return f"pip install {packages} (the [{extra}] extra of {DISTRIBUTION})"
