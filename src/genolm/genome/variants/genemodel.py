"""Ab-initio gene structure around variants: a small gene-model Viterbi from codon usage and splice sites.

Variant features need to know whether a base is coding and, if so, in which reading frame. Looking at a
few hundred bases around the variant is not enough for short exons (BRCA1's are 50-100 bp): two frames
are often open and codon usage alone picks the wrong one. A gene model decides every exon's frame
*together*, because an intron must resume the codon phase the previous exon left off. This module
decodes such a model over a region (100 kb blocks with 50 kb margins, both strands):

- states: intergenic ``N``; coding ``C0 C1 C2`` (codon position); introns ``I0 I1 I2`` (the codon
  position the next exon resumes at; ``I1``/``I2`` also remember the one/two codon bases before the intron,
  so a codon split by an intron is scored, and cannot be a stop); ``S`` (last base of the stop codon);
- a gene starts at ``ATG`` (``N -> C0``), ends at an in-frame stop (``C1 -> S -> N``), and in-frame
  stops are forbidden inside exons;
- exon -> intron only at ``GT`` and intron -> exon only at ``AG``, scored by the splice-site PWMs of
  :mod:`genolm.genome.variants.features`; each intron costs ``exon_pen``;
- coding bases score the codon log-odds (human codon usage vs the region's own trinucleotide
  frequencies) at each codon's last base; soft-masked (lowercase, repeat) bases pay ``rep_pen``.

No annotation is read. One set of penalties is not right for every gene, so the decoder runs over a
grid of 45 (exon penalty, coding weight, repeat penalty) triples and reports, for each base, the fraction of
decoded paths that call it coding in each frame ("ensemble vote"). On BRCA1 (dev SGE exons) the voted
consequence of coding SNVs matches the paper's for 86.0% of them, against 69-75% for the frame read from a
+-450 bp window; see docs/benchmarks.md. :meth:`GeneStructure.features` turns those paths into features of
a variant: probability it is coding, in a splice site or splice region, and the expected amino-acid
change (stop gained, synonymous, missense, BLOSUM62, hydropathy). This is deliberately simple next to
a trained gene finder (GENSCAN, AUGUSTUS); it is a feature source, not an annotation tool
(``genolm annotate`` is that).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from genolm.genome.variants.features import (
    ACCEPTOR_EXON,
    ACCEPTOR_PWM,
    BLOSUM62,
    CODON_LOGODDS,
    DONOR_EXON,
    DONOR_PWM,
    KYTE_DOOLITTLE,
    pwm_scores,
)
from genolm.sequence import CODON_TABLE as CODON
from genolm.sequence import STOP_CODONS, encode, reverse_complement

try:
    from numba import njit
except Exception:  # pragma: no cover - numba is a dependency; pure Python still works, slowly

    def njit(*a, **k):
        return (lambda f: f) if not (a and callable(a[0])) else a[0]


NEG = -1e18
STOPS = tuple(sorted(STOP_CODONS))  # TAA TAG TGA
# (exon_pen, coding weight, repeat penalty): the decoder is run once per triple; features are the vote over
# the paths
GRID = tuple((e, w, r) for e in (8.0, 10.0, 12.0, 14.0, 16.0) for w in (0.5, 0.75, 1.0) for r in (0.0, 0.3, 1.0))
START_PEN, END_PEN = 15.0, 4.0
BLOCK, MARGIN = 100_000, 50_000

N_, C0, C1, C2, I0, I1, I2, S = range(8)


def _tracks(seq: str) -> tuple[np.ndarray, ...]:
    """Per-base inputs of the decoder for the forward strand of ``seq`` (case = soft mask)."""
    s = seq.upper()
    n = len(s)
    rep = (np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8) >= 97).astype(np.float64)
    x = encode(s).astype(np.int64)  # A C G T = 0-3, anything else 4
    # codon table indexed 16 * b1 + 4 * b2 + b3: human codon usage against the sequence's own trinucleotides;
    # the same table scores codons read contiguously (cod, stop at their last base) and codons split by an
    # intron (at the acceptor, from the bases the intron state remembers)
    idx = 16 * x[:-2] + 4 * x[1:-1] + x[2:]
    ok = (x[:-2] < 4) & (x[1:-1] < 4) & (x[2:] < 4)
    bg = np.bincount(idx[ok], minlength=64)
    tot = max(1, n - 2)
    usage = {c: math.exp(v) / 64 for c, v in CODON_LOGODDS.items()}
    nonstop = sum(u for c, u in usage.items() if c not in STOPS)
    lo64 = np.full(64, -5.0)
    stop64 = np.zeros(64, dtype=np.bool_)
    for i, c in enumerate(a + b + d for a in "ACGT" for b in "ACGT" for d in "ACGT"):
        if c in STOPS:
            stop64[i] = True
        elif bg[i]:
            lo64[i] = math.log(usage[c] / nonstop / (bg[i] / tot))
    cod = np.zeros(n)
    stop = np.zeros(n, dtype=np.bool_)
    if n > 2:
        stop[2:] = ok & stop64[np.where(ok, idx, 0)]
        cod[2:] = np.where(ok, lo64[np.where(ok, idx, 0)], -5.0)  # codons with N: -5
        cod[stop] = 0.0  # never read: a stop codon cannot end C2
    don = np.full(n, NEG)
    ds = pwm_scores(s, DONOR_PWM)
    for i in np.nonzero(ds > 0)[0]:
        j = i + DONOR_EXON  # first intron base
        if s[j : j + 2] == "GT":
            don[j - 1] = ds[i]  # leave the exon after base j - 1
    acc = np.full(n, NEG)
    a = pwm_scores(s, ACCEPTOR_PWM)
    for i in np.nonzero(a > 0)[0]:
        j = i + ACCEPTOR_EXON  # first exon base
        if s[j - 2 : j] == "AG":
            acc[j] = a[i]
    atg = np.zeros(n, dtype=np.bool_)
    if n > 2:
        atg[:-2] = idx == 16 * 0 + 4 * 3 + 2  # A T G
    return cod, stop, don, acc, atg, rep, x, lo64, stop64


# decoder states (30): 0 N; 1-3 C0 C1 C2 (codon position, codon read contiguously); 4 I0; 5-8 I1[b] (intron
# after the first base b of a codon); 9-24 I2[b1 b2] (intron after two bases); 25-28 C1a[b] (second codon base
# right after an acceptor, the first base b before the intron); 29 S (last base of the stop codon).
# _CODE maps them to the 8 path codes of the module docstring.
_CODE = np.array([0, 1, 2, 3, 4] + [5] * 4 + [6] * 16 + [2] * 4 + [7], dtype=np.int8)


@njit(cache=True)
def _viterbi(
    cod, stop, don, acc, atg, rep, x, lo64, stop64, w_c, exon_pen, start_pen, end_pen, rep_pen
):  # pragma: no cover - numba
    n = cod.shape[0]
    ns = 30
    bp = np.zeros((n, ns), dtype=np.int8)
    v = np.full(ns, -1e18)
    v[0] = 0.0
    new = np.empty(ns)
    for t in range(1, n):
        for k in range(ns):
            new[k] = -1e18
            bp[t, k] = k
        rp = rep_pen * rep[t]
        xt = x[t]
        a = acc[t] - exon_pen if acc[t] > -1e17 else -1e18
        # N: stay, or leave the stop codon
        if v[0] >= v[29]:
            new[0] = v[0]
            bp[t, 0] = 0
        else:
            new[0] = v[29]
            bp[t, 0] = 29
        # C0: after C2, a start codon, or an acceptor from I0
        best, arg = v[3], 3
        if atg[t] and v[0] - start_pen > best:
            best, arg = v[0] - start_pen, 0
        if v[4] + a > best:
            best, arg = v[4] + a, 4
        new[1] = best - rp
        bp[t, 1] = arg
        # C1: after C0 (contiguous)
        new[2] = v[1] - rp
        bp[t, 2] = 1
        # C1a[b]: acceptor from I1[b]
        for b in range(4):
            new[25 + b] = v[5 + b] + a - rp
            bp[t, 25 + b] = 5 + b
        # C2 and S: the codon completed at t
        best, arg = -1e18, 2
        sbest, sarg = -1e18, 2
        if stop[t]:
            sbest, sarg = v[2] - end_pen, 2
        else:
            best, arg = v[2] + w_c * cod[t], 2
        if xt < 4 and x[t - 1] < 4:
            for b in range(4):  # C1a[b] at t-1: codon b, x[t-1], x[t]
                c = 16 * b + 4 * x[t - 1] + xt
                if stop64[c]:
                    if v[25 + b] - end_pen > sbest:
                        sbest, sarg = v[25 + b] - end_pen, 25 + b
                elif v[25 + b] + w_c * lo64[c] > best:
                    best, arg = v[25 + b] + w_c * lo64[c], 25 + b
        if xt < 4 and a > -1e17:
            for b12 in range(16):  # I2[b1 b2] at t-1, acceptor at t: codon b1 b2 x[t]
                c = 4 * b12 + xt
                if stop64[c]:
                    if v[9 + b12] + a - end_pen > sbest:
                        sbest, sarg = v[9 + b12] + a - end_pen, 9 + b12
                elif v[9 + b12] + a + w_c * lo64[c] > best:
                    best, arg = v[9 + b12] + a + w_c * lo64[c], 9 + b12
        new[3] = best - rp
        bp[t, 3] = arg
        new[29] = sbest - rp
        bp[t, 29] = sarg
        # introns: stay, or leave an exon through a donor (exon ended at t-1, intron starts at t)
        d = don[t - 1]
        best, arg = v[4], 4
        if d > -1e17 and v[3] + d > best:
            best, arg = v[3] + d, 3
        new[4] = best
        bp[t, 4] = arg
        for b in range(4):
            new[5 + b] = v[5 + b]
        for b12 in range(16):
            new[9 + b12] = v[9 + b12]
        if d > -1e17:
            b0 = x[t - 1]
            if b0 < 4 and v[1] + d > new[5 + b0]:  # C0 at t-1: one codon base b0
                new[5 + b0] = v[1] + d
                bp[t, 5 + b0] = 1
            if t >= 2 and x[t - 2] < 4 and b0 < 4:  # C1 at t-1 (contiguous): bases x[t-2] x[t-1]
                k = 4 * x[t - 2] + b0
                if v[2] + d > new[9 + k]:
                    new[9 + k] = v[2] + d
                    bp[t, 9 + k] = 2
            if b0 < 4:
                for b in range(4):  # C1a[b] at t-1: bases b x[t-1]
                    k = 4 * b + b0
                    if v[25 + b] + d > new[9 + k]:
                        new[9 + k] = v[25 + b] + d
                        bp[t, 9 + k] = 25 + b
        for k in range(ns):
            v[k] = new[k]
    path = np.zeros(n, dtype=np.int8)
    st = 0 if v[0] >= v[29] else 29
    for t in range(n - 1, -1, -1):
        path[t] = st
        if t > 0:
            st = bp[t, st]
    return path


def decode(seq: str, grid=GRID) -> np.ndarray:
    """Decoded state paths (len(grid) x len(seq)) for genes on the forward strand of ``seq``."""
    tracks = _tracks(seq)
    return np.stack([_CODE[_viterbi(*tracks, w, e, START_PEN, END_PEN, r)] for e, w, r in grid])


class _StrandPaths:
    """Decoded paths of one strand over one block, in that strand's reading direction."""

    def __init__(self, seq: str, paths: np.ndarray):
        self.seq = seq.upper()
        self.paths = paths
        self.coding = []  # per path: sorted coding positions, run starts, run ends
        for p in paths:
            pos = np.nonzero((p >= C0) & (p <= C2) | (p == S))[0]
            if len(pos):
                brk = np.nonzero(np.diff(pos) > 1)[0]
                starts = np.concatenate([[pos[0]], pos[brk + 1]])
                ends = np.concatenate([pos[brk], [pos[-1]]])
            else:
                starts = ends = pos
            self.coding.append((pos, starts, ends))


class GeneStructure:
    """Gene-model paths around variants, decoded on demand per 100 kb block and cached (last 4 blocks)."""

    def __init__(self, ref_cache, grid=GRID, keep: int = 4):
        self.ref = ref_cache
        self.grid = grid
        self.keep = keep
        self._cache: OrderedDict = OrderedDict()

    def _block(self, chrom: str, b: int) -> tuple[int, _StrandPaths, _StrandPaths]:
        key = (chrom, b)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        lo = max(0, b * BLOCK - MARGIN)
        hi = min(self.ref.lengths[chrom], (b + 1) * BLOCK + MARGIN)
        seq = self.ref.fetch(chrom, lo, hi)
        rc = reverse_complement(seq)
        val = (lo, _StrandPaths(seq, decode(seq, self.grid)), _StrandPaths(rc, decode(rc, self.grid)))
        self._cache[key] = val
        while len(self._cache) > self.keep:
            self._cache.popitem(last=False)
        return val

    def features(self, chrom: str, pos0: int, ref: str, alt: str) -> dict:
        """Gene-model features of a variant on each strand (``gm_*_plus``, ``gm_*_minus``)."""
        lo, plus, minus = self._block(chrom, pos0 // BLOCK)
        out = {}
        t = pos0 - lo
        for name, sp, tt, r, a in (
            ("plus", plus, t, ref, alt),
            ("minus", minus, len(minus.seq) - 1 - (t + len(ref) - 1), reverse_complement(ref), reverse_complement(alt)),
        ):
            for k, v in _strand_features(sp, tt, r, a).items():
                out[f"{k}_{name}"] = v
        return out


GM_STRANDED = [
    "gm_coding",
    "gm_canonical",
    "gm_splice_region",
    "gm_exon_edge",
    "gm_stop_gained",
    "gm_synonymous",
    "gm_missense",
    "gm_blosum62",
    "gm_hydro_delta",
    "gm_ref_hydro",
    "gm_intron_near",
    "gm_stop_lost",
]
GM_FEATURES = [f"{k}_{s}" for s in ("plus", "minus") for k in GM_STRANDED]


def _strand_features(sp: _StrandPaths, t: int, ref: str, alt: str) -> dict:
    f = dict.fromkeys(GM_STRANDED, 0.0)
    snv = len(ref) == len(alt) == 1
    bl, hd, rh, wm = 0.0, 0.0, 0.0, 0
    for p, (pos, starts, ends) in zip(sp.paths, sp.coding):
        st = int(p[t])
        if C0 <= st <= C2 or st == S:  # coding base
            f["gm_coding"] += 1
            j = int(np.searchsorted(starts, t, side="right")) - 1
            if min(t - starts[j], ends[j] - t) < 3:
                f["gm_exon_edge"] += 1
            if not snv:
                continue
            k = 2 if st == S else st - C0  # codon position; the codon's other bases may lie across an intron
            r = int(np.searchsorted(pos, t))
            if r - k < 0 or r - k + 3 > len(pos):
                continue
            rc = "".join(sp.seq[i] for i in pos[r - k : r - k + 3])
            ac = rc[:k] + alt + rc[k + 1 :]
            ra, aa = CODON.get(rc, "X"), CODON.get(ac, "X")
            if ra == "*" and aa != "*":
                f["gm_stop_lost"] += 1
            elif aa == "*" and ra != "*":
                f["gm_stop_gained"] += 1
            elif ra == aa:
                f["gm_synonymous"] += 1
            elif "X" not in (ra, aa):
                f["gm_missense"] += 1
                bl += BLOSUM62[(ra, aa)]
                hd += KYTE_DOOLITTLE[aa] - KYTE_DOOLITTLE[ra]
                rh += KYTE_DOOLITTLE[ra]
                wm += 1
        elif I0 <= st <= I2:  # intron: distance to the nearest exon base of this path
            r = int(np.searchsorted(pos, t))
            d = min(pos[r] - t if r < len(pos) else 10**9, t - pos[r - 1] if r > 0 else 10**9)
            if d <= 2:
                f["gm_canonical"] += 1
            elif d <= 8:
                f["gm_splice_region"] += 1
            elif d <= 50:
                f["gm_intron_near"] += 1
    n_paths = len(sp.paths)
    for k in f:
        f[k] /= n_paths
    nan = float("nan")
    f["gm_blosum62"] = bl / wm if wm else nan
    f["gm_hydro_delta"] = hd / wm if wm else nan
    f["gm_ref_hydro"] = rh / wm if wm else nan
    return f
