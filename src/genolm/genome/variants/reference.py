"""Reference access and the alleles of a VCF record: 0-based coordinates, REF checked, windows built.

VCF POS is 1-based; here positions are 0-based (``pos0 = POS - 1``). :func:`check_allele` says why an allele
cannot be scored (one of :data:`SKIP_REASONS`, the ``GENOLM_SKIP`` flags).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genolm.io.errors import InputError
from genolm.io.fasta import Reference, normalize

SKIP_REASONS = {
    "MALFORMED": "the record could not be read (non-numeric POS, bad REF, empty CHROM, too few columns): kept as "
    "it was, not scored",
    "REF_MISMATCH": "REF does not match the reference genome",
    "UNKNOWN_CONTIG": "CHROM is not a contig of the reference",
    "SYMBOLIC": "symbolic, breakend, missing or spanning-deletion allele (<DEL>, N[..[, ., *)",
    "TOO_LONG": "REF or ALT longer than --max-allele",
    "N_ALLELE": "allele or reference base is N (unknown base)",
    "INDEL_MLM": "indel: llr with a masked LM scores substitutions only (use a causal LM, delta or embedding)",
}


class ReferenceCache:
    """0-based half-open ``fetch`` with a block cache (sorted VCFs read the genome sequentially).

    Uses pysam (plain FASTA + .fai, or bgzip + .fai/.gzi) when it can, else genolm's Reference.
    Returns bases as stored (soft-masked lowercase kept); beyond contig ends it pads with N.
    """

    BLOCK = 1 << 20

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if not Path(self.path).is_file():
            raise InputError("reference FASTA not found", self.path)
        self._fa = None
        self._ref = None
        try:
            import pysam

            old = pysam.set_verbosity(0)  # a plain-gzip FASTA is expected to fail here: no htslib noise
            try:
                self._fa = pysam.FastaFile(self.path)
            finally:
                pysam.set_verbosity(old)
            self.lengths = dict(zip(self._fa.references, self._fa.lengths))
        except Exception:
            self._ref = Reference(self.path)
            self.lengths = dict(self._ref.lengths)
        self._chrom, self._lo, self._seq = None, 0, ""

    def __contains__(self, chrom: str) -> bool:
        return chrom in self.lengths

    def _raw(self, chrom: str, lo: int, hi: int) -> str:
        if self._fa is not None:
            return self._fa.fetch(chrom, lo, hi)
        return self._ref.fetch(chrom, lo, hi)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        length = self.lengths[chrom]
        lo, hi = max(0, start), min(length, end)
        if hi <= lo:
            return "N" * (end - start)
        if not (chrom == self._chrom and self._lo <= lo and hi <= self._lo + len(self._seq)):
            blo = max(0, lo - 4096)
            bhi = min(length, max(hi, blo + self.BLOCK))
            self._chrom, self._lo, self._seq = chrom, blo, self._raw(chrom, blo, bhi)
        core = self._seq[lo - self._lo : hi - self._lo]
        return "N" * (lo - start) + core + "N" * (end - hi)


# ---------------------------------------------------------------------------------------------------
# alleles to score


@dataclass(frozen=True)
class Allele:
    """One REF>ALT allele at 0-based ``pos0`` (REF upper-cased, checked against the reference)."""

    chrom: str
    pos0: int
    ref: str
    alt: str

    @property
    def is_substitution(self) -> bool:
        return len(self.ref) == len(self.alt)


def check_allele(
    ref_cache: ReferenceCache, chrom: str, pos0: int, ref: str, alt: str, max_allele: int, method: str, causal: bool
) -> tuple[Allele | None, str | None]:
    """(Allele, None) when it can be scored, else (None, reason)."""
    if alt in (".", "*", "") or alt.startswith("<") or "[" in alt or "]" in alt:
        return None, "SYMBOLIC"
    if not alt.isalpha() or not set(alt.upper()) <= set("ACGTN"):
        return None, "SYMBOLIC"
    if chrom not in ref_cache:
        return None, "UNKNOWN_CONTIG"
    ref_u, alt_u = ref.upper(), alt.upper()
    genome = ref_cache.fetch(chrom, pos0, pos0 + len(ref_u)).upper()
    if genome != ref_u:
        return None, "REF_MISMATCH" if "N" not in genome else "N_ALLELE"
    if len(ref_u) > max_allele or len(alt_u) > max_allele:
        return None, "TOO_LONG"
    if "N" in ref_u or "N" in alt_u:
        return None, "N_ALLELE"
    if method == "llr" and not causal and len(ref_u) != len(alt_u):
        return None, "INDEL_MLM"
    return Allele(chrom, pos0, ref_u, alt_u), None


def allele_windows(ref_cache: ReferenceCache, a: Allele, window: int) -> tuple[str, str]:
    """REF and ALT windows (upper-case; N beyond contig ends) with the same left flank.

    The REF window is ``window`` bases with REF starting at ``(window - len(REF)) // 2``; the ALT window
    swaps REF for ALT and keeps the same right flank length (so indels change the ALT window length).
    """
    left = max(0, (window - len(a.ref)) // 2)
    right = max(0, window - left - len(a.ref))
    seq = normalize(ref_cache.fetch(a.chrom, a.pos0 - left, a.pos0 + len(a.ref) + right))
    return seq, seq[:left] + a.alt + seq[left + len(a.ref) :]
