"""Data-parallel training: the communicator of this process.

``world()`` is one process (``ONE``, where every collective does nothing) unless a launcher
(``mpiexec``, ``srun``, ...) started this process as one of several; then it is MPI through
mpi4py, imported only then, and on the cupy backend NCCL for the device arrays, one device per
rank of a machine. The Trainer takes it: ``Trainer(model, optimizer, comm=world())``.

An exception that escapes any rank of an MPI world ends the whole job (``MPI_Abort`` from the
exception hook), so a dead rank never leaves the others waiting; a rank that waits longer than
``timeout`` for the others, from MPI's start on (a rank that never joined, one that stalled),
ends the job too.
"""

from __future__ import annotations

import sys

from ..install import install_hint
from .comm import ONE, Communicator, DistributedError, PeerError, everywhere, on_every_rank
from .launch import Launch, detect

MODES = ("auto", "off")
DEFAULT_TIMEOUT = 600.0  # seconds a rank may wait for the others before the job is ended

_host = None  # this process's MPI communicator, once made (MPI starts once per process)
_device = None  # its NCCL communicator, once made

__all__ = ["ONE", "Communicator", "DistributedError", "PeerError", "Launch", "detect", "world", "current",
           "everywhere", "on_every_rank", "MODES", "DEFAULT_TIMEOUT"]


def world(mode="auto", timeout=DEFAULT_TIMEOUT, device=True, env=None):
    """This process's communicator. ``mode``: "auto" (MPI when a launcher started several
    processes) or "off" (one process, whatever the launcher). ``timeout``: seconds a rank may
    wait for the others, from MPI's start on, before the job is ended (None: forever). ``device``: on the
    cupy backend, take this rank's GPU and NCCL for device arrays (the command first agrees on the
    backend with ``device=False``)."""
    global _host, _device
    if mode not in MODES:
        raise DistributedError(f"unknown distributed mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "off":
        return ONE
    if _host is None:
        launch = detect(env)
        if launch is None or not launch.several:
            return ONE
        try:
            from .mpi import start

            _host = start(timeout, launch.launcher, launch.rank, launch.size)  # bounded by timeout: see mpi.start
        except ImportError as exc:
            raise everywhere(DistributedError(
                f"{launch.launcher} started this process as rank {launch.rank} of {launch.size or 'several'}, but "
                f"mpi4py cannot be imported ({exc}): {install_hint('mpi')} (or mpi4py built for your MPI), "
                "or run one process with --distributed off")) from None
        if _host.size > 1:
            _abort_on_uncaught_exceptions(_host)
    _host.timeout = timeout
    if _host.size == 1:
        return ONE
    if not device:
        return _host
    from .. import backend

    if backend.get_backend() != "cupy":
        return _host
    if _device is None:
        from .nccl import NcclCommunicator

        _host.agree(lambda: _take_device(_host, backend))
        _device = NcclCommunicator(_host)
    return _device


def current():
    """The communicator ``world`` made in this process, or None before it made one."""
    return _device or _host


def _take_device(host, backend):
    """The GPU of this rank: one per rank of the machine, by its local rank."""
    count = backend.device_count()
    if host.local_size > count:
        raise DistributedError(f"{host.local_size} ranks on this machine but {count} GPU(s): start at most one rank "
                               "per GPU, or train on the CPU with --backend numpy")
    backend.nccl()  # present, before any rank waits for the others in NCCL
    backend.use_device(host.local_rank)


def _abort_on_uncaught_exceptions(comm):
    """An exception that nothing catches prints its traceback, then ends every rank (Python would
    otherwise wait in MPI_Finalize for ranks that wait for this one)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        comm.abort(130 if issubclass(kind, KeyboardInterrupt) else 1)

    sys.excepthook = hook
