"""One sequence module: the only place DNA strings become numbers (and back).

- :func:`encode` / :func:`encode_batch`: strings -> uint8 codes, A C G T = 0 1 2 3, anything else 4 (N).
- :func:`one_hot`: (n, 4, L) float32, N columns all zero (captum / tangermeme / CNN layout).
- :func:`token_lookup`: a 256-entry table mapping ASCII bytes to a tokenizer's ids for A/C/G/T/N.
- :func:`reverse_complement`: IUPAC-aware, case preserving; :data:`IUPAC_BASES` (code -> bases).
- :data:`CODON_TABLE` (standard genetic code) and :func:`translate`.
- :class:`Region`: a half-open genomic interval with the file-format conversions spelled out.
"""

from __future__ import annotations

from genolm.sequence.codons import CODON_TABLE, CODONS, STOP_CODONS, translate
from genolm.sequence.encode import (
    BASES,
    CODE,
    IUPAC_BASES,
    decode,
    decode_batch,
    encode,
    encode_batch,
    one_hot,
    reverse_complement,
    token_lookup,
)
from genolm.sequence.regions import Region, parse_region

__all__ = [
    "BASES",
    "CODE",
    "CODON_TABLE",
    "CODONS",
    "IUPAC_BASES",
    "STOP_CODONS",
    "Region",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
    "one_hot",
    "parse_region",
    "reverse_complement",
    "token_lookup",
    "translate",
]
