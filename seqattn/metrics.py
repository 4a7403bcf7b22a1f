"""Evaluation on whole batches: exact-match accuracy of generated answers, and for real text the
translation scores BLEU and chrF as sacrebleu computes them (its defaults: 13a tokenisation for
BLEU, character 6-grams with beta 2 for chrF; both on its 0-100 scale), so that the numbers
compare with papers; and for attention models, how their attention lines up with the source
(``attention_alignment``), so that attention collapsed onto one source token shows in numbers."""

from __future__ import annotations

import numpy as np

from .backend import to_device, to_numpy
from .distributed import ONE

# Rows generated at once: large enough for efficient matrix products, small enough that the
# per-step working set stays in cache (256 measured 18% faster than 1,000 on the CPU).
EVAL_BATCH = 256


def _length_batches(x, pad, batch_size):
    """Batches of rows of host ids ``x`` -> [(row indices, width)]: in order of source length, each
    cut to its longest source, when there is padding; else in order, at full width."""
    if pad is None or not len(x):
        return [(np.arange(i, min(i + batch_size, len(x))), x.shape[1]) for i in range(0, len(x), batch_size)]
    lengths = (x != pad).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    return [(order[i : i + batch_size], max(1, int(lengths[order[i : i + batch_size]].max()))) for i in range(0, len(x), batch_size)]


def predict(model, x, start_id, sample_size, batch_size=EVAL_BATCH, beam_width=1, stop_id=None):
    """Generate for every row of ``x`` (host or device ids), ``batch_size`` rows at a time -> numpy ids.

    Sources of different lengths (a model with ``pad_id``) are generated in order of length, each
    batch cut to its longest source, so that little of the work is padding."""
    host = to_numpy(x)
    batches = _length_batches(host, getattr(model, "pad_id", None), batch_size)
    outs = []
    for rows, width in batches:
        xb = to_device(host[rows, :width], like=model.params[0])  # onto the model's device
        outs.append(to_numpy(model.generate(xb, start_id, sample_size, beam_width=beam_width, stop_id=stop_id)))
    if not outs:
        return np.zeros((0, sample_size), dtype=np.int64)
    out = np.empty((len(host), sample_size), dtype=outs[0].dtype)
    out[np.concatenate([rows for rows, _ in batches])] = np.concatenate(outs)
    return out


def exact_match(model, x, t, start_id, batch_size=EVAL_BATCH, beam_width=1, stop_id=None, comm=ONE):
    """Fraction of rows whose generated answer equals ``t[:, 1:]`` exactly, and the predictions.
    With ``comm`` of several ranks, each rank generates its part of the rows (``comm.part``) and
    the counts are summed: the fraction on every rank, the predictions of this rank's part."""
    t = to_numpy(t)
    part = comm.part(len(t))
    pred = predict(model, x[part], start_id, t.shape[1] - 1, batch_size, beam_width, stop_id)
    right = comm.sum(int((pred == t[part, 1:]).all(axis=1).sum()))
    return right / len(t) if len(t) else 0.0, pred


def text_scores(hypotheses, references, lowercase=False):
    """Corpus BLEU and chrF of detokenised ``hypotheses`` against one reference each, from
    sacrebleu (the ``[text]`` extra) -> {"bleu": float, "chrf": float} (0-100).

    BLEU counts matches of 1 to 4 tokens, so where no reference is 4 tokens long it is 0 for any
    output, a perfect one included. There it counts matches of 1 to ``k`` tokens, ``k`` the length
    of the longest reference (sacrebleu's ``max_ngram_order``; BLEU-k), and the scores say so with
    "bleu_order": k. The order depends on the references alone, so every epoch of a run scores
    alike."""
    from .data.tokens import require

    sacrebleu = require("sacrebleu", what="BLEU and chrF")
    hypotheses, references = list(hypotheses), list(references)
    order = bleu_order(references, lowercase)
    if order < BLEU_ORDER:
        from sacrebleu.metrics import BLEU

        bleu = BLEU(lowercase=lowercase, max_ngram_order=order).corpus_score(hypotheses, [references])
    else:
        bleu = sacrebleu.corpus_bleu(hypotheses, [references], lowercase=lowercase)
    if lowercase:  # chrF has no lowercase option: it compares lower-cased texts
        hypotheses, references = [h.lower() for h in hypotheses], [r.lower() for r in references]
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    scores = {"bleu": min(float(bleu.score), 100.0), "chrf": min(float(chrf.score), 100.0)}  # 100.00000000000004 is 100
    if order < BLEU_ORDER:
        scores["bleu_order"] = order
    return scores


BLEU_ORDER = 4  # BLEU's longest match, as published scores count it


def bleu_order(references, lowercase=False):
    """The longest match BLEU can count on ``references``: the tokens (BLEU's own, 13a) of the
    longest, at most ``BLEU_ORDER`` (at least 1). Read from sacrebleu's n-gram totals of the
    references scored against themselves."""
    from .data.tokens import require

    sacrebleu = require("sacrebleu", what="BLEU")

    if not references:
        return BLEU_ORDER
    totals = sacrebleu.corpus_bleu(references, [references], lowercase=lowercase).totals
    return max(1, sum(1 for n in totals[:BLEU_ORDER] if n > 0))


def bleu_name(scores):
    """"BLEU", or "BLEU-k" where the scores count matches of at most k tokens (``text_scores``)."""
    return f"BLEU-{int(scores['bleu_order'])}" if "bleu_order" in scores else "BLEU"


def evaluate(model, pairs, codec, batch_size=EVAL_BATCH, beam_width=1, text=None, comm=ONE, alignment=False):
    """Scores of ``model`` on ``pairs`` (a data.Pairs) -> (scores, predicted ids). ``scores``
    has "accuracy" (exact match), and with ``text`` (default: for tab-separated pairs) "bleu"
    and "chrf" of the detokenised outputs against the target texts as written. With
    ``alignment``, an attention model's scores also have "alignment" (``attention_alignment``).
    With ``comm`` of several ranks each generates its part (see ``exact_match``), rank 0 scores
    the texts (and alignments) of all, and every rank gets the scores."""
    acc, pred = exact_match(model, pairs.x, pairs.t, codec.start_id, batch_size, beam_width, codec.stop_id, comm)
    scores = {"accuracy": acc}
    if text if text is not None else codec.format == "tsv":
        parts = comm.gather(codec.decode(pred))  # on rank 0, every rank's texts in rank order
        found = text_scores([h for p in parts for h in p], pairs.targets, lowercase=codec.target_tokens.lower) if comm.root else None
        scores.update(comm.bcast(found))
    if alignment and model.has_attention and len(pairs):
        rows = comm.gather(attention_alignment_rows(model, to_numpy(pairs.x)[comm.part(len(pairs))], pred, codec, batch_size))
        scores["alignment"] = comm.bcast(_alignment_of_parts(rows) if comm.root else None)
    return scores, pred


# ----------------------------------------------------------------------------- alignment
# How an attention model's weights line up with the source, so that a collapse onto one source
# position shows in numbers. All rows and steps at once; nothing loops over time steps.
ALIGNMENT_EARLY = 3  # output steps 1-3 are reported apart: the final source token is often right there


def alignment_rows(weights, source_lengths, output_lengths, reverse=False):
    """Per-row alignment figures of attention ``weights`` (N, S, Ts) (or (N, heads, S, Ts),
    averaged over the heads), for sources of ``source_lengths`` real tokens (right-padded) and
    outputs of ``output_lengths`` real steps (the steps after them are left out). ``reverse``: the
    encoder read each source backwards (positions are turned back into reading order).

    -> dict of numpy arrays:
        final (N, S)   weight on the source position the encoder read last (NaN beyond a row's output)
        steps (N,)     output steps counted (``output_lengths``, at most S)
        forward (N,)   steps whose argmax source position (reading order) is not before the previous step's
        moves (N,)     steps that have a previous step (steps - 1, at least 0)
        tau (N,)       Kendall's tau-b between output step and argmax source position; 0 where the argmax
                       never moves, NaN for rows with fewer than 2 steps or 2 source tokens
        covered (N,)   share of the source positions that are some step's argmax
    """
    w = to_numpy(weights).astype(np.float64, copy=False)
    if w.ndim == 4:
        w = w.mean(axis=1)
    N, S, Ts = w.shape
    ls = np.clip(np.asarray(to_numpy(source_lengths), dtype=np.int64), 1, Ts)
    lo = np.clip(np.asarray(to_numpy(output_lengths), dtype=np.int64), 0, S)
    rows = np.arange(N)
    live = np.arange(S)[None, :] < lo[:, None]  # (N, S) real output steps
    final = np.where(live, w[rows, :, ls - 1], np.nan)
    pos = w.argmax(axis=2)  # (N, S) in the encoder's order
    if reverse:
        pos = ls[:, None] - 1 - pos
    pos = np.where(live, pos, -1)
    step_pair = live[:, 1:] & live[:, :-1]
    forward = ((pos[:, 1:] >= pos[:, :-1]) & step_pair).sum(axis=1)
    moves = step_pair.sum(axis=1)
    # Kendall's tau-b over the pairs of steps i < j: the steps never tie, the positions may
    upper = np.triu(np.ones((S, S), dtype=bool), 1)[None] & live[:, :, None] & live[:, None, :]
    sign = np.sign(pos[:, None, :] - pos[:, :, None]) * upper  # (N, S, S): j after i
    pairs = upper.sum(axis=(1, 2))
    untied = (sign != 0).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(untied > 0, sign.sum(axis=(1, 2)) / np.sqrt(pairs * np.maximum(untied, 1)), 0.0)
    tau = np.where((lo >= 2) & (ls >= 2), tau, np.nan)
    hit = np.zeros((N, Ts + 1), dtype=bool)
    hit[rows[:, None], np.where(live, pos, Ts)] = True
    covered = hit[:, :Ts].sum(axis=1) / ls
    return {"final": final, "steps": lo, "forward": forward, "moves": moves, "tau": tau, "covered": covered}


def alignment_summary(rows):
    """``alignment_rows`` (or several, concatenated row-wise) -> the figures as floats (None where
    nothing was counted):

        final_by_step   mean weight on the encoder's last-read source position at output steps 1, 2, ...
                        (while at least a tenth of the rows are still producing)
        final_early     the same over every step of steps 1-3, and final_late over steps 4 on
        monotone        share of steps whose argmax source position does not go back (reading order)
        kendall_tau     mean Kendall's tau-b of argmax position against output step (rows of 2+ steps)
        coverage        mean share of source positions that are some step's argmax
    """
    final = rows["final"]
    N = len(final)
    counts = np.isfinite(final).sum(axis=0)
    sums = np.nansum(final, axis=0)
    share = lambda s, c: float(s / c) if c else None  # noqa: E731  (None, not NaN: it is written as JSON)
    by_step = [share(s, c) for s, c in zip(sums, counts) if c and c >= 0.1 * N]
    early, late = slice(0, ALIGNMENT_EARLY), slice(ALIGNMENT_EARLY, None)
    tau = rows["tau"][np.isfinite(rows["tau"])]
    produced = rows["steps"] > 0
    return {"final_by_step": by_step, "final_early": share(sums[early].sum(), counts[early].sum()),
            "final_late": share(sums[late].sum(), counts[late].sum()),
            "monotone": share(rows["forward"].sum(), rows["moves"].sum()),
            "kendall_tau": share(tau.sum(), len(tau)), "coverage": share(rows["covered"][produced].sum(), produced.sum()),
            "rows": int(N)}


def alignment(weights, source_lengths, output_lengths, reverse=False):
    """The alignment figures (``alignment_summary``) of one batch of attention weights."""
    return alignment_summary(alignment_rows(weights, source_lengths, output_lengths, reverse))


def output_lengths(ids, stop_id):
    """Generated ids (N, S) -> the steps before each row's first ``stop_id`` (S where there is none)."""
    ids = to_numpy(ids)
    if stop_id is None:
        return np.full(len(ids), ids.shape[1], dtype=np.int64)
    stop = ids == stop_id
    return np.where(stop.any(axis=1), stop.argmax(axis=1), ids.shape[1])


def attention_alignment_rows(model, x, pred, codec, batch_size=EVAL_BATCH):
    """``alignment_rows`` of an attention model's weights while it generated ``pred`` (N, S) from
    ``x`` (N, Ts), with "heads" (how many were averaged: the Transformer's last block; else 1).
    The decoder is run teacher-forced on what it generated, in batches of ``batch_size`` in length
    order. None for no rows."""
    from .models import attention_weights_of

    host, pred = to_numpy(x), to_numpy(pred)
    pad = getattr(model, "pad_id", None)
    ls = (host != pad).sum(axis=1) if pad is not None else np.full(len(host), host.shape[1])
    lo = output_lengths(pred, codec.stop_id)
    parts, heads = [], 1
    for rows, width in _length_batches(host, pad, batch_size):
        steps = max(1, int(lo[rows].max()))
        xb = to_device(host[rows, :width], like=model.params[0])
        yb = to_device(pred[rows, :steps], like=model.params[0])
        w = attention_weights_of(model, xb, yb, codec.start_id)
        heads = w.shape[1] if w.ndim == 4 else 1
        parts.append(alignment_rows(w, ls[rows], lo[rows], codec.reverse))
    return dict(_concatenate_rows(parts), heads=heads) if parts else None


def _concatenate_rows(parts):
    """Several ``alignment_rows`` -> one, row after row (``final`` padded with NaN to the widest)."""
    S = max(p["final"].shape[1] for p in parts)
    final = np.concatenate([np.pad(p["final"], ((0, 0), (0, S - p["final"].shape[1])), constant_values=np.nan) for p in parts])
    return dict({k: np.concatenate([p[k] for p in parts]) for k in ("steps", "forward", "moves", "tau", "covered")}, final=final)


def _alignment_of_parts(parts):
    parts = [p for p in parts if p is not None]
    return dict(alignment_summary(_concatenate_rows(parts)), heads=parts[0]["heads"])


def attention_alignment(model, x, pred, codec, batch_size=EVAL_BATCH):
    """The alignment figures (``alignment_summary``) of an attention model's weights while it
    generated ``pred`` (N, S) from ``x`` (N, Ts), all rows summarised together, with "heads"."""
    return _alignment_of_parts([attention_alignment_rows(model, x, pred, codec, batch_size)])
