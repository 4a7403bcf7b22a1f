"""BLAS threads, chosen rather than inherited.

OpenBLAS starts one thread per core and splits every matrix product evenly among them, so a
product waits for its slowest thread. When another program holds one of the cores, that thread
runs only when the scheduler gives it a slice, and every product waits for it: on 2 cores with
one other busy program, the README's main job took 14 min 45 s at OpenBLAS's default of 2 threads
against 1 min 42 s at one thread. So the default leaves one core to whatever else runs, and
shares the rest among the processes of this machine: ``max(1, (cores - 1) // processes)``.

The choice, first found first: ``--threads`` (``choose(threads)``), ``SEQATTN_THREADS``, the
BLAS's own variables (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ...: a choice made for this
run, left as it is), the default. ``auto`` anywhere means the default. A count is a whole number
from 1 to ``most_threads()``, four a core (more never runs faster), read the same way from the
flag and the variable. Threads are set through threadpoolctl, which reaches the BLAS that numpy
loaded, whenever it is called; what is reported is what the BLAS then has. The command chooses
once, before its work; in library use the Trainer does (``apply_default``).
"""

from __future__ import annotations

import os
import re

from .errors import OptionError, quoted

VARIABLE = "SEQATTN_THREADS"
BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
_set = False  # whether this process has set its threads (the command, or the environment once)


def cores():
    """The cores this process may run on (its CPU affinity, which taskset, cgroups and batch
    systems set), else all of the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def default_threads(processes=1, n_cores=None):
    """One core left free, the rest shared among this machine's ``processes``; at least 1."""
    n_cores = cores() if n_cores is None else n_cores
    return max(1, (n_cores - 1) // max(processes, 1))


def most_threads(n_cores=None):
    """The most BLAS threads a process may ask for: four a core."""
    return 4 * (cores() if n_cores is None else n_cores)


def parse(value, key="<threads>"):
    """``auto`` (None), or a count from 1 to ``most_threads()`` written in decimal digits (as the
    flag and the variable both take it); ``key`` names the option (or variable) in errors."""
    text = str(value).strip()
    if value is None or text.lower() == "auto":
        return None
    most = most_threads()
    if not re.fullmatch(r"[0-9]{1,6}", text) or not 1 <= int(text) <= most:
        raise OptionError(f"{key} takes a whole number of threads from 1 to {most} (four a core of this machine's "
                          f"{cores()}), or auto; got {quoted(value)}")
    return int(text)


def choose(threads=None, processes=1, env=None):
    """The BLAS threads for this process -> (count or None to leave the BLAS as its variables set
    it, where the choice came from)."""
    env = os.environ if env is None else env
    if threads is not None and str(threads).strip().lower() != "auto":
        return parse(threads), "--threads"
    if threads is None and env.get(VARIABLE, "").strip():  # set but empty: as if unset
        n = parse(env[VARIABLE], VARIABLE)
        if n is not None:
            return n, VARIABLE
    elif threads is None:
        given = [v for v in BLAS_VARIABLES if env.get(v)]
        if given:
            return None, given[0]
    return default_threads(processes), "default"


def set_threads(n):
    """Limit the BLAS that numpy loaded to ``n`` threads (for the rest of the process) -> the
    threads it now has, or None where threadpoolctl is missing."""
    global _set
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a core dependency; absent only after an install without dependencies
        return None
    import numpy  # noqa: F401 - loads the BLAS that the limit is for

    threadpool_limits(limits=int(n), user_api="blas")
    _set = True
    return blas_threads() or int(n)  # what the BLAS took (it may cap a count at its own most)


def blas_threads():
    """The threads of the BLAS that numpy loaded (the largest, if several), or None if unknown."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    import numpy  # noqa: F401

    counts = [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return max(counts) if counts else None


def oversubscribed(threads, processes=1, n_cores=None):
    """A warning when this machine's ``processes`` times ``threads`` exceed its cores, else None."""
    n_cores = cores() if n_cores is None else n_cores
    if threads is None or processes * threads <= n_cores:
        return None
    who = f"{processes} processes x {threads} BLAS threads" if processes > 1 else f"{threads} BLAS threads"
    fix = "--threads 1" if processes > 1 else f"--threads {max(1, n_cores - 1)}"
    return (f"{who} on {n_cores} cores: every matrix product waits for threads that share a core; "
            f"use {fix}" + (" or fewer ranks" if processes > 1 else ""))


def apply_default(env=None):
    """Set the threads that the command would choose (``SEQATTN_THREADS``, else the BLAS's own
    variables, left as they are, else the default for the processes that a launcher started on
    this machine), once per process (library use: the Trainer calls it) -> the count set, or None
    when nothing was set. A process that chose its threads already is left as it is, and so is a
    BLAS that runs fewer threads than the cores without being told so by a variable: it was
    limited on purpose (threadpoolctl's ``threadpool_limits``, say), where a BLAS starts with one
    thread a core."""
    global _set
    from .distributed.launch import detect

    env = os.environ if env is None else env
    if _set:
        return None
    launch = detect(env)
    n, source = choose(None, launch.local_size if launch and launch.local_size else 1, env)
    _set = True
    if n is None:
        return None
    now = blas_threads() if source == "default" else None
    if now is not None and now < cores():
        return None
    return set_threads(n)
