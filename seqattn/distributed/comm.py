"""The communicator: what the ranks of a data-parallel job do together. ``Communicator`` itself
is one process (rank 0 of 1), where every collective is the identity; ``mpi.MpiCommunicator``
and ``nccl.NcclCommunicator`` are several.

Errors: a collective that fails on one rank must end every rank the same way, never leave the
others waiting. ``share`` and ``agree`` do that for setup (each rank raises, the others a
``PeerError``, every one marked ``on_every_rank``, so that rank 0 alone reports it and all exit
normally); anything else that escapes one rank ends the job through ``abort``.
"""

from __future__ import annotations

import contextlib


class DistributedError(RuntimeError):
    """Data-parallel training cannot start or go on (no mpi4py, no device, a failed peer)."""


class PeerError(DistributedError):
    """Another rank failed in a collective this rank took part in."""


def everywhere(exc):
    """Mark ``exc`` as raised on every rank at the same point (so rank 0 alone reports it and no
    rank needs to abort the others) -> ``exc``."""
    exc.on_every_rank = True
    return exc


def on_every_rank(exc):
    """True when ``exc`` was marked by ``everywhere``: raised on every rank at the same point."""
    return getattr(exc, "on_every_rank", False)


class Communicator:
    """One process: rank 0 of 1. The interface of every communicator:

    - ``rank``, ``size``, ``local_rank``, ``local_size`` (on this machine), ``root`` (rank 0);
    - ``allreduce(array)``: sum over the ranks, in place, on the array's device (the packed
      gradient buffer, one call per step); ``bcast_array(array, root)``: root's values, in place;
    - ``bcast(obj)``, ``gather(obj)`` (a list on the root, None elsewhere), ``allgather(obj)``,
      ``sum(number)`` (the same total on every rank): Python objects, through the host;
    - ``share(make)``: the root makes something (reads a file, fits a codec), every rank gets it;
    - ``agree(check)``: every rank runs ``check``, and all fail if one does;
    - ``part(n)``: this rank's contiguous part of ``n`` items;
    - ``watch(what)``: a block in which waiting longer than ``timeout`` seconds for the other
      ranks ends the job; ``abort(code)``: end every rank now.
    """

    rank, size, local_rank, local_size = 0, 1, 0, 1
    timeout = None
    name = "one process"

    @property
    def root(self):
        """True on rank 0, the rank that reads, reports and writes."""
        return self.rank == 0

    def allreduce(self, array):
        """Sum ``array`` over the ranks, in place, on its device -> ``array``."""
        return array

    def allreduce_grads(self, grads):
        """Sum a model's gradients over the ranks: one call on the packed buffer."""
        from ..packed import flat

        for g in flat(grads):
            self.allreduce(g)

    def bcast_array(self, array, root=0):
        """``root``'s values of ``array`` on every rank, in place -> ``array``."""
        return array

    def bcast(self, obj, root=0):
        """``root``'s Python object ``obj`` on every rank -> it."""
        return obj

    def gather(self, obj, root=0):
        """Every rank's ``obj``, in rank order, as a list on ``root`` (None elsewhere)."""
        return [obj]

    def allgather(self, obj):
        """Every rank's ``obj``, in rank order, as a list on every rank."""
        return [obj]

    def sum(self, value):
        """The sum of ``value`` (a number) over the ranks, the same on every rank."""
        return value

    def share(self, make, root=0):
        """``make()`` run on ``root`` alone and its result on every rank; if it fails, every
        rank raises (the others a PeerError)."""
        return make()

    def agree(self, check):
        """``check()`` run on every rank -> its result; if it fails on any rank, every rank
        raises (the others a PeerError)."""
        return check()

    def part(self, n):
        """Slice of this rank's part of ``n`` items: ``size`` contiguous parts differing by at
        most one item, in rank order."""
        q, r = divmod(n, self.size)
        start = self.rank * q + min(self.rank, r)
        return slice(start, start + q + (self.rank < r))

    def watch(self, what):
        """A block in which waiting longer than ``timeout`` seconds for the other ranks ends
        the job (``what`` names the wait in the message)."""
        return contextlib.nullcontext()

    def abort(self, code=1):
        """End every rank now with exit status ``code`` (one process: SystemExit)."""
        raise SystemExit(code)


ONE = Communicator()


class Collective(Communicator):
    """What several ranks share whatever carries their messages: ``share`` and ``agree`` over
    ``bcast`` and ``gather``."""

    def share(self, make, root=0):
        if self.rank == root:
            try:
                value = make()
            except BaseException as exc:
                self.bcast(("failed", _describe(exc)), root)
                raise everywhere(exc)
            self.bcast(("ok", value), root)
            return value
        status, value = self.bcast(None, root)
        if status == "failed":
            raise everywhere(PeerError(f"rank {root} of {self.size}: {value}"))
        return value

    def agree(self, check):
        failed, result = None, None
        try:
            result = check()
        except Exception as exc:
            failed = exc
        errors = self.allgather(None if failed is None else _describe(failed))
        if failed is not None:
            raise everywhere(failed)
        first = next(((r, e) for r, e in enumerate(errors) if e is not None), None)
        if first is not None:
            raise everywhere(PeerError(f"rank {first[0]} of {self.size}: {first[1]}"))
        return result


def _describe(exc):
    """One line for an error of another rank."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename or 'a file'})"
    return str(exc) or type(exc).__name__
