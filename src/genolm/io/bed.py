"""BED and bedGraph reading/writing with validation.

Coordinates are BED's own: 0-based, half-open (``start`` inclusive, ``end`` exclusive), like Python
slices and :meth:`genolm.io.fasta.Reference.fetch`. Bad lines raise
:class:`~genolm.io.errors.InputError` naming file and line; regions on contigs the genome lacks or past a
contig's end are errors too (:func:`check_regions`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from genolm.io.errors import InputError
from genolm.io.fasta import open_text


@dataclass
class Region:
    chrom: str
    start: int  # 0-based inclusive
    end: int  # 0-based exclusive
    name: str = "."
    score: float = 0.0
    strand: str = "."
    line: int | None = None

    def __len__(self) -> int:
        return self.end - self.start


def read_bed(path: str | os.PathLike) -> list[Region]:
    """BED3..BED6+ (extra columns ignored); ``track``/``browser``/``#`` lines skipped."""
    path = str(path)
    out: list[Region] = []
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) < 3:
                cols = line.split()
            if len(cols) < 3:
                raise InputError(f"expected at least 3 columns (chrom, start, end), found {len(cols)}", path, lineno)
            try:
                start, end = int(cols[1]), int(cols[2])
            except ValueError:
                raise InputError(f"start/end must be integers, got {cols[1]!r}/{cols[2]!r}", path, lineno) from None
            if start < 0 or end <= start:
                raise InputError(
                    f"invalid region {start}-{end} (0-based half-open: need 0 <= start < end)", path, lineno
                )
            score = 0.0
            if len(cols) > 4 and cols[4] not in (".", ""):
                try:
                    score = float(cols[4])
                except ValueError:
                    raise InputError(f"score must be a number, got {cols[4]!r}", path, lineno) from None
            strand = cols[5] if len(cols) > 5 else "."
            if strand not in ("+", "-", "."):
                raise InputError(f"strand must be +, - or '.', got {strand!r}", path, lineno)
            out.append(Region(cols[0], start, end, cols[3] if len(cols) > 3 else ".", score, strand, lineno))
    if not out:
        raise InputError("no regions found in BED file", path)
    return out


def check_regions(regions: list[Region], lengths: dict[str, int], path: str | os.PathLike | None = None) -> None:
    """Every region must lie on a known contig, inside it."""
    for r in regions:
        if r.chrom not in lengths:
            raise InputError(
                f"region on unknown contig {r.chrom!r} (genome has "
                f"{', '.join(list(lengths)[:5])}{'...' if len(lengths) > 5 else ''})",
                path,
                r.line,
            )
        if r.end > lengths[r.chrom]:
            raise InputError(
                f"region {r.chrom}:{r.start}-{r.end} extends past the contig end ({lengths[r.chrom]})", path, r.line
            )


def merge_regions(regions: Iterable[Region]) -> list[Region]:
    """Union of overlapping/adjacent regions per contig (names/scores dropped)."""
    by: dict[str, list[Region]] = {}
    for r in regions:
        by.setdefault(r.chrom, []).append(r)
    out = []
    for chrom, rs in by.items():
        rs.sort(key=lambda r: r.start)
        cur = Region(chrom, rs[0].start, rs[0].end)
        for r in rs[1:]:
            if r.start <= cur.end:
                cur.end = max(cur.end, r.end)
            else:
                out.append(cur)
                cur = Region(chrom, r.start, r.end)
        out.append(cur)
    return out


def write_bed(path: str | os.PathLike, regions: Iterable[Region], track: str | None = None) -> int:
    """BED6 (chrom, start, end, name, score, strand), written atomically."""
    from genolm.io.atomic import atomic_open

    n = 0
    with atomic_open(path, "w", encoding="utf-8") as fh:
        if track:
            fh.write(f'track name="{track}"\n')
        for r in regions:
            score = f"{r.score:.4g}" if isinstance(r.score, float) else str(r.score)
            fh.write(f"{r.chrom}\t{r.start}\t{r.end}\t{r.name}\t{score}\t{r.strand}\n")
            n += 1
    return n


def bedgraph_lines(
    chrom: str, starts: np.ndarray, ends: np.ndarray, values: np.ndarray, digits: int = 4
) -> Iterable[str]:
    """bedGraph lines, merging adjacent intervals that carry the same (rounded) value."""
    vals = np.round(np.asarray(values, dtype=float), digits)
    i, n = 0, len(vals)
    while i < n:
        j = i
        while j + 1 < n and vals[j + 1] == vals[i] and starts[j + 1] == ends[j]:
            j += 1
        yield f"{chrom}\t{int(starts[i])}\t{int(ends[j])}\t{vals[i]:g}\n"
        i = j + 1


def write_bedgraph(
    path: str | os.PathLike,
    tracks: Iterable[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    name: str | None = None,
    description: str | None = None,
) -> int:
    """bedGraph from (chrom, starts, ends, values) blocks (0-based half-open), written atomically."""
    from genolm.io.atomic import atomic_open

    n = 0
    with atomic_open(path, "w", encoding="utf-8") as fh:
        if name:
            desc = f' description="{description}"' if description else ""
            fh.write(f'track type=bedGraph name="{name}"{desc}\n')
        for chrom, starts, ends, values in tracks:
            for line in bedgraph_lines(chrom, starts, ends, values):
                fh.write(line)
                n += 1
    return n


def read_bedgraph(path: str | os.PathLike) -> list[tuple[str, int, int, float]]:
    path = str(path)
    out = []
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cols = line.split()
            if len(cols) != 4:
                raise InputError(f"bedGraph needs 4 columns, found {len(cols)}", path, lineno)
            try:
                out.append((cols[0], int(cols[1]), int(cols[2]), float(cols[3])))
            except ValueError:
                raise InputError("bedGraph start/end must be integers and value a number", path, lineno) from None
    return out
