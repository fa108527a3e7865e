"""The gene-structure HMM over per-base network posteriors (hybrid NN/HMM, Viterbi).

The network gives, for every base, posteriors over *fine* labels (codon position of coding bases,
intron, UTR, ... on each strand). The HMM's states carry one fine label each and its transitions
encode what a gene must look like, so the decoded path is always a consistent gene model:

- a coding region starts with a start codon (ATG; also GTG/TTG for prokaryotes), runs in frame,
  and ends at the first in-frame stop codon (TAA/TAG/TGA) - transitions are allowed only where the
  sequence has the right codon;
- introns (eukaryote) begin with GT and end with AG, and remember the codon phase they interrupt;
- the minus strand is the mirror image (reverse-complement codons read left to right).

Emission score of state s at base i = log p_i(label(s)) - prior_weight * log prior(label(s)).
The whole model is a few dozen states, so Viterbi (numba) runs at millions of bases per second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genolm.genome.annotate.labels import SCHEMES
from genolm.sequence import STOP_CODONS, encode, reverse_complement

try:  # numba ships with umap-learn (a genolm dependency); a pure-numpy fallback keeps things working
    from numba import njit
except Exception:  # pragma: no cover
    njit = None

# ---- sequence constraints -----------------------------------------------------------------------

STOPS = tuple(sorted(STOP_CODONS))  # TAA, TAG, TGA


def codon_mask(codes: np.ndarray, codons) -> np.ndarray:
    """mask[i] = the bases from i spell one of ``codons`` (``codes`` from :func:`genolm.sequence.encode`)."""
    n = len(codes)
    out = np.zeros(n, dtype=bool)
    for c in codons:
        k = len(c)
        if n < k:
            continue
        m = np.ones(n - k + 1, dtype=bool)
        for j, ch in enumerate(encode(c)):
            m &= codes[j : n - k + 1 + j] == ch
        out[: n - k + 1] |= m
    return out


CONSTRAINTS = [
    "none",
    "start",
    "nostop",
    "stop",
    "donor",
    "acceptor",
    "rc_start",
    "rc_nostop",
    "rc_stop",
    "rc_donor",
    "rc_acceptor",
]
_C = {c: i for i, c in enumerate(CONSTRAINTS)}


def constraint_masks(seq: str, starts: tuple[str, ...]) -> np.ndarray:
    """(n_constraints, L) booleans: transition into the new state at base i allowed only where true."""
    s = encode(seq)
    L = len(s)
    m = np.zeros((len(CONSTRAINTS), L), dtype=bool)
    m[_C["none"]] = True
    m[_C["start"]] = codon_mask(s, starts)
    m[_C["stop"]] = codon_mask(s, STOPS)
    acgt = s < 4
    full = np.zeros(L, dtype=bool)  # a whole codon of real bases from i
    if L >= 3:
        full[: L - 2] = acgt[: L - 2] & acgt[1 : L - 1] & acgt[2:]
    m[_C["nostop"]] = full & ~m[_C["stop"]]
    m[_C["donor"]] = codon_mask(s, ("GT",))
    m[_C["acceptor"]] = codon_mask(s, ("AG",))
    m[_C["rc_start"]] = codon_mask(s, tuple(reverse_complement(c) for c in starts))
    m[_C["rc_stop"]] = codon_mask(s, tuple(reverse_complement(c) for c in STOPS))
    m[_C["rc_nostop"]] = full & ~m[_C["rc_stop"]]
    m[_C["rc_acceptor"]] = codon_mask(s, ("CT",))  # AG on the minus strand, read on plus
    m[_C["rc_donor"]] = codon_mask(s, ("AC",))  # GT on the minus strand
    return m


# ---- the state graph ----------------------------------------------------------------------------


@dataclass
class GeneHMM:
    scheme: str
    states: list[str] = field(default_factory=list)
    label: list[int] = field(default_factory=list)  # fine label index emitted by each state
    trans: list[tuple[int, int, float, int, bool]] = field(default_factory=list)  # from, to, logp, constraint, new gene
    starts: tuple[str, ...] = ("ATG",)

    def add_state(self, name: str, label: str) -> int:
        self.states.append(name)
        self.label.append(SCHEMES[self.scheme].index(label))
        return len(self.states) - 1

    def s(self, name: str) -> int:
        return self.states.index(name)

    def add(self, a: str, b: str, p: float = 1.0, constraint: str = "none", new_gene: bool = False) -> None:
        self.trans.append((self.s(a), self.s(b), float(np.log(p)), _C[constraint], new_gene))

    def arrays(self):
        t = np.array([x[:2] for x in self.trans], dtype=np.int64)
        return (
            t[:, 0].copy(),
            t[:, 1].copy(),
            np.array([x[2] for x in self.trans], dtype=np.float64),
            np.array([x[3] for x in self.trans], dtype=np.int64),
        )

    def new_gene_pairs(self) -> set[tuple[int, int]]:
        return {(a, b) for a, b, _, _, ng in self.trans if ng}


@dataclass
class HMMParams:
    """Length priors (bases). Fitted from the training annotation by ``annotate.train``."""

    intergenic: float = 150.0
    utr5: float = 60.0
    utr3: float = 120.0
    intron: float = 60.0
    min_intron: int = 0  # shortest intron modelled (bases); 0 = no minimum beyond the splice states
    exon: float = 150.0  # mean coding exon length (eukaryote)
    codons: float = 300.0  # mean protein length (codons)
    rna: float = 150.0
    rna_rate: float = 0.002  # chance an intergenic base starts an RNA gene
    prior_weight: float = 0.0
    no_utr: float = 0.1  # chance a gene has no UTR on one side (eukaryote)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def build_hmm(scheme: str, p: HMMParams | None = None) -> GeneHMM:
    p = p or HMMParams()
    if scheme == "prokaryote":
        return _prokaryote(p)
    if scheme == "eukaryote":
        return _eukaryote(p)
    raise ValueError(f"unknown scheme {scheme!r}")


def _prokaryote(p: HMMParams) -> GeneHMM:
    h = GeneHMM("prokaryote", starts=("ATG", "GTG", "TTG"))
    h.add_state("N", "intergenic")
    for k in (1, 2, 3):
        h.add_state(f"C{k}", f"CDS+{k}")
    for k in (1, 2, 3):
        h.add_state(f"E{k}", f"CDS+{k}")  # stop codon (part of the CDS, as in GFF)
    for k in (3, 2, 1):  # minus strand, read left to right: stop, codons (3,2,1), start
        h.add_state(f"rT{k}", f"CDS-{k}")
    for k in (3, 2, 1):
        h.add_state(f"rC{k}", f"CDS-{k}")
    for k in (3, 2, 1):
        h.add_state(f"rS{k}", f"CDS-{k}")
    h.add_state("R", "RNA")
    g = 1.0 / p.intergenic
    end_gene = 1.0 / p.codons
    h.add("N", "N", 1 - 2 * g - p.rna_rate)
    h.add("N", "C1", g, "start", True)
    h.add("N", "rT3", g, "rc_stop", True)
    h.add("N", "R", p.rna_rate, new_gene=True)
    h.add("C1", "C2")
    h.add("C2", "C3")
    h.add("C3", "C1", 1.0, "nostop")
    h.add("C3", "E1", 1.0, "stop")
    h.add("E1", "E2")
    h.add("E2", "E3")
    for last in ("E3", "rS1"):
        h.add(last, "N", 1 - 2 * g)
        h.add(last, "C1", g, "start", True)
        h.add(last, "rT3", g, "rc_stop", True)
    h.add("rT3", "rT2")
    h.add("rT2", "rT1")
    h.add("rT1", "rC3", 1.0, "rc_nostop")
    h.add("rC3", "rC2")
    h.add("rC2", "rC1")
    h.add("rC1", "rC3", 1 - end_gene, "rc_nostop")
    h.add("rC1", "rS3", end_gene, "rc_start")
    h.add("rS3", "rS2")
    h.add("rS2", "rS1")
    h.add("R", "R", 1 - 1.0 / p.rna)
    h.add("R", "N", 1.0 / p.rna)
    return h


def _eukaryote(p: HMMParams) -> GeneHMM:
    h = GeneHMM("eukaryote", starts=("ATG",))
    h.add_state("N", "intergenic")
    h.add_state("U5", "UTR5+")
    for k in (1, 2, 3):
        h.add_state(f"S{k}", f"CDS+{k}")  # start codon: never interrupted by an intron
    for k in (1, 2, 3):
        h.add_state(f"C{k}", f"CDS+{k}")
    for k in (1, 2, 3):
        h.add_state(f"E{k}", f"CDS+{k}")
    h.add_state("U3", "UTR3+")
    body = max(1, int(p.min_intron) - 4)  # intron body states before the self-loop (minimum length)
    for k in (1, 2, 3):  # intron after codon position k: donor GT, body, acceptor AG
        for part in ["Da", "Db"] + [f"I{j}_" for j in range(1, body + 1)] + ["Aa", "Ab"]:
            h.add_state(f"{part}{k}", "intron+")
    h.add_state("rU3", "UTR3-")
    for k in (3, 2, 1):
        h.add_state(f"rT{k}", f"CDS-{k}")
    for k in (3, 2, 1):
        h.add_state(f"rC{k}", f"CDS-{k}")
    for k in (3, 2, 1):
        h.add_state(f"rS{k}", f"CDS-{k}")
    h.add_state("rU5", "UTR5-")
    for k in (1, 2, 3):  # minus-strand intron after visiting codon position k: CT ... AC on plus
        for part in ["rAa", "rAb"] + [f"rI{j}_" for j in range(1, body + 1)] + ["rDa", "rDb"]:
            h.add_state(f"{part}{k}", "intron-")
    g = 1.0 / p.intergenic
    nu = p.no_utr
    ex = 1.0 / p.exon
    intr = 1.0 / max(2.0, p.intron - body - 4)  # geometric tail beyond the minimum length
    # plus strand
    h.add("N", "N", 1 - 2 * g)
    h.add("N", "U5", g * (1 - nu), new_gene=True)
    h.add("N", "S1", g * nu, "start", True)
    h.add("U5", "U5", 1 - 1.0 / p.utr5)
    h.add("U5", "S1", 1.0 / p.utr5, "start")
    h.add("S1", "S2")
    h.add("S2", "S3")
    h.add("S3", "C1", 1 - ex, "nostop")
    h.add("S3", "Da3", ex, "donor")
    h.add("C1", "C2", 1 - ex)
    h.add("C2", "C3", 1 - ex)
    h.add("C3", "C1", 1 - ex, "nostop")
    h.add("C3", "E1", 1.0, "stop")
    for k in (1, 2, 3):
        nxt = k % 3 + 1
        h.add(f"C{k}", f"Da{k}", ex, "donor")
        h.add(f"Da{k}", f"Db{k}")
        h.add(f"Db{k}", f"I1_{k}")
        for j in range(1, body):
            h.add(f"I{j}_{k}", f"I{j + 1}_{k}")
        h.add(f"I{body}_{k}", f"I{body}_{k}", 1 - intr)
        h.add(f"I{body}_{k}", f"Aa{k}", intr, "acceptor")
        h.add(f"Aa{k}", f"Ab{k}")
        h.add(f"Ab{k}", f"C{nxt}", 1.0, "nostop" if nxt == 1 else "none")
    h.add("Ab3", "E1", 1.0, "stop")  # an intron just before the stop codon
    h.add("E1", "E2")
    h.add("E2", "E3")
    h.add("E3", "U3", 1 - nu)
    h.add("E3", "N", nu)
    h.add("U3", "U3", 1 - 1.0 / p.utr3)
    h.add("U3", "N", 1.0 / p.utr3)
    # minus strand (mirror image)
    h.add("N", "rU3", g * (1 - nu), new_gene=True)
    h.add("N", "rT3", g * nu, "rc_stop", True)
    h.add("rU3", "rU3", 1 - 1.0 / p.utr3)
    h.add("rU3", "rT3", 1.0 / p.utr3, "rc_stop")
    h.add("rT3", "rT2")
    h.add("rT2", "rT1")
    h.add("rT1", "rC3", 1 - ex, "rc_nostop")
    h.add("rC3", "rC2", 1 - ex)
    h.add("rC2", "rC1", 1 - ex)
    h.add("rC1", "rC3", (1 - ex) * (1 - 1.0 / p.codons), "rc_nostop")
    h.add("rC1", "rS3", 1.0 / p.codons, "rc_start")
    h.add("rT1", "rAa1", ex, "rc_acceptor")  # an intron just after the stop codon
    for k in (3, 2, 1):
        nxt = (k - 2) % 3 + 1  # next visited codon position on the minus strand: 3 -> 2 -> 1 -> 3
        h.add(f"rC{k}", f"rAa{k}", ex, "rc_acceptor")
        h.add(f"rAa{k}", f"rAb{k}")
        h.add(f"rAb{k}", f"rI1_{k}")
        for j in range(1, body):
            h.add(f"rI{j}_{k}", f"rI{j + 1}_{k}")
        h.add(f"rI{body}_{k}", f"rI{body}_{k}", 1 - intr)
        h.add(f"rI{body}_{k}", f"rDa{k}", intr, "rc_donor")
        h.add(f"rDa{k}", f"rDb{k}")
        h.add(f"rDb{k}", f"rC{nxt}", 1.0, "rc_nostop" if nxt == 3 else "none")
    h.add("rS3", "rS2")
    h.add("rS2", "rS1")
    h.add("rS1", "rU5", 1 - nu)
    h.add("rS1", "N", nu)
    h.add("rU5", "rU5", 1 - 1.0 / p.utr5)
    h.add("rU5", "N", 1.0 / p.utr5)
    # a gene may follow another directly
    for last in ("U3", "rU5"):
        h.add(last, "U5", g * (1 - nu), new_gene=True)
        h.add(last, "rU3", g * (1 - nu), new_gene=True)
    return h


# ---- Viterbi ------------------------------------------------------------------------------------


def _viterbi_py(emis, tf, tt, tlp, tc, cons, start_state):
    L, S = emis.shape
    back = np.zeros((L, S), dtype=np.int16)
    v = np.full(S, -np.inf)
    v[start_state] = emis[0, start_state]
    for i in range(1, L):
        ok = cons[tc, i]
        sc = np.where(ok, v[tf] + tlp, -np.inf)
        nv = np.full(S, -np.inf)
        order = np.argsort(sc, kind="stable")
        nv[tt[order]] = sc[order]
        back[i, tt[order]] = tf[order]
        v = nv + emis[i]
    return v, back


if njit is not None:

    @njit(cache=True, nogil=True)
    def _viterbi_nb(emis, tf, tt, tlp, tc, cons, start_state):  # pragma: no cover - compiled
        L, S = emis.shape
        T = tf.shape[0]
        back = np.zeros((L, S), dtype=np.int16)
        v = np.full(S, -np.inf)
        v[start_state] = emis[0, start_state]
        nv = np.empty(S)
        for i in range(1, L):
            for s in range(S):
                nv[s] = -np.inf
            for t in range(T):
                if not cons[tc[t], i]:
                    continue
                sc = v[tf[t]] + tlp[t]
                if sc > nv[tt[t]]:
                    nv[tt[t]] = sc
                    back[i, tt[t]] = tf[t]
            for s in range(S):
                v[s] = nv[s] + emis[i, s]
        return v, back
else:  # pragma: no cover
    _viterbi_nb = _viterbi_py


def viterbi(
    hmm: GeneHMM,
    log_post: np.ndarray,
    seq: str,
    log_prior: np.ndarray | None = None,
    prior_weight: float = 0.0,
    state_bonus: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Most likely state path (L,) for one sequence; starts and ends outside genes.

    ``state_bonus`` adds a per-position score to states by name (e.g. splice-site log-odds on the
    first donor/acceptor state: those states are only entered at a splice site)."""
    L = len(seq)
    if log_post.shape[0] != L:
        raise ValueError("posteriors and sequence differ in length")
    lab = np.asarray(hmm.label)
    emis = log_post[:, lab].astype(np.float64)
    if log_prior is not None and prior_weight:
        emis = emis - prior_weight * log_prior[lab][None, :]
    for name, bonus in (state_bonus or {}).items():
        if name in hmm.states:
            emis[:, hmm.s(name)] += bonus
    # masked/unknown bases: only intergenic
    is_n = encode(seq) == 4
    if is_n.any():
        emis[is_n, 1:] = -1e9
    cons = constraint_masks(seq, hmm.starts)
    tf, tt, tlp, tc = hmm.arrays()
    v, back = _viterbi_nb(np.ascontiguousarray(emis), tf, tt, tlp, tc, cons, 0)
    path = np.empty(L, dtype=np.int64)
    path[-1] = 0 if np.isfinite(v[0]) else int(np.argmax(v))
    for i in range(L - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


# ---- path -> gene models ------------------------------------------------------------------------


@dataclass
class GeneModel:
    strand: str
    start: int  # 0-based inclusive, relative to the decoded sequence
    end: int  # 0-based exclusive
    kind: str = "coding"  # coding | RNA
    exons: list[tuple[int, int]] = field(default_factory=list)  # 0-based half-open, ascending
    cds: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, phase), ascending
    utr5: list[tuple[int, int]] = field(default_factory=list)
    utr3: list[tuple[int, int]] = field(default_factory=list)
    score: float = 0.0

    @property
    def introns(self) -> list[tuple[int, int]]:
        return [(a[1], b[0]) for a, b in zip(self.exons, self.exons[1:])]


def _runs(mask: np.ndarray, offset: int = 0) -> list[tuple[int, int]]:
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [(int(a) + offset, int(b) + offset) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))]


def path_to_genes(hmm: GeneHMM, path: np.ndarray, post: np.ndarray | None = None) -> list[GeneModel]:
    """Cut a state path into gene models (coding and RNA), with exons, CDS phases and UTRs."""
    names = SCHEMES[hmm.scheme]
    lab = np.asarray(hmm.label)[path]
    new_pairs = hmm.new_gene_pairs()
    in_gene = lab != 0
    genes: list[GeneModel] = []
    L = len(path)
    i = 0
    while i < L:
        if not in_gene[i]:
            i += 1
            continue
        j = i + 1
        while j < L and in_gene[j] and (int(path[j - 1]), int(path[j])) not in new_pairs:
            j += 1
        genes.append(_gene_from_labels(names, lab[i:j], i, post[i:j] if post is not None else None))
        i = j
    return [g for g in genes if g is not None]


def _gene_from_labels(names: list[str], lab: np.ndarray, offset: int, post) -> GeneModel | None:
    first = names[lab[0]]
    if first == "RNA":
        g = GeneModel(".", offset, offset + len(lab), kind="RNA", exons=[(offset, offset + len(lab))])
    else:
        strand = "-" if any(names[x].endswith("-") or names[x][:4] == "CDS-" for x in lab[:1]) else "+"
        is_intron = np.array([names[x].startswith("intron") for x in lab])
        is_cds = np.array([names[x].startswith("CDS") for x in lab])
        is_u5 = np.array([names[x].startswith("UTR5") for x in lab])
        is_u3 = np.array([names[x].startswith("UTR3") for x in lab])
        g = GeneModel(
            strand,
            offset,
            offset + len(lab),
            exons=_runs(~is_intron, offset),
            utr5=_runs(is_u5, offset),
            utr3=_runs(is_u3, offset),
        )
        segs = _runs(is_cds & ~is_intron, offset)
        # phase = bases to skip at the segment's 5' end (gene direction) to reach a codon start
        ordered = segs if strand == "+" else segs[::-1]
        done, cds = 0, []
        for s, e in ordered:
            cds.append((s, e, (3 - done % 3) % 3))
            done += e - s
        g.cds = sorted(cds)
    if post is not None:
        g.score = float(np.mean(post[np.arange(len(lab)), lab]))
    return g
