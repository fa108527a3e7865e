"""VCF reading and writing for every domain that annotates variants.

Records are kept as text so that an annotated VCF keeps each input record byte for byte (order, ID,
QUAL, FILTER, INFO, samples) apart from the fields genolm adds. Reading streams (plain, gzip or bgzip);
writing a path ending in ``.gz`` gives a BGZF file (pysam) with a tabix index next to it.

Coordinates are the VCF's own: ``POS`` is 1-based; REF starts at POS.

Validation: a file without the ``##fileformat=VCF`` line or the ``#CHROM`` header line, a truncated or
corrupt gzip stream, and malformed records raise :class:`InputError` naming file and line. Callers that
want to go on past bad records pass ``on_error`` (the error is handed over and reading goes on); with
``keep_malformed=True`` the bad record is still yielded, with :attr:`VcfRecord.error` set and its columns
as read (padded with ``.`` to 8), so a tool that annotates a VCF can write it back flagged instead of
dropping it.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote

from genolm.io.errors import InputError
from genolm.io.fasta import open_text

log = logging.getLogger("genolm")

_FIXED = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
_META_ID = re.compile(r"^##(INFO|FILTER|FORMAT|contig)=<ID=([^,>]+)")
_ALLELE = re.compile(r"^[ACGTNacgtn]+$")


@dataclass
class VcfHeader:
    """The meta lines (``##...``) and the column line of a VCF."""

    meta: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: list(_FIXED))

    def ids(self, kind: str) -> set[str]:
        out = set()
        for line in self.meta:
            m = _META_ID.match(line)
            if m and m.group(1) == kind:
                out.add(m.group(2))
        return out

    def info_number(self, key: str) -> str | None:
        for line in self.meta:
            if line.startswith(f"##INFO=<ID={key},"):
                m = re.search(r"Number=([^,>]+)", line)
                return m.group(1) if m else None
        return None

    def _add(self, kind: str, line: str, ident: str) -> None:
        """Add (or replace) a declaration; new ones go after the last line of the same kind."""
        prefix = f"##{kind}=<ID={ident},"
        for i, old in enumerate(self.meta):
            if old.startswith(prefix):
                self.meta[i] = line
                return
        last = max((i for i, m in enumerate(self.meta) if m.startswith(f"##{kind}=")), default=None)
        if last is None:
            last = max(
                (i for i, m in enumerate(self.meta) if m.startswith(("##INFO=", "##FILTER=", "##fileformat"))),
                default=len(self.meta) - 1,
            )
        self.meta.insert(last + 1, line)

    def add_info(self, ident: str, number: str, type_: str, description: str) -> None:
        desc = description.replace("\\", "\\\\").replace('"', '\\"')
        self._add("INFO", f'##INFO=<ID={ident},Number={number},Type={type_},Description="{desc}">', ident)

    def add_filter(self, ident: str, description: str) -> None:
        desc = description.replace('"', '\\"')
        self._add("FILTER", f'##FILTER=<ID={ident},Description="{desc}">', ident)

    def add_meta(self, key: str, value: str) -> None:
        self.meta = [m for m in self.meta if not m.startswith(f"##{key}=")]
        self.meta.append(f"##{key}={value}")

    def text(self) -> str:
        return "".join(m + "\n" for m in self.meta) + "\t".join(self.columns) + "\n"


@dataclass
class VcfRecord:
    """One data line. ``fields`` are the tab-separated columns as read; ``line`` is the 1-based line number.

    ``error`` is set (the message) for a malformed record yielded by ``VcfReader(keep_malformed=True)``: only
    ``fields``, ``line`` and :meth:`with_info` are meaningful then (``pos`` may not be a number).
    """

    fields: list[str]
    line: int
    error: str | None = None

    @property
    def chrom(self) -> str:
        return self.fields[0]

    @property
    def pos(self) -> int:
        return int(self.fields[1])

    @property
    def id(self) -> str:
        return self.fields[2]

    @property
    def ref(self) -> str:
        return self.fields[3]

    @property
    def alts(self) -> list[str]:
        return [] if self.fields[4] in (".", "") else self.fields[4].split(",")

    @property
    def key(self) -> tuple:
        return (self.chrom, self.pos, self.ref.upper(), self.fields[4].upper())

    def info(self) -> dict[str, str | bool]:
        raw = self.fields[7]
        out: dict[str, str | bool] = {}
        if raw in (".", ""):
            return out
        for part in raw.split(";"):
            if not part:
                continue
            k, eq, v = part.partition("=")
            out[k] = v if eq else True
        return out

    def with_info(self, added: dict[str, object], filter_: str | None = None) -> str:
        """The record line with ``added`` INFO entries (replacing same-named ones) and optional FILTER."""
        f = list(self.fields)
        keep = [] if f[7] in (".", "") else [p for p in f[7].split(";") if p and p.split("=", 1)[0] not in added]
        for k, v in added.items():
            if v is None or v is False:
                continue
            keep.append(k if v is True else f"{k}={format_info_value(v)}")
        f[7] = ";".join(keep) if keep else "."
        if filter_ is not None:
            f[6] = filter_ if f[6] in (".", "PASS", "") else f"{f[6]};{filter_}"
        return "\t".join(f) + "\n"


def format_info_value(v: object) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(format_info_value(x) for x in v)
    if v is None:
        return "."
    if isinstance(v, float):
        if v != v:
            return "."
        return f"{v:.6g}"
    # INFO values may not contain ; = , or whitespace: percent-encode (VCF 4.3 convention)
    return quote(str(v), safe="+-._:/|<>*[]()@!~&^")


class VcfReader:
    """Stream a VCF: ``.header`` is parsed on open; iterating yields :class:`VcfRecord` in file order.

    ``on_error(err)`` (optional) receives an :class:`InputError` for each malformed record and reading
    continues (with ``keep_malformed`` the record is then yielded with ``error`` set); without it the first
    malformed record raises. Header problems and corrupt/truncated compression always raise.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        on_error: Callable[[InputError], None] | None = None,
        keep_malformed: bool = False,
    ):
        self.path = str(path)
        self.on_error = on_error
        self.keep_malformed = keep_malformed
        self._fh = open_text(self.path)  # plain, gzip or bgzip, by magic bytes
        self.line_no = 0
        self.header = VcfHeader(meta=[], columns=[])
        self._first: str | None = None
        self._read_header()

    def _readline(self) -> str:
        try:
            line = self._fh.readline()
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            raise InputError(f"corrupt or truncated gzip file ({e})", self.path, self.line_no + 1) from None
        if line:
            self.line_no += 1
        return line

    def _read_header(self) -> None:
        first = True
        while True:
            line = self._readline()
            if not line:
                if first:
                    raise InputError("empty file, expected a VCF", self.path)
                raise InputError("VCF has no '#CHROM' header line", self.path, self.line_no)
            line = line.rstrip("\r\n")
            if first:
                first = False
                if not line.startswith("##fileformat=VCF"):
                    raise InputError(
                        "not a VCF file: the first line must be '##fileformat=VCFv4.x' (is the header missing?)",
                        self.path,
                        self.line_no,
                    )
            if line.startswith("##"):
                self.header.meta.append(line)
                continue
            if line.startswith("#CHROM"):
                cols = line.split("\t")
                if cols[:8] != _FIXED:
                    raise InputError(
                        "bad VCF column header: expected tab-separated " + " ".join(_FIXED), self.path, self.line_no
                    )
                self.header.columns = cols
                return
            raise InputError("VCF header ended without the '#CHROM' column line", self.path, self.line_no)

    def _parse(self, line: str) -> VcfRecord | None:
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) < 8:
            raise InputError(
                f"VCF record has {len(fields)} tab-separated columns, expected at least 8", self.path, self.line_no
            )
        if not fields[1].isdigit() or int(fields[1]) < 1:
            raise InputError(f"POS must be a positive integer, got {fields[1]!r}", self.path, self.line_no)
        if not fields[0]:
            raise InputError("empty CHROM", self.path, self.line_no)
        ref = fields[3]
        if not _ALLELE.match(ref):
            raise InputError(f"REF must be bases A, C, G, T or N, got {ref!r}", self.path, self.line_no)
        return VcfRecord(fields, self.line_no)

    def __iter__(self) -> Iterator[VcfRecord]:
        try:
            while True:
                line = self._readline()
                if not line:
                    return
                if not line.strip() or line.startswith("#"):
                    continue
                try:
                    rec = self._parse(line)
                except InputError as e:
                    if self.on_error is None:
                        raise
                    self.on_error(e)
                    if self.keep_malformed:
                        fields = line.rstrip("\r\n").split("\t")
                        yield VcfRecord(fields + ["."] * (8 - len(fields)), self.line_no, error=e.message)
                    continue
                yield rec
        finally:
            self.close()

    def close(self) -> None:
        try:
            self._fh.close()
        except Exception:
            pass

    def __enter__(self) -> "VcfReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_vcf(path: str | os.PathLike, on_error=None) -> tuple[VcfHeader, Iterator[VcfRecord]]:
    reader = VcfReader(path, on_error)
    return reader.header, iter(reader)


class VcfWriter:
    """Write a VCF atomically: plain text, or BGZF + tabix index (``.tbi``) when the path ends in ``.gz``.

    Use as a context manager; on an exception nothing is left at ``path``. The index needs records sorted
    by position within each contig; for an unsorted input the VCF is still written and a warning logged.
    """

    def __init__(self, path: str | os.PathLike, header: VcfHeader, index: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.bgzip = self.path.name.endswith(".gz")
        self.index = index and self.bgzip
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        if self.bgzip:
            import pysam

            self._fh = pysam.BGZFile(str(self._tmp), "wb")
        else:
            self._fh = open(self._tmp, "wb")
        self._buf: list[str] = []
        self._size = 0
        self.indexed = False
        self.write_text(header.text())

    def write_text(self, text: str) -> None:
        self._buf.append(text)
        self._size += len(text)
        if self._size > 1 << 20:
            self.flush()

    write = write_text

    def flush(self) -> None:
        if self._buf:
            self._fh.write("".join(self._buf).encode("utf-8"))
            self._buf, self._size = [], 0

    def close(self) -> None:
        self.flush()
        self._fh.close()
        tbi = Path(str(self.path) + ".tbi")
        if self.index:
            import pysam

            tmp_tbi = Path(str(self._tmp) + ".tbi")
            try:
                pysam.tabix_index(str(self._tmp), preset="vcf", force=True, index=str(tmp_tbi))
                self.indexed = True
            except (OSError, ValueError) as e:
                log.warning("no tabix index for %s: %s (is the VCF sorted by position?)", self.path, e)
                tmp_tbi.unlink(missing_ok=True)
            os.replace(self._tmp, self.path)
            if self.indexed:
                os.replace(tmp_tbi, tbi)
            else:
                tbi.unlink(missing_ok=True)
        else:
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            self._fh.close()
        except Exception:
            pass
        for p in (self._tmp, Path(str(self._tmp) + ".tbi")):
            p.unlink(missing_ok=True)

    def __enter__(self) -> "VcfWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_vcf(path: str | os.PathLike, header: VcfHeader, lines) -> None:
    """Write ``header`` and the given record lines (strings ending in newline)."""
    with VcfWriter(path, header) as w:
        for line in lines:
            w.write_text(line)
