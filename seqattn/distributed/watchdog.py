"""The watchdog of a rank: one daemon thread, from before MPI starts to the end of the process,
that ends the job when this rank has waited for the others longer than its timeout (a rank
stalled, died, or never joined), and that takes Ctrl-C while MPI starts, when the main thread is
inside MPI's start, where Python cannot act on a signal.

Waits are marked by the code that waits (``watch``); the watchdog only reads the mark, so a rank
that waits costs nothing but a wake-up of this thread every second. Nothing here needs MPI:
``end(code)`` is how the job is ended (``os._exit`` of this process until MPI has started, then
``MPI_Abort``, which the launcher turns into the end of every rank).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time

NOTICE = 30  # seconds in MPI's start after which a rank says that it waits, and how the wait ends
FAULT = 1  # the exit status of a job ended by a fault (an error on a rank, a stall, a rank that never joined)
INTERRUPTED = 130  # ... by Ctrl-C


def _exit(code):
    """End this process now (before MPI has started there is no job to abort)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Watchdog:
    """``who``: this rank in words ("rank 1 of 2"); ``timeout``: seconds a rank may wait for the
    others before the job is ended (None: forever); ``end(code)``: ends the job (``os._exit`` by
    default; set to ``MPI_Abort`` once MPI has started)."""

    def __init__(self, who, timeout=None, end=_exit):
        self.who, self.timeout, self.end = who, timeout, end
        self._waiting = None  # (what, why, since) while this rank waits for the others
        self._signals = None  # while the main thread is in MPI's start: the pipe the signals' numbers come on
        self._thread = None
        self._notice = None  # while the main thread is in MPI's start: (seconds, line) to say once if it lasts

    def _run(self):
        while True:
            interval = 1.0 if self.timeout is None else min(1.0, self.timeout / 4)
            if self._signals is not None:
                self._take_signals(interval)
            else:
                time.sleep(interval)
            waiting, notice = self._waiting, self._notice
            if waiting is not None and notice is not None and time.monotonic() - waiting[2] > notice[0]:
                self._notice = None
                self._say(notice[1])
            if waiting is not None and self.timeout is not None and time.monotonic() - waiting[2] > self.timeout:
                what, why, _ = waiting
                self._say(f"waited more than {self.timeout:g} s in {what}: {why}; ending the job (--dist-timeout)")
                self.end(FAULT)

    def _take_signals(self, interval):
        """Wait up to ``interval`` seconds for a signal's number on the pipe that Python's own
        handler writes to, whichever thread the signal reached; Ctrl-C ends the job. The pipe's
        end (its writer closed) is the end of MPI's start."""
        if not select.select([self._signals], [], [], interval)[0]:
            return
        numbers = os.read(self._signals, 64)
        if signal.SIGINT in numbers:
            self._say("was interrupted while the ranks joined; nothing was written")
            self.end(INTERRUPTED)
        if not numbers:
            os.close(self._signals)
            self._signals = None

    def _say(self, message):
        print(f"seqattn: {self.who} {message}", file=sys.stderr, flush=True)

    def _ensure_running(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="seqattn-watchdog", daemon=True)
            self._thread.start()

    @contextlib.contextmanager
    def watch(self, what, why="another rank stalled or died"):
        """A block in which this rank waits for the others: when it lasts more than ``timeout``
        seconds (since the block began, or since the last ``alive()``), the job is ended with a
        line that says ``what`` was waited for and ``why`` that is a fault. A block inside another
        is the outer one's."""
        if self._waiting is not None:
            yield
            return
        self._ensure_running()
        self._waiting = (what, why, time.monotonic())
        try:
            yield
        finally:
            self._waiting = None

    def alive(self):
        """The others were heard from: the watched wait starts again from now."""
        waiting = self._waiting
        if waiting is not None:
            self._waiting = (waiting[0], waiting[1], time.monotonic())

    @contextlib.contextmanager
    def starting(self, what, why):
        """A watched block around MPI's start, where the main thread runs no Python, so that
        Python cannot act on Ctrl-C: this thread takes it there and ends the job (where the block
        is on the main thread; elsewhere it is only watched). A wait there of more than ``NOTICE``
        seconds (where the timeout is longer) is said once, with ``why`` and how it ends, so that a
        job whose rank ended before it joined is not silent until the timeout."""
        writer = previous = None
        if threading.current_thread() is threading.main_thread() and self._signals is None:
            self._signals, writer = os.pipe()
            os.set_blocking(writer, False)
            previous = signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        if self.timeout is None or self.timeout > NOTICE:
            ends = "never ends by itself" if self.timeout is None else f"ends after --dist-timeout ({self.timeout:g} s)"
            self._notice = (NOTICE, f"has waited {NOTICE:g} s in {what}: maybe {why}. The job {ends}; Ctrl-C ends it now")
        try:
            with self.watch(what, why):
                yield
        finally:
            self._notice = None
            if writer is not None:
                signal.set_wakeup_fd(previous)
                os.close(writer)  # the end of the pipe: this thread stops reading it
