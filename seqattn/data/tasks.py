"""Seeded generators for the book's two tasks, written in the book's file format.

addition: ``a+b`` with a, b in 0..999 -> the sum (question 7 wide, answer ``_`` + 4 wide). As in
          the book's file, each operand has 1 to 3 random digits (so short numbers are common),
          and no unordered pair {a, b} appears twice.
date:     a date from 1970 to 2020 in one of many human formats -> ``YYYY-MM-DD``
          (question 29 wide, answer ``_`` + 10 wide).

Each task makes at most ``CAPACITY[task]`` examples (its distinct ones) and refuses a larger count
at once, before any work.
"""

from __future__ import annotations

import datetime
import re

import numpy as np

from ..errors import quoted

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

# Each format is a function of the date; the case of the whole text is varied afterwards.
DATE_FORMATS = [
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",                    # september 27, 1994
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",                # sep 27, 1994
    lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",  # tuesday, september 25, 1984
    lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",                       # 2/10/93
    lambda d: f"{d.month}/{d.day}/{d.year}",                                 # 2/10/1993
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",                     # 27 september 1994
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",                 # 27 sep 1994
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",               # 27.09.94
    lambda d: f"{MONTHS[d.month - 1]} {d.day} {d.year}",                     # september 27 1994
    lambda d: f"{WEEKDAYS[d.weekday()][:3]}, {MONTHS[d.month - 1][:3]} {d.day}, {d.year}",  # tue, sep 25, 1984
]
# The same formats as ``strptime`` patterns, to read an input back (in the same order; names are
# matched in any case; a test holds the two lists together).
DATE_PATTERNS = ["%B %d, %Y", "%b %d, %Y", "%A, %B %d, %Y", "%m/%d/%y", "%m/%d/%Y", "%d %B %Y", "%d %b %Y",
                 "%d.%m.%y", "%B %d %Y", "%a, %b %d, %Y"]
CASES = [str.lower, str.title, str.upper]
FIRST, LAST = datetime.date(1970, 1, 1), datetime.date(2020, 12, 31)
ADDITION_DIGITS = 3  # each operand has 1 to 3 digits


EXAMPLES = 50000  # generated for a task unless told otherwise
ADDITION_PAIRS = 1000 * 1001 // 2  # unordered pairs {a, b} of numbers 0..999
REJECTION_UP_TO = 100_000  # addition counts drawn by rejecting repeats (the book's way); larger ones at once
DATE_DRAWS = ((LAST - FIRST).days + 1) * len(DATE_FORMATS) * len(CASES)  # (day, format, case) combinations


def _check_count(task, n, capacity, what):
    from .text import DataError

    if n > capacity:
        raise DataError(f"the {task} task has {capacity:,} {what}; ask for at most that many examples")


def _operand_probabilities():
    """P(v) for v in 0..999 of one drawn operand: 1 to 3 digits, then uniform among d-digit strings."""
    v = np.arange(1000)
    return sum((v < 10**d) / (3.0 * 10**d) for d in (1, 2, 3))


def _remaining_pairs(seen, k, rng):
    """``k`` of the pairs not in ``seen``, drawn one after another without replacement as the
    rejection sampler would go on drawing them (each with weight P(a) P(b), in both orders), at
    once: the order of exponential keys (Efraimidis and Spirakis) -> [(x, y)]."""
    a, b = np.triu_indices(1000)
    p = _operand_probabilities()
    weight = p[a] * p[b] * np.where(a == b, 1.0, 2.0)
    if seen:
        taken = np.array(sorted(seen))
        keep = np.ones(len(a), dtype=bool)
        keep[np.searchsorted(a * 1000 + b, taken[:, 0] * 1000 + taken[:, 1])] = False
        a, b, weight = a[keep], b[keep], weight[keep]
    keys = np.log(rng.random(len(a))) / weight
    order = np.argsort(-keys)[:k]
    swap = rng.random(len(order)) < 0.5
    return [(y, x) if s else (x, y) for x, y, s in zip(a[order].tolist(), b[order].tolist(), swap.tolist())]


def addition_lines(n=EXAMPLES, seed=0):
    """``n`` lines like ``16+75  _91  ``, at most ADDITION_PAIRS (every distinct pair). Up to
    REJECTION_UP_TO, pairs are drawn and repeats thrown away (while that finds new pairs quickly);
    more, or the rest once rejection has become slow, are drawn from the pairs left at once,
    without replacement and with the same weights: every count is made in seconds."""
    _check_count("addition", n, ADDITION_PAIRS, "distinct pairs")
    rng = np.random.default_rng(seed)
    seen, lines = set(), []
    if n > REJECTION_UP_TO:
        return [f"{x}+{y}".ljust(7) + f"_{x + y}".ljust(5) for x, y in _remaining_pairs(seen, n, rng)]
    while len(lines) < n:
        m = 4 * (n - len(lines)) + 16
        digits = rng.integers(1, 4, (m, 2))
        values = (rng.random((m, 2)) * 10.0**digits).astype(np.int64)  # uniform among d-digit strings
        before = len(lines)
        for x, y in values.tolist():
            key = (min(x, y), max(x, y))
            if key not in seen and len(lines) < n:
                seen.add(key)
                lines.append(f"{x}+{y}".ljust(7) + f"_{x + y}".ljust(5))
        if len(lines) < n and len(lines) - before < m // 8:  # rejection has become slow
            pairs = _remaining_pairs(seen, n - len(lines), rng)
            lines += [f"{x}+{y}".ljust(7) + f"_{x + y}".ljust(5) for x, y in pairs]
    return lines


def date_lines(n=EXAMPLES, seed=0):
    """``n`` lines like ``September 27, 1994           _1994-09-27``, drawn with repeats, at most
    DATE_DRAWS (the day, format and case combinations: more would mostly repeat them)."""
    _check_count("date", n, DATE_DRAWS, f"questions to draw from ({(LAST - FIRST).days + 1:,} days in {len(DATE_FORMATS)} "
                 f"formats and {len(CASES)} letter cases)")
    rng = np.random.default_rng(seed)
    days = rng.integers(0, (LAST - FIRST).days + 1, n).tolist()
    fmts = rng.integers(0, len(DATE_FORMATS), n).tolist()
    cases = rng.integers(0, len(CASES), n).tolist()
    lines = []
    for day, f, c in zip(days, fmts, cases):
        d = FIRST + datetime.timedelta(days=day)
        lines.append(CASES[c](DATE_FORMATS[f](d)).ljust(29) + "_" + d.isoformat())
    return lines


TASKS = {"addition": addition_lines, "date": date_lines}
CAPACITY = {"addition": ADDITION_PAIRS, "date": DATE_DRAWS}


# ------------------------------------------------------------------ inputs outside a task
def addition_input_problem(text):
    """Why ``text`` is not a question of the addition task (None when it is one)."""
    m = re.fullmatch(r"(\d+)\+(\d+)", text.strip())
    if m is None:
        return f"{quoted(text)} is not in the addition task's form 'a+b' (digits and one '+', no spaces)"
    top = 10**ADDITION_DIGITS - 1
    if any(len(n) > ADDITION_DIGITS or (len(n) > 1 and n[0] == "0") for n in m.groups()):
        return f"{quoted(text)}: the addition task's numbers are 0 to {top}, written without leading zeros"
    return None


def parse_date(text):
    """The date ``text`` writes in one of the date task's formats, or None."""
    for pattern in DATE_PATTERNS:
        try:
            return datetime.datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    return None


def date_input_problem(text):
    """Why ``text`` is not a question of the date task (None when it is one)."""
    d = parse_date(text)
    if d is None:
        examples = ", ".join(repr(f(datetime.date(1994, 9, 27))) for f in DATE_FORMATS[:4])
        return f"{quoted(text)} is in none of the date task's formats (such as {examples})"
    if not FIRST <= d <= LAST:
        return f"{quoted(text)} is {d.isoformat()}, outside the dates the task was trained on ({FIRST.year} to {LAST.year})"
    return None


INPUT_PROBLEMS = {"addition": addition_input_problem, "date": date_input_problem}
