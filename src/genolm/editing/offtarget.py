"""Exact genome-wide off-target search for 20-nt SpCas9 guides, with CFD scores.

Every site on both strands whose PAM matches one of the patterns (NGG and NAG by default) and whose
20-nt protospacer has at most ``max_mismatches`` mismatches to the guide is reported. An N (or other
IUPAC code) in the genome always counts as a mismatch.

Exactness comes from the pigeonhole principle: split the 20-mer into ``m + 1`` chunks; a site with at most
``m`` mismatches matches the guide exactly in at least one chunk. The index holds, for every PAM-valid
site, the protospacer packed 2 bits per base into one uint64, and per chunk a sorted array of chunk keys.
A query looks up its own chunk keys (binary search), takes the union of candidates and verifies each with
an XOR + popcount. :func:`brute_force_search` is the plain reference scan used by tests and the benchmark.

Coordinates: ``start``/``end`` are 0-based half-open on the forward strand (BED convention) and cover the
23-nt protospacer + PAM; contigs are not treated as circular.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from genolm.editing.cfd import cfd_scores_codes
from genolm.editing.guides import SPACER_LEN, Guide
from genolm.io.errors import UsageError
from genolm.sequence import IUPAC_BASES, encode

log = logging.getLogger("genolm.editing")

SITE_LEN = SPACER_LEN + 3
BOUNDARY = 5  # code between contigs in the concatenated genome
IUPAC = IUPAC_BASES
_COMPLEMENT = np.array([3, 2, 1, 0, 4, 5], dtype=np.uint8)
_EVEN_BITS = np.uint64(0x5555555555)  # one bit per position of a 20-nt packed spacer


def parse_pams(pams: str | list[str]) -> list[str]:
    """'NGG,NAG' -> ['NGG', 'NAG'], validated (3-nt IUPAC patterns)."""
    items = pams.split(",") if isinstance(pams, str) else list(pams)
    out = []
    for p in items:
        p = p.strip().upper()
        if len(p) != 3 or any(c not in IUPAC for c in p):
            raise UsageError(f"bad PAM {p!r}: expected a 3-nt IUPAC pattern such as NGG or NAG")
        out.append(p)
    if not out:
        raise UsageError("no PAM given")
    return out


def _pam_ok(a: np.ndarray, n: int, pams: list[str]) -> np.ndarray:
    """Sorted site starts p in 0..n-1 of strand array ``a`` whose PAM (after the spacer) matches a pattern.

    Unknown bases (N, IUPAC, contig boundary) never match a specified PAM base.
    """
    found = []
    for pat in pams:
        fixed = [(j, [("ACGT").index(b) for b in IUPAC[c]]) for j, c in enumerate(pat) if c != "N"]
        if not fixed:
            found.append(np.arange(n))
            continue
        fixed.sort(key=lambda t: len(t[1]))  # most selective position first, on the whole strand
        (j0, allowed0), rest = fixed[0], fixed[1:]
        lut = np.zeros(256, dtype=bool)
        lut[allowed0] = True
        p = np.flatnonzero(lut[a[SPACER_LEN + j0 : SPACER_LEN + j0 + n]])
        for j, allowed in rest:  # then only on the survivors
            lut = np.zeros(256, dtype=bool)
            lut[allowed] = True
            p = p[lut[a[p + SPACER_LEN + j]]]
        found.append(p)
    return found[0] if len(found) == 1 else np.unique(np.concatenate(found))


@dataclass
class Genome:
    """A genome as uint8 codes (A,C,G,T = 0-3, N/IUPAC = 4), contigs concatenated with boundary codes."""

    names: list[str]
    offsets: np.ndarray
    lengths: np.ndarray
    codes: np.ndarray

    @classmethod
    def from_fasta(cls, path: str | os.PathLike) -> "Genome":
        from genolm.io.fasta import read_fasta

        return cls.from_records(read_fasta(path))

    @classmethod
    def from_records(cls, records) -> "Genome":
        names, parts, offsets, lengths, pos = [], [], [], [], 0
        sep = np.full(SITE_LEN, BOUNDARY, dtype=np.uint8)
        for name, seq in records:
            arr = encode(seq)
            names.append(name)
            offsets.append(pos)
            lengths.append(len(arr))
            parts += [arr, sep]
            pos += len(arr) + len(sep)
        return cls(
            names,
            np.array(offsets, dtype=np.int64),
            np.array(lengths, dtype=np.int64),
            np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8),
        )

    def contig_sequences(self):
        for name, off, ln in zip(self.names, self.offsets, self.lengths):
            yield name, self.codes[off : off + ln]

    def to_contig(self, concat_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.searchsorted(self.offsets, concat_pos, side="right") - 1
        return idx, concat_pos - self.offsets[idx]


def _windows(a: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    return a[pos[:, None] + np.arange(width)[None, :]]


def _pack_spacers(a: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spacers starting at ``p`` packed 2 bits per base (first base highest) into uint64, plus a mask with the
    low bit of each 2-bit slot set where the base is unknown (unknown bases are packed as A)."""
    known = a < 4
    c2 = np.where(known, a, 0).astype(np.uint8)
    u2 = (~known).astype(np.uint8)
    packed = np.zeros(len(p), dtype=np.uint64)
    unknown = np.zeros(len(p), dtype=np.uint64)
    for j in range(0, SPACER_LEN, 4):  # 4 bases = 1 byte per gather
        q = p + j
        byte = (c2[q] << 6) | (c2[q + 1] << 4) | (c2[q + 2] << 2) | c2[q + 3]
        ubyte = (u2[q] << 6) | (u2[q + 1] << 4) | (u2[q + 2] << 2) | u2[q + 3]
        shift = np.uint64(2 * (SPACER_LEN - 4 - j))
        packed |= byte.astype(np.uint64) << shift
        unknown |= ubyte.astype(np.uint64) << shift
    return packed, unknown


def _chunks(m: int) -> list[tuple[int, int]]:
    bounds = np.linspace(0, SPACER_LEN, m + 2).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


class OffTargetIndex:
    """Pigeonhole seed index over every PAM-valid site of a genome (both strands).

    >>> index = OffTargetIndex(Genome.from_fasta("genome.fa"), max_mismatches=4)
    >>> hits = index.search("GACGCATAAAGATGAGACGC")
    """

    def __init__(self, genome: Genome, max_mismatches: int = 4, pams: str | list[str] = "NGG,NAG"):
        if not 0 <= max_mismatches <= 8:
            raise UsageError(f"--max-mismatches must be between 0 and 8, got {max_mismatches}")
        self.genome = genome
        self.max_mismatches = max_mismatches
        self.pams = parse_pams(pams)
        self.chunks = _chunks(max_mismatches)
        plus = genome.codes
        minus = _COMPLEMENT[plus[::-1]]
        self.strands = (plus, minus)
        pos, strand, packed, unknown = [], [], [], []
        for s, a in enumerate(self.strands):
            n = len(a) - SITE_LEN + 1
            if n <= 0:
                continue
            p = _pam_ok(a, n, self.pams)
            # The separator between contigs is SITE_LEN long, so a window crossing it starts or ends in it.
            p = p[(a[p] != BOUNDARY) & (a[p + SITE_LEN - 1] != BOUNDARY)]
            pk, uk = _pack_spacers(a, p)
            keep = np.bitwise_count(uk) <= max_mismatches
            pos.append(p[keep])
            strand.append(np.full(int(keep.sum()), s, dtype=np.int8))
            packed.append(pk[keep])
            unknown.append(uk[keep])
        cat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dtype=dt)
        self.pos, self.strand = cat(pos, np.int64), cat(strand, np.int8)
        self.packed, self.unknown = cat(packed, np.uint64), cat(unknown, np.uint64)
        self._order, self._keys = [], []
        for a, b in self.chunks:
            key = self._chunk_key(self.packed, a, b)
            if 2 * (b - a) <= 16:  # small keys: stable sort is a radix sort
                key = key.astype(np.uint8 if 2 * (b - a) <= 8 else np.uint16)
            order = np.argsort(key, kind="stable")
            self._order.append(order)
            self._keys.append(key[order])
        log.info("off-target index: %d PAM sites (%s), %d chunks", len(self.pos), ",".join(self.pams), len(self.chunks))

    @staticmethod
    def _chunk_key(packed, a: int, b: int):
        mask = np.uint64((1 << (2 * (b - a))) - 1)
        return (packed >> np.uint64(2 * (SPACER_LEN - b))) & mask

    @staticmethod
    def pack(spacer: str) -> int:
        value = 0
        for ch in spacer:
            value = (value << 2) | "ACGT".index(ch)
        return value

    def search(self, spacer: str) -> dict[str, np.ndarray]:
        """All sites within the mismatch limit for one valid 20-nt spacer (A/C/G/T)."""
        return self.search_many([spacer])[0]

    def search_many(self, spacers: list[str], batch: int = 256) -> list[dict[str, np.ndarray]]:
        """Vectorised over guides: seed lookups for a batch of guides at once, then one verification pass."""
        out = []
        for b0 in range(0, len(spacers), batch):
            chunk = spacers[b0 : b0 + batch]
            gps = np.array([self.pack(s) for s in chunk], dtype=np.uint64)
            guide_idx, site_idx = [], []
            for (a, b), order, keys in zip(self.chunks, self._order, self._keys):
                k = self._chunk_key(gps, a, b).astype(keys.dtype)
                lo = np.searchsorted(keys, k, side="left")
                counts = np.searchsorted(keys, k, side="right") - lo
                total = int(counts.sum())
                starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
                site_idx.append(order[starts + np.arange(total)])
                guide_idx.append(np.repeat(np.arange(len(chunk)), counts))
            g = np.concatenate(guide_idx)
            s = np.concatenate(site_idx)
            diff = self.packed[s] ^ gps[g]
            per_pos = ((diff | (diff >> np.uint64(1))) & _EVEN_BITS) | self.unknown[s]
            keep = np.bitwise_count(per_pos) <= self.max_mismatches
            pair = np.unique(g[keep].astype(np.int64) * len(self.pos) + s[keep])  # a site found by 2 seeds once
            g, s = pair // len(self.pos), pair % len(self.pos)
            bounds = np.searchsorted(g, np.arange(len(chunk) + 1))
            out += [self._describe(sp, s[bounds[i] : bounds[i + 1]]) for i, sp in enumerate(chunk)]
        return out

    def _describe(self, spacer: str, hit: np.ndarray) -> dict[str, np.ndarray]:
        guide_codes = encode(spacer)
        strand = self.strand[hit]
        pos = self.pos[hit]
        windows = np.zeros((len(hit), SITE_LEN), dtype=np.uint8)
        for s, a in enumerate(self.strands):
            sel = strand == s
            windows[sel] = _windows(a, pos[sel], SITE_LEN)
        total = len(self.genome.codes)
        concat_start = np.where(strand == 0, pos, total - pos - SITE_LEN)
        contig, start = self.genome.to_contig(concat_start)
        mism = windows[:, :SPACER_LEN] != guide_codes[None, :]
        cfd = cfd_scores_codes(guide_codes, windows[:, :SPACER_LEN], windows[:, SPACER_LEN:])
        order = np.lexsort((strand, start, contig))
        return {
            "contig": contig[order],
            "start": start[order],
            "strand": strand[order],
            "windows": windows[order],
            "mismatch": mism[order],
            "cfd": cfd[order],
        }


def brute_force_search(
    genome: Genome, spacer: str, max_mismatches: int = 4, pams: str | list[str] = "NGG,NAG"
) -> set[tuple[str, int, str]]:
    """Reference scan: compare the guide at every position of both strands of every contig (vectorised numpy).

    Returns {(contig, start, strand)} in the same coordinates as :class:`OffTargetIndex`.
    """
    pams = parse_pams(pams)
    g = encode(spacer)
    out = set()
    for name, fwd in genome.contig_sequences():
        n = len(fwd) - SITE_LEN + 1
        if n <= 0:
            continue
        for strand, a in (("+", fwd), ("-", _COMPLEMENT[fwd[::-1]])):
            mm = np.zeros(n, dtype=np.uint8)
            for i in range(SPACER_LEN):
                mm += a[i : i + n] != g[i]
            ok = np.zeros(n, dtype=bool)
            ok[_pam_ok(a, n, pams)] = True
            for p in np.flatnonzero(ok & (mm <= max_mismatches)):
                out.add((name, int(p) if strand == "+" else int(len(fwd) - p - SITE_LEN), strand))
    return out


def site_rows(index: OffTargetIndex, guide: Guide, found: dict[str, np.ndarray]) -> list[dict]:
    """Rows for the sites TSV: mismatched bases lower-case in ``site``; positions 1-based from the PAM-distal end."""
    rows = []
    letters = np.array(list("ACGTN"))
    for k in range(len(found["start"])):
        w = letters[np.minimum(found["windows"][k], 4)]
        mm = found["mismatch"][k]
        site = "".join(c.lower() if mm[i] else c for i, c in enumerate(w[:SPACER_LEN])) + "".join(w[SPACER_LEN:])
        start = int(found["start"][k])
        rows.append(
            {
                "guide_id": guide.name,
                "guide": guide.spacer,
                "chrom": index.genome.names[int(found["contig"][k])],
                "start": start,
                "end": start + SITE_LEN,
                "strand": "+" if found["strand"][k] == 0 else "-",
                "site": site,
                "pam": site[SPACER_LEN:],
                "mismatches": int(mm.sum()),
                "mismatch_positions": ",".join(str(i + 1) for i in np.flatnonzero(mm)),
                "cfd": round(float(found["cfd"][k]), 6),
            }
        )
    return rows


SITE_COLUMNS = [
    "guide_id",
    "guide",
    "chrom",
    "start",
    "end",
    "strand",
    "site",
    "pam",
    "mismatches",
    "mismatch_positions",
    "cfd",
]


def summarize(guide: Guide, rows: list[dict], max_mismatches: int, exclude: tuple | None = None) -> dict:
    """Per-guide counts by mismatch number and the CFD specificity (see :func:`specificity`).

    ``exclude`` = (chrom, start, strand) of the intended target site, left out of the off-target sum
    (when not given, one perfect NGG match is assumed to be the target).
    """
    counts = {f"off_{k}mm": 0 for k in range(max_mismatches + 1)}
    total_cfd = 0.0
    skipped_target = False
    for r in rows:
        is_target = (exclude is not None and (r["chrom"], r["start"], r["strand"]) == exclude) or (
            exclude is None and not skipped_target and r["mismatches"] == 0 and r["pam"][1:] == "GG"
        )
        if is_target and not skipped_target:
            skipped_target = True
            continue
        counts[f"off_{r['mismatches']}mm"] += 1
        total_cfd += r["cfd"]
    return {
        "guide_id": guide.name,
        "guide": guide.spacer,
        **counts,
        "cfd_sum": round(total_cfd, 6),
        "specificity": specificity(total_cfd),
        "error": "",
    }


def specificity(cfd_sum: float) -> float:
    """CFD specificity, 0-100 (100 = no off-target): 100 * 100 / (100 + sum of off-target CFD in percent),
    i.e. the CRISPOR convention (CFD on a 0-100 scale), = 100 / (1 + sum of CFD on the 0-1 scale)."""
    return round(100.0 * 100.0 / (100.0 + 100.0 * cfd_sum), 4)


def find_offtargets(
    guides: list[Guide],
    genome: Genome,
    max_mismatches: int = 4,
    pams: str = "NGG,NAG",
    index: OffTargetIndex | None = None,
) -> tuple[list[dict], list[dict]]:
    """Search every valid guide; bad guides get an error row in the summary and no sites."""
    from genolm.core.progress import progress

    index = index or OffTargetIndex(genome, max_mismatches, pams)
    sites, summary = [], []
    valid = [g for g in guides if g.ok]
    found = {}
    for b0 in progress(range(0, len(valid), 256), total=(len(valid) + 255) // 256, desc="guide batches", unit="batch"):
        batch = valid[b0 : b0 + 256]
        for g, hits in zip(batch, index.search_many([g.spacer for g in batch])):
            found[id(g)] = hits
    for g in guides:
        if not g.ok:
            summary.append({"guide_id": g.name, "guide": g.raw, "error": g.error})
            continue
        rows = site_rows(index, g, found[id(g)])
        sites += rows
        summary.append(summarize(g, rows, max_mismatches))
    return sites, summary


def run_offtargets(
    guides_path: str,
    genome_path: str,
    out: str,
    max_mismatches: int = 4,
    pams: str = "NGG,NAG",
    summary_path: str | None = None,
    sequence_col: str | None = None,
) -> dict:
    """File-level API behind ``genolm crispr offtargets``: sites TSV + per-guide summary TSV.

    A bad guide is reported (``errors``, and an ``error`` cell in the summary) and the others still run;
    only a file without a single valid guide is an error.
    """
    import csv

    from genolm.editing.guides import read_guides
    from genolm.editing.report import offtarget_report
    from genolm.io.atomic import atomic_open
    from genolm.io.errors import InputError

    pams_list = parse_pams(pams)
    if not 0 <= max_mismatches <= 8:
        raise UsageError(f"--max-mismatches must be between 0 and 8, got {max_mismatches}")
    guides = read_guides(guides_path, sequence_col)
    errors = [
        f"{guides_path}:{g.line}: guide {g.name!r}: {g.error}"
        if g.line
        else f"{guides_path}: guide {g.name!r}: {g.error}"
        for g in guides
        if not g.ok
    ]
    if not any(g.ok for g in guides):
        raise InputError(
            f"no valid guide ({len(guides)} read; first problem: {guides[0].error})", guides_path, guides[0].line
        )
    genome = Genome.from_fasta(genome_path)
    sites, summary = find_offtargets(guides, genome, max_mismatches, pams_list)
    with atomic_open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SITE_COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(sites)
    summary_path = summary_path or str(out).removesuffix(".tsv") + ".summary.tsv"
    cols = (
        ["guide_id", "guide"] + [f"off_{k}mm" for k in range(max_mismatches + 1)] + ["cfd_sum", "specificity", "error"]
    )
    with atomic_open(summary_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, delimiter="\t", lineterminator="\n", restval="")
        w.writeheader()
        w.writerows(summary)
    offtarget_report(str(out).removesuffix(".tsv") + ".html", summary)
    return {
        "sites": len(sites),
        "guides_ok": sum(g.ok for g in guides),
        "guides_bad": len(errors),
        "errors": errors,
        "summary": summary_path,
    }
