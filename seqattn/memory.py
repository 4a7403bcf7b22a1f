"""What a run will need in memory, estimated before anything is allocated, so that a request that
cannot fit is refused with the option to change instead of a MemoryError (or the machine's swap)
an epoch later. The one estimator for training, evaluation and prediction:

    training     weights, their gradients and the optimizer's slots, and one batch's activations,
                 the batch as large as the real data can make it (never more pairs than there are,
                 each as long as the longest)
    generation   weights and gradients, and the decoding state of every beam of a batch of inputs

The models say what they hold (``weight_count``, ``table_floats``, ``activation_floats``,
``decoding_floats``: see ``Seq2seqBase``); this module adds it up and names what to lower."""

from __future__ import annotations

import os

import numpy as np

from .errors import CheckpointError, OptionError


def memory_limit():
    """Half of this machine's memory, in bytes (8 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def _gib(n):
    return f"{n / 2**30:,.1f} GiB"


def _room():
    """(bytes, words) a model's weights and a step may take: on the cupy backend, the current
    GPU's free memory; elsewhere half of this machine's memory."""
    from .backend import device_memory

    gpu = device_memory()
    if gpu is not None:
        return gpu[0], f"this GPU's free memory ({_gib(gpu[0])} of {_gib(gpu[1])})"
    limit = memory_limit()
    return limit, f"half of this machine's memory ({_gib(limit)})"


def _itemsize(config):
    return np.dtype(config.get("dtype") or "float32").itemsize


def resident_bytes(cls, config, slots=0):
    """A model's weights, their gradients, ``slots`` optimizer arrays per weight, and its fixed
    tables, in bytes."""
    return _itemsize(config) * (cls.weight_count(config) * (2 + slots) + cls.table_floats(config))


def training_need(cls, config, batch, Ts, Tt, slots):
    """{part: bytes} of a training step of a ``cls`` model built with ``config`` (its constructor's
    arguments) on a batch of ``batch`` pairs of ``Ts`` source and ``Tt`` target steps."""
    return {"weights, gradients and optimizer state": resident_bytes(cls, config, slots),
            "a batch's activations": _itemsize(config) * batch * cls.activation_floats(config, Ts, Tt)}


def generation_need(cls, config, rows, beam, Ts, steps):
    """{part: bytes} of decoding ``rows`` inputs of ``Ts`` steps for ``steps`` steps with ``beam``
    hypotheses each."""
    return {"weights": resident_bytes(cls, config),
            "decoding": _itemsize(config) * rows * beam * cls.decoding_floats(config, Ts, steps)}


def _too_much(parts, room):
    total = sum(parts.values())
    shown = ", ".join(f"{k} {_gib(v)}" for k, v in parts.items())
    return f"about {_gib(total)} ({shown}), more than {room}"


def _lowest(need, values, keys):
    """Of ``keys``, the value whose lowering to 1 lowers ``need(values)`` the most (None if none does)."""
    best, low = None, need(values)
    for k in keys:
        if values.get(k) and values[k] > 1:
            n = need({**values, k: 1})
            if n < low:
                best, low = k, n
    return best


def lowerable(cls):
    """The constructor's arguments of ``cls`` that a user sets and that can be lowered: its sizes and
    its whole-number options."""
    keys = list(dict.fromkeys(cls.sizes.values()))
    keys += [k for k, v in cls.options.items() if isinstance(v, int) and not isinstance(v, bool) and k not in cls.derived and k not in keys]
    return keys


def check_training(cls, config, batch_size, slots, source_lengths, target_lengths, line_numbers, source, unit):
    """Refuse, before the model is built and anything is encoded, a run whose training step would
    not fit: the OptionError names what to lower (a size, the batch, the longest pairs)."""
    if not len(source_lengths):
        return
    limit, room = _room()
    n = len(source_lengths)
    values = {**config, "_batch": min(batch_size, n), "_Ts": max(source_lengths), "_Tt": max(target_lengths) + 2}

    def need(v):
        return sum(training_need(cls, v, v["_batch"], v["_Ts"], v["_Tt"], slots).values())

    if need(values) <= limit:
        return
    parts = training_need(cls, values, values["_batch"], values["_Ts"], values["_Tt"], slots)
    median = {"_Ts": sorted(source_lengths)[n // 2], "_Tt": sorted(target_lengths)[n // 2] + 2}
    options = lowerable(cls)
    key = _lowest(need, values, options + ["_batch", "vocab_size", "target_vocab_size"])
    if key is None or need({**values, **median}) < need({**values, key: 1}):
        side, lengths = max((("source", source_lengths), ("target", target_lengths)), key=lambda kv: max(kv[1]))
        k = max(range(n), key=lengths.__getitem__)
        raise OptionError(f"{source}, line {line_numbers[k]}: its {side} has {lengths[k]} {unit} (the median is "
                          f"{sorted(lengths)[n // 2]}), so one batch of {values['_batch']} would need {_too_much(parts, room)}; "
                          "leave out long pairs with <max_length>, or lower <batch_size>")
    if key == "_batch":
        raise OptionError(f"one batch of {values['_batch']:,} pairs of up to {values['_Ts']} and {values['_Tt']} {unit} would need "
                          f"{_too_much(parts, room)}; lower <batch_size>")
    if key in ("vocab_size", "target_vocab_size"):
        raise OptionError(f"vocabularies of {config['vocab_size']:,} and {config['target_vocab_size']:,} tokens would need "
                          f"{_too_much(parts, room)}; keep fewer tokens with <max_vocab> or <min_count>")
    raise OptionError(f"a model with <{key}> {config[key]:,} would need {_too_much(parts, room)}; lower <{key}>")


def check_run(opts, codec, source_lengths, target_lengths, line_numbers, source):
    """``check_training`` for a run of the command's resolved options ``opts`` on the training
    pairs that ``codec`` reads (their lengths in tokens, and their lines in ``source``)."""
    from .optim import OPTIMIZERS

    cls = opts.model_class
    longest = max(max(source_lengths, default=1), max(target_lengths, default=0) + 2)
    config = cls.arguments(codec, opts.sizes(), opts.own, longest=longest)
    slots = len(getattr(OPTIMIZERS.get(str(opts.optimizer).lower()), "slots", ("m", "v")))
    unit = "characters" if codec.tokens.kind == "char" else "tokens"
    check_training(cls, config, opts.batch_size, slots, source_lengths, target_lengths, line_numbers, source, unit)


def check_generation(cls, config, rows, beam, Ts, steps):
    """Refuse, before decoding, ``rows`` inputs of ``Ts`` steps decoded for ``steps`` steps with a
    beam of ``beam`` that would not fit (an OptionError naming <beam_width>)."""
    limit, room = _room()
    parts = generation_need(cls, config, rows, beam, Ts, steps)
    if sum(parts.values()) <= limit:
        return
    what = f"decoding {rows:,} inputs of up to {Ts} tokens for {steps} steps"
    if beam > 1:
        raise OptionError(f"<beam_width> {beam:,}: {what} would need {_too_much(parts, room)}; lower <beam_width>")
    raise OptionError(f"{what} would need {_too_much(parts, room)}; give fewer inputs at once")


def check_checkpoint_model(cls, config, path):
    """Refuse, before it is built, a checkpoint's model whose weights would not fit: a
    CheckpointError naming the field of its configuration that makes it so."""
    limit = memory_limit()
    need = resident_bytes(cls, config)
    if need <= limit:
        return
    key = _lowest(lambda v: resident_bytes(cls, v), config, ["vocab_size", "target_vocab_size", *lowerable(cls), *cls.derived])
    field = f"config.{key} is {config[key]:,}, so " if key else ""
    raise CheckpointError(f"{path!r} is not a checkpoint this machine can load: {field}its model would need about {_gib(need)}, "
                          f"more than half of this machine's memory ({_gib(limit)})")
