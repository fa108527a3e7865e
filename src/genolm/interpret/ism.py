"""In-silico saturation mutagenesis (ISM): every position of a sequence x its 3 alternative bases.

Model-agnostic: :func:`saturation_mutagenesis` takes the sequence and a ``score_fn`` that scores a list of
substitutions ``(offset, ref, alt)`` (any model: a variant scorer, a classifier's delta, a motif scan) and
returns the (4, L) effect matrix (rows A C G T; NaN at the reference base and at non-ACGT positions).
:func:`write_ism` writes ``ism.tsv`` (1-based positions), ``ism.bedGraph`` (mean of the 3 substitutions
per base, BED coordinates) and ``ism_heatmap.png``. ``genolm variants ism`` runs it on a genome region
(:func:`genolm.genome.variants.mutagenesis.ism`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from genolm.sequence import BASES

Substitution = tuple[int, str, str]  # (0-based offset in the sequence, REF base, ALT base)


def substitutions(seq: str) -> tuple[list[Substitution], int]:
    """All single-base substitutions of ``seq`` (upper-cased), and how many positions were not A/C/G/T."""
    subs: list[Substitution] = []
    skipped = 0
    for i, b in enumerate(seq.upper()):
        if b not in BASES:
            skipped += 1
            continue
        subs.extend((i, b, alt) for alt in BASES if alt != b)
    return subs, skipped


def saturation_mutagenesis(
    seq: str, score_fn: Callable[[list[Substitution]], Sequence[float]]
) -> tuple[np.ndarray, list[Substitution], list[float], int]:
    """(matrix (4, len(seq)), substitutions, their scores, skipped positions) for every substitution of ``seq``."""
    subs, skipped = substitutions(seq)
    scores = [float(s) for s in score_fn(subs)] if subs else []
    if len(scores) != len(subs):
        raise ValueError(f"score_fn returned {len(scores)} scores for {len(subs)} substitutions")
    mat = np.full((4, len(seq)), np.nan)
    for (i, _, alt), s in zip(subs, scores):
        mat[BASES.index(alt), i] = s
    return mat, subs, scores, skipped


def write_ism(
    out_dir: str | Path,
    chrom: str,
    start: int,
    seq: str,
    mat: np.ndarray,
    subs: list[Substitution],
    scores: list[float],
    method: str,
) -> None:
    """ism.tsv, ism.bedGraph and ism_heatmap.png in ``out_dir`` (``start`` = 0-based start of ``seq``)."""
    from genolm.io.atomic import atomic_open, atomic_path

    out_dir = Path(out_dir)
    with atomic_open(out_dir / "ism.tsv", "w") as fh:
        fh.write("chrom\tpos\tref\talt\tscore\n")
        fh.writelines(f"{chrom}\t{start + i + 1}\t{r}\t{a}\t{s:.6g}\n" for (i, r, a), s in zip(subs, scores))
    with atomic_open(out_dir / "ism.bedGraph", "w") as fh:
        fh.write(
            f'track type=bedGraph name="genolm ISM" description="mean {method} score of the 3 '
            f'substitutions per base (0-based BED coordinates)"\n'
        )
        for i in range(mat.shape[1]):
            col = mat[:, i]
            if np.isfinite(col).any():
                fh.write(f"{chrom}\t{start + i}\t{start + i + 1}\t{np.nanmean(col):.6g}\n")
    fig = ism_heatmap(mat, seq, chrom, start, method)
    with atomic_path(out_dir / "ism_heatmap.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)


def ism_heatmap(mat: np.ndarray, seq: str, chrom: str, start: int, method: str):
    """4 x L heatmap of an ISM matrix (blank = reference base); diverging colours unless ``method`` is
    ``embedding`` (distances are >= 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = mat.shape[1]
    fig, ax = plt.subplots(figsize=(min(18, 2 + n * 0.12), 2.6))
    finite = mat[np.isfinite(mat)]
    lim = float(np.abs(finite).max()) if finite.size else 1.0
    im = ax.imshow(
        mat,
        aspect="auto",
        cmap="RdBu_r" if method != "embedding" else "viridis",
        vmin=-lim if method != "embedding" else 0,
        vmax=lim,
        interpolation="nearest",
    )
    ax.set_yticks(range(4), list(BASES))
    if n <= 120:
        ax.set_xticks(range(n), list(seq.upper()), fontsize=6)
    ax.set_xlabel(f"{chrom}:{start + 1}-{start + n} (reference base; blank = reference allele)")
    ax.set_title(f"in-silico saturation mutagenesis ({method})")
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    return fig
