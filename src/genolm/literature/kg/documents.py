"""Reading documents for the knowledge graph: JSONL and PubTator (plain or gzipped), one record at a time.

A *record* is one JSONL line or one PubTator document (its title, abstract, mention and relation lines).
:func:`iter_records` yields an :class:`InputDocument` for every good record and an
:class:`~genolm.io.errors.InputError` (file, line, reason) for every bad one, so a caller decides whether a
bad record stops the run (``--strict``) or is reported and skipped (:func:`read_documents`). Problems with the
file as a whole (missing, empty, not JSONL/PubTator, truncated gzip) raise InputError naming the file.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from genolm.io.errors import InputError
from genolm.literature import formats as F

# Column widths of lit_documents (PostgreSQL enforces them; checked here so one record fails, not the run).
MAX_KEY, MAX_PMID, MAX_SOURCE = 200, 64, 100


@dataclass
class InputMention:
    start: int
    end: int
    text: str
    type: str
    ids: list[str] = field(default_factory=list)


@dataclass
class InputDocument:
    key: str
    pmid: str | None
    title: str
    text: str  # title + " " + body (or the body when there is no title)
    source: str | None = None
    mentions: list[InputMention] | None = None  # None: not annotated; [] annotated, no mentions
    relations: list[tuple[str, str, str]] = field(default_factory=list)  # (type, id1, id2)
    path: str | None = None
    line: int | None = None


# Entity types of the corpora (CDR, BioRED, NER models) folded onto one short vocabulary.
TYPE_ALIASES = {
    "chemical": "Chemical",
    "chemicalentity": "Chemical",
    "chem": "Chemical",
    "drug": "Chemical",
    "disease": "Disease",
    "diseaseorphenotypicfeature": "Disease",
    "diso": "Disease",
    "gene": "Gene",
    "geneorgeneproduct": "Gene",
    "protein": "Gene",
    "gene/protein": "Gene",
    "sequencevariant": "Variant",
    "variant": "Variant",
    "mutation": "Variant",
    "organismtaxon": "Species",
    "species": "Species",
    "organism": "Species",
    "cellline": "CellLine",
}


def canonical_type(t: str) -> str:
    return TYPE_ALIASES.get(t.strip().lower().replace("_", "").replace("-", ""), t.strip())


def split_ids(ids: str) -> list[str]:
    """Concept ids of a mention: ',' separates composite ids (BioRED), '|' does too (CDR) unless the
    parts are not ids on their own (tmVar variant ids such as ``c|INS|5382|C``); '-1' means none."""
    out = []
    for part in ids.split(","):
        part = part.strip()
        pieces = part.split("|")
        if len(pieces) > 1 and all(re.fullmatch(r"[A-Za-z]{0,4}:?\d+[A-Za-z]?", p.strip()) for p in pieces):
            out.extend(p.strip() for p in pieces)
        elif part:
            out.append(part)
    return [i for i in out if i != "-1"]


def is_pubtator(path: str | os.PathLike) -> bool:
    return F.detect_format(path) == "pubtator"


# --------------------------------------------------------------------------------------------------
# Lines


def _record_lines(path: str) -> Iterator[tuple[int, str | InputError]]:
    """(1-based line number, text) per line, plain or gzip by content; an undecodable line comes back as an
    InputError in place of its text; a truncated or corrupt gzip stream raises InputError naming the file."""
    with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    lineno = 0
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield (
                        lineno,
                        InputError(
                            f"not valid UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})", path, lineno
                        ),
                    )
                    continue
                if lineno == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                yield lineno, line.rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        # not one bad record: the rest of the file is unknown, so this stops the run even without --strict
        raise InputError(f"truncated or corrupt gzip data after line {lineno} ({e})", path) from None


def _check_fields(doc: InputDocument) -> InputError | None:
    for value, name, limit in (
        (doc.key, "id", MAX_KEY),
        (doc.pmid, "pmid", MAX_PMID),
        (doc.source, "source", MAX_SOURCE),
    ):
        if value is not None and len(value) > limit:
            return InputError(f"{name!r} is longer than {limit} characters", doc.path, doc.line)
    if "\x00" in doc.text or "\x00" in doc.key:
        return InputError("the document contains a NUL character", doc.path, doc.line)
    return None


# --------------------------------------------------------------------------------------------------
# JSONL


def parse_jsonl_line(line: str, path: str, lineno: int) -> InputDocument:
    """``{"id", "pmid", "title", "text", "source"}``: ``text`` required and non-empty, ``id`` defaults to
    the line number; the stored text is ``title + " " + text``. Raises InputError naming the line."""
    import json

    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg} (column {e.colno})", path, lineno) from None
    if not isinstance(obj, dict):
        raise InputError('each line must be a JSON object like {"id": ..., "text": ...}', path, lineno)
    text = obj.get("text")
    if not isinstance(text, str):
        raise InputError("missing string field 'text'", path, lineno)
    if not text.strip():
        raise InputError("empty document text", path, lineno)
    title = obj.get("title") or ""
    if not isinstance(title, str):
        raise InputError("'title' must be a string", path, lineno)
    key = obj.get("id", str(lineno))
    if not isinstance(key, (str, int)) or isinstance(key, bool) or key == "":
        raise InputError("'id' must be a non-empty string or an integer", path, lineno)
    pmid = obj.get("pmid")
    if pmid is not None and (not isinstance(pmid, (str, int)) or isinstance(pmid, bool)):
        raise InputError("'pmid' must be a string or an integer", path, lineno)
    source = obj.get("source")
    if source is not None and not isinstance(source, str):
        raise InputError("'source' must be a string", path, lineno)
    return InputDocument(
        key=str(key),
        pmid=None if pmid in (None, "") else str(pmid),
        title=title,
        text=f"{title} {text}" if title else text,
        source=source,
        path=path,
        line=lineno,
    )


def _jsonl_records(path: str) -> Iterator[InputDocument | InputError]:
    n = 0
    for lineno, line in _record_lines(path):
        if isinstance(line, InputError):
            n += 1
            yield line
            continue
        if not line.strip():
            continue
        n += 1
        try:
            doc = parse_jsonl_line(line, path, lineno)
        except InputError as e:
            yield e
            continue
        yield _check_fields(doc) or doc
    if n == 0:
        raise InputError("no documents found (empty JSONL file)", path)


def read_jsonl(path: str | os.PathLike) -> Iterator[InputDocument]:
    """Every document of a JSONL file; the first bad line raises InputError naming it."""
    return read_documents(path, fmt="jsonl")


# --------------------------------------------------------------------------------------------------
# PubTator

_TITLE = re.compile(r"^([^|\t]+)\|([ta])\|(.*)$")
# a mention line's second field is its start offset; relation types (CID, Association...) never start so
_OFFSET_LIKE = re.compile(r"^[-+]?\d")


def _bad_offsets(parts: list[str]) -> bool:
    """A mention line whose offsets are not both non-negative integers ('12a', '-3', '1.5', 'x12'). A relation
    line (``PMID<TAB>TYPE<TAB>ID1<TAB>ID2``) has a type without digits where a mention has its start."""
    if len(parts) < 3 or (parts[1].isdigit() and parts[2].isdigit()):
        return False
    if _OFFSET_LIKE.match(parts[1]):
        return True
    return len(parts) >= 5 and parts[2].isdigit() and any(c.isdigit() for c in parts[1])


def _repair_mention_fields(parts: list[str]) -> list[str]:
    # One CDR dev line has two spaces instead of a TAB before the type: repair it leniently.
    if len(parts) in (4, 5):
        m = re.match(r"^(.*?)\s{2,}(\S+)$", parts[3])
        if m:
            return parts[:3] + [m.group(1), m.group(2)] + parts[4:]
    return parts


def _mention(parts: list[str], text: str, path: str, lineno: int) -> InputMention:
    parts = _repair_mention_fields(parts)
    if len(parts) < 5:
        raise InputError("mention line needs PMID<TAB>start<TAB>end<TAB>text<TAB>type[<TAB>id]", path, lineno)
    start, end = int(parts[1]), int(parts[2])
    if not (0 <= start < end <= len(text)):
        raise InputError(f"mention offsets {start}-{end} outside the document text (length {len(text)})", path, lineno)
    if text[start:end] != parts[3]:
        raise InputError(
            f"mention text {parts[3]!r} does not match the document text {text[start:end]!r} at {start}-{end}",
            path,
            lineno,
        )
    ids = "|".join(i for i in re.split(r"[|;]", parts[5]) if i) if len(parts) > 5 and parts[5] else ""
    return InputMention(start, end, parts[3], canonical_type(parts[4].strip()), split_ids(ids))


class _PubTatorDoc:
    def __init__(self, pmid: str, line: int):
        self.pmid, self.line = pmid, line
        self.title = self.abstract = None
        self.mentions: list[InputMention] = []
        self.relations: list[tuple[str, str, str]] = []
        self.error: InputError | None = None

    @property
    def text(self) -> str:
        title, abstract = self.title or "", self.abstract or ""
        if abstract:
            return f"{title} {abstract}" if title else abstract
        return title

    def fail(self, err: InputError) -> None:
        if self.error is None:
            self.error = err

    def finish(self, path: str) -> InputDocument | InputError:
        if self.error is not None:
            return self.error
        if not self.text.strip():
            return InputError(f"document {self.pmid} has no text", path, self.line)
        doc = InputDocument(
            key=self.pmid,
            pmid=self.pmid,
            title=self.title or "",
            text=self.text,
            mentions=self.mentions,
            relations=self.relations,
            path=path,
            line=self.line,
        )
        return _check_fields(doc) or doc


def _pubtator_records(path: str) -> Iterator[InputDocument | InputError]:
    """``PMID|t|``, ``PMID|a|``, mention lines (0-based, end-exclusive offsets over title + " " + abstract)
    and relation lines ``PMID<TAB>TYPE<TAB>ID1<TAB>ID2``; documents separated by blank lines."""
    cur: _PubTatorDoc | None = None
    last_pmid = None
    n = 0
    for lineno, line in _record_lines(path):
        if isinstance(line, InputError):
            if cur is not None:
                cur.fail(line)
            else:
                n += 1
                yield line
            continue
        if not line.strip():
            if cur is not None:
                yield cur.finish(path)
            cur = None
            continue
        m = _TITLE.match(line)
        if m:
            pmid, kind, text = m.groups()
            if cur is None or cur.pmid != pmid:
                if cur is not None:
                    yield cur.finish(path)
                n += 1
                cur = _PubTatorDoc(pmid, lineno)
                if pmid == last_pmid:
                    cur.fail(InputError(f"document {pmid} starts twice", path, lineno))
                last_pmid = pmid
            if kind == "t":
                if cur.title is not None or cur.abstract is not None:
                    cur.fail(InputError(f"second title line for document {pmid}", path, lineno))
                cur.title = text
            else:
                if cur.abstract is not None:
                    cur.fail(InputError(f"second abstract line for document {pmid}", path, lineno))
                cur.abstract = text
            continue
        parts = line.split("\t")
        if cur is None:
            n += 1
            yield InputError("annotation line before any 'PMID|t|title' line", path, lineno)
            continue
        if cur.error is not None:
            continue
        if parts[0] != cur.pmid:
            cur.fail(InputError(f"annotation for document {parts[0]!r} inside document {cur.pmid!r}", path, lineno))
        elif _bad_offsets(parts):
            cur.fail(
                InputError(
                    f"mention offsets must be non-negative integers, got {parts[1]!r}, {parts[2]!r}", path, lineno
                )
            )
        elif len(parts) >= 2 and _OFFSET_LIKE.match(parts[1]):
            try:
                cur.mentions.append(_mention(parts, cur.text, path, lineno))
            except InputError as e:
                cur.fail(e)
        elif len(parts) >= 4:
            cur.relations.append((parts[1], parts[2], parts[3]))
        else:
            cur.fail(
                InputError(
                    f"cannot read PubTator line ({len(parts)} tab-separated fields): expected "
                    "'PMID|t|', 'PMID|a|', a mention or a relation line",
                    path,
                    lineno,
                )
            )
    if cur is not None:
        yield cur.finish(path)
    if n == 0:
        raise InputError("no documents found (empty PubTator file)", path)


def read_pubtator(path: str | os.PathLike) -> Iterator[InputDocument]:
    """Every document of a PubTator file; the first bad record raises InputError naming its line."""
    return read_documents(path, fmt="pubtator")


# --------------------------------------------------------------------------------------------------
# Any input


def iter_records(path: str | os.PathLike, fmt: str | None = None) -> Iterator[InputDocument | InputError]:
    """Documents and bad-record errors of a JSONL or PubTator file (plain or gzipped, chosen by content)."""
    path = str(path)
    if not Path(path).is_file():
        raise InputError("no such file", path)
    fmt = fmt or F.detect_format(path)
    if fmt == "pubtator":
        return _pubtator_records(path)
    if fmt == "jsonl":
        return _jsonl_records(path)
    raise InputError(f'expected JSONL ({{"id", "title", "text"}} per line) or PubTator, found {fmt}', path)


def read_documents(
    path: str | os.PathLike, on_error: Callable[[InputError], None] | None = None, fmt: str | None = None
) -> Iterator[InputDocument]:
    """The good documents of ``path``. A bad record raises its InputError, or, with ``on_error``, is passed
    to it and skipped (``on_error`` may raise to stop)."""
    records = iter_records(path, fmt)

    def gen() -> Iterator[InputDocument]:
        for rec in records:
            if isinstance(rec, InputError):
                if on_error is None:
                    raise rec
                on_error(rec)
            else:
                yield rec

    return gen()
