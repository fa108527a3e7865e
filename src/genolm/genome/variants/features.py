"""Sequence-only features of a variant, derived from its reference context and REF/ALT alone.

No annotation is read: the coding frame, strand and splice sites are *inferred* from the sequence
(longest open reading frame through the variant on either strand; splice-site position weight
matrices), so the same features work for any genome. Features are oriented on the "coding strand"
(the strand whose best frame has the longer open reading frame), which makes them strand-agnostic.

Used by ``genolm variants train`` beside the gene-model features of :mod:`genolm.genome.variants.genemodel`.
"""

from __future__ import annotations

import math

import numpy as np

from genolm.sequence import CODON_TABLE as CODON
from genolm.sequence import CODONS, encode, reverse_complement

FLANK = 450  # bases each side of the variant used for features (150 codons)

# Human codon usage, per thousand codons (Kazusa codon usage database, Homo sapiens, from GenBank CDSs);
# order TTT TTC TTA TTG TCT ... (first base T C A G, then second, then third), as genolm.sequence.CODONS.
_HUMAN_CODON_USAGE = [
    float(x)
    for x in """
17.6 20.3 7.7 12.9 15.2 17.7 12.2 4.4 12.2 15.3 1.0 0.8 10.6 12.6 1.6 13.2
13.2 19.6 7.2 39.6 17.5 19.8 16.9 6.9 10.9 15.1 12.3 34.2 4.5 10.4 6.2 11.4
16.0 20.8 7.5 22.0 13.1 18.9 15.1 6.1 17.0 19.1 24.4 31.9 12.1 19.5 12.2 12.0
11.0 14.5 7.1 28.1 18.4 27.7 15.8 7.4 21.8 25.1 29.0 39.6 10.8 22.2 16.5 16.5
""".split()
]
CODON_LOGODDS = {c: math.log(u / (1000 / 64)) for c, u in zip(CODONS, _HUMAN_CODON_USAGE)}
CODING_HALF_WINDOW = 20  # codons each side used to pick the reading frame
_AA_ORDER = "ARNDCQEGHILKMFPSTWYV"
_BLOSUM62_ROWS = """
4 -1 -2 -2 0 -1 -1 0 -2 -1 -1 -1 -1 -2 -1 1 0 -3 -2 0
-1 5 0 -2 -3 1 0 -2 0 -3 -2 2 -1 -3 -2 -1 -1 -3 -2 -3
-2 0 6 1 -3 0 0 0 1 -3 -3 0 -2 -3 -2 1 0 -4 -2 -3
-2 -2 1 6 -3 0 2 -1 -1 -3 -4 -1 -3 -3 -1 0 -1 -4 -3 -3
0 -3 -3 -3 9 -3 -4 -3 -3 -1 -1 -3 -1 -2 -3 -1 -1 -2 -2 -1
-1 1 0 0 -3 5 2 -2 0 -3 -2 1 0 -3 -1 0 -1 -2 -1 -2
-1 0 0 2 -4 2 5 -2 0 -3 -3 1 -2 -3 -1 0 -1 -3 -2 -2
0 -2 0 -1 -3 -2 -2 6 -2 -4 -4 -2 -3 -3 -2 0 -2 -2 -3 -3
-2 0 1 -1 -3 0 0 -2 8 -3 -3 -1 -2 -1 -2 -1 -2 -2 2 -3
-1 -3 -3 -3 -1 -3 -3 -4 -3 4 2 -3 1 0 -3 -2 -1 -3 -1 3
-1 -2 -3 -4 -1 -2 -3 -4 -3 2 4 -2 2 0 -3 -2 -1 -2 -1 1
-1 2 0 -1 -3 1 1 -2 -1 -3 -2 5 -1 -3 -1 0 -1 -3 -2 -2
-1 -1 -2 -3 -1 0 -2 -3 -2 1 2 -1 5 0 -2 -1 -1 -1 -1 1
-2 -3 -3 -3 -2 -3 -3 -3 -1 0 0 -3 0 6 -4 -2 -2 1 3 -1
-1 -2 -2 -1 -3 -1 -1 -2 -2 -3 -3 -1 -2 -4 7 -1 -1 -4 -3 -2
1 -1 1 0 -1 0 0 0 -1 -2 -2 0 -1 -2 -1 4 1 -3 -2 -2
0 -1 0 -1 -1 -1 -1 -2 -2 -1 -1 -1 -1 -2 -1 1 5 -2 -2 0
-3 -3 -4 -4 -2 -2 -3 -2 -2 -3 -2 -3 -1 1 -4 -3 -2 11 2 -3
-2 -2 -2 -3 -2 -1 -2 -3 2 -1 -1 -2 -1 3 -3 -2 -2 2 7 -1
0 -3 -3 -3 -1 -2 -2 -3 -3 3 1 -2 1 -1 -2 -2 0 -3 -1 4
"""
BLOSUM62 = {
    (a, b): int(v)
    for a, row in zip(_AA_ORDER, _BLOSUM62_ROWS.split("\n")[1:-1])
    for b, v in zip(_AA_ORDER, row.split())
}
KYTE_DOOLITTLE = dict(
    A=1.8,
    R=-4.5,
    N=-3.5,
    D=-3.5,
    C=2.5,
    Q=-3.5,
    E=-3.5,
    G=-0.4,
    H=-3.2,
    I=4.5,
    L=3.8,
    K=-3.9,
    M=1.9,
    F=2.8,
    P=-1.6,
    S=-0.8,
    T=-0.7,
    W=-0.9,
    Y=-1.3,
    V=4.2,
)
_AA_INDEX = {a: i for i, a in enumerate(_AA_ORDER + "*")}

# Splice-site position weight matrices (A, C, G, T frequencies), approximating the human consensus
# (Shapiro & Senapathy 1987): donor exon[-3..-1] | GT[+1,+2] A/G A G T; acceptor (Y)n N C A G | G.
_DONOR_FREQ = [
    (0.33, 0.36, 0.19, 0.12),
    (0.60, 0.13, 0.14, 0.13),
    (0.09, 0.03, 0.80, 0.08),
    (0, 0, 1, 0),
    (0, 0.01, 0, 0.99),
    (0.59, 0.03, 0.34, 0.04),
    (0.70, 0.07, 0.12, 0.11),
    (0.07, 0.05, 0.80, 0.08),
    (0.16, 0.15, 0.20, 0.49),
]
_ACCEPTOR_FREQ = [(0.10, 0.33, 0.10, 0.47)] * 10 + [
    (0.24, 0.30, 0.20, 0.26),
    (0.05, 0.67, 0.01, 0.27),
    (1, 0, 0, 0),
    (0, 0, 1, 0),
    (0.25, 0.14, 0.50, 0.11),
]
DONOR_EXON = 3  # motif offset of the first intron base
ACCEPTOR_EXON = 14  # motif offset of the first exon base


def _pwm(freqs) -> np.ndarray:
    f = np.asarray(freqs, dtype=float) + 1e-3
    f /= f.sum(1, keepdims=True)
    pwm = np.log2(f / 0.25)
    return np.vstack([pwm.T, np.full((1, len(freqs)), -2.0)])  # rows A C G T N


DONOR_PWM = _pwm(_DONOR_FREQ)
ACCEPTOR_PWM = _pwm(_ACCEPTOR_FREQ)


def pwm_scores(seq: str, pwm: np.ndarray) -> np.ndarray:
    """Score of the motif starting at every position (length len(seq) - motif + 1)."""
    x = encode(seq)
    k = pwm.shape[1]
    n = len(x) - k + 1
    if n <= 0:
        return np.zeros(0)
    idx = np.lib.stride_tricks.sliding_window_view(x, k)
    return pwm[idx, np.arange(k)].sum(1)


def _orf(seq: str, at: int, phase: int) -> tuple[int, int, int]:
    """(codons upstream, codons downstream, codon start) of the stop-free stretch through ``at``."""
    cs = at - ((at - phase) % 3)
    up = 0
    k = cs - 3
    while k >= 0 and CODON.get(seq[k : k + 3], "*") != "*":
        up += 1
        k -= 3
    down = 0
    k = cs + 3
    while k + 3 <= len(seq) and CODON.get(seq[k : k + 3], "*") != "*":
        down += 1
        k += 3
    return up, down, cs


_BASIC = ["is_snv", "len_diff", "frameshift", "transition", "cpg", "gc_50", "ref_base", "alt_base"]
_STRANDED = [
    "coding_score",
    "coding_margin",
    "orf_len",
    "orf_len_second",
    "orf_up",
    "orf_down",
    "codon_pos",
    "stop_gained",
    "stop_lost",
    "start_lost",
    "synonymous",
    "missense",
    "blosum62",
    "hydro_delta",
    "ref_aa",
    "alt_aa",
    "ref_hydro",
    "local_hydro",
    "stop_gained_any",
    "stop_gained_weighted",
    "donor_ref",
    "donor_alt",
    "donor_delta",
    "acceptor_ref",
    "acceptor_alt",
    "acceptor_delta",
    "donor_loss_weighted",
    "acceptor_loss_weighted",
    "donor_best_dist",
    "donor_best_score",
    "acceptor_best_dist",
    "acceptor_best_score",
]
# strand-specific features for both strands (a model trained on one gene learns its strand), plus
# the same on the strand with the stronger codon signal (strand-agnostic)
FEATURE_NAMES = (
    _BASIC + [f"{n}_{s}" for s in ("plus", "minus", "best") for n in _STRANDED] + ["splice_disrupt", "stop_gained_max"]
)


def _strand_view(window: str, ref: str, alt: str, strand: str) -> tuple[str, str, str]:
    if strand == "+":
        return window, ref, alt
    return reverse_complement(window), reverse_complement(ref), reverse_complement(alt)


def _codon_score(seq: str, cs: int) -> float:
    """Codon-usage log-odds of the reading frame with a codon at ``cs`` over +-CODING_HALF_WINDOW codons."""
    lo = cs - 3 * CODING_HALF_WINDOW
    while lo < 0:
        lo += 3
    hi = min(len(seq), cs + 3 * (CODING_HALF_WINDOW + 1))
    return float(sum(CODON_LOGODDS.get(seq[k : k + 3], 0.0) for k in range(lo, hi - 2, 3)))


def _local_hydro(seq: str, cs: int, half: int = 7) -> float:
    """Mean Kyte-Doolittle hydropathy of the peptide +-``half`` residues around the variant codon."""
    vals = [
        KYTE_DOOLITTLE.get(CODON.get(seq[k : k + 3], "X"), 0.0)
        for k in range(max(cs - 3 * half, cs % 3), min(len(seq) - 2, cs + 3 * half + 3), 3)
    ]
    return float(np.mean(vals)) if vals else float("nan")


def _coding(seq: str, ref: str, alt: str) -> dict:
    """Coding features on one strand (variant at FLANK in ``seq``)."""
    frames = []
    for phase in range(3):
        up, down, cs = _orf(seq, FLANK, phase)
        ref_codon = seq[cs : cs + 3]
        length = 0 if CODON.get(ref_codon, "*") == "*" else up + down + 1
        frames.append((_codon_score(seq, cs), length, up, down, cs))
    frames.sort(reverse=True)
    score, length, up, down, cs = frames[0]
    out = {
        "coding_score": score,
        "coding_margin": score - frames[1][0],
        "orf_len": length,
        "orf_len_second": frames[1][1],
        "orf_up": up,
        "orf_down": down,
        "codon_pos": FLANK - cs,
    }
    # stop codons created in any of the three frames (weighted by how open that frame is)
    any_stop, weighted = 0, 0.0
    snv = len(ref) == len(alt) == 1
    alt_seq = seq[:FLANK] + alt + seq[FLANK + len(ref) :]
    for _, flen, _, _, fcs in frames:
        rc, ac = seq[fcs : fcs + 3], alt_seq[fcs : fcs + 3]
        if snv and CODON.get(rc, "*") != "*" and CODON.get(ac) == "*":
            any_stop += 1
            weighted = max(weighted, flen)
    out["stop_gained_any"] = any_stop
    out["stop_gained_weighted"] = weighted
    nan = float("nan")
    if snv:
        rc, ac = seq[cs : cs + 3], alt_seq[cs : cs + 3]
        ra, aa = CODON.get(rc, "X"), CODON.get(ac, "X")
        out.update(
            stop_gained=float(ra != "*" and aa == "*"),
            stop_lost=float(ra == "*" and aa != "*"),
            start_lost=float(rc == "ATG" and ac != "ATG"),
            synonymous=float(ra == aa),
            missense=float(ra != aa and "*" not in (ra, aa) and "X" not in (ra, aa)),
            blosum62=float(BLOSUM62.get((ra, aa), -4 if aa == "*" else nan) if ra != aa else 5),
            hydro_delta=float(KYTE_DOOLITTLE.get(aa, nan) - KYTE_DOOLITTLE.get(ra, nan)),
            ref_aa=float(_AA_INDEX.get(ra, 21)),
            alt_aa=float(_AA_INDEX.get(aa, 21)),
            ref_hydro=float(KYTE_DOOLITTLE.get(ra, nan)),
            local_hydro=_local_hydro(seq, cs),
        )
    else:
        for k in (
            "stop_gained",
            "stop_lost",
            "start_lost",
            "synonymous",
            "missense",
            "blosum62",
            "hydro_delta",
            "ref_aa",
            "alt_aa",
            "ref_hydro",
            "local_hydro",
        ):
            out[k] = nan
    return out


def _site_change(seq: str, alt_seq: str, pwm: np.ndarray, n_ref: int, n_alt: int) -> tuple[float, float, float]:
    """(best REF motif score over the variant, its loss in ALT at that same motif, best new-site gain)."""
    k = pwm.shape[1]
    s0 = max(0, FLANK - k + 1)
    ref_sc = pwm_scores(seq[s0 : FLANK + max(n_ref, 1) + k - 1], pwm)
    alt_sc = pwm_scores(alt_seq[s0 : FLANK + max(n_alt, 1) + k - 1], pwm)
    if not len(ref_sc) or not len(alt_sc):
        return float("nan"), float("nan"), float("nan")
    i = int(ref_sc.argmax())
    loss = float(alt_sc[i] - ref_sc[i]) if n_ref == n_alt else float(alt_sc.max() - ref_sc.max())
    return float(ref_sc[i]), loss, float(alt_sc.max() - ref_sc.max())


def _splice(seq: str, ref: str, alt: str) -> dict:
    alt_seq = seq[:FLANK] + alt + seq[FLANK + len(ref) :]
    d_ref, d_loss, d_gain = _site_change(seq, alt_seq, DONOR_PWM, len(ref), len(alt))
    a_ref, a_loss, a_gain = _site_change(seq, alt_seq, ACCEPTOR_PWM, len(ref), len(alt))
    out = {
        "donor_ref": d_ref,
        "donor_alt": d_gain,
        "donor_delta": d_loss,
        "acceptor_ref": a_ref,
        "acceptor_alt": a_gain,
        "acceptor_delta": a_loss,
        # loss of a site weighted by how strong it was (destroying a weak GT means little)
        "donor_loss_weighted": min(0.0, d_loss) * max(0.0, d_ref),
        "acceptor_loss_weighted": min(0.0, a_loss) * max(0.0, a_ref),
    }
    # the strongest donor / acceptor within 150 bp: signed distance from the variant to its exon boundary
    span = 150
    sub0 = FLANK - span
    sub = seq[sub0 : FLANK + span + len(ref)]
    ds = pwm_scores(sub, DONOR_PWM)
    if len(ds):
        i = int(ds.argmax())
        out["donor_best_score"] = float(ds[i])
        out["donor_best_dist"] = float(sub0 + i + DONOR_EXON - FLANK)
    acs = pwm_scores(sub, ACCEPTOR_PWM)
    if len(acs):
        i = int(acs.argmax())
        out["acceptor_best_score"] = float(acs[i])
        out["acceptor_best_dist"] = float(sub0 + i + ACCEPTOR_EXON - FLANK)
    return out


def variant_features(window: str, ref: str, alt: str) -> dict:
    """Features of one variant. ``window`` is the reference from FLANK bases before the variant to
    FLANK bases after its REF allele (so REF sits at ``window[FLANK:FLANK+len(ref)]``)."""
    window = window.upper()
    ref, alt = ref.upper(), alt.upper()
    f: dict[str, float] = {}
    f["is_snv"] = float(len(ref) == len(alt) == 1)
    f["len_diff"] = float(len(alt) - len(ref))
    f["frameshift"] = float((len(alt) - len(ref)) % 3 != 0)
    pur = set("AG")
    f["transition"] = float(len(ref) == len(alt) == 1 and ((ref in pur) == (alt in pur)))
    f["cpg"] = float(window[FLANK - 1 : FLANK + 1] == "CG" or window[FLANK : FLANK + 2] == "CG")
    mid = window[FLANK - 50 : FLANK + 50]
    f["gc_50"] = (mid.count("G") + mid.count("C")) / max(1, len(mid))
    f["ref_base"] = float("ACGTN".find(ref[0]))
    f["alt_base"] = float("ACGTN".find(alt[0]) if alt else -1)
    strands = {}
    for s in "+-":
        seq, r, a = _strand_view(window, ref, alt, s)
        # the window is symmetric (FLANK + REF + FLANK): on the minus strand REF also starts at FLANK
        strands[s] = {**_coding(seq, r, a), **_splice(seq, r, a)}
    best = max("+-", key=lambda s: (strands[s]["coding_score"], s == "+"))
    for s, name in (("+", "plus"), ("-", "minus"), (best, "best")):
        for k in _STRANDED:
            f[f"{k}_{name}"] = strands[s].get(k, math.nan)
    f["splice_disrupt"] = min(
        min(strands[s]["donor_loss_weighted"], strands[s]["acceptor_loss_weighted"]) for s in "+-"
    )
    f["stop_gained_max"] = max(strands[s]["stop_gained_weighted"] for s in "+-")
    return {k: float(f.get(k, math.nan)) for k in FEATURE_NAMES}


def feature_matrix(windows: list[str], refs: list[str], alts: list[str]) -> np.ndarray:
    rows = [variant_features(w, r, a) for w, r, a in zip(windows, refs, alts)]
    return np.array([[row[k] for k in FEATURE_NAMES] for row in rows], dtype=np.float64).reshape(
        len(rows), len(FEATURE_NAMES)
    )
