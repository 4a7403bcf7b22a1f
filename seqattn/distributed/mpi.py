"""Several processes through MPI (mpi4py), imported only when a launcher started this process as
one of several. Arrays on the host go through MPI itself; ``nccl.NcclCommunicator`` puts device
arrays on NCCL and everything else here.

No wait for the other ranks is unbounded. A watchdog (``watchdog.Watchdog``) runs from before MPI
starts: MPI's start waits for every rank, and a rank that exited before it started MPI (a bad
flag, a failed import, ``--distributed off``) is never seen by the launcher as a fault, so a rank
that has not met the others within ``timeout`` seconds ends itself. After that, it ends the job
(``MPI_Abort``, which the launcher turns into the end of every rank) when this rank has waited in
one collective for more than ``timeout`` seconds. ``share`` has no bound on how long the root
takes, but the root says every second that it is alive, and the others, who sleep between looks,
end the job when it has been silent for ``timeout`` seconds. MPI is started with thread support
``multiple`` so that the watchdog may abort, and the root's heartbeat send, while the main thread
works or waits.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

import mpi4py

mpi4py.rc.thread_level = "multiple"  # the watchdog's MPI_Abort and the heartbeat come from threads of their own
mpi4py.rc.initialize = False  # started by ``start``, where the watchdog can run while the ranks meet
mpi4py.rc.finalize = True  # ... and still finalized at exit, as if mpi4py had started it

from .comm import Collective, DistributedError  # noqa: E402
from .watchdog import FAULT, Watchdog  # noqa: E402

MPI = None  # mpi4py.MPI, once ``start`` has loaded it
BEAT = 0x5EA7  # the tag of the root's heartbeats in ``share``
LOOK = 0.05  # seconds a rank waiting in ``share`` sleeps between looks for the root's word
SAID = 0.5  # seconds the launcher is given to pass on what a rank said before it ends the job

__all__ = ["FAULT", "MpiCommunicator", "start"]


def start(timeout=None, launcher="MPI", rank=None, size=None):
    """Start MPI in this process under its watchdog -> the MpiCommunicator of every rank. The
    ranks meet in MPI's start; one that has not met the others within ``timeout`` seconds (one of
    them exited before starting MPI, or runs alone) ends itself with a line that says so, and
    Ctrl-C while it waits ends it too. ``rank`` and ``size``: what the launcher says, for that line."""
    global MPI
    who = f"rank {'?' if rank is None else rank} of {size or 'several'}"
    dog = Watchdog(who, timeout)
    from mpi4py import MPI as loaded  # the library, not started (rc.initialize)

    MPI = loaded
    with dog.starting("the start of MPI", "another rank never joined (one that ended before it started MPI: see "
                      "its message; or one run with --distributed off)"):
        if not MPI.Is_initialized() and not _init_without_the_gil():
            MPI.Init_thread(MPI.THREAD_MULTIPLE)  # where MPI's own function cannot be found: unwatched
        comm = MpiCommunicator(watchdog=dog, launcher=launcher)  # its first collective, still watched as the start
    return comm


def _init_without_the_gil():
    """``MPI_Init_thread(MPI_THREAD_MULTIPLE)``, where every rank meets, called through ctypes,
    which lets go of Python's lock while it waits (mpi4py's own start holds it, so no other
    thread, the watchdog included, could run) -> False where the function cannot be found."""
    import ctypes

    try:
        init = ctypes.CDLL(MPI.__file__).MPI_Init_thread  # found in the MPI library mpi4py is linked to
    except (OSError, AttributeError):
        return False
    init.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    init.restype = ctypes.c_int
    provided = ctypes.c_int()
    if init(None, None, MPI.THREAD_MULTIPLE, ctypes.byref(provided)) != 0:  # MPI_SUCCESS
        raise DistributedError("MPI could not start (MPI_Init_thread failed)")
    return True


class MpiCommunicator(Collective):
    """The ranks of ``comm`` (MPI_COMM_WORLD by default), after ``start``; ``watchdog``: this
    rank's (a new one if None), whose ``timeout`` is the seconds a rank may wait in a watched
    collective before the job is ended (None: forever)."""

    def __init__(self, comm=None, timeout=None, launcher="MPI", watchdog=None):
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.dog = watchdog or Watchdog(f"rank {self.rank} of {self.size}", timeout)
        self.dog.who, self.dog.end = f"rank {self.rank} of {self.size}", self.abort
        with self.watch("joining the other ranks"):
            local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)  # the ranks on this machine
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self.name = f"{self.size} ranks ({launcher})"

    @property
    def timeout(self):
        """Seconds a rank may wait for the others before the job is ended (None: forever)."""
        return self.dog.timeout

    @timeout.setter
    def timeout(self, seconds):
        self.dog.timeout = seconds

    # ------------------------------------------------------------------------------- arrays
    def allreduce(self, array):
        with self.watch("the gradient all-reduce"):
            self.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
        return array

    def bcast_array(self, array, root=0):
        with self.watch("the broadcast of the weights"):
            self.comm.Bcast(array, root=root)
        return array

    # ------------------------------------------------------------------------------ objects
    def bcast(self, obj, root=0):
        with self.watch("a broadcast"):
            return self.comm.bcast(obj, root=root)

    def gather(self, obj, root=0):
        with self.watch("a gather"):
            return self.comm.gather(obj, root=root)

    def allgather(self, obj):
        with self.watch("a gather"):
            return self.comm.allgather(obj)

    def sum(self, value):
        """Summed on rank 0 and sent from there, so that every rank has the same bits."""
        with self.watch("a sum"):
            return self.comm.bcast(self.comm.reduce(value, op=MPI.SUM, root=0), root=0)

    def share(self, make, root=0):
        """As ``Collective.share``, with no bound on how long the root takes to make it (read a
        corpus, fit a subword model), but on how long it may be silent: the root's heartbeat says
        every second that it is alive, and the others, sleeping between looks, end the job when
        it has said nothing for ``timeout`` seconds."""
        if self.rank != root:
            self._wait_for(root)
            return super().share(make, root)

        def made():
            with self._heartbeat(root):
                return make()

        return super().share(made, root)

    @contextlib.contextmanager
    def _heartbeat(self, root):
        """The root's block of work: a thread sends "alive" to every other rank every second, and
        "done" (after the last "alive": messages of one sender and tag keep their order) when the
        block ends, however it ends."""
        others = [r for r in range(self.size) if r != root]
        stop, sent = threading.Event(), []

        def beat():
            while not stop.wait(min(1.0, self.timeout / 4) if self.timeout else 1.0):
                sent.extend(self.comm.isend("alive", dest=r, tag=BEAT) for r in others)

        thread = threading.Thread(target=beat, name="seqattn-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            sent.extend(self.comm.isend("done", dest=r, tag=BEAT) for r in others)
            with self.watch("sending word to the other ranks"):
                MPI.Request.waitall(sent)

    def _wait_for(self, root):
        """Wait, sleeping between looks, until the root says "done"; each "alive" restarts the
        watchdog's count."""
        with self.watch(f"rank {root}'s preparation of the run", f"rank {root} stopped answering (it stalled or died)"):
            while True:
                if self.comm.iprobe(source=root, tag=BEAT):
                    if self.comm.recv(source=root, tag=BEAT) == "done":
                        return
                    self.dog.alive()
                else:
                    time.sleep(LOOK)

    # ------------------------------------------------------------------------------- faults
    def watch(self, what, why="another rank stalled or died"):
        return self.dog.watch(what, why)

    def abort(self, code=FAULT):
        """End every rank of the job now, with exit status ``code``. What this rank said first
        reaches the user: the launcher ends every process as soon as it hears of the abort, and
        drops what it has not yet read from their pipes (MPICH's hydra lost the line that said why
        about one time in five on a busy machine), so the launcher is given ``SAID`` seconds to
        read it."""
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(SAID)
        self.comm.Abort(code)
