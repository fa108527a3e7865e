"""FASTA reading with validation: one clear error naming file and line for bad input.

Soft-masked (lowercase) bases, N and IUPAC ambiguity codes are accepted on purpose; callers decide
what to do with them (`normalize` upper-cases, `mask_ambiguous` turns IUPAC codes into N).
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from pathlib import Path
from typing import Iterator

from genolm.io.errors import InputError

IUPAC = set("ACGTNRYSWKMBDHVU")
# '-' and '.' are alignment gaps (read as N); '*' is not a nucleotide (a stop codon in protein FASTA)
_ALLOWED = IUPAC | {c.lower() for c in IUPAC} | {"-", "."}
_NOT_ALLOWED = re.compile(r"[^ACGTNRYSWKMBDHVUacgtnryswkmbdhvu\-.]")
_AMBIG = re.compile(r"[^ACGTN]")


TRUNCATED_GZIP = "truncated or corrupt gzip file (ended before its end-of-stream marker)"


class TextInput:
    """A text file opened for reading (plain or gzip), whose failures are InputErrors naming the file.

    A truncated or corrupt .gz and bytes that are not UTF-8 end in one line naming the file and line
    (not a traceback, not click's bare "Aborted." on EOFError), and nothing is silently replaced.
    """

    def __init__(self, path: Path, fh):
        self.path, self._fh, self.lineno = path, fh, 0

    def _fail(self, e: BaseException):
        if isinstance(e, UnicodeDecodeError):
            return InputError(f"not UTF-8 text (byte {e.object[e.start : e.start + 1]!r})", self.path, self.lineno + 1)
        if isinstance(e, (EOFError, gzip.BadGzipFile, zlib.error)):
            return InputError(TRUNCATED_GZIP, self.path, self.lineno + 1)
        return InputError(f"cannot read file: {e}", self.path, self.lineno + 1)

    def __iter__(self):
        while line := self.readline():
            yield line

    def readline(self) -> str:
        try:
            line = self._fh.readline()
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            raise self._fail(e) from None
        if line:
            self.lineno += 1
        return line

    def __getattr__(self, name):  # seek, tell, name...: the underlying file's
        return getattr(self._fh, name)

    def read(self, n: int = -1) -> str:
        try:
            return self._fh.read(n)
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            raise self._fail(e) from None

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "TextInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_readable(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path)
    if path.is_dir():
        raise InputError("is a directory, expected a file", path)
    if not os.access(path, os.R_OK):
        raise InputError("permission denied (cannot read)", path)
    return path


def is_gzip(path: str | os.PathLike) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_text(path: str | os.PathLike) -> TextInput:
    """Open plain or gzip/bgzip text by content (magic bytes), not by name; strict UTF-8."""
    path = check_readable(path)
    if is_gzip(path):
        return TextInput(path, gzip.open(path, "rt", encoding="utf-8"))
    return TextInput(path, open(path, "r", encoding="utf-8"))


def is_fasta(path: str | os.PathLike) -> bool:
    """True if the first non-blank character of the file is '>'."""
    with open_text(path) as fh:
        for line in fh:
            if line.strip():
                return line.lstrip().startswith(">")
    return False


def read_fasta(path: str | os.PathLike, alphabet: str = "dna") -> Iterator[tuple[str, str]]:
    """Stream (name, sequence) records. Name is the header up to the first whitespace.

    Raises InputError for an empty file, sequence before the first header, a record with an empty
    name, or non-nucleotide characters (the first bad line is named).
    """
    path = str(path)
    name: str | None = None
    chunks: list[str] = []
    n_records = 0
    seen: set[str] = set()
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith(">"):
                if name is not None:
                    n_records += 1
                    yield name, "".join(chunks)
                header = line[1:].strip()
                if not header:
                    raise InputError("FASTA header has no name", path, lineno)
                name = header.split()[0]
                if name in seen:
                    raise InputError(f"duplicate FASTA record name {name!r} (names must be unique)", path, lineno)
                seen.add(name)
                chunks = []
                continue
            if line.startswith(";"):
                continue
            if name is None:
                raise InputError("not a FASTA file: sequence found before the first '>' header", path, lineno)
            seq = line.strip().replace(" ", "")
            if alphabet == "dna":
                bad = _NOT_ALLOWED.search(seq)
                if bad:
                    what = "'*' (a stop codon: protein FASTA?)" if bad.group(0) == "*" else repr(bad.group(0))
                    raise InputError(f"non-nucleotide character {what} in sequence {name!r}", path, lineno)
            chunks.append(seq)
    if name is not None:
        n_records += 1
        yield name, "".join(chunks)
    if n_records == 0:
        raise InputError("empty FASTA file (no records)", path)


def load_fasta(path: str | os.PathLike) -> dict[str, str]:
    """All records in memory, name -> sequence (case kept). Duplicate names are an error."""
    out: dict[str, str] = {}
    for name, seq in read_fasta(path):
        if name in out:
            raise InputError(f"duplicate FASTA record name {name!r}", path)
        out[name] = seq
    return out


def normalize(seq: str) -> str:
    """Upper-case (soft-masking dropped), U->T, IUPAC ambiguity codes and gaps -> N."""
    seq = seq.upper().replace("U", "T")
    return _AMBIG.sub("N", seq)


def reverse_complement(seq: str) -> str:
    return seq.translate(_RC)[::-1]


_RC = str.maketrans("ACGTNacgtnRYSWKMBDHVryswkmbdhv", "TGCANtgcanYRSWMKVHDBywswmkvhdb")


class Reference:
    """Random access to a reference genome: pysam (plain or bgzipped FASTA; index built or read), else pyfaidx,
    else (plain gzip, read-only folder) the whole genome in memory.

    Coordinates: ``fetch(chrom, start, end)`` is 0-based half-open (like BED / Python slices).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._faidx = None
        self._pysam = None
        self._mem: dict[str, str] | None = None
        with open(self.path, "rb") as fh:
            head = fh.read(4)
        plain_gzip = head[:2] == b"\x1f\x8b" and not (len(head) == 4 and head[3] & 4)  # bgzip sets FEXTRA
        try:
            if plain_gzip:
                raise ValueError("plain gzip cannot be indexed")
            import pysam

            self._pysam = pysam.FastaFile(self.path)
            self.lengths = dict(zip(self._pysam.references, self._pysam.lengths))
            if not self.lengths:
                raise InputError("empty FASTA file (no records)", self.path)
            return
        except (OSError, ValueError, ImportError):
            self._pysam = None
        try:
            import pyfaidx

            self._faidx = pyfaidx.Fasta(
                self.path, as_raw=True, sequence_always_upper=False, read_ahead=100_000, rebuild=True, build_index=True
            )
            self.lengths = {k: len(v) for k, v in self._faidx.items()}
        except Exception:
            self._faidx = None
            self._mem = load_fasta(self.path)
            self.lengths = {k: len(v) for k, v in self._mem.items()}
        if not self.lengths:
            raise InputError("empty FASTA file (no records)", self.path)

    @property
    def contigs(self) -> list[str]:
        return list(self.lengths)

    def __contains__(self, chrom: str) -> bool:
        return chrom in self.lengths

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """0-based half-open; positions outside the contig are padded with N."""
        if chrom not in self.lengths:
            raise InputError(
                f"unknown contig {chrom!r} (reference has {', '.join(self.contigs[:5])}"
                f"{'...' if len(self.contigs) > 5 else ''})",
                self.path,
            )
        length = self.lengths[chrom]
        lo, hi = max(0, start), min(length, end)
        if hi <= lo:
            core = ""
        elif self._pysam is not None:
            core = self._pysam.fetch(chrom, lo, hi)
        elif self._faidx is not None:
            core = str(self._faidx[chrom][lo:hi])
        else:
            core = self._mem[chrom][lo:hi]
        return "N" * (lo - start) + core + "N" * (end - max(hi, lo) if end > length else 0)

    def sequence(self, chrom: str) -> str:
        return self.fetch(chrom, 0, self.lengths[chrom])
