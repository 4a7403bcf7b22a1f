"""seqattn: the seq2seq models of "Deep Learning from Scratch 2" (chapters 7-8) as a library."""

__version__ = "0.3.0"

from .backend import get_backend, get_xp, gpu_available, set_backend, to_device, to_numpy, use_backend

__all__ = ["__version__", "get_backend", "get_xp", "gpu_available", "set_backend", "to_device", "to_numpy", "use_backend"]
