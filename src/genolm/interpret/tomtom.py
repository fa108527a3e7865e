"""TOMTOM-style matching of discovered motifs against a motif database (memelite's TOMTOM, no MEME install).

For every query matrix, :func:`memelite.tomtom.tomtom` gives the p-value of the best alignment to every
target (both orientations of the target, complete scores with overhangs); q-values are Benjamini-Hochberg
over the whole target database for that query, as MEME's tomtom computes them (one test per target, the
better orientation). The background of each query column comes from the targets, so the database should be
a real collection (dozens of motifs at least); the bundled JASPAR 2022 CORE vertebrates has 841.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genolm.core.metrics import fdr_bh
from genolm.io.errors import InputError
from genolm.io.meme import Motif


@dataclass
class Match:
    """One database motif matched to a query."""

    id: str  # e.g. MA0139.1
    name: str  # e.g. CTCF
    p_value: float
    q_value: float
    offset: int  # memelite's alignment offset of the query against the target
    overlap: int
    strand: str  # "+" the target as stored aligns to the query, "-" its reverse complement does
    index: int  # position in the database list

    def label(self) -> str:
        return f"{self.id}:{self.name}:{self.q_value:.3g}"


def split_name(motif: Motif) -> tuple[str, str]:
    """``MOTIF MA0139.1 CTCF`` (read as "MA0139.1 CTCF") -> ("MA0139.1", "CTCF")."""
    parts = motif.name.split(" ", 1)
    return parts[0], (parts[1] if len(parts) > 1 else parts[0])


def _clean(pwm: np.ndarray, what: str) -> np.ndarray:
    p = np.asarray(pwm, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 4 or len(p) == 0:
        raise InputError(f"{what}: expected a (width, 4) probability matrix, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise InputError(f"{what}: the matrix has NaN or infinite values")
    p = np.clip(p, 0, None)
    s = p.sum(1, keepdims=True)
    return np.where(s > 0, p / np.where(s > 0, s, 1), 0.25)


def match_motifs(queries: list[np.ndarray], database: list[Motif], top: int = 3, n_jobs: int = 1) -> list[list[Match]]:
    """The ``top`` best database matches of each (width, 4) probability matrix, best (lowest p) first.

    Returns one list per query; every Match carries its p-value and its BH q-value over the database.
    """
    if not queries:
        return []
    if len(database) < 2:
        raise InputError(f"the motif database has {len(database)} motif(s); TOMTOM statistics need a collection")
    import warnings

    from memelite.tomtom import tomtom

    qs = [_clean(q, f"query {i}").T.copy() for i, q in enumerate(queries)]
    ts = [_clean(m.probs, m.name).T.copy() for m in database]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, _scores, offsets, overlaps, strands = tomtom(qs, ts, n_jobs=n_jobs)[:5]
    p = np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1.0)
    out = []
    names = [split_name(m) for m in database]
    for i in range(len(qs)):
        q = fdr_bh(np.clip(p[i], 0, 1))
        order = np.lexsort((np.arange(len(database)), p[i]))[:top]
        out.append(
            [
                Match(
                    id=names[k][0],
                    name=names[k][1],
                    p_value=float(p[i, k]),
                    q_value=float(min(1.0, q[k])),
                    offset=int(offsets[i, k]),
                    overlap=int(overlaps[i, k]),
                    strand="-" if int(strands[i, k]) == 1 else "+",
                    index=int(k),
                )
                for k in order
            ]
        )
    return out


def match_jaspar(queries: list[np.ndarray], motif_file=None, top: int = 3, n_jobs: int = 1) -> list[list[Match]]:
    """:func:`match_motifs` against a MEME file (default: the bundled JASPAR 2022 CORE vertebrates)."""
    from genolm.interpret.motifscan import default_motif_file
    from genolm.io.meme import read_meme

    return match_motifs(queries, read_meme(motif_file or default_motif_file()), top=top, n_jobs=n_jobs)
