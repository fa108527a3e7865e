"""Attribution logos (logomaker): letters scaled by each base's contribution, positive up, negative down.

:func:`attribution_logo` draws one sequence (a window around its strongest region when it is long),
:func:`top_logos` the top sequences of an :class:`~genolm.interpret.attributions.Attributions` stacked in one
figure, :func:`stacked_logos` any list of (title, matrix) panels sharing a y scale (REF over ALT for variants).
All return matplotlib figures (headless, via :func:`genolm.core.report.pyplot`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from genolm.core.report import pyplot

_BASES = list("ACGT")


def best_window(per_base: np.ndarray, width: int) -> tuple[int, int]:
    """[start, end) of the ``width``-long window with the largest summed |attribution| (whole sequence if shorter)."""
    n = len(per_base)
    if n <= width:
        return 0, n
    c = np.concatenate([[0.0], np.cumsum(np.abs(per_base))])
    s = int(np.argmax(c[width:] - c[:-width]))
    return s, s + width


def _logo(ax, mat: np.ndarray, start: int = 0, marks: Sequence[int] = ()) -> None:
    import logomaker
    import pandas as pd

    df = pd.DataFrame(np.asarray(mat, dtype=float).T, columns=_BASES, index=np.arange(start, start + mat.shape[1]))
    logomaker.Logo(df, ax=ax, color_scheme="classic", flip_below=False)
    ax.axhline(0, color="#888", lw=0.5)
    for m in marks:
        ax.axvspan(m - 0.5, m + 0.5, color="#f4c542", alpha=0.35, lw=0)
    ax.spines[["top", "right"]].set_visible(False)


def attribution_logo(scores: np.ndarray, title: str = "", width: int = 100, start: int = 0):
    """One (4, L) score matrix as a logo; sequences longer than ``width`` are cut to their strongest window.
    ``start`` numbers the x axis (0-based offset of the first base)."""
    plt = pyplot()
    s, e = best_window(scores.sum(0), width)
    fig, ax = plt.subplots(figsize=(max(4.0, min(18.0, 0.16 * (e - s) + 1)), 1.8))
    _logo(ax, scores[:, s:e], start + s)
    ax.set_title(title, fontsize=9, loc="left")
    return fig


def stacked_logos(
    panels: Sequence[tuple[str, np.ndarray]], start: int = 0, marks: Sequence[int] = (), xlabel: str = ""
):
    """Logos of several (title, (4, W) matrix) panels over one x axis and one y scale; ``marks`` (positions on
    the numbered axis) are shaded in every panel."""
    plt = pyplot()
    w = max(m.shape[1] for _, m in panels)
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(max(4.0, min(18.0, 0.16 * w + 1)), 1.7 * len(panels)), sharex=True
    )
    axes = np.atleast_1d(axes)
    lo = min(float(np.minimum(m, 0).sum(0).min()) for _, m in panels)
    hi = max(float(np.maximum(m, 0).sum(0).max()) for _, m in panels)
    pad = 0.05 * (hi - lo or 1.0)
    for ax, (title, m) in zip(axes, panels):
        _logo(ax, m, start, marks)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(title, fontsize=9, loc="left")
    if xlabel:
        axes[-1].set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def top_indices(att, top: int) -> list[int]:
    """The ``top`` sequences by f(x) (highest first); by total |attribution| when values are missing."""
    if len(att.values) == len(att.ids):
        order = np.argsort(-np.asarray(att.values), kind="stable")
    else:
        order = np.argsort(-np.abs(att.scores).sum((1, 2)), kind="stable")
    return [int(i) for i in order[:top]]


def top_logos(att, top: int = 5, width: int = 100) -> list[tuple[object, str]]:
    """(figure, caption) for each of the ``top`` sequences by f(x), one logo each (strongest window)."""
    out = []
    for i in top_indices(att, top):
        L = int(att.lengths[i])
        s, e = best_window(att.scores[i, :, :L].sum(0), width)
        v = f", f(x) = {att.values[i]:.3g}" if len(att.values) == len(att.ids) else ""
        title = f"{att.ids[i]}{v} (bases {s + 1}-{e} of {L})"
        fig = attribution_logo(att.scores[i, :, s:e], title=title, width=width, start=s + 1)
        out.append((fig, f"{att.method} attributions for {att.target}: {att.ids[i]}{v}"))
    return out
