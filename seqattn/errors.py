"""The errors of what a user gives: an option that cannot be used (and the checks that raise it),
and a checkpoint that cannot be read. Whoever defines an option checks it here, once (the models
their own options, ``seqattn.options`` the training options); the message names the option as
its caller spells it."""

from __future__ import annotations

import math
import re

import numpy as np


class OptionError(ValueError):
    """An option that cannot be used: one line. ``<name>`` in the text stands for an option and
    is rendered as the caller spells it: the parameter's name by default, a flag in the command
    (``render(flags)``)."""

    _NAME = re.compile(r"<([a-z_0-9]+)>")

    def __init__(self, text):
        self.text = text
        super().__init__(self.render())

    def render(self, names=None):
        """The message with each ``<option>`` spelt as ``names[option]`` says."""
        def spelt(m):
            try:
                return names[m.group(1)]
            except (KeyError, TypeError):
                return m.group(1)

        return self._NAME.sub(spelt, self.text)


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, or does not fit the model it is loaded into: one line
    that names the file (and the field or weight that is wrong)."""


QUOTE_LIMIT = 80  # characters of a user's data that a message quotes


def quoted(text, limit=QUOTE_LIMIT):
    """``text`` (a line, a field, a token, a value given) as one message quotes it: its repr, cut
    to its first ``limit`` characters with the rest counted, so that a message about a line of
    50 MB is still one short line. Every message that quotes data goes through here."""
    text = text if isinstance(text, str) else str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def is_int(value):
    """An integer, and not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def integer(key, value, least=0):
    """A whole number (an int, not a bool or a float) of at least ``least``."""
    if not is_int(value):
        raise OptionError(f"<{key}> must be a whole number, got {value!r}")
    if value < least:
        raise OptionError(f"<{key}> must be at least {least}, got {value!r}")


def positive_int(key, value):
    """An int of at least 1 (not a bool), or an OptionError naming ``key``."""
    integer(key, value, 1)


def fraction(key, value):
    """At least 0 and below 1 (a dropout rate, label smoothing, Adam's betas)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value < 1:
        raise OptionError(f"<{key}> must be at least 0 and below 1, got {quoted(value) if isinstance(value, str) else value}")


def finite(key, value, least=0):
    """A finite number (not a bool) of at least ``least`` (a learning rate, a clipping norm)."""
    try:
        number = not isinstance(value, bool) and isinstance(value, (int, float, np.number)) and math.isfinite(float(value))
    except OverflowError:  # an int beyond any float
        number = False
    if not number or value < least:
        raise OptionError(f"<{key}> must be a finite number of at least {least}, got "
                          f"{quoted(value) if isinstance(value, str) else value}")


def choice(key, value, allowed):
    """One of ``allowed``, or an OptionError naming ``key`` and the choices."""
    if value not in allowed:
        raise OptionError(f"unknown <{key}> {value!r}; choose one of {', '.join(map(str, allowed))}")


class UsageError(Exception):
    """A problem with what the user asked the command for: printed as one line, exit status 2."""

