"""Handcrafted on-target features (Rule-Set-2 style) for the gradient-boosting member of the ensemble.

Position-specific nucleotides and dinucleotides over the whole input (guide + context), global counts,
GC content of the spacer and its halves, and nearest-neighbour melting temperatures of spacer segments.
"""

from __future__ import annotations

import numpy as np

from genolm.sequence import encode_batch

# SantaLucia 1998 unified nearest-neighbour parameters: dH (kcal/mol), dS (cal/K/mol), 5'->3'/3'->5'.
_NN = {
    "AA": (-7.9, -22.2),
    "TT": (-7.9, -22.2),
    "AT": (-7.2, -20.4),
    "TA": (-7.2, -21.3),
    "CA": (-8.5, -22.7),
    "TG": (-8.5, -22.7),
    "GT": (-8.4, -22.4),
    "AC": (-8.4, -22.4),
    "CT": (-7.8, -21.0),
    "AG": (-7.8, -21.0),
    "GA": (-8.2, -22.2),
    "TC": (-8.2, -22.2),
    "CG": (-10.6, -27.2),
    "GC": (-9.8, -24.4),
    "GG": (-8.0, -19.9),
    "CC": (-8.0, -19.9),
}
_INIT = {"G": (0.1, -2.8), "C": (0.1, -2.8), "A": (2.3, 4.1), "T": (2.3, 4.1)}


def melting_temp(seq: str, dna_nm: float = 25.0, na_mm: float = 50.0) -> float:
    """Nearest-neighbour Tm (deg C) of a DNA duplex, SantaLucia 1998 with a simple salt correction."""
    if len(seq) < 2:
        return 0.0
    dh = _INIT[seq[0]][0] + _INIT[seq[-1]][0]
    ds = _INIT[seq[0]][1] + _INIT[seq[-1]][1]
    for i in range(len(seq) - 1):
        h, s = _NN[seq[i : i + 2]]
        dh += h
        ds += s
    ds += 0.368 * (len(seq) - 1) * np.log(na_mm / 1000.0)
    return float(dh * 1000.0 / (ds + 1.987 * np.log(dna_nm * 1e-9 / 4)) - 273.15)


def handcrafted_features(seqs: list[str], spacer_offset: int) -> np.ndarray:
    """(n, F) float32 features for equal-length ACGT sequences; the 20-nt spacer starts at spacer_offset."""
    codes = encode_batch(seqs).astype(np.int64)
    n, length = codes.shape
    pos1 = np.zeros((n, length, 4), dtype=np.float32)
    np.put_along_axis(pos1, codes[:, :, None], 1.0, axis=2)
    di = codes[:, :-1] * 4 + codes[:, 1:]
    pos2 = np.zeros((n, length - 1, 16), dtype=np.float32)
    np.put_along_axis(pos2, di[:, :, None], 1.0, axis=2)
    spacer = codes[:, spacer_offset : spacer_offset + 20]
    gc = (spacer == 1) | (spacer == 2)
    counts1 = pos1.sum(axis=1)
    counts2 = pos2.sum(axis=1)
    extra = np.stack(
        [gc.sum(1), gc[:, :10].sum(1), gc[:, 10:].sum(1), (gc.sum(1) < 10), (gc.sum(1) > 10)], axis=1
    ).astype(np.float32)
    tms = np.array(
        [
            [melting_temp(s[spacer_offset + a : spacer_offset + b]) for a, b in ((0, 20), (15, 20), (7, 15), (0, 7))]
            for s in seqs
        ],
        dtype=np.float32,
    ).reshape(n, 4)
    return np.hstack([pos1.reshape(n, -1), pos2.reshape(n, -1), counts1, counts2, extra, tms])
