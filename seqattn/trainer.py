"""Training: epochs over shuffled batches, a progress bar, per-epoch evaluation and checkpoints,
and resuming from a checkpoint to the same result as an uninterrupted run."""

from __future__ import annotations

import math
import os
import time

import numpy as np

from . import checkpoint
from .checkpoint import check_target
from .backend import get_xp, to_device, to_numpy
from .distributed import ONE, everywhere
from .errors import OptionError, finite, fraction, integer, positive_int, quoted
from .metrics import EVAL_BATCH, bleu_name, exact_match
from .packed import flat
from .paths import same_file
from .ops import trusted_ids
from .optim import OPTIMIZERS, Optimizer, Schedule, clip_grads
from .threads import apply_default


class TrainingError(RuntimeError):
    """Training cannot go on (the loss became NaN or infinite)."""


class BatchPlan(list):
    """One epoch's batches: [(indices, source width, target width)], every example exactly once
    (the widths are None for sequences of one length)."""

    def share(self, rank, size):
        """Rank ``rank``'s share of every batch, of ``size`` ranks: the batch's indices cut into
        ``size`` near-equal parts (some empty when a batch has fewer examples than ranks). Every
        rank thus runs the same number of steps, and the shares of a batch are the whole batch."""
        return BatchPlan((np.array_split(b, size)[rank], sw, tw) for b, sw, tw in self)


def batch_plan(x, t, batch_size, rng, pad_id=None, pool=50):
    """One epoch's BatchPlan: [(indices, source width, target width)], every example exactly once.

    Without ``pad_id`` (sequences of one length): a shuffled order cut into batches. With it:
    length buckets, as OpenNMT and fairseq make them: the shuffled order is cut into pools of
    ``pool`` batches, each pool sorted by length (target, then source) and cut into batches,
    and the batches are shuffled; each batch is cut to its own longest sequences, so that padding
    stays a small share of the work. Everything here is on the host."""
    N = len(x)
    order = rng.permutation(N)
    if pad_id is None:
        return BatchPlan((order[i : i + batch_size], None, None) for i in range(0, N, batch_size))
    ls, lt = (x != pad_id).sum(axis=1), (t != pad_id).sum(axis=1)
    batches = []
    for p in range(0, N, batch_size * pool):
        chunk = order[p : p + batch_size * pool]
        chunk = chunk[np.lexsort((ls[chunk], lt[chunk]))]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return BatchPlan((b, max(1, int(ls[b].max())), max(2, int(lt[b].max())))
                     for b in (batches[k] for k in rng.permutation(len(batches))))


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress bars are optional: the [progress] extra
        return None
    return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True)


class Trainer:
    """``Trainer(model, optimizer, batch_size=128, max_grad=None, seed=0, progress=True, log=print,
    eval_batch_size=None, stop_id=None, meta=None, report_every=20, codec=None, schedule=None,
    label_smoothing=0.0, keep_best=None, patience=None, scorer=None, monitor="accuracy",
    grad_hook=None, comm=None)``.

    ``progress``: a progress bar per epoch (where tqdm is installed); ``log``: where the epoch lines
    go (``print``); ``report_every``: steps between the bar's loss readings. ``eval_batch_size``:
    the batch of the evaluation after each epoch (``metrics.EVAL_BATCH``, 256, by default).
    ``meta``: a dict kept in every checkpoint's metadata beside the trainer's own (the command
    records the data there).

    ``step(x, t)`` is one update on one batch: forward, backward, ``grad_hook(grads)`` (nothing by
    default; data-parallel training sums the ranks' gradients there), clipping at ``max_grad``, the
    schedule's rate and the optimizer's update. ``fit`` runs epochs of steps around it.

    ``fit(x, t, epochs, x_test, t_test, start_id, checkpoint=PATH, resume=PATH)`` trains, evaluates
    exact-match accuracy on the test split after each epoch (on whole batches; or the scores that
    ``scorer(model)`` returns, a dict), saves ``checkpoint`` after each epoch (model, codec,
    optimizer, history), and returns the history: a list of dicts with epoch, loss, the scores,
    seconds and throughput. Batches are shuffled from (seed, epoch) (length-bucketed for a model
    with ``pad_id``, see ``batch_plan``), and dropout is seeded from them too, so a resumed run
    repeats an uninterrupted one exactly. ``fit(x, t, resume=PATH)`` without ``epochs`` trains on to
    the resumed run's own last epoch, which its checkpoint records, and with it the schedule that
    run had: stopping and resuming gives the uninterrupted run, bit for bit. Another ``epochs``
    lengthens (or shortens) the run: a schedule with no ``total`` then spans the updates of the new
    ``epochs``, so a cosine or linear decay is stretched to end at the new last epoch, from the
    resumed update on.

    ``schedule`` (an ``optim.Schedule``) sets the optimizer's rate before every update as its
    factor of the base rate (the optimizer's ``lr`` when the Trainer is made); a schedule with no
    ``total`` decays over the updates of ``epochs``. ``keep_best``: a path where the checkpoint of
    the best test accuracy so far is kept. ``patience``: stop after that many epochs without a
    better test score. ``monitor``: the score that ``keep_best`` and ``patience`` follow
    ("accuracy", or "bleu" / "chrf" from a scorer), higher is better.

    ``comm`` (``seqattn.distributed.world()``): data-parallel training over its ranks. Every rank
    makes the same plan of global batches (``batch_size`` is the global batch) and takes its share
    of each, so every rank runs the same steps whatever their number; a share's loss is weighted
    by its part of the batch's target tokens and the ranks' gradients summed in one all-reduce of
    the packed buffer, which is the gradient of the whole batch. Rank 0's weights (and a resumed
    checkpoint, which rank 0 reads) go to every rank first; dropout is seeded by seed, epoch and
    rank. Evaluation is split over the ranks and the epoch's record is rank 0's on every rank, so
    that stops agree; rank 0 alone logs and writes checkpoints. ``progress`` must be the same on
    every rank (its reads of the loss are collective there).

    With ``codec``, generation starts and stops at the codec's symbols (``start_id`` and
    ``stop_id`` default to them), so the accuracy after each epoch is what ``evaluate()`` gives.
    The book's ``fit(x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20)`` and
    ``plot()`` work beside these (see ``_book_arguments``). The attribute ``callbacks``, a list,
    empty at first: each is called as ``callback(trainer, record)`` after every epoch's checkpoint
    (``runlog.RunLog`` is one).
    """

    def __init__(self, model, optimizer, batch_size=128, max_grad=None, seed=0, progress=True, log=print,
                 eval_batch_size=None, stop_id=None, meta=None, report_every=20, codec=None, schedule=None,
                 label_smoothing=0.0, keep_best=None, patience=None, scorer=None, monitor="accuracy", grad_hook=None,
                 comm=None):
        missing = [a for a in ("params", "grads", "forward", "backward", "loss_layer") if not hasattr(model, a)]
        if missing:
            raise OptionError(f"<model> must be a seqattn model, such as seqattn.models.AttentionSeq2seq, got "
                              f"{quoted(type(model).__name__)}, which has no {missing[0]}")
        if not isinstance(optimizer, Optimizer):
            raise OptionError(f"<optimizer> must be one of seqattn.optim's optimizers ({', '.join(c.__name__ for c in OPTIMIZERS.values())}), "
                              f"got {quoted(type(optimizer).__name__)}")
        positive_int("batch_size", batch_size)
        max_grad = _max_grad(max_grad)
        integer("seed", seed)
        fraction("label_smoothing", label_smoothing)
        positive_int("report_every", report_every)
        for key, value in (("patience", patience), ("eval_batch_size", eval_batch_size)):
            if value is not None:
                positive_int(key, value)
        if scorer is not None and not callable(scorer):
            raise OptionError(f"<scorer> must be a function of the model that returns its scores, got {quoted(type(scorer).__name__)}")
        apply_default()  # the command's choice of threads, once per process
        self.model, self.optimizer = model, optimizer
        self.schedule, self.base_lr = schedule or Schedule(), optimizer.lr
        model.loss_layer.label_smoothing = label_smoothing
        self.keep_best, self.patience = keep_best, patience
        self.scorer, self.monitor = scorer, monitor
        self.batch_size, self.max_grad, self.seed = batch_size, max_grad, seed
        self.progress, self.log = progress, log
        self.eval_batch_size = eval_batch_size
        # generation stops at the codec's end symbol, as evaluate() and the command do
        self.stop_id = stop_id if stop_id is not None or codec is None else codec.stop_id
        self.meta = meta or {}
        self.codec = codec
        self.eval_interval, self.loss_list, self._reported = None, [], 0.0  # the book's fit(eval_interval=...) and its losses
        self.callbacks = []  # each called as callback(trainer, record) after every epoch (a RunLog, ...)
        self.report_every = report_every
        self.comm = comm or ONE
        self.grad_hook = grad_hook if self.comm.size == 1 else _then(self.comm.allreduce_grads, grad_hook)
        self.history = []
        self.epochs = None  # the epoch this run trains up to (fit's epochs, or a resumed run's own)
        self.saved = {}  # path -> the epoch this trainer last saved there
        self.resumed_at = 0  # epochs finished before the last call of fit

    @property
    def epoch(self):
        """Epochs finished (resumed ones included)."""
        return len(self.history)

    # ---------------------------------------------------------------------------- checkpoints
    def save(self, path):
        """Write a checkpoint at ``path``: the model, codec, optimizer and this trainer's state
        (epoch, the epoch the run trains up to, history, batch size, clipping, seed, rate, schedule,
        patience and whether it keeps its best checkpoint)."""
        state = {"epoch": self.epoch, "epochs": self.epochs, "history": self.history, "batch_size": self.batch_size,
                 "patience": self.patience, "keep_best": self.keep_best is not None,
                 "max_grad": self.max_grad, "seed": self.seed, "base_lr": self.base_lr,
                 "schedule": self.schedule.to_dict(), "label_smoothing": self.model.loss_layer.label_smoothing}
        checkpoint.save(path, self.model, codec=self.codec, optimizer=self.optimizer, trainer=state, extra=self.meta)
        self.saved[os.fspath(path)] = self.epoch

    def restore(self, path):
        """Continue from the checkpoint at ``path`` (read by rank 0, each array checked against this
        model's shapes before it is read, and sent to every rank): the model, the optimizer and
        the history, and the epoch the run trains up to -> the checkpoint's meta (a CheckpointError
        if it holds no training state)."""
        arrays, meta = self.comm.share(lambda: checkpoint.read_state(path, self.model, self.optimizer))
        checkpoint.set_weights(self.model, arrays, meta, path)
        checkpoint.restore_optimizer(self.optimizer, self.model, arrays, meta, path)
        state = meta["trainer"]
        self.history = list(state["history"])
        self.base_lr = state.get("base_lr", self.optimizer.lr)
        self.epochs = checkpoint.run_epochs(meta)
        return meta

    # ------------------------------------------------------------------------------- training
    def step(self, x, t, weight=1.0):
        """One update on the batch ``x`` (N, Ts), ``t`` (N, Tt) ids on the model's device -> its
        loss (a 0-d array, left on the device). ``weight`` scales the loss's gradient (a rank's
        share of a global batch). An empty batch (N = 0) adds a zero gradient to the hook, so
        that every rank takes part in every step."""
        model = self.model
        if len(x):
            loss = model.forward(x, t)
            model.backward(weight)
        else:
            for g in flat(model.grads):
                g[...] = 0
            loss = get_xp(model.params[0]).zeros((), dtype=model.params[0].dtype)
        if self.grad_hook is not None:
            self.grad_hook(model.grads)
        if self.max_grad is not None:
            clip_grads(model.grads, self.max_grad)
        self.optimizer.lr = self.base_lr * self.schedule(self.optimizer.iter + 1)
        self.optimizer.update(model.params, model.grads)
        return loss

    def plan(self, x, t, epoch):
        """Epoch ``epoch``'s BatchPlan over the host arrays ``x``, ``t``: the same for a seed and
        an epoch wherever it is made."""
        return batch_plan(x, t, self.batch_size, np.random.default_rng([self.seed, epoch]), self.model.pad_id)

    def fit(self, x, t, epochs=None, x_test=None, t_test=None, start_id=None, checkpoint=None, resume=None, *,
            max_epoch=None, batch_size=None, max_grad=None, eval_interval=None):
        """Train on ``x`` (N, Ts), ``t`` (N, Tt) int ids (host or device) until ``epochs``
        epochs are done -> the history (a list of dicts per epoch). See the class's text."""
        model, comm = self.model, self.comm
        if resume is not None:
            self.restore(resume)
            self._log(f"resumed from {resume} after epoch {self.epoch}")
            if epochs is None and max_epoch is None:
                epochs = self.epochs  # the resumed run's own last epoch (None where its checkpoint does not say)
        epochs, start_id = self._book_arguments(epochs, start_id, max_epoch, batch_size, max_grad, eval_interval)
        x, t = _pairs("x", x, "t", t)
        if x_test is not None or t_test is not None:
            x_test, t_test = _pairs("x_test", x_test, "t_test", t_test)
        if comm.root:  # written after every epoch: refused now, as seqattn train --save refuses it
            for key, path in (("checkpoint", checkpoint), ("keep_best", self.keep_best)):
                if path is not None:
                    check_target(path, key, continuing=True)
        self.epochs, self.resumed_at = epochs, self.epoch
        N = len(x)
        if N == 0:
            raise ValueError("no training examples")
        self._check_ids(x, t)
        like = model.params[0]  # the data follows the model's device, whatever the current backend
        xd, td = to_device(x, like=like), to_device(t, like=like)  # the whole training set moves once
        n_batches = math.ceil(N / self.batch_size)
        if self.schedule.total is None:
            self.schedule.total = epochs * n_batches
        xp = get_xp(xd)
        pad = model.pad_id
        xh, th = to_numpy(x), to_numpy(t)  # batch plans are made on the host
        if comm.size > 1:
            for p in flat(model.params):
                comm.bcast_array(p)  # rank 0's weights on every rank
        # target tokens scored by a batch, or a rank's share of it (known on the host: no read-back)
        scored = (lambda b, tw: int((th[b, 1:tw] != pad).sum())) if pad is not None else (lambda b, tw: len(b) * (th.shape[1] - 1))
        reads = self.progress and comm.size > 1  # the ranks read the loss together wherever rank 0 shows it
        while self.epoch < epochs and not self._out_of_patience():
            epoch = self.epoch + 1
            model.set_train(True)
            model.seed_dropout(self.seed * 100003 + epoch + comm.rank * 1000003)
            plan = self.plan(xh, th, epoch)
            tokens = np.cumsum([scored(b, tw) for b, _, tw in plan])
            mine, weights = plan, None
            if comm.size > 1:  # this rank's share of every batch, its loss weighted by its part of the batch's tokens
                mine = plan.share(comm.rank, comm.size)
                weights = [scored(s, tw) / max(scored(b, tw), 1) for (b, _, tw), (s, _, _) in zip(plan, mine)]
            ends = np.cumsum([len(b) for b, _, _ in mine])
            order = to_device(np.concatenate([b for b, _, _ in mine]), like=like)  # one copy to the device per epoch
            bar = _progress(n_batches, f"epoch {epoch}/{epochs}", self.progress and comm.root)
            total = xp.zeros((), dtype=model.params[0].dtype)
            start = time.perf_counter()
            with trusted_ids():  # every id was checked on the host before the first epoch
                for i, (b, sw, tw) in enumerate(mine):
                    idx = order[ends[i] - len(b) : ends[i]]
                    xb, tb = (xd[idx], td[idx]) if sw is None else (xd[idx, :sw], td[idx, :tw])
                    if weights is None:
                        total += self.step(xb, tb)  # stays on the device
                    else:
                        total += self.step(xb, tb, weights[i]) * weights[i]
                    if (bar is not None or reads) and ((i + 1) % self.report_every == 0 or i + 1 == n_batches):
                        with comm.watch("reading the loss"):
                            mean = comm.sum(float(to_numpy(total))) / (i + 1)  # the one read-back, for the progress bar
                        self._check(mean, epoch, i + 1)
                        if bar is not None:
                            rate = tokens[i] / max(time.perf_counter() - start, 1e-9)
                            bar.set_postfix(loss=f"{mean:.4f}", tok_s=f"{rate:,.0f}")
                            bar.update((i + 1) - bar.n)
                    if self.eval_interval and (i + 1) % self.eval_interval == 0:
                        self._book_report(total, epoch, i + 1, n_batches, start)
            with comm.watch("the end of the epoch"):
                mean = comm.sum(float(to_numpy(total))) / n_batches  # reading the loss waits for the device's work
            seconds = time.perf_counter() - start
            if bar is not None:
                bar.close()
            self._check(mean, epoch, n_batches)
            self._check_diverged(mean, epoch, checkpoint, resume)
            record = {"epoch": epoch, "loss": mean, "seconds": seconds, "examples_per_second": N / seconds,
                      "tokens_per_second": float(tokens[-1]) / seconds}
            if self.scorer is not None:
                record.update(_scores(self.scorer(model)))
            elif x_test is not None and len(x_test):
                record["accuracy"], _ = exact_match(model, x_test, t_test, start_id, self.eval_batch_size or EVAL_BATCH,
                                                    stop_id=self.stop_id, comm=comm)
            best = max((h.get(self.monitor, -1.0) for h in self.history), default=-1.0)
            record["lr"] = self.optimizer.lr
            if comm.size > 1:
                record = comm.bcast(record)  # rank 0's: every rank keeps the same history, so every stop agrees
            self.history.append(record)
            if checkpoint is not None and comm.root:
                self.save(checkpoint)
            for callback in self.callbacks:
                callback(self, record)
            improved = record.get(self.monitor, -1.0) > best
            if improved and self.keep_best is not None and comm.root:
                self.save(self.keep_best)
            shown = "".join(f"  {name} {record[k] * 100:6.2f}%" if k == "accuracy" else f"  {name} {record[k]:5.2f}"
                            for k, name in (("accuracy", "accuracy"), ("bleu", bleu_name(record)), ("chrf", "chrF")) if k in record)
            self._log(f"epoch {epoch:3d}  loss {mean:.4f}{shown}  {seconds:6.1f} s" + ("  (best so far, kept)" if improved and self.keep_best else ""))
        if self.epoch < epochs:
            self._log(f"stopped early: no better test {self.monitor} in the last {self.patience} epochs")
        if self.epoch == self.resumed_at and resume is not None and checkpoint is not None and comm.root \
                and not same_file(checkpoint, resume):
            self.save(checkpoint)  # nothing was left to train: the file asked for still holds what the run has
        model.set_train(False)
        return self.history

    def _log(self, message):
        if self.comm.root:
            self.log(message)

    # ------------------------------------------------------------------------ the book's way
    def _book_arguments(self, epochs, start_id, max_epoch, batch_size, max_grad, eval_interval):
        """The book's ``fit(x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20)``
        beside this one's: ``max_epoch`` is that many more epochs (the book calls ``fit(...,
        max_epoch=1)`` once per epoch), ``batch_size`` and ``max_grad`` replace the Trainer's, and
        ``eval_interval`` logs the mean loss of every that many batches as the book prints it and
        keeps it in ``loss_list`` for ``plot()``. -> (the epoch to train up to, the start id)."""
        if epochs is not None and max_epoch is not None:
            raise TypeError("fit takes epochs (train up to that epoch) or the book's max_epoch (that many more), not both")
        for key, value, least in (("epochs", epochs, 0), ("max_epoch", max_epoch, 0), ("batch_size", batch_size, 1),
                                  ("eval_interval", eval_interval, 1)):
            if value is not None:
                integer(key, value, least)
        if epochs is None:
            epochs = self.epoch + (10 if max_epoch is None else max_epoch)  # the book's default: 10 epochs
        if batch_size is not None:
            self.batch_size = batch_size
        if max_grad is not None:
            self.max_grad = _max_grad(max_grad)
        if eval_interval is not None:
            self.eval_interval = eval_interval
        if start_id is None:
            start_id = self.codec.start_id if self.codec is not None else 0
        return epochs, start_id

    def _book_report(self, total, epoch, iteration, n_batches, start):
        """The book's line every ``eval_interval`` batches: ``| epoch 1 |  iter 20 / 351 | time
        3[s] | loss 2.56``, the mean loss of those batches (one read-back of the loss, summed
        over the ranks)."""
        with self.comm.watch("reading the loss"):
            done = self.comm.sum(float(to_numpy(total)))
        loss = (done - self._reported if iteration > self.eval_interval else done) / self.eval_interval
        self._reported = done
        self.loss_list.append(loss)
        self._log(f"| epoch {epoch} |  iter {iteration} / {n_batches} | time {time.perf_counter() - start:.0f}[s] | loss {loss:.2f}")

    def plot(self, ylim=None, path=None):
        """The book's ``plot()``: the training loss of every ``eval_interval`` batches (or of every
        epoch, with the test accuracy, when fit had no ``eval_interval``). Shown on matplotlib's
        current backend (a notebook draws it inline), or saved as PNG at ``path`` -> the figure."""
        from .plots import plot_history, plot_losses

        if ylim is not None and not (isinstance(ylim, (tuple, list)) and len(ylim) == 2
                                     and all(isinstance(v, (int, float)) and math.isfinite(v) for v in ylim)):
            raise OptionError(f"<ylim> must be a pair (low, high) of numbers, such as (0, 3), got {quoted(repr(ylim))}")

        if self.loss_list:
            return plot_losses(self.loss_list, self.eval_interval, ylim=ylim, path=path)
        if not self.history:
            raise ValueError("nothing to plot: train with fit first")
        return plot_history(self.history, path, ylim=ylim)

    def _out_of_patience(self):
        if self.patience is None or not self.history or self.monitor not in self.history[-1]:
            return False
        accs = [h[self.monitor] for h in self.history]
        best_epoch = max(range(len(accs)), key=accs.__getitem__)  # the first epoch that reached the best
        return len(accs) - 1 - best_epoch >= self.patience

    def _check_ids(self, *arrays):
        """Every id inside the vocabulary, checked once on the host before training (on a GPU the
        layers do not check, so that no step waits for it)."""
        sizes = (self.model.config["vocab_size"], self.model.config["target_vocab_size"])
        for name, a, V in zip(("sources", "targets"), arrays, sizes):
            a = np.asarray(a) if isinstance(a, (np.ndarray, list)) else None
            if a is not None and a.size and (a.min() < 0 or a.max() >= V):
                raise ValueError(f"the training {name} hold id {int(a.max() if a.max() >= V else a.min())}, "
                                 f"outside the model's vocabulary of size {V}")

    def _check_diverged(self, mean, epoch, checkpoint, resume=None):
        """Stop before saving when the weights are no longer finite, or the loss is far above
        guessing (log V), or above guessing and far above the best epoch so far: the last good
        checkpoint stays as it is, and the message says which that is (this trainer's last save,
        or the checkpoint it resumed from, untouched)."""
        params = flat(self.model.params)
        xp = get_xp(*params)
        finite = bool(to_numpy(xp.stack([xp.isfinite(p).all() for p in params]).all()))  # one read per epoch
        best = min((h["loss"] for h in self.history), default=math.inf)
        guess = math.log(max(self.model.config["target_vocab_size"], 2))
        worse_than_guessing = mean > 10 * guess or (mean > guess and mean > 10 * best)
        if finite and not worse_than_guessing:
            return
        what = "the weights are no longer finite" if not finite else f"the loss rose to {mean:.4g}"
        saved = self.saved.get(os.fspath(checkpoint)) if checkpoint is not None else None
        if saved is not None:
            kept = f"the checkpoint of epoch {saved} in {checkpoint} is kept"
        elif resume is not None:
            kept = f"{resume} is as it was (epoch {self.resumed_at}), and this run saved nothing"
        else:
            kept = "nothing was saved"
        raise self._everywhere(TrainingError(
            f"training diverged in epoch {epoch} ({what}; random guessing scores {guess:.2f}); "
            f"{kept}; lower the learning rate (--lr) or clip gradients (--max-grad)"))

    def _check(self, mean, epoch, iteration):
        if not math.isfinite(mean):
            raise self._everywhere(TrainingError(
                f"the loss became {mean} in epoch {epoch} by batch {iteration}; lower the learning rate (--lr) "
                "or clip gradients (--max-grad)"))

    def _everywhere(self, exc):
        """A stop decided from what every rank shares (the summed loss, the same weights): every
        rank raises it at the same point."""
        return everywhere(exc) if self.comm.size > 1 else exc


def _max_grad(value):
    """A clipping norm: None or 0 (no clipping, as --max-grad 0), or a finite number above 0."""
    if value is None:
        return None
    finite("max_grad", value)
    return value or None


def _scores(scores):
    """What a scorer returned, as an epoch's record keeps it: a dict of finite numbers by name."""
    if not isinstance(scores, dict) or not all(isinstance(k, str) and not isinstance(v, bool) and isinstance(v, (int, float, np.number))
                                               and math.isfinite(v) for k, v in scores.items()):
        raise OptionError(f"<scorer> must return a dict of finite numbers by name (its scores), got {quoted(scores)}")
    return {k: v if k == "bleu_order" else float(v) for k, v in scores.items()}  # an order is a whole number


def _pairs(x_name, x, t_name, t):
    """Training or test pairs as the Trainer takes them: two 2-D arrays of integer ids (host or
    device; lists become arrays) with a row each per pair -> (x, t)."""
    arrays = []
    for name, a in ((x_name, x), (t_name, t)):
        if isinstance(a, (list, tuple)):
            a = np.asarray(a)
        dtype = getattr(a, "dtype", None)
        if getattr(a, "ndim", None) != 2 or dtype is None or np.dtype(dtype).kind not in "iu":
            got = f"{a.ndim}-D {dtype}" if dtype is not None and hasattr(a, "ndim") else quoted(type(a).__name__)
            raise OptionError(f"<{name}> must be a 2-D array of integer ids (pairs x steps), got {got}")
        arrays.append(a)
    if len(arrays[0]) != len(arrays[1]):
        raise OptionError(f"<{x_name}> and <{t_name}> must have a row each per pair, got {len(arrays[0]):,} and {len(arrays[1]):,} rows")
    return arrays


def _then(first, second):
    """A gradient hook that runs ``first``, then ``second`` (if any)."""
    if second is None:
        return first

    def both(grads):
        first(grads)
        second(grads)

    return both
