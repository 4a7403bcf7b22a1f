"""What each rank runs in tests/test_distributed.py, under ``mpiexec``, and the data and model the
tests also train in one process.

    python tests/mpi_worker.py equal OUT          two ranks train on token-weighted shares, then
                                                  on per-rank means; each rank saves its weights
    python tests/mpi_worker.py raise|stall|nan ARGS...   rank 1 fails in the way named, inside
                                                  ``seqattn train ARGS...``
    python tests/mpi_worker.py killed|gone ARGS...  rank 1 is killed (SIGKILL), or exits with status
                                                  0, before it joins; rank 0 runs ``seqattn train``
    python tests/mpi_worker.py slow|stopped ARGS...  rank 0 prepares the run slowly (SLOW seconds),
                                                  or stops itself (SIGSTOP) while it prepares
    python tests/mpi_worker.py interrupt ARGS...  Ctrl-C on rank 0 (or one process) after epoch 1

With SEQATTN_TEST_OUT set, rank 0 writes ``starting`` there when it enters MPI's start, and rank 1
writes ``waiting`` (its pid) when it begins to wait for rank 0's preparation and ``waited`` (the
wall and CPU seconds of that wait) when it ends.
"""

import json
import os
import signal
import sys
import time

import numpy as np

from seqattn.data import load_pairs
from seqattn.models import AttentionSeq2seq
from seqattn.optim import Adam
from seqattn.packed import flat
from seqattn.trainer import Trainer

BATCH = 16
SLOW = 4  # seconds rank 0 takes to prepare a slow run


def _words(n, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("abcdef"), rng.integers(1, 9))) for _ in range(n)]


def pairs():
    """Pairs of different lengths (bucketed, padded) whose last batch of 16 is short (75 = 4 x 16 + 11)."""
    words = _words(75, 0)
    (x, t), _, codec = load_pairs([f"{w}\t{w[::-1]}" for w in words], seed=0, test_ratio=0.0, tokens="char")
    return x, t, codec


def valid(codec):
    """20 other pairs to score, in ``codec``'s ids."""
    words = _words(20, 1)
    return codec.encode_pairs(words, [w[::-1] for w in words])


def model(codec, seed=0, dtype="float64"):
    return AttentionSeq2seq(len(codec.vocab), 8, 16, target_vocab_size=len(codec.target_vocab), pad_id=codec.pad_id,
                            seed=seed, dtype=dtype)


def train(comm, epochs=2):
    """Two epochs of the test model on ``pairs()``, scored on 20 other pairs -> the Trainer."""
    x, t, codec = pairs()
    xv, tv = valid(codec)
    trainer = Trainer(model(codec, seed=comm.rank), Adam(0.01), batch_size=BATCH, max_grad=1.0, progress=True,
                      log=lambda s: None, comm=comm)
    trainer.fit(x, t, epochs, xv, tv, codec.start_id)
    return trainer


def equal(out):
    from seqattn.distributed import world

    comm = world()
    tokens = train(comm)
    np.save(os.path.join(out, f"tokens-{comm.rank}.npy"), flat(tokens.model.params)[0])
    if comm.root:
        with open(os.path.join(out, "history.json"), "w") as f:
            json.dump(tokens.history, f)
    step = Trainer.step
    Trainer.step = lambda self, x, t, weight=1.0: step(self, x, t, 1 / self.comm.size)  # a per-rank mean, planted
    means = train(comm)
    np.save(os.path.join(out, f"means-{comm.rank}.npy"), flat(means.model.params)[0])


def _mark(name, text):
    out = os.environ.get("SEQATTN_TEST_OUT")
    if out:
        with open(os.path.join(out, name), "w") as f:
            f.write(text)


def startup(kind, rank):
    """The faults of a job's start (see the module's text)."""
    from seqattn import runs
    from seqattn.distributed import mpi

    if rank == "1" and kind == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if rank == "1" and kind == "gone":
        sys.exit(0)
    if rank == "0":
        init = mpi._init_without_the_gil

        def marked():
            _mark("starting", "")
            return init()

        mpi._init_without_the_gil = marked
    if rank == "0" and kind in ("slow", "stopped"):
        prepare = runs.prepare

        def slowly(args, say):
            if kind == "stopped":
                os.kill(os.getpid(), signal.SIGSTOP)
            time.sleep(SLOW)
            return prepare(args, say)

        runs.prepare = slowly
    if rank == "1":
        wait = mpi.MpiCommunicator._wait_for

        def timed(self, root):
            _mark("waiting", str(os.getpid()))
            wall, cpu = time.monotonic(), time.process_time()
            wait(self, root)
            _mark("waited", json.dumps([time.monotonic() - wall, time.process_time() - cpu]))

        mpi.MpiCommunicator._wait_for = timed


def _interrupt():
    raise KeyboardInterrupt


def fault(kind, argv):
    """Rank 1 fails as ``kind`` says at its third step (``nan``: its loss, from epoch 2 on), or
    the job's start goes wrong as ``kind`` says (``startup``)."""
    from seqattn.cli import main

    if kind in ("killed", "gone", "slow", "stopped"):
        startup(kind, os.environ.get("PMI_RANK"))
    elif kind == "interrupt" and os.environ.get("PMI_RANK", "0") == "0":
        init = Trainer.__init__

        def interrupted(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self.callbacks.append(lambda trainer, record: _interrupt() if trainer.epoch == 1 else None)

        Trainer.__init__ = interrupted
    elif os.environ.get("PMI_RANK") == "1":
        step, calls = Trainer.step, []

        def failing(self, x, t, weight=1.0):
            calls.append(1)
            if kind == "raise" and len(calls) == 3:
                raise RuntimeError("a failure planted on rank 1")
            if kind == "stall" and len(calls) == 3:
                time.sleep(600)
            loss = step(self, x, t, weight)
            return loss * float("nan") if kind == "nan" and self.epoch >= 1 else loss

        Trainer.step = failing
    return main(argv)


if __name__ == "__main__":
    if sys.argv[1] == "equal":
        equal(sys.argv[2])
    else:
        sys.exit(fault(sys.argv[1], sys.argv[2:]))
