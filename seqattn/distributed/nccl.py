"""Several GPUs: device arrays through NCCL, by cupy's own bindings (reached through
``seqattn.backend``, the one module that imports cupy), one device per rank of a machine.

NCCL's unique id is made on rank 0 and sent over MPI. A step's all-reduce of the packed gradient
buffer is queued on the current stream, behind the backward pass that wrote it and ahead of the
clipping that reads it, so nothing in a step waits on the host. Python objects, numbers, the
watchdog and aborting go through the host communicator (MPI).
"""

from __future__ import annotations

import numpy as np

from .. import backend
from .comm import Collective


class NcclCommunicator(Collective):
    """NCCL for device arrays over the ranks of ``host`` (an MpiCommunicator), whose local rank
    has already chosen its device (``device_world``)."""

    def __init__(self, host):
        self.host = host
        self.rank, self.size, self.local_rank, self.local_size = host.rank, host.size, host.local_rank, host.local_size
        self.name = f"{host.name} with NCCL"
        nccl = backend.nccl()
        uid = host.share(nccl.get_unique_id)
        with host.watch("joining NCCL"):
            self._nccl = nccl.NcclCommunicator(host.size, uid, host.rank)
        self._types = {np.dtype(k): getattr(nccl, v) for k, v in
                       (("float16", "NCCL_FLOAT16"), ("float32", "NCCL_FLOAT32"), ("float64", "NCCL_FLOAT64"))}
        self._sum = nccl.NCCL_SUM

    @property
    def timeout(self):
        return self.host.timeout

    def _type(self, array):
        if not array.flags.c_contiguous or np.dtype(array.dtype) not in self._types:
            raise TypeError(f"NCCL takes contiguous float arrays here, got {array.dtype} of shape {array.shape}")
        return self._types[np.dtype(array.dtype)]

    def allreduce(self, array):
        """Sum over the ranks in place, queued on the current stream (no wait on the host)."""
        if not backend.is_cupy_array(array):
            return self.host.allreduce(array)
        ptr = array.data.ptr
        self._nccl.allReduce(ptr, ptr, array.size, self._type(array), self._sum, backend.current_stream())
        return array

    def bcast_array(self, array, root=0):
        if not backend.is_cupy_array(array):
            return self.host.bcast_array(array, root)
        self._nccl.bcast(array.data.ptr, array.size, self._type(array), root, backend.current_stream())
        return array

    def bcast(self, obj, root=0):
        return self.host.bcast(obj, root)

    def gather(self, obj, root=0):
        return self.host.gather(obj, root)

    def allgather(self, obj):
        return self.host.allgather(obj)

    def sum(self, value):
        return self.host.sum(value)

    def share(self, make, root=0):
        return self.host.share(make, root)

    def watch(self, what):
        return self.host.watch(what)

    def abort(self, code=1):
        self.host.abort(code)
