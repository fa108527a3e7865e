"""Label schemes and the reference annotation as per-base labels.

GFF3 features -> transcripts (one per gene by default) -> per-base *fine* labels (codon position of
coding bases, intron, UTR, ... on each strand) and *coarse* classes (used for evaluation).
Coordinates: 0-based half-open.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from genolm.io.gff import Feature, GffWarnings, read_gff

# ---- label schemes ------------------------------------------------------------------------------

SCHEMES = {
    "prokaryote": ["intergenic", "CDS+1", "CDS+2", "CDS+3", "CDS-1", "CDS-2", "CDS-3", "RNA"],
    "eukaryote": [
        "intergenic",
        "UTR5+",
        "CDS+1",
        "CDS+2",
        "CDS+3",
        "intron+",
        "UTR3+",
        "UTR5-",
        "CDS-1",
        "CDS-2",
        "CDS-3",
        "intron-",
        "UTR3-",
    ],
}

# coarse classes used for evaluation (strand kept: a CDS base on the wrong strand is wrong)
COARSE = ["intergenic", "CDS+", "CDS-", "intron+", "intron-", "UTR5+", "UTR5-", "UTR3+", "UTR3-", "RNA"]
COARSE_INDEX = {c: i for i, c in enumerate(COARSE)}


def fine_to_coarse(scheme: str) -> np.ndarray:
    """Index map fine label -> coarse class."""
    out = []
    for name in SCHEMES[scheme]:
        if name.startswith("CDS"):
            out.append(COARSE_INDEX[name[:4]])
        else:
            out.append(COARSE_INDEX[name])
    return np.array(out, dtype=np.int64)


def swap_strand_labels(scheme: str) -> np.ndarray:
    """Fine label index map for the reverse complement (CDS+k <-> CDS-k, intron+ <-> intron- ...)."""
    names = SCHEMES[scheme]
    idx = {n: i for i, n in enumerate(names)}
    out = []
    for n in names:
        if "+" in n:
            out.append(idx[n.replace("+", "-")])
        elif "-" in n:
            out.append(idx[n.replace("-", "+")])
        else:
            out.append(idx[n])
    return np.array(out, dtype=np.int64)


RNA_TYPES = {
    "tRNA",
    "rRNA",
    "ncRNA",
    "tmRNA",
    "snRNA",
    "snoRNA",
    "RNase_P_RNA",
    "SRP_RNA",
    "antisense_RNA",
    "miRNA",
    "lnc_RNA",
}
TRANSCRIPT_PARTS = {"CDS", "exon", "five_prime_UTR", "three_prime_UTR"}
BASE_CLASSES = ["CDS", "intron", "UTR5", "UTR3", "RNA", "intergenic"]

# ---- annotation -> transcripts -> per-base labels -------------------------------------------------


@dataclass
class Transcript:
    seqid: str
    strand: str
    gene: str
    id: str
    kind: str = "coding"  # coding | RNA | noncoding
    exons: list[tuple[int, int]] = field(default_factory=list)  # 0-based half-open
    cds: list[tuple[int, int]] = field(default_factory=list)
    cds_phase0: int = 0  # phase of the 5'-most CDS part, when the file gives it

    @property
    def start(self) -> int:
        return min(s for s, _ in self.exons or self.cds)

    @property
    def end(self) -> int:
        return max(e for _, e in self.exons or self.cds)

    @property
    def introns(self) -> list[tuple[int, int]]:
        ex = sorted(self.exons)
        return [(a[1], b[0]) for a, b in zip(ex, ex[1:]) if b[0] > a[1]]


def _merge(iv: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(iv):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def transcripts_from_features(
    feats: list[Feature], primary_only: bool = True, warnings: GffWarnings | None = None
) -> list[Transcript]:
    """Group CDS/exon/UTR parts by parent transcript; one (the first listed) transcript per gene by default.

    Works for NCBI prokaryote files (CDS whose parent is the gene, RNA features with exon children) and
    eukaryote gene/mRNA/exon/CDS hierarchies. A CDS without a parent becomes its own transcript.
    """
    w = warnings if warnings is not None else GffWarnings()
    by_id = {f.id: f for f in feats if f.id}
    parts: dict[str, list[Feature]] = defaultdict(list)
    order: list[str] = []
    for f in feats:
        if f.type not in TRANSCRIPT_PARTS:
            continue
        pars = f.parents or [f"__orphan_{f.line}"]
        for p in pars:
            if p not in parts:
                order.append(p)
            parts[p].append(f)
    # RNA features that have no exon children still define an RNA transcript
    for f in feats:
        if f.type in RNA_TYPES and f.id and f.id not in parts:
            parts[f.id] = []
            order.append(f.id)
    out: list[Transcript] = []
    seen_genes: set[str] = set()
    for tid in order:
        ps = parts[tid]
        tf = by_id.get(tid)
        gene = tid
        if tf is not None and tf.parents and tf.type not in ("gene", "pseudogene"):
            gene = tf.parents[0]
        if primary_only and gene in seen_genes:
            continue
        ref = tf if tf is not None else ps[0]
        strands = {p.strand for p in ps} | ({tf.strand} if tf is not None else set())
        strand = ref.strand
        if len(strands - {".", "?"}) > 1:
            w.add("transcripts with parts on both strands (skipped)", ref.line)
            continue
        t = Transcript(ref.seqid, strand if strand in "+-" else ".", gene, tid)
        cds = [p for p in ps if p.type == "CDS"]
        t.cds = _merge([(p.start - 1, p.end) for p in cds])
        exons = [(p.start - 1, p.end) for p in ps if p.type in ("exon", "five_prime_UTR", "three_prime_UTR")]
        t.exons = _merge(exons + t.cds) if exons else list(t.cds)
        if tf is not None and tf.type in RNA_TYPES:
            t.kind = "RNA"
            if not t.exons:
                t.exons = [(tf.start - 1, tf.end)]
        elif not t.cds:
            t.kind = "noncoding"
        if not t.exons:
            continue
        if cds:
            first = min(cds, key=lambda p: p.start) if t.strand == "+" else max(cds, key=lambda p: p.end)
            t.cds_phase0 = int(first.phase) if first.phase in "012" else 0
            if any(c.phase == "." for c in cds):
                w.add("CDS without phase (phase computed from the CDS order)", cds[0].line)
            if any(not any(es <= s and e <= ee for es, ee in t.exons) for s, e in t.cds):
                w.add("CDS parts outside the exons of their transcript", cds[0].line)
        seen_genes.add(gene)
        out.append(t)
    return out


def label_arrays(transcripts: list[Transcript], length: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-base (fine, coarse) labels of one sequence; later transcripts win where genes overlap."""
    names = SCHEMES[scheme]
    fi = {n: i for i, n in enumerate(names)}
    fine = np.zeros(length, dtype=np.int64)
    coarse = np.zeros(length, dtype=np.int64)
    for t in transcripts:
        if t.kind == "noncoding":
            continue
        if t.kind == "RNA":
            for s, e in t.exons:
                coarse[s:e] = COARSE_INDEX["RNA"]
                if "RNA" in fi:
                    fine[s:e] = fi["RNA"]
            continue
        st = t.strand if t.strand in "+-" else "+"
        ex = sorted(t.exons)
        for a, b in zip(ex, ex[1:]):
            coarse[a[1] : b[0]] = COARSE_INDEX[f"intron{st}"]
            if f"intron{st}" in fi:
                fine[a[1] : b[0]] = fi[f"intron{st}"]
        cds_lo = min(s for s, _ in t.cds) if t.cds else None
        cds_hi = max(e for _, e in t.cds) if t.cds else None
        for s, e in ex:  # UTR parts of exons
            for lo, hi, side in ((s, min(e, cds_lo), "lo"), (max(s, cds_hi), e, "hi")):
                if hi <= lo:
                    continue
                utr = ("UTR5" if side == "lo" else "UTR3") if st == "+" else ("UTR3" if side == "lo" else "UTR5")
                coarse[lo:hi] = COARSE_INDEX[f"{utr}{st}"]
                if f"{utr}{st}" in fi:
                    fine[lo:hi] = fi[f"{utr}{st}"]
        done = -t.cds_phase0
        for s, e in sorted(t.cds) if st == "+" else sorted(t.cds, reverse=True):
            n = e - s
            pos = (np.arange(done, done + n) % 3) + 1
            if st == "-":
                pos = pos[::-1]
            coarse[s:e] = COARSE_INDEX[f"CDS{st}"]
            fine[s:e] = np.array([fi[f"CDS{st}{k}"] for k in (1, 2, 3)])[pos - 1]
            done += n
    return fine, coarse


def load_annotation(
    gff: str | os.PathLike, lengths: dict[str, int], primary_only: bool = True, warn: bool = True
) -> dict[str, list[Transcript]]:
    w = GffWarnings()
    feats = read_gff(gff, lengths, w)
    txs = transcripts_from_features(feats, primary_only, w)
    if warn:
        w.report(str(gff))
    by: dict[str, list[Transcript]] = defaultdict(list)
    for t in txs:
        by[t.seqid].append(t)
    return by
