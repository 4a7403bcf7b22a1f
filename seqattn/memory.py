"""What a run will need in memory, estimated before anything is allocated, so that a request that
cannot fit is refused with the option to change instead of a MemoryError (or the machine's
swap) an epoch later."""

from __future__ import annotations

import os

from .errors import OptionError

# A batch's working memory, in floats per example per step of hidden width (recurrent caches,
# workspaces and gradients of both LSTMs) and per score (scores, softmax and their gradients).
_FLOATS_PER_HIDDEN_STEP, _FLOATS_PER_SCORE = 24, 4


def memory_limit():
    """Half of this machine's memory, in bytes (8 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_batch_memory(codec, opts, source, source_lengths, target_lengths, line_numbers):
    """Refuse, before anything is encoded, data whose longest example would need a batch larger
    than memory."""
    N, H, V = opts.batch_size, opts.hidden, len(codec.target_vocab)
    Ts, Tt = max(source_lengths, default=0), max(target_lengths, default=0) + 2
    need = 4 * N * ((Ts + Tt) * H * _FLOATS_PER_HIDDEN_STEP + Tt * (V + Ts) * _FLOATS_PER_SCORE)
    if need <= memory_limit():
        return
    side, lengths = max((("source", source_lengths), ("target", target_lengths)), key=lambda kv: max(kv[1]))
    k = max(range(len(lengths)), key=lengths.__getitem__)
    unit = "characters" if codec.tokens.kind == "char" else "tokens"
    raise OptionError(f"{source}, line {line_numbers[k]}: its {side} has {lengths[k]} {unit} (the median is "
                      f"{sorted(lengths)[len(lengths) // 2]}), so one batch of {N} would need about {need / 2**30:.0f} GiB, "
                      f"more than half of this machine's memory; leave out long pairs with <max_length>, or lower <batch_size>")
