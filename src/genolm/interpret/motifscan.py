"""Position-weight-matrix scanning: score every motif of a collection over a sequence, both strands.

genolm ships the JASPAR 2022 CORE vertebrates non-redundant collection (841 matrices; Castro-Mondragon et
al., Nucleic Acids Res. 2022; see ``genolm/data/motifs/README.md``); any MEME v4 text file works the same
(:func:`genolm.io.meme.read_meme`).

A matrix's log-odds score is sum(log2((p + pseudocount) / 0.25)) over its columns; scores are reported
*relative* to the matrix's own range, (score - min) / (max - min), so 1.0 is the consensus and thresholds
mean the same for long and short motifs. Bases are encoded by :func:`genolm.sequence.encode` (anything but
A/C/G/T scores -10 in every matrix).

:func:`fimo_scan` (``genolm motifs scan``) is the FIMO-style scanner: log-odds scores in bits with a background,
exact p-values by dynamic programming, both strands, Benjamini-Hochberg q-values (see the section below).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from genolm.io.meme import Motif, read_meme
from genolm.sequence import encode

PSEUDOCOUNT = 0.01


def default_motif_file() -> Path:
    """The bundled JASPAR 2022 CORE vertebrates non-redundant collection (MEME format)."""
    return Path(str(resources.files("genolm") / "data" / "motifs" / "JASPAR2022_CORE_vertebrates_non-redundant.meme"))


class MotifScanner:
    """Scores all motifs of a collection at once (matrices grouped by width, both strands)."""

    def __init__(self, motifs: list[Motif]):
        self.names = [m.name for m in motifs]
        self.groups = []  # (width, motif indices, log-odds (k, width, 5) with N column, min, max)
        by_width: dict[int, list[int]] = {}
        for i, m in enumerate(motifs):
            by_width.setdefault(len(m.probs), []).append(i)
        for w, idx in sorted(by_width.items()):
            p = np.stack([motifs[i].probs for i in idx]) + PSEUDOCOUNT
            lo = np.log2(p / p.sum(2, keepdims=True) / 0.25)
            mn, mx = lo.min(2).sum(1), lo.max(2).sum(1)
            rc = lo[:, ::-1, ::-1]  # reverse complement: reverse columns, complement bases (A C G T -> T G C A)
            both = np.concatenate([lo, rc])
            pad = np.concatenate([both, np.full(both.shape[:2] + (1,), -10.0)], axis=2)  # N scores -10
            self.groups.append((w, np.array(idx), pad, np.concatenate([mn, mn]), np.concatenate([mx, mx])))
        self.max_width = max(by_width)

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> "MotifScanner":
        return cls(read_meme(path or default_motif_file()))

    def best_relative(self, seq: str, at: int, span: int) -> np.ndarray:
        """(n_motifs,) best relative score (max over strands) over the windows of ``seq`` that overlap
        ``seq[at:at+span]`` (at least one base); NaN for a motif wider than the sequence allows."""
        x = encode(seq).astype(np.int64)  # A C G T = 0-3, anything else 4 (scores -10)
        out = np.zeros(len(self.names))
        for w, idx, lo, mn, mx in self.groups:
            s0, s1 = max(0, at - w + 1), min(len(x) - w, at + max(span, 1) - 1)
            if s1 < s0:
                out[idx] = np.nan
                continue
            win = np.lib.stride_tricks.sliding_window_view(x, w)[s0 : s1 + 1]  # (n_windows, w)
            sc = lo[:, np.arange(w)[None, :], win].sum(2)  # (2k, n_windows)
            rel = ((sc - mn[:, None]) / (mx - mn)[:, None]).max(1)
            k = len(idx)
            out[idx] = np.maximum(rel[:k], rel[k:])
        return out

    def variant_effect(self, window: str, at: int, ref: str, alt: str) -> np.ndarray:
        """(n_motifs, 2): best relative score over windows overlapping ``window[at:at+len(ref)]``, REF and ALT
        (max over strands). Indels: the ALT sequence is re-scored over the same span."""
        seq_alt = window[:at] + alt + window[at + len(ref) :]
        return np.stack([self.best_relative(window, at, len(ref)), self.best_relative(seq_alt, at, len(alt))], 1)


# -- FIMO-style scanning: log-odds scores with exact p-values, q-values -----------------------------------------
#
# Like MEME's FIMO (Grant, Bailey & Noble 2011): each matrix becomes log2((p' / bg)) per column, with
# p' = (p * NSITES + PSEUDO * bg) / (NSITES + PSEUDO) (FIMO's --motif-pseudo 0.1 on MEME's default 20 sites);
# a window's score is the sum over its columns (bits). Its p-value is P(S >= score) for a random window drawn
# from the background, computed exactly for the matrix rounded to RESOLUTION bits by dynamic programming over
# the columns (FIMO does the same on its own integer scale). Both strands are scanned; windows holding a base
# other than A/C/G/T are skipped. q-values: Benjamini-Hochberg over every window and strand scanned for that
# motif (the number of tests, not just the hits reported).

FIMO_PSEUDO = 0.1
FIMO_NSITES = 20
RESOLUTION = 0.01  # bits per integer score step
FIMO_COLUMNS = [
    "motif_id",
    "motif_alt_id",
    "sequence_name",
    "start",
    "stop",
    "strand",
    "score",
    "p-value",
    "q-value",
    "matched_sequence",
]


def log_odds(probs: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """(w, 4) log2(p' / bg) with FIMO's pseudocount (see above)."""
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    p = p / p.sum(1, keepdims=True)
    smoothed = (p * FIMO_NSITES + FIMO_PSEUDO * bg) / (FIMO_NSITES + FIMO_PSEUDO)
    return np.log2(smoothed / bg)


def score_distribution(lo: np.ndarray, background: np.ndarray | None = None, resolution: float = RESOLUTION):
    """(integer matrix shifted to start at 0 per column, survival function): ``sf[k] = P(S_int >= k)`` for a
    background window, exact for the rounded matrix."""
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    m = np.round(lo / resolution).astype(np.int64)
    m -= m.min(1, keepdims=True)
    dist = np.ones(1)
    for col in m:
        new = np.zeros(len(dist) + int(col.max()))
        for b in range(4):
            new[col[b] : col[b] + len(dist)] += bg[b] * dist
        dist = new
    sf = np.cumsum(dist[::-1])[::-1]
    return m, np.clip(sf, 0.0, 1.0)


def input_background(seqs: list[str]) -> np.ndarray:
    """A C G T frequencies of the sequences, both strands pooled (A=T, C=G), with a small pseudocount."""
    counts = np.ones(4)
    for s in seqs:
        x = encode(s)
        counts += np.bincount(x[x < 4], minlength=4)[:4]
    counts = counts + counts[::-1]
    return counts / counts.sum()


def _bh_with_tests(p: np.ndarray, n_tests: int) -> np.ndarray:
    """BH q-values of the reported p-values, ranked among ``n_tests`` tests (the unreported ones are larger)."""
    if len(p) == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * max(n_tests, len(p)) / np.arange(1, len(p) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.clip(q, 0, 1)
    return out


def fimo_scan(
    motifs: list[Motif],
    ids: list[str],
    seqs: list[str],
    threshold: float = 1e-4,
    background: np.ndarray | None = None,
    both_strands: bool = True,
) -> list[dict]:
    """FIMO-style hits with p <= ``threshold``: dicts keyed by :data:`FIMO_COLUMNS` (start/stop 1-based
    inclusive on the forward strand, matched_sequence read on the hit's strand), sorted by p-value."""
    from genolm.sequence import reverse_complement

    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    codes = [encode(s).astype(np.int64) for s in seqs]
    lens = np.array([len(c) for c in codes], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lens + 1)])[:-1]  # one N between sequences
    x = np.full(int(lens.sum() + len(lens)), 4, dtype=np.int64)
    for s0, c in zip(starts, codes):
        x[s0 : s0 + len(c)] = c
    bad = np.concatenate([[0], np.cumsum(x == 4)])
    hits = []
    for m in motifs:
        mid, _, alt = m.name.partition(" ")
        lo = log_odds(m.probs, background)
        w = len(lo)
        if len(x) < w:
            continue
        mint, sf = score_distribution(lo, background)
        k = int(np.searchsorted(-sf, -threshold, side="left"))  # first k with sf[k] <= threshold
        valid = bad[w:] - bad[: len(x) - w + 1] == 0
        n_windows = int(valid.sum())
        if k >= len(sf) or n_windows == 0:
            continue
        strands = [("+", mint, lo)] + ([("-", mint[::-1, ::-1], lo[::-1, ::-1])] if both_strands else [])
        rows = []
        for strand, mi, lf in strands:
            table = np.concatenate([mi, np.zeros((w, 1), np.int64)], 1)
            sc = np.zeros(len(x) - w + 1, np.int64)
            for j in range(w):
                sc += table[j][x[j : j + len(sc)]]
            at = np.flatnonzero(valid & (sc >= k))
            for i in at:
                si = int(np.searchsorted(starts, i, side="right") - 1)
                pos = int(i - starts[si])
                seg = x[i : i + w]
                rows.append(
                    {
                        "motif_id": mid,
                        "motif_alt_id": alt or mid,
                        "sequence_name": ids[si],
                        "start": pos + 1,
                        "stop": pos + w,
                        "strand": strand,
                        "score": float(lf[np.arange(w), seg].sum()),
                        "p-value": float(sf[sc[i]]),
                        "matched_sequence": seqs[si][pos : pos + w]
                        if strand == "+"
                        else reverse_complement(seqs[si][pos : pos + w]),
                        "_seq": si,
                    }
                )
        q = _bh_with_tests(np.array([r["p-value"] for r in rows]), n_windows * len(strands))
        for r, qv in zip(rows, q):
            r["q-value"] = float(qv)
        hits.extend(rows)
    hits.sort(key=lambda r: (r["p-value"], r["_seq"], r["start"], r["strand"]))
    for r in hits:
        del r["_seq"]
    return hits


def _bed_region(name: str, start: int, stop: int):
    """Hit -> (chrom, 0-based start, end): sequence names like chr1:101-200 are placed on the genome."""
    from genolm.sequence import parse_region

    try:
        r = parse_region(name)
    except Exception:
        return name, start - 1, stop
    if len(r) < stop:
        return name, start - 1, stop
    return r.chrom, r.start + start - 1, r.start + stop


def write_hits(path: str | Path | None, hits: list[dict]) -> None:
    """FIMO TSV (or BED6 when ``path`` ends in .bed; name motif_id_motif_alt_id, score min(1000, -10 log10 p));
    None = stdout."""
    import math
    import sys

    from genolm.io.atomic import atomic_open

    if path is not None and str(path).lower().endswith(".bed"):
        from genolm.io.bed import Region, write_bed

        regions = []
        for h in hits:
            chrom, s, e = _bed_region(h["sequence_name"], h["start"], h["stop"])
            score = min(1000, int(round(-10 * math.log10(max(h["p-value"], 1e-300)))))
            regions.append(Region(chrom, s, e, f"{h['motif_id']}_{h['motif_alt_id']}", score, h["strand"]))
        write_bed(path, regions)
        return

    def lines():
        yield "\t".join(FIMO_COLUMNS) + "\n"
        for h in hits:
            yield (
                f"{h['motif_id']}\t{h['motif_alt_id']}\t{h['sequence_name']}\t{h['start']}\t{h['stop']}\t"
                f"{h['strand']}\t{h['score']:.4g}\t{h['p-value']:.3g}\t{h['q-value']:.3g}\t{h['matched_sequence']}\n"
            )

    if path is None:
        sys.stdout.writelines(lines())
        return
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.writelines(lines())


def scan_run(
    input: str | Path,
    out: str | Path | None,
    motif_file: str | Path | None = None,
    threshold: float = 1e-4,
    background: str = "uniform",
) -> dict:
    """The whole `genolm motifs scan` command: read, scan (:func:`fimo_scan`), write; returns a summary."""
    import time

    from genolm.io.errors import InputError
    from genolm.io.tables import read_sequences

    if not 0 < threshold <= 1:
        raise InputError(f"--threshold {threshold:g}: a p-value in (0, 1] is needed (FIMO's default is 1e-4)")
    if background not in ("uniform", "input"):
        raise InputError(f"--background {background!r}: use uniform or input")
    t0 = time.time()
    motifs = read_meme(motif_file or default_motif_file())
    ids, seqs = read_sequences(input)
    if not seqs:
        raise InputError("no sequences", input)
    bg = input_background(seqs) if background == "input" else None
    hits = fimo_scan(motifs, ids, seqs, threshold=threshold, background=bg)
    write_hits(out, hits)
    return {
        "hits": len(hits),
        "motifs": len(motifs),
        "sequences": len(seqs),
        "bases": int(sum(len(s) for s in seqs)),
        "seconds": time.time() - t0,
    }
