"""CFD (Cutting Frequency Determination) off-target scores, Doench et al. 2016, Nat Biotechnol 34:184.

The published tables ship in ``genolm/editing/data/`` (see ATTRIBUTION.md there):
``cfd_mismatch_scores.csv`` (sgRNA base x target-strand DNA base x position 1-20, 1 = PAM-distal) and
``cfd_pam_scores.csv`` (2nd+3rd PAM nucleotides). As in Doench's cfd-score-calculator:

    CFD = prod over mismatched positions i of score(r{guide_i}:d{complement(offtarget_i)}, i)
          x pam_score[PAM[1:3]]

An N in the off-target spacer (masked genome) counts as a mismatch with the most active of the three
mismatch types at that position, so an unknown base never makes a site look safer than it could be.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

import numpy as np

from genolm.sequence import encode_batch as encode

_COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}
BASES = "ACGT"


@lru_cache(maxsize=1)
def tables() -> tuple[np.ndarray, np.ndarray]:
    """(mismatch[20, 4 guide, 5 off-target], pam[5, 5]) arrays; codes A,C,G,T,N = 0..4."""
    mm = np.ones((20, 4, 5), dtype=np.float64)
    data = resources.files("genolm.editing") / "data"
    with (data / "cfd_mismatch_scores.csv").open() as fh:
        for row in csv.DictReader(fh):
            pos = int(row["position"]) - 1
            guide = row["rna_base"].replace("U", "T")
            off = _COMP[row["dna_base"]]  # the table names the target-strand base; we index by the protospacer's
            mm[pos, BASES.index(guide), BASES.index(off)] = float(row["score"])
    for g in range(4):
        others = [o for o in range(4) if o != g]
        mm[:, g, 4] = mm[:, g, others].max(axis=1)
    pam = np.zeros((5, 5), dtype=np.float64)
    with (data / "cfd_pam_scores.csv").open() as fh:
        for row in csv.DictReader(fh):
            k = row["pam_nt2_nt3"]
            pam[BASES.index(k[0]), BASES.index(k[1])] = float(row["score"])
    return mm, pam


def cfd_score(guide: str, offtarget: str, pam: str) -> float:
    """CFD of one site: ``guide`` and ``offtarget`` are 20-nt spacers (5'->3'), ``pam`` the site's 3-nt PAM."""
    return float(cfd_scores_codes(encode([guide.upper()])[0], encode([offtarget.upper()]), encode([pam.upper()]))[0])


def cfd_scores_codes(guide_codes: np.ndarray, site_codes: np.ndarray, pam_codes: np.ndarray) -> np.ndarray:
    """Vectorised CFD: guide (20,) codes 0-3; sites (n, 20) and PAMs (n, 3) codes 0-4."""
    mm, pam = tables()
    pos = np.arange(20)
    per_pos = mm[pos[None, :], guide_codes[None, :], site_codes]  # (n, 20); matches are 1.0
    match = site_codes == guide_codes[None, :]
    per_pos = np.where(match, 1.0, per_pos)
    return per_pos.prod(axis=1) * pam[pam_codes[:, 1], pam_codes[:, 2]]
