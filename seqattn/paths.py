"""The files a run reads and writes, checked before any work is spent on them: an output that
cannot be written, or that would overwrite what is not ours, is refused at once."""

from __future__ import annotations

import os

from .errors import OptionError


def png(path):
    """A picture's path with the .png that matplotlib would otherwise add silently."""
    return path if os.path.splitext(path)[1] else path + ".png"


def check_writable(path, key):
    """Refuse, before any work, an output path (option ``key``) that cannot be written."""
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise OptionError(f"<{key}> {path!r} is a directory; give a file name")
    parent = os.path.dirname(full)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise OptionError(f"<{key}> {path!r} cannot be written: {parent!r} is a file, not a directory")
    if not os.access(parent, os.W_OK) or (os.path.exists(full) and not os.access(full, os.W_OK)):
        raise OptionError(f"<{key}> {path!r} cannot be written: no permission")


def check_checkpoint_target(path, key, continuing=False, force=False):
    """Never overwrite what is not a seqattn checkpoint, nor a trained checkpoint unasked:
    ``continuing`` (a run resumed from ``path``) or ``force`` allow the latter."""
    from .checkpoint import is_checkpoint

    check_writable(path, key)
    if not os.path.exists(path):
        return
    if not is_checkpoint(path):
        raise OptionError(f"<{key}> {path!r} exists and is not a seqattn checkpoint; refusing to overwrite it: choose another <{key}>")
    if not continuing and not force:
        raise OptionError(f"<{key}> {path!r} already holds a checkpoint: continue it with <resume> {path}, "
                          f"overwrite it with <force>, or choose another <{key}>")


def same_file(a, b):
    """Whether paths ``a`` and ``b`` name one existing file."""
    return a is not None and b is not None and os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
