"""The standard genetic code (NCBI translation table 1)."""

from __future__ import annotations

_BASES = "TCAG"
_AAS = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
CODONS = [a + b + c for a in _BASES for b in _BASES for c in _BASES]
#: codon (DNA, upper case) -> one-letter amino acid, ``*`` for stop
CODON_TABLE = dict(zip(CODONS, _AAS))
STOP_CODONS = frozenset(c for c, aa in CODON_TABLE.items() if aa == "*")


def translate(seq: str, unknown: str = "X") -> str:
    """Translate in frame 0; codons with non-ACGT bases give ``unknown``; a trailing partial codon is dropped."""
    s = seq.upper().replace("U", "T")
    return "".join(CODON_TABLE.get(s[i : i + 3], unknown) for i in range(0, len(s) - 2, 3))
