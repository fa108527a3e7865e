"""Baselines for gene finding: the longest-ORF caller (prokaryotes)."""

from __future__ import annotations

import numpy as np

from genolm.genome.annotate.hmm import GeneModel
from genolm.sequence import STOP_CODONS, reverse_complement


def longest_orf_genes(seq: str, min_codons: int = 100, starts=("ATG", "GTG", "TTG")) -> list[GeneModel]:
    """Prokaryote baseline: on both strands, for every stop codon the longest upstream ORF (first start
    codon after the previous in-frame stop) of >= ``min_codons``; overlaps resolved longest first."""
    cands = []
    for strand, s in (("+", seq), ("-", reverse_complement(seq))):
        L = len(s)
        for frame in range(3):
            first_start = None
            for i in range(frame, L - 2, 3):
                c = s[i : i + 3]
                if c in STOP_CODONS:
                    if first_start is not None and (i + 3 - first_start) // 3 >= min_codons:
                        a, b = first_start, i + 3
                        if strand == "-":
                            a, b = L - b, L - a
                        cands.append((b - a, a, b, strand))
                    first_start = None
                elif first_start is None and c in starts:
                    first_start = i
    cands.sort(reverse=True)
    taken = np.zeros(len(seq) + 1, dtype=bool)
    genes = []
    for n, a, b, strand in cands:
        if taken[a + 30 : max(a + 31, b - 30)].any():  # allow short overlaps, as real operons have
            continue
        taken[a:b] = True
        genes.append(GeneModel(strand, a, b, exons=[(a, b)], cds=[(a, b, 0)], score=0.0))
    return sorted(genes, key=lambda g: g.start)
