"""DNA strings <-> integer codes and one-hot arrays; IUPAC reverse complement."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

BASES = "ACGT"
#: ASCII byte -> code: A/C/G/T (either case) 0-3, everything else 4
CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(BASES):
    CODE[ord(_b)] = CODE[ord(_b.lower())] = _i
CODE[ord("U")] = CODE[ord("u")] = 3

_RC = str.maketrans("ACGTUNacgtunRYSWKMBDHVryswkmbdhv", "TGCAANtgcaanYRSWMKVHDBywswmkvhdb")


def _bytes(seq: str) -> np.ndarray:
    return np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)


def encode(seq: str) -> np.ndarray:
    """One string -> (L,) uint8 codes (A C G T = 0 1 2 3, other = 4)."""
    return CODE[_bytes(seq)]


def encode_batch(seqs: Sequence[str]) -> np.ndarray:
    """Equal-length strings -> (n, L) uint8 codes."""
    if not len(seqs):
        return np.zeros((0, 0), dtype=np.uint8)
    lengths = {len(s) for s in seqs}
    if len(lengths) != 1:
        raise ValueError(f"encode_batch needs equal-length sequences, got lengths {sorted(lengths)[:5]}")
    return CODE[_bytes("".join(seqs))].reshape(len(seqs), -1)


_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)


def decode(codes: np.ndarray) -> str:
    """Codes (A,C,G,T,N = 0..4) -> a DNA string."""
    return _LETTERS[np.asarray(codes).ravel()].tobytes().decode("ascii")


def decode_batch(codes: np.ndarray) -> list[str]:
    """(n, L) codes -> n DNA strings (one vectorised lookup)."""
    rows = _LETTERS[np.asarray(codes)]
    return [row.tobytes().decode("ascii") for row in rows]


_EYE5 = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), dtype=np.float32)])


def one_hot(seqs: str | Sequence[str]) -> np.ndarray:
    """(n, 4, L) float32 one-hot of equal-length strings ((4, L) for one string); N columns are all zero."""
    if isinstance(seqs, str):
        return np.ascontiguousarray(_EYE5[encode(seqs)].T)
    return np.ascontiguousarray(_EYE5[encode_batch(seqs)].transpose(0, 2, 1))


def token_lookup(vocab: Mapping[str, int], unknown: int) -> np.ndarray:
    """256-entry int64 table: ASCII byte -> token id of that base in ``vocab`` (single-base tokenizers)."""
    n_id = vocab.get("N", unknown)
    lut = np.full(256, n_id, dtype=np.int64)
    for b in BASES:
        if b in vocab:
            lut[ord(b)] = lut[ord(b.lower())] = vocab[b]
    return lut


def reverse_complement(seq: str) -> str:
    """Reverse complement; IUPAC codes map to their complements (R<->Y, K<->M, B<->V, D<->H; S, W, N fixed)."""
    return seq.translate(_RC)[::-1]


#: IUPAC nucleotide code -> the bases it stands for (A C G T order); the one table for motifs, PAMs and patterns
IUPAC_BASES = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}
