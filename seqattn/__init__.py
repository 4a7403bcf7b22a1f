"""seqattn: the seq2seq models of "Deep Learning from Scratch 2" (chapters 7-8) as a library.

The backend's functions are imported from ``seqattn.backend`` when first asked for, so that
``import seqattn`` (and the command's front door) loads nothing heavy."""

__version__ = "0.4.0"

__all__ = ["__version__", "get_backend", "get_xp", "gpu_available", "set_backend", "to_device", "to_numpy", "use_backend"]


def __getattr__(name):
    if name in __all__:
        from . import backend

        return getattr(backend, name)
    raise AttributeError(f"module 'seqattn' has no attribute {name!r}")
