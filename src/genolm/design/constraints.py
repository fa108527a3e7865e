"""Design constraints: an edit budget, fixed (kept) regions and forbidden motifs, validated before a run.

- Edit budget ``max_edits`` (K): a design differs from its seed at no more than K positions (substitutions
  only; no indels, so every design keeps its seed's length).
- ``--keep``: positions that must not change, either a comma list of 1-based inclusive ``start-end`` ranges
  (or single positions) applied to every seed, or a BED file whose chrom column is the seed id (BED's own
  0-based half-open coordinates).
- ``--avoid``: forbidden motifs, a comma list of IUPAC strings (``GAATTC,TTTT``) or a FASTA / MEME file
  (a MEME motif becomes its IUPAC consensus). Both strands are checked. The rule is strict: **a design
  contains no occurrence of an avoided motif**. A seed that already contains one is repaired first (the
  repair edits count towards K and are listed as round 0 in edits.tsv); when that cannot be done within K
  edits at editable positions, the run stops before designing, with an :class:`InputError`.

All motif matching is vectorised over (n, L) uint8 base codes (A C G T = 0 1 2 3, N = 4; an N in a sequence
matches no motif letter).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from genolm.io.errors import InputError
from genolm.sequence import IUPAC_BASES, encode

#: IUPAC letter -> allowed bases (A C G T order)
IUPAC = {**IUPAC_BASES, "U": "T"}  # RNA motifs read as DNA


@dataclass
class Motif:
    """A forbidden motif: ``allowed[j, b]`` says base b (A C G T) may stand at motif position j."""

    name: str
    pattern: str
    allowed: np.ndarray  # (w, 4) bool

    @property
    def width(self) -> int:
        return self.allowed.shape[0]

    def strands(self) -> list[np.ndarray]:
        """(w, 5) lookup tables for the forward motif and its reverse complement (column 4 = N: never matches)."""
        out = []
        for a in (self.allowed, self.allowed[::-1, ::-1]):  # reverse complement: reverse positions, A<->T, C<->G
            out.append(np.concatenate([a, np.zeros((a.shape[0], 1), bool)], 1))
        return out


def motif_from_iupac(text: str, name: str | None = None, path: str | None = None, line: int | None = None) -> Motif:
    s = text.strip().upper()
    if not s:
        raise InputError("empty --avoid motif", path, line)
    bad = [c for c in s if c not in IUPAC]
    if bad:
        raise InputError(f"--avoid motif {text!r}: {bad[0]!r} is not an IUPAC nucleotide code", path, line)
    allowed = np.array([[b in IUPAC[c] for b in "ACGT"] for c in s], dtype=bool)
    if allowed.all():
        raise InputError(f"--avoid motif {text!r} matches every sequence of length {len(s)} or more", path, line)
    return Motif(name or s, s, allowed)


def _iupac_consensus(probs: np.ndarray) -> str:
    """PWM (w, 4) -> IUPAC consensus: the smallest set of bases holding >= 75% of each column's probability."""
    codes = {frozenset(v): k for k, v in IUPAC.items() if k != "U"}
    out = []
    for col in probs:
        order = np.argsort(-col, kind="stable")
        chosen, total = [], 0.0
        for b in order:
            chosen.append("ACGT"[b])
            total += col[b]
            if total >= 0.75:
                break
        out.append(codes[frozenset(chosen)])
    return "".join(out)


def parse_avoid(text: str | None) -> list[Motif]:
    """``--avoid``: comma list of IUPAC motifs, or a FASTA / MEME file of them."""
    if not text:
        return []
    if os.path.isfile(text):
        from genolm.io.fasta import open_text

        with open_text(text) as fh:
            head = fh.read(4096)
        if "MOTIF" in head and "letter-probability" in head:
            from genolm.io.meme import read_meme

            return [motif_from_iupac(_iupac_consensus(m.probs), m.name, text) for m in read_meme(text)]
        from genolm.io.fasta import read_fasta

        motifs = [motif_from_iupac(seq, name, text) for name, seq in read_fasta(text)]
        if not motifs:
            raise InputError("no motifs found", text)
        return motifs
    if any(sep in text for sep in ("/", os.sep)) or text.lower().endswith((".fa", ".fasta", ".meme", ".txt")):
        raise InputError("--avoid file not found", text)
    return [motif_from_iupac(part) for part in text.split(",") if part.strip()] or [motif_from_iupac("")]


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


def parse_keep(text: str | None, ids: list[str], seqs: list[str]) -> list[np.ndarray]:
    """``--keep`` -> one (L,) bool array per seed, True = position fixed."""
    masks = [np.zeros(len(s), dtype=bool) for s in seqs]
    if not text:
        return masks
    if os.path.isfile(text):
        from genolm.io.bed import read_bed

        index = {sid: i for i, sid in enumerate(ids)}
        for r in read_bed(text):
            if r.chrom not in index:
                raise InputError(f"--keep: {r.chrom!r} is not a seed id in the input", text, r.line)
            i = index[r.chrom]
            if r.end > len(seqs[i]):
                raise InputError(
                    f"--keep: region {r.start}-{r.end} runs past seed {r.chrom!r} ({len(seqs[i])} nt)", text, r.line
                )
            masks[i][r.start : r.end] = True
        return masks
    if any(sep in text for sep in ("/", os.sep)) or text.lower().endswith(".bed"):
        raise InputError("--keep file not found", text)
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise InputError(
                f"--keep: cannot read {part.strip()!r}; use 1-based inclusive ranges such as 1-4,25-27 or a BED file"
            )
        start = int(m.group(1))
        end = int(m.group(2) or start)
        if start < 1 or end < start:
            raise InputError(f"--keep: invalid range {part.strip()!r} (1-based inclusive: need 1 <= start <= end)")
        for sid, s, mask in zip(ids, seqs, masks):
            if end > len(s):
                raise InputError(f"--keep: range {start}-{end} runs past seed {sid!r} ({len(s)} nt)")
            mask[start - 1 : end] = True
    return masks


def motif_hits(codes: np.ndarray, motifs: list[Motif]) -> np.ndarray:
    """(m, L) codes -> (m, L) bool: True where any motif occurrence (either strand) covers the position."""
    codes = np.atleast_2d(codes)
    m, length = codes.shape
    cover = np.zeros((m, length), dtype=bool)
    for motif in motifs:
        w = motif.width
        if w > length:
            continue
        n_win = length - w + 1
        for table in motif.strands():
            acc = np.ones((m, n_win), dtype=bool)
            for j in range(w):
                acc &= table[j][codes[:, j : j + n_win]]
            if acc.any():
                for j in range(w):
                    cover[:, j : j + n_win] |= acc
    return cover


def occurrences(codes: np.ndarray, motifs: list[Motif]) -> list[tuple[str, int, int, str]]:
    """Occurrences in one sequence (codes (L,)): (motif name, 0-based start, end, strand)."""
    out = []
    length = len(codes)
    for motif in motifs:
        w = motif.width
        if w > length:
            continue
        n_win = length - w + 1
        for strand, table in zip("+-", motif.strands()):
            acc = np.ones(n_win, dtype=bool)
            for j in range(w):
                acc &= table[j][codes[j : j + n_win]]
            out.extend((motif.name, int(p), int(p) + w, strand) for p in np.flatnonzero(acc))
    return sorted(out, key=lambda o: (o[2], o[1]))


def count_hits(codes: np.ndarray, motifs: list[Motif]) -> np.ndarray:
    """(m, L) codes -> (m,) number of motif occurrences (both strands)."""
    codes = np.atleast_2d(codes)
    m, length = codes.shape
    total = np.zeros(m, dtype=np.int64)
    for motif in motifs:
        w = motif.width
        if w > length:
            continue
        n_win = length - w + 1
        for table in motif.strands():
            acc = np.ones((m, n_win), dtype=bool)
            for j in range(w):
                acc &= table[j][codes[:, j : j + n_win]]
            total += acc.sum(1)
    return total


@dataclass
class Constraints:
    """What every design must satisfy; ``fixed[i]`` is seed i's (L,) mask of kept positions."""

    max_edits: int
    fixed: list[np.ndarray]
    avoid: list[Motif] = field(default_factory=list)

    def editable(self, i: int) -> np.ndarray:
        return ~self.fixed[i]

    def allowed(self, codes: np.ndarray) -> np.ndarray:
        """(m, L) codes -> (m,) True where no avoided motif occurs."""
        if not self.avoid:
            return np.ones(len(np.atleast_2d(codes)), dtype=bool)
        return count_hits(codes, self.avoid) == 0

    def check(self, seed: str, design: str, i: int) -> list[str]:
        """Problems of one design (empty = valid): budget, kept positions, avoided motifs."""
        a, b = encode(seed), encode(design)
        problems = []
        if len(a) != len(b):
            problems.append(f"length {len(b)} != seed length {len(a)}")
            return problems
        diff = a != b
        if diff.sum() > self.max_edits:
            problems.append(f"{int(diff.sum())} edits > --max-edits {self.max_edits}")
        if (diff & self.fixed[i]).any():
            problems.append(f"kept position {int(np.flatnonzero(diff & self.fixed[i])[0]) + 1} changed")
        for name, s, e, strand in occurrences(b, self.avoid):
            problems.append(f"avoided motif {name} at {s + 1}-{e} ({strand})")
        return problems


def min_repair_edits(codes: np.ndarray, editable: np.ndarray, motifs: list[Motif]) -> tuple[int, tuple | None]:
    """A lower bound on the edits needed to remove every motif occurrence from one sequence (interval
    stabbing with editable positions, optimal for the intervals present now); ``(n, blocking)`` where
    ``blocking`` is an occurrence with no editable position (then no number of edits can remove it)."""
    occ = occurrences(codes, motifs)
    chosen = -1
    n = 0
    for name, s, e, strand in occ:  # sorted by end
        if s <= chosen < e:
            continue
        pos = np.flatnonzero(editable[s:e])
        if not len(pos):
            return n, (name, s, e, strand)
        chosen = s + int(pos[-1])
        n += 1
    return n, None


def build_constraints(
    ids: list[str], seqs: list[str], max_edits: int, keep: str | None = None, avoid: str | None = None
) -> Constraints:
    """Parse and validate a constraint set against the seeds; impossible sets raise :class:`InputError`."""
    if max_edits is None or max_edits < 0:
        raise InputError(f"--max-edits must be >= 0, got {max_edits}")
    fixed = parse_keep(keep, ids, seqs)
    motifs = parse_avoid(avoid)
    cons = Constraints(int(max_edits), fixed, motifs)
    for i, (sid, s) in enumerate(zip(ids, seqs)):
        editable = ~fixed[i]
        if max_edits > 0 and not editable.any():
            raise InputError(
                f"--keep fixes every position of seed {sid!r} ({len(s)} nt): nothing can be edited with --max-edits {max_edits}"
            )
        if motifs:
            need, blocking = min_repair_edits(encode(s), editable, motifs)
            if blocking is not None:
                name, a, b, strand = blocking
                raise InputError(
                    f"seed {sid!r} contains avoided motif {name} at {a + 1}-{b} ({strand} strand) inside --keep: "
                    "no design can avoid it"
                )
            if need > max_edits:
                raise InputError(
                    f"seed {sid!r} contains avoided motifs that need at least {need} edits to remove, "
                    f"more than --max-edits {max_edits}"
                )
    return cons
