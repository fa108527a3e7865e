"""Position-weight-matrix scanning: score every motif of a collection over a sequence, both strands.

genolm ships the JASPAR 2022 CORE vertebrates non-redundant collection (841 matrices; Castro-Mondragon et
al., Nucleic Acids Res. 2022; see ``genolm/data/motifs/README.md``); any MEME v4 text file works the same
(:func:`genolm.io.meme.read_meme`).

A matrix's log-odds score is sum(log2((p + pseudocount) / 0.25)) over its columns; scores are reported
*relative* to the matrix's own range, (score - min) / (max - min), so 1.0 is the consensus and thresholds
mean the same for long and short motifs. Bases are encoded by :func:`genolm.sequence.encode` (anything but
A/C/G/T scores -10 in every matrix).
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
