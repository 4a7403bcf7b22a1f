"""Optimizers (the book's update rules, in place) and gradient clipping.

Each optimizer: ``update(params, grads)``; ``state()`` / ``load_state(...)`` for checkpoints (which
``seqattn.checkpoint`` files under the weights' names).
Nothing here reads a value back to the host, so a training step on cupy never waits on the GPU.
"""

from __future__ import annotations

import math

from .backend import get_xp, to_numpy
from .errors import finite, fraction
from .packed import Packed, flat
from .ops import get_ops


def clip_grads(grads, max_norm):
    """Scale all ``grads`` in place so that their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping as a 0-d array (left on the device). A model's packed
    gradients are one pass each way, however many arrays they are.
    """
    grads = flat(grads)
    xp = get_xp(*grads)
    total = xp.sqrt(get_ops(*grads).sum_squares(grads))
    rate = xp.minimum(max_norm / (total + 1e-6), 1.0).astype(grads[0].dtype)
    for g in grads:
        g *= rate
    return total


class Optimizer:
    """``update(params, grads)`` steps every weight. Its hyperparameters are checked when it is
    made (a finite rate of at least 0; momentum, decay rate and betas at least 0 and below 1),
    naming the one that is wrong. With a model's packed weights and gradients
    (``Composite.pack``) the slots are packed the same way and each update is one pass over the
    buffers, whatever the number of arrays; with plain lists it is one pass per array."""

    slots = ()  # names of the per-parameter state arrays
    nonnegative = ()  # the slots that are never negative (sums of squares), checked when a checkpoint restores them
    hyper = ("lr",)

    def __init__(self, lr):
        finite("lr", lr)  # a NaN or negative rate would wreck every weight in one update
        self.lr = lr
        self.iter = 0
        self.state_arrays = None  # {slot: [array per param]} (Packed like the params when they are)

    def _slots(self, params):
        if self.state_arrays is None:
            xp = get_xp(*params)
            self.state_arrays = {s: params.zeros_like() if isinstance(params, Packed) else [xp.zeros_like(p) for p in params]
                                 for s in self.slots}
        return self.state_arrays

    def update(self, params, grads):
        """One step of every weight in ``params`` from ``grads`` (same shapes), in place;
        counts the step in ``iter``."""
        self.iter += 1
        state = self._slots(params)
        arrays = [params, grads, *(state[s] for s in self.slots)]
        if all(isinstance(a, Packed) for a in arrays):
            arrays = [flat(a) for a in arrays]
        for p, g, *slots in zip(*arrays):
            self._step(p, g, *slots)

    def state(self):
        """({slot: [numpy array per param]}, meta) that ``load_state`` restores exactly."""
        slots = {s: [to_numpy(a) for a in lst] for s, lst in (self.state_arrays or {}).items()}
        meta = {"name": type(self).__name__, "iter": self.iter, **{h: getattr(self, h) for h in self.hyper}}
        return slots, meta

    def load_state(self, slots, meta, params):
        """Restore ``state()``'s output; the arrays go to the device of ``params``."""
        self.iter = meta["iter"]
        for h in self.hyper:
            setattr(self, h, meta[h])
        if self.slots and all(s in slots for s in self.slots):
            self.state_arrays = None
            for s, arrays in self._slots(params).items():
                for dst, a in zip(arrays, slots[s]):
                    dst[...] = get_xp(dst).asarray(a, dtype=dst.dtype)  # onto the device of params


class SGD(Optimizer):
    """``SGD(lr=0.01)``: p -= lr g."""

    def __init__(self, lr=0.01):
        super().__init__(lr)

    def _step(self, p, g):
        p -= self.lr * g


class Momentum(Optimizer):
    """``Momentum(lr=0.01, momentum=0.9)``: v = momentum v - lr g; p += v (slot ``v``)."""

    slots = ("v",)
    hyper = ("lr", "momentum")

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr)
        fraction("momentum", momentum)
        self.momentum = momentum

    def _step(self, p, g, v):
        v *= self.momentum
        v -= self.lr * g
        p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, in the book's form."""

    def _step(self, p, g, v):
        v *= self.momentum
        v -= self.lr * g
        p += self.momentum * self.momentum * v
        p -= (1 + self.momentum) * self.lr * g


class AdaGrad(Optimizer):
    """``AdaGrad(lr=0.01)``: h += g g; p -= lr g / (sqrt(h) + 1e-7) (slot ``h``)."""

    slots = ("h",)
    nonnegative = ("h",)

    def __init__(self, lr=0.01):
        super().__init__(lr)

    def _step(self, p, g, h):
        h += g * g
        p -= self.lr * g / (get_xp(h).sqrt(h) + 1e-7)


class RMSprop(Optimizer):
    """``RMSprop(lr=0.01, decay_rate=0.99)``: h = decay h + (1 - decay) g g; p -= lr g / (sqrt(h) + 1e-7)
    (slot ``h``)."""

    slots = ("h",)
    nonnegative = ("h",)
    hyper = ("lr", "decay_rate")

    def __init__(self, lr=0.01, decay_rate=0.99):
        super().__init__(lr)
        fraction("decay_rate", decay_rate)
        self.decay_rate = decay_rate

    def _step(self, p, g, h):
        h *= self.decay_rate
        h += (1 - self.decay_rate) * g * g
        p -= self.lr * g / (get_xp(h).sqrt(h) + 1e-7)


class Adam(Optimizer):
    """``Adam(lr=0.001, beta1=0.9, beta2=0.999)``: the book's Adam (slots ``m`` and ``v``); one fused
    kernel per update on cupy."""

    slots = ("m", "v")
    nonnegative = ("v",)
    hyper = ("lr", "beta1", "beta2")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        super().__init__(lr)
        fraction("beta1", beta1)
        fraction("beta2", beta2)
        self.beta1, self.beta2 = beta1, beta2

    def update(self, params, grads):
        """One Adam step in place, the rate ``lr_t`` holding both bias corrections (the book's form)."""
        self._lr_t = self.lr * math.sqrt(1.0 - self.beta2 ** (self.iter + 1)) / (1.0 - self.beta1 ** (self.iter + 1))
        super().update(params, grads)

    def _step(self, p, g, m, v):
        get_ops(p).adam_step(p, g, m, v, self._lr_t, self.beta1, self.beta2)


OPTIMIZERS = {cls.__name__.lower(): cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)}


def make_optimizer(name, lr=None, **hyper):
    """An optimizer by name (sgd, momentum, nesterov, adagrad, rmsprop, adam), with ``lr`` (or its
    default) and any of its other hyperparameters (Adam's beta1 and beta2, ...)."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None
    unknown = sorted(set(hyper) - set(cls.hyper))
    if unknown:
        raise ValueError(f"{cls.__name__} takes no {', '.join(unknown)}")
    return cls(**({} if lr is None else {"lr": lr}), **hyper)


SCHEDULES = ("constant", "rsqrt", "cosine", "linear")


class Schedule:
    """The learning rate at each update as a factor of the base rate.

    constant  1 (after the warm-up)
    rsqrt     linear warm-up to 1 at ``warmup`` updates, then sqrt(warmup / step) ("Attention Is
              All You Need"; needs warmup > 0)
    cosine    linear warm-up, then a half cosine from 1 down to ``floor`` at update ``total``
    linear    linear warm-up, then a straight line from 1 down to ``floor`` at update ``total``
    """

    def __init__(self, name="constant", warmup=0, total=None, floor=0.0):
        if name not in SCHEDULES:
            raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
        if warmup < 0 or not 0 <= floor <= 1:
            raise ValueError(f"schedule: warmup must be 0 or more and floor between 0 and 1, got {warmup} and {floor}")
        if name == "rsqrt" and warmup < 1:
            raise ValueError("the rsqrt schedule needs a warm-up of at least 1 update (--warmup)")
        self.name, self.warmup, self.total, self.floor = name, int(warmup), total, floor

    def __call__(self, step):
        """The factor at update ``step`` (1 for the first update)."""
        w = self.warmup
        if w and step < w:
            return step / w
        if self.name == "constant":
            return 1.0
        if self.name == "rsqrt":
            return math.sqrt(w / step)
        span = max((self.total or step) - w, 1)
        p = min(max(step - w, 0) / span, 1.0)
        shape = 0.5 * (1 + math.cos(math.pi * p)) if self.name == "cosine" else 1 - p
        return self.floor + (1 - self.floor) * shape

    def to_dict(self):
        """The schedule as JSON-able fields (name, warmup, total, floor), as checkpoints keep it."""
        return {"name": self.name, "warmup": self.warmup, "total": self.total, "floor": self.floor}
