"""Whether a launcher started this process as one of several, read from the environment it sets,
without starting MPI: a plain run must not import mpi4py."""

from __future__ import annotations

import os
from dataclasses import dataclass

# (launcher, rank, size, local rank, local size): the variables each launcher sets in every
# process it starts. Open MPI and MVAPICH come before the PMI names, which they may also set;
# a variable of None is one the launcher does not set (MPI tells it once started).
LAUNCHERS = (
    ("Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"),
    ("MVAPICH", "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"),
    ("MPICH or Intel MPI (Hydra)", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
    ("PMIx", "PMIX_RANK", None, None, None),
    ("Slurm (srun)", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", None),
)


@dataclass(frozen=True)
class Launch:
    """What the launcher says: its name, this process's rank, the number of processes (None when
    the launcher does not say), and the rank and count on this machine (None when not said)."""

    launcher: str
    rank: int
    size: int | None
    local_rank: int | None
    local_size: int | None

    @property
    def several(self):
        """Whether to start MPI: more than one process, or a launcher that does not say how many."""
        return self.size is None or self.size > 1


def _int(env, name):
    try:
        return int(env[name]) if name and env.get(name, "").strip() else None
    except ValueError:
        return None


def detect(env=None):
    """The Launch of this process, or None when no known launcher started it."""
    env = os.environ if env is None else env
    for name, rank, size, local_rank, local_size in LAUNCHERS:
        r = _int(env, rank)
        if r is None:
            continue
        if name.startswith("Slurm") and size not in env:  # a batch script's own shell, not an srun step
            continue
        return Launch(name, r, _int(env, size), _int(env, local_rank), _int(env, local_size))
    return None
