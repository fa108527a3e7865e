"""Paths a server accepts from clients: inputs confined to the data directory, outputs inside the job's directory.

Every file a REST or MCP client names is relative to the server's data directory (``data/prom_train.csv``,
``uploads/<id>/guides.txt``, ``jobs/<id>/sites.tsv``); :func:`confine` resolves it there and refuses anything
that would reach outside (``..``, an absolute path elsewhere, a symlink out, ``~``, a NUL byte) with a
:class:`PathError` naming the parameter. :func:`output_name` checks a result name (``out``) the same way and
picks a default from the option's metavar when the client gave none.
"""

from __future__ import annotations

import re

import os
from pathlib import Path, PurePosixPath
from typing import Any

PRIVATE_DIR = ".genolm"  # the server's own files under the data dir (the job store): never a job's input

# metavar -> the file extension of a default result name
_EXTENSIONS = {
    "TSV": "tsv",
    "CSV": "csv",
    "VCF": "vcf",
    "GFF": "gff3",
    "GFF3": "gff3",
    "GTF": "gtf",
    "BED": "bed",
    "BEDGRAPH": "bedgraph",
    "BIGWIG": "bw",
    "FASTA": "fa",
    "FASTQ": "fq",
    "JSON": "json",
    "JSONL": "jsonl",
    "HTML": "html",
    "MD": "md",
    "TXT": "txt",
    "PARQUET": "parquet",
    "NPZ": "npz",
    "H5AD": "h5ad",
    "YAML": "yaml",
    "SQLITE": "sqlite",
    "DB": "sqlite",
    "MEME": "meme",
    "PUBTATOR": "pubtator",
}


class PathError(ValueError):
    """A client path that is not allowed (escapes the data dir, absolute, ``~``, NUL...): 422 for REST."""

    def __init__(self, param: str, problem: str):
        self.param, self.problem = param, problem
        super().__init__(f"{param}: {problem}" if param else problem)


def _check_text(value: Any, param: str) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise PathError(param, f"expected a path, got {type(value).__name__}")
    s = os.fspath(value)
    if not s.strip():
        raise PathError(param, "empty path")
    if "\x00" in s:
        raise PathError(param, "path contains a NUL byte")
    if s.startswith("~"):
        raise PathError(param, "'~' paths are not allowed; give a path relative to the data directory")
    if "\\" in s:
        raise PathError(param, "backslashes are not allowed in paths")
    return s


def confine(root: Path, value: str, *, param: str) -> Path:
    """``value`` resolved under ``root``; :class:`PathError` when it would escape it.

    Relative paths are taken from ``root``; an absolute path is accepted only when it lies inside ``root``.
    Symlinks are followed before the check, so a link that points outside is refused too. The path need not
    exist (the command reports a missing input itself, in its own words).
    """
    s = _check_text(value, param)
    root = Path(root).resolve()
    p = Path(s)
    if any(part == ".." for part in p.parts):
        raise PathError(param, "path escapes the data directory ('..' is not allowed)")
    full = (p if p.is_absolute() else root / p).resolve()
    if full != root and root not in full.parents:
        what = "absolute path outside" if p.is_absolute() else "path escapes"
        raise PathError(param, f"{what} the data directory")
    rel = full.relative_to(root).parts
    if rel and rel[0] == PRIVATE_DIR:
        raise PathError(param, f"'{PRIVATE_DIR}/' is the server's private directory")
    return full


def default_output_name(metavar: str | None) -> str:
    """``run`` for a folder option, ``result.<ext>`` from the metavar's first token, else ``result``."""
    first = (metavar or "").split("|")[0].strip().upper()
    if first == "DIR" or first.endswith("_DIR"):
        return "run"
    gz = first.endswith(".GZ")
    ext = _EXTENSIONS.get(first[:-3] if gz else first)
    if not ext:
        return "result"
    return f"result.{ext}" + (".gz" if gz else "")


def output_name(value: str | None, param: Any) -> str:
    """A result path inside the job directory (posix, relative); the metavar's default when ``value`` is None."""
    key = getattr(param, "key", "") or getattr(param, "name", "") or "out"
    if value is None:
        return default_output_name(getattr(param, "metavar", None))
    s = _check_text(value, key)
    if s.startswith("/") or PurePosixPath(s).is_absolute():
        raise PathError(key, "an output name must be relative to the job directory, not absolute")
    parts = [x for x in PurePosixPath(s).parts if x not in ("", ".")]
    if not parts:
        raise PathError(key, "empty output name")
    if ".." in parts:
        raise PathError(key, "an output name may not contain '..'")
    if ":" in parts[0] and "//" in s:
        raise PathError(key, "an output must be a file name inside the job directory, not a URL")
    name = str(PurePosixPath(*parts))
    # plain names only: a result name is shown in the web UI and genome browser, and starts no option
    if not _SAFE_OUTPUT.fullmatch(name) or any(x.startswith("-") for x in parts):
        raise PathError(key, "an output name may use letters, digits, '.', '_', '-' and '/' (not first) only")
    return name


_SAFE_OUTPUT = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]{0,254}")
