"""GFF3 reading and writing with validation.

Coordinates are GFF's own: 1-based, inclusive (``start``/``end`` as in the file). Structural errors
(wrong column count, non-integer or inverted coordinates (end < start), bad strand/phase) raise
:class:`~genolm.io.errors.InputError` naming file and line; so does a feature extending past the end
of its contig when the contig lengths are known (:func:`read_gff` with ``seq_lengths``, or
:func:`validate_features` for features read elsewhere). Softer problems a GFF from the wild often
has (features on sequences the genome lacks, CDS without a parent, exons outside their transcript,
overlapping CDS of one transcript) are collected in a :class:`GffWarnings` counter and logged once
with counts: never silent, never fatal.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from genolm.io.errors import InputError
from genolm.io.fasta import open_text

log = logging.getLogger("genolm.gff")

STRANDS = ("+", "-", ".", "?")


@dataclass
class Feature:
    seqid: str
    source: str
    type: str
    start: int  # 1-based inclusive
    end: int  # 1-based inclusive
    score: str = "."
    strand: str = "+"
    phase: str = "."
    attributes: dict = field(default_factory=dict)
    line: int | None = None

    @property
    def id(self) -> str | None:
        return self.attributes.get("ID")

    @property
    def parents(self) -> list[str]:
        p = self.attributes.get("Parent")
        return p.split(",") if p else []

    def __len__(self) -> int:
        return self.end - self.start + 1


class GffWarnings(Counter):
    """Counts of non-fatal problems, with the first line number of each kind."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[str, int | None] = {}

    def add(self, kind: str, line: int | None = None) -> None:
        self[kind] += 1
        self.first.setdefault(kind, line)

    def report(self, path: str) -> None:
        for kind, n in sorted(self.items()):
            at = f" (first at line {self.first[kind]})" if self.first.get(kind) else ""
            log.warning("%s: %d feature(s) %s%s", path, n, kind, at)

    def as_dict(self) -> dict:
        return dict(sorted(self.items()))


def _parse_attributes(text: str, path: str, lineno: int) -> dict:
    if text in (".", ""):
        return {}
    out = {}
    for part in text.strip().strip(";").split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise InputError(f"attribute {part!r} is not tag=value (column 9)", path, lineno)
        k, v = part.split("=", 1)
        out[unquote(k.strip())] = unquote(v.strip())
    return out


def iter_gff(path: str | os.PathLike) -> Iterator[Feature]:
    """Stream features from a GFF3 file (.gz ok); stops at a ``##FASTA`` section."""
    path = str(path)
    n = 0
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith("##FASTA") or line.startswith(">"):
                break
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 9:
                raise InputError(f"expected 9 tab-separated columns, found {len(cols)}", path, lineno)
            seqid, source, ftype, s, e, score, strand, phase, attrs = cols
            try:
                start, end = int(s), int(e)
            except ValueError:
                raise InputError(f"start/end must be integers, got {s!r}/{e!r}", path, lineno) from None
            if start < 1 or end < start:
                raise InputError(f"invalid coordinates {start}-{end} (1-based, start <= end)", path, lineno)
            if strand not in STRANDS:
                raise InputError(f"strand must be +, -, . or ?, got {strand!r}", path, lineno)
            if phase not in ("0", "1", "2", "."):
                raise InputError(f"phase must be 0, 1, 2 or '.', got {phase!r}", path, lineno)
            n += 1
            yield Feature(
                seqid, source, ftype, start, end, score, strand, phase, _parse_attributes(attrs, path, lineno), lineno
            )
    if n == 0:
        raise InputError("no GFF3 features found", path)


def read_gff(
    path: str | os.PathLike, seq_lengths: dict[str, int] | None = None, warnings: GffWarnings | None = None
) -> list[Feature]:
    """Read and check a GFF3 file.

    With ``seq_lengths`` (contig name -> length): features on seqids missing from it are dropped
    (counted in ``warnings``), and a feature past the end of its contig is an InputError naming the line.
    """
    path = str(path)
    w = warnings if warnings is not None else GffWarnings()
    feats: list[Feature] = []
    for f in iter_gff(path):
        if seq_lengths is not None:
            if f.seqid not in seq_lengths:
                w.add(f"on a seqid missing from the genome (dropped, e.g. {f.seqid!r})", f.line)
                continue
            check_feature_bounds(f, seq_lengths[f.seqid], path)
        feats.append(f)
    check_structure(feats, w)
    if warnings is None:
        w.report(path)
    return feats


def check_feature_bounds(f: Feature, length: int, path: str | os.PathLike | None = None) -> None:
    """InputError (file:line) unless 1 <= start <= end <= ``length`` (the contig's length)."""
    if f.start < 1 or f.end < f.start:
        raise InputError(
            f"invalid coordinates {f.start}-{f.end} (1-based, start <= end)",
            None if path is None else str(path),
            f.line,
        )
    if f.end > length:
        raise InputError(
            f"{f.type} {f.seqid}:{f.start}-{f.end} extends past the end of contig {f.seqid!r} ({length} bases)",
            None if path is None else str(path),
            f.line,
        )


def validate_features(
    features: Iterable[Feature], lengths: dict[str, int], path: str | os.PathLike | None = None, unknown: str = "error"
) -> list[Feature]:
    """Check features (e.g. from :func:`iter_gff`) against contig lengths; returns the features kept.

    Every feature must have 1 <= start <= end <= its contig's length, else InputError naming ``path``
    and the feature's line. A feature on a contig missing from ``lengths`` is an InputError too
    (``unknown="error"``) or dropped (``unknown="drop"``).
    """
    if unknown not in ("error", "drop"):
        raise ValueError("unknown must be 'error' or 'drop'")
    out = []
    for f in features:
        if f.seqid not in lengths:
            if unknown == "drop":
                continue
            known = ", ".join(list(lengths)[:5]) + ("..." if len(lengths) > 5 else "")
            raise InputError(
                f"feature on unknown contig {f.seqid!r} (genome has {known})",
                None if path is None else str(path),
                f.line,
            )
        check_feature_bounds(f, lengths[f.seqid], path)
        out.append(f)
    return out


def check_structure(feats: list[Feature], w: GffWarnings) -> None:
    """Parent/child consistency: missing parents, children outside parents, overlapping CDS parts."""
    by_id = {f.id: f for f in feats if f.id}
    cds_by_parent: dict[str, list[Feature]] = defaultdict(list)
    for f in feats:
        if f.type == "CDS" and not f.parents:
            w.add("CDS without Parent", f.line)
        for p in f.parents:
            par = by_id.get(p)
            if par is None:
                w.add("with a Parent ID that is not defined", f.line)
                continue
            if f.start < par.start or f.end > par.end:
                w.add("extending outside their parent", f.line)
            if f.strand in "+-" and par.strand in "+-" and f.strand != par.strand:
                w.add("on the opposite strand to their parent", f.line)
            if f.type == "CDS":
                cds_by_parent[p].append(f)
    for parts in cds_by_parent.values():
        parts = sorted(parts, key=lambda f: f.start)
        for a, b in zip(parts, parts[1:]):
            if b.start <= a.end:
                w.add("CDS overlapping another CDS part of the same parent", b.line)


def format_attributes(attrs: dict) -> str:
    """GFF3 column 9 (tag=value;...), escaped; ``.`` when empty."""
    if not attrs:
        return "."
    return ";".join(
        f"{quote(str(k), safe=' :^*$@!+?-|')}={quote(str(v), safe=' :^*$@!+?-|,')}" for k, v in attrs.items()
    )


def format_feature(f: Feature) -> str:
    return "\t".join(
        [
            f.seqid,
            f.source,
            f.type,
            str(f.start),
            str(f.end),
            f.score,
            f.strand,
            f.phase,
            format_attributes(f.attributes),
        ]
    )


GFF_COLUMNS = ["seqid", "source", "type", "start", "end", "score", "strand", "phase", "attributes"]


def features_frame(features: Iterable[Feature]):
    """Features as a pandas DataFrame with the nine GFF3 columns, values exactly as :func:`write_gff`
    writes them (``start``/``end`` int, the rest strings; ``attributes`` as column 9)."""
    import pandas as pd

    rows = [
        [
            f.seqid,
            f.source,
            f.type,
            int(f.start),
            int(f.end),
            f.score,
            f.strand,
            f.phase,
            format_attributes(f.attributes),
        ]
        for f in features
    ]
    df = pd.DataFrame(rows, columns=GFF_COLUMNS)
    return df.astype({"start": "int64", "end": "int64"})


def write_gff(
    path: str | os.PathLike,
    features: Iterable[Feature],
    sequence_regions: dict[str, int] | None = None,
    comments: Iterable[str] = (),
) -> int:
    """Write GFF3 atomically (sorted by the caller). Returns the number of feature lines."""
    from genolm.io.atomic import atomic_open

    n = 0
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("##gff-version 3\n")
        for name, length in (sequence_regions or {}).items():
            fh.write(f"##sequence-region {name} 1 {length}\n")
        for c in comments:
            fh.write(f"# {c}\n")
        for f in features:
            fh.write(format_feature(f) + "\n")
            n += 1
    return n
