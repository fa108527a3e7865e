"""Transcription-factor motifs: MEME-format matrices, log-odds scoring, and what a variant does to them.

genolm ships the JASPAR 2022 CORE vertebrates non-redundant collection (841 matrices; Castro-Mondragon et
al., Nucleic Acids Res. 2022; see ``genolm/data/motifs/README.md``). Any MEME v4 text file works the same
(``variants score --method motif --model FILE``).

A matrix's log-odds score is sum(log2((p + pseudocount) / 0.25)) over its columns; scores are reported
*relative* to the matrix's own range, (score - min) / (max - min), so 1.0 is the consensus and thresholds
mean the same for long and short motifs. A variant's effect on a motif is the change in the best relative
score over the windows that overlap it (both strands): negative = a site weakened, positive = a site
strengthened or created.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from genolm.genome.variants_features import encode
from genolm.io.errors import InputError

PSEUDOCOUNT = 0.01
HIT = 0.85  # relative score of a motif "site"
MOTIF_FLANK = 40  # bases each side of a variant that a scan needs (JASPAR matrices are at most 35 wide)


def default_motif_file() -> Path:
    return Path(str(resources.files("genolm") / "data" / "motifs" / "JASPAR2022_CORE_vertebrates_non-redundant.meme"))


@dataclass
class Motif:
    name: str
    probs: np.ndarray  # (width, 4) A C G T


def read_meme(path: str | Path) -> list[Motif]:
    """Motifs of a MEME v4 text file (``MOTIF id name`` + ``letter-probability matrix`` blocks)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("motif file not found", path)
    motifs: list[Motif] = []
    name, rows, width, start = None, [], 0, 0

    def close():
        if name is None:
            return
        if not rows or (width and len(rows) != width):
            raise InputError(f"motif {name!r}: {len(rows)} matrix rows, header says w= {width}", path, start)
        probs = np.array(rows, dtype=np.float64)
        if np.allclose(probs, 0.25):
            raise InputError(f"motif {name!r}: every column is uniform (0.25 each), nothing to score", path, start)
        motifs.append(Motif(name, probs))

    reading = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            s = line.split()
            if line.startswith("MOTIF"):
                close()
                name, rows, width, start, reading = " ".join(s[1:3]) or f"motif{len(motifs) + 1}", [], 0, lineno, False
            elif line.startswith("letter-probability"):
                reading, width = True, _header_width(line, path, lineno)
            elif reading and len(s) == 4:
                try:
                    row = [float(x) for x in s]
                except ValueError:
                    raise InputError(f"bad matrix row {line.strip()!r}", path, lineno) from None
                if not all(map(math.isfinite, row)) or min(row) < 0 or abs(sum(row) - 1) > 0.05:
                    raise InputError(f"matrix row does not hold 4 probabilities summing to 1: {line.strip()!r}",
                                     path, lineno)
                rows.append(row)
                if width and len(rows) == width:
                    reading = False
            elif reading and rows:
                reading = False
    close()
    if not motifs:
        raise InputError("no MEME motifs (MOTIF + letter-probability matrix) in the file", path)
    return motifs


def _header_width(line: str, path: Path, lineno: int) -> int:
    """``w=`` of a ``letter-probability matrix:`` line (``w= 6`` or ``w=6``); 0 when absent."""
    hit = re.search(r"\bw=\s*(\S*)", line)
    if not hit:
        return 0
    try:
        width = int(hit.group(1))
    except ValueError:
        raise InputError(f"bad w= in {line.strip()!r} (expected the motif width, a positive integer)", path,
                         lineno) from None
    if width < 1:
        raise InputError(f"bad w= in {line.strip()!r} (expected a positive integer)", path, lineno)
    return width


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

    def variant_effect(self, window: str, at: int, ref: str, alt: str) -> np.ndarray:
        """(n_motifs, 2): best relative score over windows overlapping ``window[at:at+len(ref)]``, REF and ALT
        (max over strands). Indels: the ALT sequence is re-scored over the same span."""
        seq_ref = window
        seq_alt = window[:at] + alt + window[at + len(ref):]
        out = np.zeros((len(self.names), 2))
        for col, (seq, span) in enumerate(((seq_ref, len(ref)), (seq_alt, len(alt)))):
            x = encode(seq).astype(np.int64)  # A C G T = 0-3, anything else 4 (scores -10)
            for w, idx, lo, mn, mx in self.groups:
                s0, s1 = max(0, at - w + 1), min(len(x) - w, at + max(span, 1) - 1)
                if s1 < s0:
                    out[idx, col] = np.nan
                    continue
                win = np.lib.stride_tricks.sliding_window_view(x, w)[s0:s1 + 1]  # (n_windows, w)
                sc = lo[:, np.arange(w)[None, :], win].sum(2)  # (2k, n_windows)
                rel = ((sc - mn[:, None]) / (mx - mn)[:, None]).max(1)
                k = len(idx)
                out[idx, col] = np.maximum(rel[:k], rel[k:])
        return out


MOTIF_FEATURES = ["motif_delta_ref_sites", "motif_loss_sum", "motif_gain_sum", "motif_loss_max", "motif_gain_max",
                  "motif_sites_ref", "motif_sites_alt"]


def motif_features(scanner: MotifScanner, window: str, at: int, ref: str, alt: str) -> dict[str, float]:
    """Aggregate motif change of a variant: the summed (signed) change over the sites it sits in (REF relative
    score >= HIT; on the Kircher 2019 MPRA dev elements this alone has a mean per-element Spearman of 0.17
    with the measured effect), summed and largest loss over those sites, summed and largest gain over the
    sites ALT makes (ALT >= HIT), and the site counts."""
    eff = scanner.variant_effect(window.upper(), at, ref.upper(), alt.upper())
    r, a = eff[:, 0], eff[:, 1]
    ok = np.isfinite(r) & np.isfinite(a)
    d = np.where(ok, a - r, 0.0)
    site_ref, site_alt = ok & (r >= HIT), ok & (a >= HIT)
    return {"motif_delta_ref_sites": float(d[site_ref].sum()),
            "motif_loss_sum": float(np.minimum(d, 0)[site_ref].sum()),
            "motif_gain_sum": float(np.maximum(d, 0)[site_alt].sum()),
            "motif_loss_max": float((-np.minimum(d, 0))[site_ref].max(initial=0.0)) + 0.0,  # + 0.0: no "-0"
            "motif_gain_max": float(np.maximum(d, 0)[site_alt].max(initial=0.0)),
            "motif_sites_ref": float(site_ref.sum()), "motif_sites_alt": float(site_alt.sum())}
