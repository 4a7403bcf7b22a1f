"""Whether the ids a body sees were checked where they entered: then no body reads them back to
check them again (on cupy that read would make every step wait for the GPU)."""

from __future__ import annotations

import contextlib
import contextvars

_trusted = contextvars.ContextVar("seqattn_trusted_ids", default=False)  # True inside trusted_ids()


@contextlib.contextmanager
def trusted_ids():
    """Inside the block the embeddings trust their ids to be in range (they were checked where
    they entered), so that no body reads them back to check: on cupy that read would make every
    step wait for the GPU. Numpy checks anyway; it costs nothing there."""
    token = _trusted.set(True)
    try:
        yield
    finally:
        _trusted.reset(token)


def ids_trusted():
    """True inside ``trusted_ids()``: the bodies may skip reading ids back to check them."""
    return _trusted.get()
