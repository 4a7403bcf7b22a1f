"""Data-parallel training and threads: the launcher's environment, BLAS threads, NCCL on the strict
cupy stand-in (ranks as threads), and under MPICH's mpiexec two ranks against one process,
checkpoints and resuming on other numbers of ranks, and faults that end the job instead of
hanging it. Every MPI launch runs under a hard ``timeout``; the bounds on how long a faulty job
takes to end are generous liveness bounds, not timings."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from seqattn import threads
from seqattn.backend import to_device, to_numpy
from seqattn.distributed import ONE, detect
from seqattn.distributed.comm import PeerError
from seqattn.ops import trusted_ids
from seqattn.optim import Adam
from seqattn.packed import flat
from seqattn.trainer import Trainer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mpi_worker  # noqa: E402 - the worker's data and model, for the one-process runs here

# ------------------------------------------------------------------------- the launcher's word


@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"PMI_RANK": "1", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"},
     ("MPICH or Intel MPI (Hydra)", 1, 4, 1, 2)),
    ({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
      "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "PMIX_RANK": "3"}, ("Open MPI", 3, 8, 1, 2)),
    ({"PMIX_RANK": "0"}, ("PMIx", 0, None, None, None)),
    ({"SLURM_PROCID": "2", "SLURM_STEP_NUM_TASKS": "4", "SLURM_LOCALID": "0"}, ("Slurm (srun)", 2, 4, 0, None)),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}, None),  # a batch script's own shell: one process
    ({"PMI_RANK": "0", "PMI_SIZE": "1"}, ("MPICH or Intel MPI (Hydra)", 0, 1, None, None)),
])
def test_the_launchers_environment_says_whether_this_is_one_of_several(env, expected):
    launch = detect(env)
    assert (launch and (launch.launcher, launch.rank, launch.size, launch.local_rank, launch.local_size)) == expected
    if launch is not None:
        assert launch.several == (launch.size != 1)


def test_one_process_is_rank_0_of_1_and_its_parts_are_everything():
    assert (ONE.rank, ONE.size, ONE.root) == (0, 1, True)
    assert ONE.part(7) == slice(0, 7) and ONE.sum(3.5) == 3.5 and ONE.gather("a") == ["a"]


def test_parts_are_contiguous_near_equal_and_cover_everything():
    class Rank(type(ONE)):
        def __init__(self, rank, size):
            self.rank, self.size = rank, size

    for n in (0, 1, 5, 37):
        for size in (1, 2, 3, 8):
            parts = [range(n)[Rank(r, size).part(n)] for r in range(size)]
            assert [i for p in parts for i in p] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_failure_in_a_shared_or_agreed_step_ends_every_rank_alike():
    """share: rank 0 makes, the others get it or its failure; agree: all fail if one does. Every
    rank raises, marked as met on every rank, so none waits and rank 0 alone reports it."""
    from fake_nccl import ThreadComm, World, run_ranks

    world = World(3)

    def share(rank):
        comm = ThreadComm(world, rank)
        got = comm.share(lambda: {"codec": "fitted"})
        try:
            comm.share(lambda: open("/nonexistent/data.tsv"))
        except (OSError, PeerError) as exc:
            return got, type(exc).__name__, str(exc), exc.on_every_rank

    got = run_ranks(3, share)
    assert [g[0] for g in got] == [{"codec": "fitted"}] * 3
    assert got[0][1] == "FileNotFoundError" and {g[1] for g in got[1:]} == {"PeerError"}
    assert "rank 0 of 3: No such file or directory (/nonexistent/data.tsv)" in got[1][2] and all(g[3] for g in got)

    def agree(rank):
        comm = ThreadComm(world, rank)
        try:
            comm.agree(lambda: 1 / (rank != 2))
        except (ZeroDivisionError, PeerError) as exc:
            return type(exc).__name__, str(exc)

    assert run_ranks(3, agree) == [("PeerError", "rank 2 of 3: division by zero")] * 2 + [("ZeroDivisionError", "division by zero")]


def test_the_watchdog_ends_a_wait_that_hears_nothing_for_the_timeout_and_takes_ctrl_c_in_mpis_start(capsys):
    """A watched wait that lasts longer than the timeout ends the job with a line naming the wait;
    one that hears from the others (``alive``) as often as it needs does not. While MPI starts,
    the main thread runs no Python, so Ctrl-C is taken by the watchdog's thread."""
    from seqattn.distributed.watchdog import FAULT, INTERRUPTED, Watchdog

    ended = []
    dog = Watchdog("rank 1 of 2", timeout=1.0, end=ended.append)  # 10 looks of 0.1 s between alive()s: room for a busy machine
    with dog.watch("rank 0's preparation of the run", "rank 0 stopped answering"):
        for _ in range(16):
            time.sleep(0.1)
            dog.alive()
    assert ended == []
    with dog.watch("the gradient all-reduce"):
        time.sleep(3)
    assert ended and set(ended) == {FAULT}
    assert ("seqattn: rank 1 of 2 waited more than 1 s in the gradient all-reduce: another rank stalled or died; "
            "ending the job (--dist-timeout)") in capsys.readouterr().err

    ended.clear()
    dog = Watchdog("rank 0 of 2", timeout=None, end=ended.append)
    with pytest.raises(KeyboardInterrupt):  # Python's own handling, once the main thread runs Python again
        with dog.starting("the start of MPI", "another rank never joined"):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(2)
    deadline = time.monotonic() + 5
    while not ended and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ended == [INTERRUPTED] and "rank 0 of 2 was interrupted while the ranks joined" in capsys.readouterr().err


def _said(capsys, until, seconds=10):
    """What was written to stderr, read until ``until(text)`` holds or ``seconds`` have passed."""
    err, deadline = "", time.monotonic() + seconds
    while not until(err) and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capsys.readouterr().err
    return err


def test_a_long_wait_in_mpis_start_is_said_once_with_how_it_ends(capsys, monkeypatch):
    """A rank that ended before it joined leaves the others in MPI's start until --dist-timeout (600
    s by default): after NOTICE seconds there they say so once, with the likely cause and the way
    out; not where the timeout comes first, and not in waits after the start."""
    from seqattn.distributed import watchdog

    monkeypatch.setattr(watchdog, "NOTICE", 0.3)
    ended = []
    dog = watchdog.Watchdog("rank 0 of 2", timeout=60, end=ended.append)
    with dog.starting("the start of MPI", "another rank never joined"):
        err = _said(capsys, lambda e: "has waited" in e)
        time.sleep(1.2)  # a look of the watchdog's more
    with dog.watch("the gradient all-reduce"):
        time.sleep(1.2)
    err += capsys.readouterr().err
    assert ended == [] and err == ("seqattn: rank 0 of 2 has waited 0.3 s in the start of MPI: maybe another rank never "
                                   "joined. The job ends after --dist-timeout (60 s); Ctrl-C ends it now\n")
    dog = watchdog.Watchdog("rank 0 of 2", timeout=None, end=ended.append)
    with dog.starting("the start of MPI", "another rank never joined"):
        err = _said(capsys, lambda e: "has waited" in e)
    assert "The job never ends by itself; Ctrl-C ends it now" in err
    dog = watchdog.Watchdog("rank 0 of 2", timeout=0.2, end=ended.append)
    with dog.starting("the start of MPI", "another rank never joined"):
        err = _said(capsys, lambda e: bool(ended))
    assert set(ended) == {watchdog.FAULT} and "has waited" not in err and "waited more than 0.2 s" in err


# ----------------------------------------------------------------------------------- threads


def test_threads_are_chosen_flag_first_then_the_variable_then_the_blas_then_the_default():
    assert threads.choose("3", env={"SEQATTN_THREADS": "2"}) == (3, "--threads")
    assert threads.choose(None, env={"SEQATTN_THREADS": "2", "OMP_NUM_THREADS": "4"}) == (2, "SEQATTN_THREADS")
    assert threads.choose(None, env={"OPENBLAS_NUM_THREADS": "4"}) == (None, "OPENBLAS_NUM_THREADS")
    assert threads.choose("auto", processes=2, env={"OMP_NUM_THREADS": "4"}) == (threads.default_threads(2), "default")
    assert [threads.default_threads(p, n) for p, n in ((1, 1), (1, 2), (2, 2), (1, 16), (4, 16))] == [1, 1, 1, 15, 3]
    assert threads.oversubscribed(1, 2, n_cores=2) is None
    assert "2 processes x 2 BLAS threads on 2 cores" in threads.oversubscribed(2, 2, n_cores=2)
    most = threads.most_threads()
    assert threads.choose(str(most)) == (most, "--threads")
    for bad in ("0", "-1", "many", "1_000", "1e3", "٣", str(most + 1), "1" * 40):  # the flag and the variable alike
        with pytest.raises(ValueError, match=f"threads takes a whole number of threads from 1 to {most} "):
            threads.choose(bad)
        with pytest.raises(ValueError, match=f"SEQATTN_THREADS takes a whole number of threads from 1 to {most} "):
            threads.choose(None, env={"SEQATTN_THREADS": bad})


def test_set_threads_reaches_the_blas_numpy_loaded_and_the_choice_applies_once(monkeypatch):
    pytest.importorskip("threadpoolctl")
    before = threads.blas_threads()
    if before is None:
        pytest.skip("threadpoolctl finds no BLAS in this numpy")
    monkeypatch.setattr(threads, "cores", lambda: 4)
    try:
        assert threads.set_threads(1) == 1 and threads.blas_threads() == 1
        assert threads.apply_default({"SEQATTN_THREADS": "2"}) is None  # chosen already: left as it is
        monkeypatch.setattr(threads, "_set", False)
        assert threads.apply_default({"SEQATTN_THREADS": "2"}) == 2 and threads.blas_threads() == 2
        monkeypatch.setattr(threads, "_set", False)
        threads.set_threads(4)  # a BLAS at its start-up count, a thread a core
        monkeypatch.setattr(threads, "_set", False)
        assert threads.apply_default({}) == 3 and threads.blas_threads() == 3  # the default: the cores less one
        assert threads.apply_default({}) is None  # once per process
        monkeypatch.setattr(threads, "_set", False)
        assert threads.apply_default({"OMP_NUM_THREADS": "4"}) is None and threads.blas_threads() == 3  # the BLAS's variable
        monkeypatch.setattr(threads, "_set", False)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=2, user_api="blas"):  # a limit the user set: left as it is
            assert threads.apply_default({}) is None and threads.blas_threads() == 2
    finally:
        threads.set_threads(before)


def test_the_trainer_applies_the_default_threads_as_the_command_does(monkeypatch):
    pytest.importorskip("threadpoolctl")
    before = threads.blas_threads()
    if before is None:
        pytest.skip("threadpoolctl finds no BLAS in this numpy")
    from seqattn.models import Seq2seq
    from seqattn.optim import Adam
    from seqattn.trainer import Trainer

    for name in ("SEQATTN_THREADS", *threads.BLAS_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "cores", lambda: 4)
    try:
        threads.set_threads(4)  # the BLAS as it starts: a thread a core
        monkeypatch.setattr(threads, "_set", False)
        Trainer(Seq2seq(vocab_size=5, wordvec_size=4, hidden_size=4), Adam(), progress=False)
        assert threads.blas_threads() == 3
    finally:
        threads.set_threads(before)


def _run_cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "seqattn", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


@pytest.mark.parametrize("command", ["eval", "predict", "splits"])
def test_the_one_process_commands_answer_once_under_a_launcher(tmp_path, monkeypatch, capsys, command):
    """eval, predict, attention and splits run in one process: under mpiexec rank 0 answers and
    the other ranks end at once, without a word (they would print it all again, and splits' second
    rank failed on the files the first wrote)."""
    from seqattn.cli import main

    ckpt = tmp_path / "m.npz"
    assert main(["train", "--task", "addition", "--epochs", "1", "--examples", "500", "--hidden", "8", "--quiet",
                 "--log", "none", "--save", str(ckpt)]) == 0
    argv = {"eval": ["eval", "--model", str(ckpt)], "predict": ["predict", "--model", str(ckpt), "1+2"],
            "splits": ["splits", "--model", str(ckpt), "--out", str(tmp_path / "s")]}[command]
    capsys.readouterr()
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "1")
    assert main(argv) == 0 and capsys.readouterr() == ("", "") and not (tmp_path / "s").exists()
    monkeypatch.setenv("PMI_RANK", "0")
    assert main(argv) == 0 and capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--threads", "0"], "--threads takes a whole number of threads from 1 to"),
    (["--threads", "1" * 31], "--threads takes a whole number of threads from 1 to"),
    (["--dist-timeout", "0"], "--dist-timeout must be a number of seconds of at least 1 (the ranks take a moment to join) and finite, got 0.0"),
    (["--dist-timeout", "0.01"], "--dist-timeout must be a number of seconds of at least 1"),
    (["--dist-timeout", "inf"], "--dist-timeout must be a number of seconds of at least 1 (the ranks take a moment to join) and finite, got inf"),
    (["--dist-timeout", "nan"], "--dist-timeout must be a number of seconds of at least 1"),
    (["--distributed", "mpi"], "argument --distributed: invalid choice"),
])
def test_bad_thread_and_distributed_options_are_one_line_errors(tmp_path, flags, message):
    r = _run_cli("train", "--task", "addition", "--examples", "200", "--epochs", "1", "--save", str(tmp_path / "m.npz"), *flags)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_a_huge_thread_count_in_the_variable_is_the_same_one_line_error(tmp_path):
    r = _run_cli("eval", "--model", str(tmp_path / "none.npz"), env={"SEQATTN_THREADS": "1" * 31})
    assert r.returncode == 2 and "SEQATTN_THREADS takes a whole number of threads from 1 to" in r.stderr
    assert "internal error" not in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_plain_run_never_imports_mpi4py_and_sets_its_threads(tmp_path):
    code = ("import sys; from seqattn.cli import main; "
            "rc = main(['train', '--task', 'addition', '--examples', '300', '--epochs', '1', '--hidden', '8', '--quiet', "
            f"'--threads', '1', '--save', {str(tmp_path / 'm.npz')!r}]); "
            "from seqattn.threads import blas_threads; "
            "print(rc, 'mpi4py' in sys.modules, blas_threads())")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "SLURM_"))}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    rc, imported, blas = r.stdout.split()[-3:]
    assert (rc, imported) == ("0", "False"), r.stderr
    assert blas in ("1", "None")


# ------------------------------------------------------------------ NCCL on the strict stand-in


def _nccl_ranks(size, work):
    """``work(rank, comm)`` on ``size`` thread ranks of the stand-in, each with an NcclCommunicator
    over a ThreadComm -> their results."""
    from fake_nccl import ThreadComm, World, run_ranks
    from seqattn import backend
    from seqattn.distributed.nccl import NcclCommunicator

    world = World(size)

    def rank(r):
        with backend.use_backend("cupy"):  # the stand-in, which install() made the backend's cupy
            return work(r, NcclCommunicator(ThreadComm(world, r)))

    return run_ranks(size, rank)


def test_nccl_a_step_queues_one_all_reduce_of_the_packed_buffer_and_never_waits_on_the_host():
    from strict_cupy import COUNTS, install

    x, t, codec = mpi_worker.pairs()
    plan = Trainer(mpi_worker.model(codec), Adam(), batch_size=16).plan(x, t, 1)
    with install():
        def work(rank, comm):
            model = mpi_worker.model(codec, dtype="float32")
            trainer = Trainer(model, Adam(), batch_size=16, max_grad=1.0, progress=False, comm=comm)
            share = plan.share(rank, 2)
            batches = [(to_device(x[b][:, :sw]), to_device(t[b][:, :tw])) for b, sw, tw in share[:3]]
            trainer.step(*batches[0], 0.5)  # the first step makes the optimizer's slots
            comm.bcast(None)  # every rank past its first step
            if rank == 0:
                COUNTS.reset()
            comm.bcast(None)
            calls = len(comm._nccl.calls)
            with trusted_ids():  # as in Trainer.fit, which checks the ids on the host before the first epoch
                for xb, tb in batches[1:]:
                    trainer.step(xb, tb, 0.5)
            comm.bcast(None)  # every rank past its steps
            reads = (COUNTS.to_host, COUNTS.syncs, COUNTS.to_device)
            comm.bcast(None)
            buffer = flat(model.grads)[0]
            return comm._nccl.calls[calls:], buffer.data.ptr, buffer.size, to_numpy(flat(model.params)[0]), reads

        got = _nccl_ranks(2, work)
    assert got[0][4] == (0, 0, 0)  # two steps on each of two ranks: no copy either way, no synchronisation
    for calls, ptr, size, _, _ in got:
        assert calls == [("allReduce", ptr, size, 7, 0x5EA77)] * 2  # the whole buffer, float32, on the current stream
    np.testing.assert_array_equal(got[0][3], got[1][3])


def test_nccl_two_ranks_train_what_one_process_trains():
    """On the stand-in, a rank whose weights start elsewhere gets rank 0's by NCCL's broadcast, and
    an epoch over two ranks' shares gives the one-process weights."""
    from strict_cupy import install

    x, t, codec = mpi_worker.pairs()
    with install():
        one = Trainer(mpi_worker.model(codec), Adam(0.01), batch_size=16, progress=False, log=lambda s: None)
        one.fit(to_device(x), to_device(t), 1)
        expected = to_numpy(flat(one.model.params)[0])

        def work(rank, comm):
            model = mpi_worker.model(codec, seed=rank)  # rank 1 starts from other weights
            Trainer(model, Adam(0.01), batch_size=16, progress=False, log=lambda s: None, comm=comm).fit(x, t, 1)
            return to_numpy(flat(model.params)[0])

        got = _nccl_ranks(2, work)
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_allclose(got[0], expected, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------ MPI, 2 ranks

try:
    import mpi4py  # noqa: F401

    MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    WHY = "needs mpiexec (MPICH: pip install mpich)"
except ImportError:
    MPIEXEC, WHY = None, "needs mpi4py and an MPI (the [mpi] extra)"
mpi = pytest.mark.skipif(MPIEXEC is None, reason=WHY)
WORKER = os.path.join(HERE, "mpi_worker.py")
TRAIN = ["--hidden", "16", "--wordvec", "8", "--batch-size", "16", "--lr", "0.01", "--quiet"]


def mpirun(*args, n=2, cwd=None):
    """``timeout 120 mpiexec -n N python ARGS`` (a hard bound on every launch) -> (result, seconds)."""
    start = time.monotonic()
    r = subprocess.run(["timeout", "120", MPIEXEC, "-n", str(n), sys.executable, *args], capture_output=True, text=True,
                       timeout=150, cwd=cwd)
    return r, time.monotonic() - start


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Pairs of many lengths (letters written apart, so that the default word tokens are letters):
    bucketed batches of 16, and a short last one."""
    path = tmp_path_factory.mktemp("corpus") / "pairs.tsv"
    words = mpi_worker._words(150, 2)
    path.write_text("".join(f"{' '.join(w)}\t{' '.join(w[::-1])}\n" for w in words))
    return str(path)


@mpi
def test_two_ranks_give_what_one_process_gives_and_hold_the_same_weights(tmp_path):
    """The exact gradient of the global batch: shares weighted by their target tokens, summed.
    Bucketed text with a short last batch, where per-rank means (also run, planted in the worker)
    give another model. Every rank ends with the same bits; rank 1 started from other weights."""
    r, _ = mpirun(WORKER, "equal", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    one = mpi_worker.train(ONE)
    ranks = [np.load(tmp_path / f"tokens-{k}.npy") for k in (0, 1)]
    np.testing.assert_array_equal(ranks[0], ranks[1])
    np.testing.assert_allclose(ranks[0], flat(one.model.params)[0], rtol=1e-9, atol=1e-12)
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["accuracy"] for h in history] == [h["accuracy"] for h in one.history]
    np.testing.assert_allclose([h["loss"] for h in history], [h["loss"] for h in one.history], rtol=1e-12)
    means = np.load(tmp_path / "means-0.npy")
    assert not np.allclose(means, flat(one.model.params)[0], rtol=1e-6, atol=1e-9)


@mpi
def test_only_rank_0_writes_and_prints(tmp_path, corpus):
    """Rank 0 runs in one folder and rank 1 in another, with the same relative outputs: rank 1's
    stays empty, and every line is printed once."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    train = ["-m", "seqattn", "train", "--data", corpus, *TRAIN[:-1], "--epochs", "2", "--save", "m.npz", "--keep-best",
             "--plot", "p.png"]
    start = time.monotonic()
    r = subprocess.run(["timeout", "120", MPIEXEC, "-n", "1", "-wdir", str(a), sys.executable, *train,
                        ":", "-n", "1", "-wdir", str(b), sys.executable, *train], capture_output=True, text=True, timeout=150)
    assert r.returncode == 0, r.stderr[-2000:]
    from seqattn.runlog import summary_writer

    logs = ["m.csv", "m.options.json"] + (["m-tensorboard"] if summary_writer() else [])  # the metrics log, rank 0's too
    assert sorted(os.listdir(a)) == sorted(["m-best.npz", "m.npz", "p-attention.png", "p.png", *logs]) and os.listdir(b) == []
    assert r.stdout.count("epoch   1") == 1 and r.stdout.count("epoch   2") == 1 and "on each of 2 ranks" in r.stdout
    assert time.monotonic() - start < 120


def _weights(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k.startswith(("model/", "optimizer/"))}


def _history(path):
    from seqattn.checkpoint import read

    return read(path)[1]["trainer"]["history"]


@mpi
def test_a_checkpoint_resumes_on_any_number_of_ranks(tmp_path, corpus):
    """Interrupted (Ctrl-C on rank 0) after epoch 1 of 3 on 2, 2 or 1 ranks and resumed with
    --resume alone on 2, 1 or 2: the run's own 3 epochs, its cosine schedule and its own file give
    what 3 uninterrupted epochs on 2 ranks give: the same bits on as many ranks, and up to the
    order of the sums on another number."""
    train = ["train", "--data", corpus, *TRAIN, "--epochs", "3"]
    assert mpirun("-m", "seqattn", *train, "--save", str(tmp_path / "full.npz"))[0].returncode == 0
    assert mpirun(WORKER, "interrupt", *train, "--save", str(tmp_path / "r22.npz"))[0].returncode == 130
    shutil.copy(tmp_path / "r22.npz", tmp_path / "r21.npz")
    one = subprocess.run([sys.executable, WORKER, "interrupt", *train, "--save", str(tmp_path / "r12.npz")], timeout=120)
    assert one.returncode == 130
    for name, n in (("r22", 2), ("r21", 1), ("r12", 2)):
        path = str(tmp_path / f"{name}.npz")
        assert [h["epoch"] for h in _history(path)] == [1]
        r, _ = mpirun("-m", "seqattn", "train", "--resume", path, "--quiet", n=n)
        assert r.returncode == 0 and "resumed from" in r.stdout and f"checkpoint {path}" in r.stdout, r.stderr[-2000:]
    full, hist = _weights(tmp_path / "full.npz"), _history(tmp_path / "full.npz")
    for name in ("r22", "r21", "r12"):
        got = _weights(tmp_path / f"{name}.npz")
        assert got.keys() == full.keys() and [h["epoch"] for h in _history(tmp_path / f"{name}.npz")] == [1, 2, 3]
        for k in full:
            if name == "r22":
                np.testing.assert_array_equal(got[k], full[k], err_msg=k)
            else:
                np.testing.assert_allclose(got[k], full[k], rtol=1e-4, atol=1e-6, err_msg=f"{name}: {k}")
        np.testing.assert_allclose([h["loss"] for h in _history(tmp_path / f"{name}.npz")], [h["loss"] for h in hist],
                                   rtol=0 if name == "r22" else 1e-5)
        assert [h["lr"] for h in _history(tmp_path / f"{name}.npz")] == [h["lr"] for h in hist]


@mpi
@pytest.mark.parametrize("kind, flags, said", [
    ("raise", [], "seqattn train: error on rank 1 of 2: a failure planted on rank 1"),
    ("stall", ["--dist-timeout", "2"], "rank 0 of 2 waited more than 2 s in the gradient all-reduce: another rank stalled"),
])
def test_a_rank_that_fails_or_stalls_ends_the_whole_job(tmp_path, corpus, kind, flags, said):
    """Not a hang: the job ends with a failing status and the rank's one line, well within the
    hard timeout (the bound here is generous: it is about liveness, not speed)."""
    r, seconds = mpirun(WORKER, kind, "train", "--data", corpus, *TRAIN, "--epochs", "50", "--save", str(tmp_path / "m.npz"),
                        *flags)
    assert r.returncode not in (0, 124) and said in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert seconds < 60


@mpi
def test_a_non_finite_loss_on_one_rank_stops_every_rank(tmp_path, corpus):
    """Every rank sees the summed loss, so every rank stops at the same point with the same error:
    one line, status 2, and epoch 1's checkpoint kept."""
    r, _ = mpirun(WORKER, "nan", "train", "--data", corpus, *TRAIN, "--epochs", "3", "--save", str(tmp_path / "m.npz"))
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("error") == 1 and "the loss became nan in epoch 2" in r.stderr
    assert [h["epoch"] for h in _history(tmp_path / "m.npz")] == [1]


@mpi
def test_an_error_before_training_is_reported_once(tmp_path):
    r, _ = mpirun("-m", "seqattn", "train", "--data", str(tmp_path / "missing.tsv"), "--save", str(tmp_path / "m.npz"))
    assert r.returncode == 2 and r.stderr.count("seqattn train: error:") == 1 and "missing.tsv" in r.stderr, r.stderr


@mpi
@pytest.mark.parametrize("how", ["terminal", "launcher"])
def test_ctrl_c_ends_every_rank_and_keeps_the_last_finished_epochs_checkpoint(tmp_path, corpus, how):
    """One Ctrl-C ends the job, not a hang, and the checkpoint of the last finished epoch is whole:
    from a terminal (SIGINT to the job's process group: mpiexec and the ranks at once) or from a
    script (SIGINT to mpiexec alone, which passes it to the ranks)."""
    from seqattn.checkpoint import read

    save = tmp_path / "m.npz"
    proc = _launch([(["-m", "seqattn", "train", "--data", corpus, *TRAIN, "--epochs", "1000", "--save", str(save)], {})] * 2,
                   wait=False, session=True)
    try:
        deadline = time.monotonic() + 100
        while not save.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert save.exists(), proc.stderr.read() if proc.poll() is not None else "no checkpoint yet"
        _ctrl_c(proc, how)
        _, err = proc.communicate(timeout=60)
    finally:
        _stop(proc)
    assert proc.returncode not in (0, 124) and "interrupted" in err, err[-2000:]
    assert read(save)[1]["trainer"]["epoch"] >= 1


# ------------------------------------------------------------------ MPI, the start of a job


SETSID = [sys.executable, "-c", "import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])"]


def _launch(ranks, cwd=None, env=None, wait=True, session=False):
    """``timeout 120 mpiexec`` with one ``-n 1 [-env K V] python ARGS`` per rank, so that each rank
    may run another command -> (result, seconds), or the process when ``wait`` is false. With
    ``session``, mpiexec leads a session and process group of its own, as a job started from a
    terminal does (see _ctrl_c); not otherwise, since the kernel hangs up on a stopped process in
    such a group (an orphaned one: mpiexec's parent is outside its session), and a test stops one."""
    command = ["timeout", "120", *(SETSID if session else []), MPIEXEC]
    for i, (args, rank_env) in enumerate(ranks):
        command += [":"] * (i > 0) + ["-n", "1"] + [w for k, v in rank_env.items() for w in ("-env", k, v)]
        command += [sys.executable, *args]
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env=dict(os.environ, **(env or {})))
    if not wait:
        return proc
    try:
        out, err = proc.communicate(timeout=150)
    finally:
        _stop(proc)
    return subprocess.CompletedProcess(command, proc.returncode, out, err), time.monotonic() - start


def _ctrl_c(proc, how="launcher"):
    """One Ctrl-C: from a terminal, SIGINT to mpiexec's process group (mpiexec and the ranks at once);
    or from a script, SIGINT to mpiexec alone. Never SIGINT to ``timeout``, which would pass it on
    twice (to mpiexec, then to its whole group), and hydra takes a second Ctrl-C for a forced abort."""
    launcher = _launcher(proc)
    if how == "terminal":
        os.killpg(launcher, signal.SIGINT)
    else:
        os.kill(launcher, signal.SIGINT)


def _launcher(proc):
    """The pid of mpiexec, the child of ``timeout``."""
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
        return int(f.read().split()[0])


def _stop(proc):
    """End a launch that is still running (SIGTERM reaches the ranks through timeout and mpiexec)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(_launcher(proc), signal.SIGKILL)
            except (OSError, IndexError, ValueError):
                pass
            proc.kill()
            proc.wait()


NEVER_JOINED = "rank 0 of 2 waited more than 3 s in the start of MPI: another rank never joined"


@mpi
@pytest.mark.parametrize("case", ["a bad flag", "an import error", "--distributed off", "killed"])
def test_a_rank_that_never_joins_ends_the_job(tmp_path, corpus, case):
    """Rank 1 ends before it starts MPI (the launcher sees no fault in that, and rank 0 would wait
    in MPI's start for ever): a refused flag, a numpy that cannot be imported on its machine,
    --distributed off (it trains alone and ends well), or SIGKILL. Rank 0 ends the job after
    --dist-timeout with a line that says why, and a failing status; a generous bound on liveness."""
    train = ["-m", "seqattn", "train", "--data", corpus, *TRAIN, "--epochs", "1", "--log", "none", "--dist-timeout", "3"]
    rank0, rank1, env1 = [*train, "--save", str(tmp_path / "m.npz")], [*train, "--save", str(tmp_path / "m1.npz")], {}
    if case == "a bad flag":
        rank1.append("--bogus")
    elif case == "an import error":
        (tmp_path / "broken").mkdir()
        (tmp_path / "broken" / "numpy.py").write_text('raise ImportError("numpy is broken on this machine")\n')
        env1 = {"PYTHONPATH": str(tmp_path / "broken")}
    elif case == "--distributed off":
        rank1 += ["--distributed", "off"]
    else:
        rank1 = [WORKER, "killed", *rank1[2:]]
    r, seconds = _launch([(rank0, {}), (rank1, env1)])
    assert r.returncode not in (0, 124), r.stderr[-2000:]
    if case != "killed":  # the launcher ends a job whose rank was killed, and says so itself
        assert NEVER_JOINED in r.stderr and r.stderr.count("seqattn: rank 0") == 1, r.stderr[-2000:]
    assert seconds < 60
    assert not (tmp_path / "m.npz").exists()


@mpi
def test_ctrl_c_ends_a_rank_that_waits_for_the_others_to_join(tmp_path, corpus):
    """Rank 1 exits (status 0) before it joins; rank 0 waits in MPI's start, where Python cannot act
    on a signal. One Ctrl-C (SIGINT to the launcher, which passes it on) ends the job at once, far
    within --dist-timeout's 600 s."""
    train = [WORKER, "gone", "train", "--data", corpus, *TRAIN, "--save", str(tmp_path / "m.npz")]
    proc = _launch([(train, {})] * 2, env={"SEQATTN_TEST_OUT": str(tmp_path)}, wait=False, session=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "starting").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "starting").exists(), "rank 0 never began MPI's start"
        time.sleep(1)  # inside it
        _ctrl_c(proc)
        _, err = proc.communicate(timeout=30)
    finally:
        _stop(proc)
    assert proc.returncode not in (0, 124) and "rank 0 of 2 was interrupted while the ranks joined" in err, err[-2000:]


@mpi
def test_the_others_wait_for_a_long_preparation_asleep_and_end_the_job_when_rank_0_stops(tmp_path, corpus):
    """Rank 0 prepares the run (reads, checks, fits) with no bound on the time, and its heartbeat
    keeps the others waiting past --dist-timeout; they wait asleep, not spinning in MPI. When rank
    0 stops (SIGSTOP) while it prepares, they end the job after --dist-timeout."""
    train = [WORKER, "slow", "train", "--data", corpus, *TRAIN, "--epochs", "1", "--log", "none", "--dist-timeout", "1"]
    slow = tmp_path / "slow"
    slow.mkdir()
    r, _ = _launch([(train + ["--save", str(slow / "m.npz")], {})] * 2, env={"SEQATTN_TEST_OUT": str(slow)})
    assert r.returncode == 0, r.stderr[-2000:]
    wall, cpu = json.loads((slow / "waited").read_text())
    assert wall > mpi_worker.SLOW - 1 and cpu < 0.2 * wall, (wall, cpu)

    train[1] = "stopped"
    r, seconds = _launch([(train + ["--save", str(tmp_path / "m.npz")], {})] * 2)
    assert r.returncode not in (0, 124), r.stderr[-2000:]
    assert "rank 1 of 2 waited more than 1 s in rank 0's preparation of the run: rank 0 stopped answering" in r.stderr
    assert seconds < 60
