"""Pictures: the accuracy curve of a run and attention heatmaps. Needs matplotlib
(the ``[plot]`` extra); nothing else in seqattn does."""

from __future__ import annotations

import os

import numpy as np

from .install import install_hint


def pyplot(file_only=True):
    """matplotlib.pyplot (on a file-only backend unless ``file_only`` is False: then on whatever
    backend the user has, so that a notebook shows the figure), or a one-line RuntimeError naming
    what to install."""
    try:
        import matplotlib

        if file_only:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError(f"plots need matplotlib: {install_hint('plot')}") from None
    return plt


def _checked(path):
    """``path`` (str, bytes or a path object; None: shown, not saved) as a str, once
    ``check_writable`` allows a picture there (never through a link, onto a special file, or over
    a file seqattn did not draw): checked before anything is drawn."""
    if path is None:
        return None
    from .paths import check_writable

    path = os.fsdecode(path)
    check_writable(path, "path", picture=True)
    return path


def _save(fig, path):
    """Write ``fig`` as a PNG at ``path`` whole or not at all, checked again (``_checked``): its
    "Software" text names seqattn, so that a later picture may replace it."""
    from . import __version__
    from .paths import PICTURE_MARK, atomic_write

    path = _checked(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight",
                    metadata={"Software": f"{PICTURE_MARK.decode()} {__version__} (matplotlib)"})


def _finish(plt, fig, path):
    """Save ``fig`` as PNG at ``path`` and close it; with no path, show it -> the figure."""
    if path is None:
        plt.show()
        return fig
    try:
        _save(fig, path)
    finally:
        plt.close(fig)  # also where the save failed: no figure is left open
    return fig


def plot_history(history, path, title=None, ylim=None):
    """Test accuracy (and training loss) per epoch -> PNG at ``path`` (None: shown)."""
    path = _checked(path)
    plt = pyplot(file_only=path is not None)
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    if any("accuracy" in h for h in history):
        ax.plot(epochs, [h.get("accuracy", np.nan) * 100 for h in history], marker="o", label="test accuracy")
        ax.set_ylabel("exact match (%)")
        ax.set_ylim(-2, 102)
    ax2 = ax.twinx()
    ax2.plot(epochs, [h["loss"] for h in history], color="tab:red", linestyle="--", label="training loss")
    ax2.set_ylabel("loss")
    if ylim is not None:
        ax2.set_ylim(*ylim)
    ax.set_xlabel("epoch")
    ax.set_title(title or "training")
    ax.grid(alpha=0.3)
    return _finish(plt, fig, path)


def plot_losses(losses, interval, ylim=None, path=None):
    """The book's training curve: the mean loss of every ``interval`` batches -> PNG at ``path``
    (None: shown)."""
    path = _checked(path)
    plt = pyplot(file_only=path is not None)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(losses) + 1) * interval, losses, label="train")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    return _finish(plt, fig, path)


LABEL, TITLE = 16, 90  # characters of a token's label and of a panel's title; longer ones end in "…"


def _shown(text, most):
    """A label as drawn: a space as ␣, and at most ``most`` characters (a picture as wide as its
    labels would otherwise grow with them)."""
    text = "␣" if text == " " else text
    return text if len(text) <= most else text[: most - 1] + "…"


def plot_attention(weights, sources, outputs, path, titles=None, columns=None):
    """One heatmap per example: ``weights`` (n, S_out, S_src) with the source characters on the x
    axis and the generated characters on the y axis -> PNG at ``path``; ``columns`` panels a row
    (default: all in one row). Labels and titles are cut to LABEL and TITLE characters."""
    path = _checked(path)
    plt = pyplot()
    n = len(weights)
    columns = columns or n
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 4 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        w = np.asarray(weights[k])
        ax.imshow(w, cmap="Greys_r", vmin=0, vmax=max(w.max(), 1e-9), aspect="auto")
        ax.set_xticks(range(len(sources[k])))
        ax.set_xticklabels([_shown(c, LABEL) for c in sources[k]], fontsize=8)
        ax.set_yticks(range(len(outputs[k])))
        ax.set_yticklabels([_shown(c, LABEL) for c in outputs[k]], fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        if titles:
            ax.set_title(_shown(titles[k], TITLE), fontsize=9)
    _finish(plt, fig, path)


MAX_DRAWN = 300  # source tokens in one map of attention


def check_drawn(codec, texts):
    """Refuse a text too long to draw (a column per token) before any work -> each text's tokens."""
    srcs = [codec.source_chars(t) for t in texts]
    for i, src in enumerate(srcs):
        if len(src) > MAX_DRAWN:
            raise ValueError(f"input {i + 1} has {len(src):,} tokens; a map of attention draws at most {MAX_DRAWN} (a column "
                             "each, beyond that too narrow to read): shorten it, or use predict")
    return srcs


def attention_figure(model, codec, texts, path):
    """Draw what ``model`` attends to while it answers ``texts`` -> PNG at ``path``: one panel per
    text, or for a model with several heads (the Transformer's (N, heads, S, Ts) weights) one
    row per text with a panel per head. The source is shown in reading order."""
    from .backend import to_device, to_numpy
    from .models import attention_weights_of

    path = _checked(path)  # before the model runs
    srcs = check_drawn(codec, texts)
    x = to_device(codec.encode_sources(texts), like=model.params[0])
    ys = model.generate(x, codec.start_id, codec.sample_size, stop_id=codec.stop_id)
    weights = to_numpy(attention_weights_of(model, x, ys, codec.start_id))
    ys = to_numpy(ys)
    outs = [codec.decode_chars(y) for y in ys]
    titles = [f"{t.strip()} -> {a}" for t, a in zip(texts, codec.decode(ys))]
    if weights.ndim == 4:
        heads = weights.shape[1]
        maps = [codec.reading_order(w[: len(o)], t) for ws, o, t in zip(weights, outs, texts) for w in ws]
        plot_attention(maps, [s for s in srcs for _ in range(heads)], [o for o in outs for _ in range(heads)], path,
                       titles=[f"head {h + 1} of the last layer: {title}" for title in titles for h in range(heads)],
                       columns=heads)
        return
    maps = [codec.reading_order(w[: len(o)], t) for w, o, t in zip(weights, outs, texts)]
    plot_attention(maps, srcs, outs, path, titles=titles)
