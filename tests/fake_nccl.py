"""NCCL as the strict cupy stand-in's ``cupy.cuda.nccl``, with ranks as threads of one process.

``NcclCommunicator(size, uid, rank)`` joins the world of ``uid``; ``allReduce`` and ``bcast``
take raw device addresses, as cupy's bindings do, and read and write the stand-in's memory
through them, so a wrong address, count or type gives a wrong sum. Every call is recorded with
its stream. ``ThreadComm`` is the host communicator (MPI's part) of the same threads.
"""

from __future__ import annotations

import ctypes
import itertools
import threading

import numpy as np

from seqattn.distributed.comm import Collective

available = True
NCCL_SUM = 0
NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8
_CTYPES = {NCCL_FLOAT16: (ctypes.c_uint16, np.float16), NCCL_FLOAT32: (ctypes.c_float, np.float32),
           NCCL_FLOAT64: (ctypes.c_double, np.float64)}
_ids = itertools.count(1)


class World:
    """A rendezvous of ``size`` threads: ``exchange(rank, value)`` -> every rank's value."""

    def __init__(self, size):
        self.size, self._slots, self._barrier = size, [None] * size, threading.Barrier(size, timeout=60)

    def exchange(self, rank, value):
        self._slots[rank] = value
        self._barrier.wait()
        out = list(self._slots)
        self._barrier.wait()
        return out


_worlds = {}


def get_unique_id():
    return (next(_ids), 0xC0FFEE)


def _memory(ptr, count, datatype):
    ctype, dtype = _CTYPES[datatype]
    return np.ctypeslib.as_array((ctype * count).from_address(ptr)).view(dtype)


class NcclCommunicator:
    def __init__(self, ndev, uid, rank):
        self.world = _worlds.setdefault(uid, World(ndev))
        self.rank, self.calls = rank, []

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):  # noqa: N802 - cupy's name
        assert op == NCCL_SUM
        self.calls.append(("allReduce", sendbuf, count, datatype, stream))
        values = self.world.exchange(self.rank, _memory(sendbuf, count, datatype).copy())
        _memory(recvbuf, count, datatype)[...] = sum(values[1:], values[0])  # rank order, the same on every rank

    def bcast(self, buff, count, datatype, root, stream):
        self.calls.append(("bcast", buff, count, datatype, stream))
        values = self.world.exchange(self.rank, _memory(buff, count, datatype).copy())
        _memory(buff, count, datatype)[...] = values[root]

    def abort(self):
        self.calls.append(("abort",))


class ThreadComm(Collective):
    """The host side of rank ``rank`` of a World of threads."""

    def __init__(self, world, rank):
        self.world, self.rank, self.size = world, rank, world.size
        self.local_rank, self.local_size = rank, world.size

    def bcast(self, obj, root=0):
        return self.world.exchange(self.rank, obj)[root]

    def gather(self, obj, root=0):
        got = self.world.exchange(self.rank, obj)
        return got if self.rank == root else None

    def allgather(self, obj):
        return self.world.exchange(self.rank, obj)

    def sum(self, value):
        got = self.world.exchange(self.rank, value)
        return sum(got[1:], got[0])

    def allreduce(self, array):
        array[...] = self.sum(array.copy())
        return array

    def bcast_array(self, array, root=0):
        array[...] = self.bcast(array.copy(), root)
        return array


def run_ranks(size, work):
    """``work(rank)`` on ``size`` threads at once -> their results in rank order (an error in any
    is raised here)."""
    results, errors = [None] * size, []

    def run(rank):
        try:
            results[rank] = work(rank)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return results
