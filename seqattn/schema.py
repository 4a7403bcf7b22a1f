"""Reading a checkpoint's JSON meta field by field, against what the format says each field is.

A checkpoint is a file from anywhere: every field that is read is checked here for its presence,
its type and its range, and a field that is wrong is one CheckpointError line that names the
file and the field (``codec.vocab.tokens``), never a KeyError or a TypeError further on."""

from __future__ import annotations

import math

from .errors import QUOTE_LIMIT, CheckpointError, is_int, quoted


class Fields:
    """``Fields(data, source, where="")``: the JSON object ``data`` of the checkpoint ``source``,
    found at ``where`` (``"codec.vocab"``). Each getter returns the field's value once it is
    checked; ``null=True`` lets it be null (None) or absent, ``absent=True`` only absent (a field
    that the format leaves out, but never writes as null), and ``present=True`` with ``null``
    only null (a field always written, sometimes as null)."""

    def __init__(self, data, source, where=""):
        self.source, self.where = source, where
        if not isinstance(data, dict):
            raise self.error(None, f"must be an object, got {_kind(data)}")
        self.data = data

    def name(self, key):
        return ".".join(k for k in (self.where, key) if k)

    def error(self, key, problem):
        field = self.name(key) or "its meta"
        field = quoted(field) if len(field) > QUOTE_LIMIT else field  # a key may be any text
        return CheckpointError(f"{self.source!r} is not a valid seqattn checkpoint: {field} {problem}")

    def has(self, key):
        return self.data.get(key) is not None

    def _get(self, key, null, absent=False, present=False):
        if key not in self.data:
            if (null or absent) and not present:
                return None
            raise self.error(key, "is missing")
        value = self.data[key]
        if value is None and not null:
            raise self.error(key, "is null")
        return value

    def int(self, key, least=0, most=None, null=False, absent=False, present=False):
        value = self._get(key, null, absent, present)
        if value is None:
            return None
        if not is_int(value):
            raise self.error(key, f"must be a whole number, got {_kind(value)}")
        if value < least or (most is not None and value > most):
            span = f"from {least:,} to {most:,}" if most is not None else f"at least {least:,}"
            raise self.error(key, f"must be {span}, got {value:,}")
        return int(value)

    def number(self, key, least=None, most=None, below=None, null=False, absent=False, above=None, present=False):
        """A finite number in [least, most] (or above ``above``, below ``below``)."""
        value = self._get(key, null, absent, present)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {_kind(value)}")
        if (least is not None and value < least) or (most is not None and value > most) or (below is not None and value >= below) \
                or (above is not None and value <= above):
            span = " and ".join(s for s in (f"at least {least}" if least is not None else "",
                                            f"above {above}" if above is not None else "",
                                            f"at most {most}" if most is not None else "",
                                            f"below {below}" if below is not None else "") if s)
            raise self.error(key, f"must be {span}, got {value}")
        return value

    def bool(self, key, null=False, absent=False):
        value = self._get(key, null, absent)
        if value is not None and not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {_kind(value)}")
        return value

    def str(self, key, choices=None, null=False, absent=False, longest=None):
        """A string (one of ``choices``; of at most ``longest`` characters)."""
        value = self._get(key, null, absent)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {_kind(value)}")
        if longest is not None and len(value) > longest:
            raise self.error(key, f"must be at most {longest:,} characters long, got {len(value):,}")
        if choices is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(map(repr, choices))}, got {quoted(value)}")
        return value

    def list(self, key, of=None, length=None, null=False, absent=False):
        """A list (of values of type ``of``: str, int or dict; of ``length`` items)."""
        value = self._get(key, null, absent)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.error(key, f"must be a list, got {_kind(value)}")
        if length is not None and len(value) != length:
            raise self.error(key, f"must have {length} items, got {len(value)}")
        if of is not None:
            for k, item in enumerate(value):
                if not (is_int(item) if of is int else isinstance(item, of)):
                    raise self.error(f"{key}[{k}]", f"must be {_KINDS[of]}, got {_kind(item)}")
        return value

    def obj(self, key, null=False, absent=False):
        """The object at ``key`` as Fields (None when it may be null or absent and is)."""
        value = self._get(key, null, absent)
        return None if value is None else Fields(value, self.source, self.name(key))

    def only(self, keys, what):
        """Refuse fields besides ``keys`` (a misspelt or foreign one is not silently dropped)."""
        extra = sorted(set(self.data) - set(keys))
        if extra:
            raise self.error(extra[0], f"is not a field of {what}")


_KINDS = {str: "a string", int: "a whole number", dict: "an object"}


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return f"the string {quoted(value)}"
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
