"""Text-mining file formats: IOB (CoNLL-style token<TAB>tag), PubTator, JSONL and plain text.

Every reader validates as it goes and raises :class:`~genolm.io.errors.InputError` naming the file and
the 1-based line of the problem (malformed lines, empty documents, bytes that are not UTF-8).
Every writer is atomic.

Coordinate convention: character offsets are 0-based, end-exclusive, over the document text. In PubTator
the document text is ``title + " " + abstract`` (the BioCreative convention).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from genolm.io.atomic import atomic_open
from genolm.io.errors import InputError

__all__ = [
    "Sentence",
    "Mention",
    "Relation",
    "Document",
    "Entity",
    "read_lines",
    "read_iob",
    "write_iob",
    "iob_to_spans",
    "spans_to_iob",
    "repair_iob",
    "read_pubtator",
    "write_pubtator",
    "read_jsonl_texts",
    "write_jsonl",
    "read_text_documents",
    "tokenize_with_offsets",
    "split_sentences",
    "detect_format",
]

_TAG = re.compile(r"^(O|[BI]-\S+)$")


# --------------------------------------------------------------------------------------------- lines
def read_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without newline); gz supported; non-UTF-8 -> InputError at line."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path)
    opener = _gzip_open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"not valid UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})", path, lineno
                ) from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield lineno, line.rstrip("\r\n")


def _gzip_open(path, mode):
    import gzip

    return gzip.open(path, mode)


# ----------------------------------------------------------------------------------------------- IOB
@dataclass
class Sentence:
    """One IOB sentence: tokens, tags (None when the file has no tag column) and its first line number."""

    tokens: list[str]
    tags: list[str] | None
    line: int = 0


def read_iob(path: str | os.PathLike, require_tags: bool = True) -> list[Sentence]:
    """Read ``token<TAB>tag`` lines with blank lines between sentences (IOB2 tags: O, B-X, I-X).

    With ``require_tags=False`` a file of bare tokens (one per line) is accepted too (tags = None).
    ``-DOCSTART-`` lines are skipped.
    """
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    has_tags: bool | None = None

    def flush():
        nonlocal tokens, tags
        if tokens:
            sentences.append(Sentence(tokens, tags if has_tags else None, start))
        tokens, tags = [], []

    for lineno, line in read_lines(path):
        if not line.strip():
            flush()
            continue
        if line.startswith("-DOCSTART-"):
            flush()
            continue
        parts = line.split("\t")
        if len(parts) == 1 and not require_tags and has_tags is not True:
            has_tags = False
            token, tag = parts[0].strip(), None
        elif len(parts) == 2:
            if has_tags is False:
                raise InputError("line has a tag column but earlier lines have none", path, lineno)
            has_tags = True
            token, tag = parts[0].strip(), parts[1].strip()
            if not _TAG.match(tag):
                raise InputError(f"bad IOB tag {tag!r}: expected O, B-TYPE or I-TYPE", path, lineno)
        else:
            want = "token<TAB>tag" if require_tags else "token or token<TAB>tag"
            raise InputError(f"expected {want}, found {len(parts)} tab-separated fields", path, lineno)
        if not token or any(c.isspace() for c in token):
            raise InputError(f"bad token {parts[0]!r}: empty or contains whitespace", path, lineno)
        if not tokens:
            start = lineno
        tokens.append(token)
        tags.append(tag)  # type: ignore[arg-type]
    flush()
    if not sentences:
        raise InputError("no sentences found (empty IOB file)", path)
    return sentences


def write_iob(path: str | os.PathLike, sentences: Iterable[tuple[list[str], list[str]]]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        for tokens, tags in sentences:
            for tok, tag in zip(tokens, tags, strict=True):
                fh.write(f"{tok}\t{tag}\n")
            fh.write("\n")


def repair_iob(tags: list[str]) -> list[str]:
    """Make a tag sequence valid IOB2: an I-X that does not continue an X entity becomes B-X."""
    out = []
    prev = "O"
    for t in tags:
        if t.startswith("I-") and prev[2:] != t[2:]:
            t = "B-" + t[2:]
        out.append(t)
        prev = t
    return out


def iob_to_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """IOB2 tags -> token spans (start, end exclusive, type); a stray I-X starts an entity."""
    spans = []
    cur = None
    for i, t in enumerate(list(tags) + ["O"]):
        if cur is not None and not (t.startswith("I-") and t[2:] == cur[2]):
            spans.append((cur[0], i, cur[2]))
            cur = None
        if t.startswith("B-") or (t.startswith("I-") and cur is None):
            cur = (i, None, t[2:])
    return spans


def spans_to_iob(n: int, spans: Iterable[tuple[int, int, str]]) -> list[str]:
    tags = ["O"] * n
    for s, e, typ in spans:
        if any(t != "O" for t in tags[s:e]):
            continue  # overlapping mention: IOB cannot hold both, keep the first
        tags[s] = "B-" + typ
        for i in range(s + 1, e):
            tags[i] = "I-" + typ
    return tags


# -------------------------------------------------------------------------------------- tokenisation
# The MTL-Bioinformatics-2016 IOB corpora split every punctuation character off ("GSK - 3beta", "( APC )").
_TOKEN = re.compile(r"[A-Za-z0-9\u00C0-\uFFFF]+|[^\sA-Za-z0-9\u00C0-\uFFFF]")


def tokenize_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Word tokens with character offsets (0-based, end-exclusive); punctuation is split off."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


_ABBREV = {"e.g", "i.e", "vs", "al", "fig", "figs", "no", "approx", "ca", "dr", "mr", "mrs", "st", "etc"}


def split_sentences(tokens: list[tuple[str, int, int]]) -> list[list[tuple[str, int, int]]]:
    """Split tokens into sentences at '.', '?' or '!' followed by a token that starts with a capital/digit."""
    out, cur = [], []
    for i, tok in enumerate(tokens):
        cur.append(tok)
        if tok[0] in ".?!" and i + 1 < len(tokens):
            nxt = tokens[i + 1][0]
            prev = tokens[i - 1][0].lower() if i else ""
            if (nxt[:1].isupper() or nxt[:1].isdigit()) and prev not in _ABBREV and tokens[i + 1][1] > tok[2]:
                out.append(cur)
                cur = []
    if cur:
        out.append(cur)
    return out


# ------------------------------------------------------------------------------------------ PubTator
@dataclass
class Mention:
    start: int
    end: int
    text: str
    type: str
    ids: tuple[str, ...] = ()
    line: int = 0

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "type": self.type, "ids": list(self.ids)}


@dataclass
class Relation:
    type: str
    id1: str
    id2: str
    extra: tuple[str, ...] = ()
    score: float | None = None

    def key(self) -> tuple[str, str, str]:
        return (self.type, self.id1, self.id2)


@dataclass
class Document:
    id: str
    title: str = ""
    abstract: str = ""
    mentions: list[Mention] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    line: int = 0

    @property
    def text(self) -> str:
        if self.abstract:
            return f"{self.title} {self.abstract}" if self.title else self.abstract
        return self.title


Entity = dict  # {"start", "end", "text", "type"[, "score"]}


def _split_mention(parts: list[str]) -> list[str]:
    # One CDR dev line has two spaces instead of a TAB before the type: repair it leniently.
    if len(parts) in (4, 5):
        m = re.match(r"^(.*?)\s{2,}(\S+)$", parts[3])
        if m:
            return parts[:3] + [m.group(1), m.group(2)] + parts[4:]
    return parts


# A field that starts like a number ("12a", "-3", "1.5", " 12") is a mention offset, however broken: such a
# line is an error, never read as a relation line (relation types never start with a digit).
_OFFSET_LIKE = re.compile(r"^\s*[-+]?\.?\d")


def read_pubtator(path: str | os.PathLike, check_offsets: bool = True) -> list[Document]:
    """Read a PubTator file: ``PMID|t|title``, ``PMID|a|abstract``, mention lines
    ``PMID<TAB>start<TAB>end<TAB>text<TAB>type[<TAB>ids...]`` and relation lines
    ``PMID<TAB>TYPE<TAB>ID1<TAB>ID2[<TAB>...]``; documents separated by blank lines.

    A mention line whose offsets are not integers (``12a``, ``-3``, ``1.5``) or a relation line with an empty
    field is an :class:`InputError` naming the file and line (it used to be read as a relation and lost)."""
    docs: list[Document] = []
    cur: Document | None = None
    for lineno, line in read_lines(path):
        if not line.strip():
            cur = None
            continue
        m = re.match(r"^([^|\t]+)\|([ta])\|(.*)$", line)
        if m:
            pmid, kind, text = m.groups()
            if cur is None or cur.id != pmid:
                if any(d.id == pmid for d in docs[-1:]) and cur is None:
                    raise InputError(f"document {pmid} starts twice", path, lineno)
                cur = Document(pmid, line=lineno)
                docs.append(cur)
            if kind == "t":
                if cur.title or cur.abstract:
                    raise InputError(f"second title line for document {pmid}", path, lineno)
                cur.title = text
            else:
                if cur.abstract:
                    raise InputError(f"second abstract line for document {pmid}", path, lineno)
                cur.abstract = text
            continue
        parts = line.split("\t")
        if cur is None:
            raise InputError("annotation line before any 'PMID|t|title' line", path, lineno)
        if parts[0] != cur.id:
            raise InputError(f"annotation for document {parts[0]!r} inside document {cur.id!r}", path, lineno)
        if len(parts) >= 2 and (parts[1].isdigit() or _OFFSET_LIKE.match(parts[1])):
            parts = _split_mention(parts)
            if len(parts) < 5:
                raise InputError("mention line needs PMID<TAB>start<TAB>end<TAB>text<TAB>type[<TAB>id]", path, lineno)
            try:
                start, end = int(parts[1]), int(parts[2])
            except ValueError:
                raise InputError(
                    f"mention offsets must be integers, got {parts[1]!r}, {parts[2]!r}", path, lineno
                ) from None
            text = cur.text
            if not (0 <= start < end <= len(text)):
                raise InputError(
                    f"mention offsets {start}-{end} outside the document text (length {len(text)})", path, lineno
                )
            if check_offsets and text[start:end] != parts[3]:
                raise InputError(
                    f"mention text {parts[3]!r} does not match the document text {text[start:end]!r} at {start}-{end}",
                    path,
                    lineno,
                )
            ids = tuple(i for i in re.split(r"[|;]", parts[5]) if i) if len(parts) > 5 and parts[5] else ()
            cur.mentions.append(Mention(start, end, parts[3], parts[4].strip(), ids, lineno))
        elif len(parts) >= 4:
            if not parts[1].strip() or not parts[2].strip() or not parts[3].strip():
                raise InputError(
                    "relation line needs PMID<TAB>TYPE<TAB>ID1<TAB>ID2 with non-empty fields "
                    "(or a mention line with integer offsets)",
                    path,
                    lineno,
                )
            cur.relations.append(Relation(parts[1], parts[2], parts[3], tuple(parts[4:])))
        else:
            raise InputError(
                f"cannot read PubTator line ({len(parts)} tab-separated fields): expected "
                "'PMID|t|', 'PMID|a|', a mention or a relation line",
                path,
                lineno,
            )
    if not docs:
        raise InputError("no documents found (empty PubTator file)", path)
    for d in docs:
        if not d.text.strip():
            raise InputError(f"document {d.id} has no text", path, d.line)
    return docs


def write_pubtator(path: str | os.PathLike, docs: Iterable[Document]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(f"{d.id}|t|{d.title}\n{d.id}|a|{d.abstract}\n")
            for m in sorted(d.mentions, key=lambda m: (m.start, m.end)):
                ids = "|".join(m.ids)
                fh.write(f"{d.id}\t{m.start}\t{m.end}\t{m.text}\t{m.type}" + (f"\t{ids}" if ids else "") + "\n")
            for r in d.relations:
                fh.write("\t".join([d.id, r.type, r.id1, r.id2, *r.extra]) + "\n")
            fh.write("\n")


# --------------------------------------------------------------------------------------- JSONL, text
def read_jsonl_texts(path: str | os.PathLike, text_key: str = "text") -> list[dict]:
    """JSONL with one ``{"id", "text"}`` object per line (id defaults to the line number)."""
    out = []
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON: {e.msg} (column {e.colno})", path, lineno) from None
        if not isinstance(obj, dict):
            raise InputError('each line must be a JSON object like {"id": ..., "text": ...}', path, lineno)
        text = obj.get(text_key)
        if not isinstance(text, str):
            raise InputError(f"missing string field {text_key!r}", path, lineno)
        if not text.strip():
            raise InputError("empty document text", path, lineno)
        obj.setdefault("id", str(lineno))
        obj["_line"] = lineno
        out.append(obj)
    if not out:
        raise InputError("no documents found (empty JSONL file)", path)
    return out


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, ensure_ascii=False) + "\n")


def read_text_documents(path: str | os.PathLike) -> list[dict]:
    """Plain text: one document per non-blank line; id = the line number."""
    out = [{"id": str(n), "text": line, "_line": n} for n, line in read_lines(path) if line.strip()]
    if not out:
        raise InputError("no text found (empty file)", path)
    return out


def detect_format(path: str | os.PathLike) -> str:
    """Guess 'iob', 'pubtator', 'jsonl' or 'text' from the extension, then from the first lines."""
    name = str(path).lower().removesuffix(".gz")
    for ext, fmt in (
        (".jsonl", "jsonl"),
        (".json", "jsonl"),
        (".pubtator", "pubtator"),
        (".pubtator.txt", "pubtator"),
        (".iob", "iob"),
        (".tsv", "iob"),
        (".conll", "iob"),
        (".bio", "iob"),
    ):
        if name.endswith(ext):
            return fmt
    if not Path(path).is_file():
        raise InputError("no such file", path)
    for _, line in read_lines(path):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            return "jsonl"
        if re.match(r"^[^|\t]+\|[ta]\|", line):
            return "pubtator"
        if re.match(r"^\S+\t(O|[BI]-\S+)$", line):
            return "iob"
        return "text"
    raise InputError("empty input file", path)
