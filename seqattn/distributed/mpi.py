"""Several processes through MPI (mpi4py), imported only when a launcher started this process as
one of several. Arrays on the host go through MPI itself; ``nccl.NcclCommunicator`` puts device
arrays on NCCL and everything else here.

The watchdog: a daemon thread that ends the job (``MPI_Abort``, which the launcher turns into
the end of every rank) when this rank has waited in one collective for more than ``timeout``
seconds, that is when another rank stalled or died without ending the job itself. MPI is started
with thread support ``multiple`` so that the thread may abort while the main thread waits in MPI.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

import mpi4py

mpi4py.rc.thread_level = "multiple"  # the watchdog's MPI_Abort comes from a thread of its own

from mpi4py import MPI  # noqa: E402 - after the thread level is set

from .comm import Collective  # noqa: E402

FAULT = 1  # the exit status of a job ended by a fault (an error on a rank, a stall)


class MpiCommunicator(Collective):
    """The ranks of ``comm`` (MPI_COMM_WORLD by default); ``timeout``: seconds a rank may wait in
    a watched collective before the watchdog ends the job (None: forever)."""

    def __init__(self, comm=None, timeout=None, launcher="MPI"):
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)  # the ranks on this machine
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self.timeout, self.name = timeout, f"{self.size} ranks ({launcher})"
        self._waiting = None  # (what, since) while in a watched collective
        self._dog = None

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
        """As ``Collective.share``, without a time limit: the root may take long to make it (read
        a corpus, fit a subword model) while the others wait."""
        with self.unwatched():
            return super().share(make, root)

    # ------------------------------------------------------------------------------- faults
    @contextlib.contextmanager
    def watch(self, what):
        if self.timeout is None or self._waiting is not None:  # unwatched, or inside a watched block
            yield
            return
        if self._dog is None:
            self._dog = threading.Thread(target=self._watchdog, name="seqattn-watchdog", daemon=True)
            self._dog.start()
        self._waiting = (what, time.monotonic())
        try:
            yield
        finally:
            self._waiting = None

    @contextlib.contextmanager
    def unwatched(self):
        saved, self._waiting = self._waiting, ("", float("inf"))  # read as "inside a block", never late
        try:
            yield
        finally:
            self._waiting = saved

    def _watchdog(self):
        while True:
            time.sleep(min(1.0, self.timeout / 4))
            waiting = self._waiting
            if waiting is not None and time.monotonic() - waiting[1] > self.timeout:
                print(f"seqattn: rank {self.rank} of {self.size} waited more than {self.timeout:g} s in {waiting[0]}: "
                      "another rank stalled or died; ending the job (--dist-timeout)", file=sys.stderr, flush=True)
                self.abort(FAULT)

    def abort(self, code=FAULT):
        """End every rank of the job now, with exit status ``code``."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(code)
