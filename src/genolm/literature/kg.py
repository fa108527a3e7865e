"""Literature knowledge graph: documents, sentences, mentions, normalised entities and relations.

Storage is SQLAlchemy 2 (a SQLite file by default, PostgreSQL by URL). Tables are prefixed ``lit_``:

* ``lit_documents``  one row per input document (``key`` = JSONL ``id`` / PubTator PMID, unique);
  ``text`` is ``title + " " + body`` (the PubTator convention), so every offset points into it.
* ``lit_sentences``  0-based half-open character offsets into the document text.
* ``lit_entities``   normalised concepts ``(type, identifier)``: MeSH / NCBI Gene ids from the annotated
  corpora, or ``name:<normalised name>`` for mentions no dictionary entry matches.
* ``lit_entity_names`` the normalisation dictionary (every surface form seen, with counts).
* ``lit_mentions``   spans (0-based half-open offsets), linked to a sentence and an entity; ``source`` is
  ``gold`` (PubTator annotations), ``ner`` (a ``--ner`` model) or ``dictionary`` (the fallback tagger).
* ``lit_relations``  document-level relations between entities with the evidence sentence and PMID;
  ``source`` is ``gold``, ``re`` or ``cooccurrence`` (same sentence, when no relation source exists).

Ingestion runs in one transaction: a bad line anywhere rolls every row of that run back. Re-ingesting a
document whose key and text are unchanged adds nothing; a changed text replaces the document's rows.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy import (Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint,
                        select)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from genolm.io.errors import InputError, UsageError

log = logging.getLogger("genolm.literature.kg")

DEFAULT_DB = "kg.sqlite"


# --------------------------------------------------------------------------------------------------
# Schema


class Base(DeclarativeBase):
    pass


class Document(Base):
    __tablename__ = "lit_documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    pmid: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str | None] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    sentences: Mapped[list["Sentence"]] = relationship(back_populates="document", cascade="all, delete-orphan",
                                                       order_by="Sentence.index")
    mentions: Mapped[list["Mention"]] = relationship(back_populates="document", cascade="all, delete-orphan")
    relations: Mapped[list["Relation"]] = relationship(back_populates="document", cascade="all, delete-orphan")


class Sentence(Base):
    __tablename__ = "lit_sentences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("lit_documents.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    document: Mapped[Document] = relationship(back_populates="sentences")


class Entity(Base):
    __tablename__ = "lit_entities"
    __table_args__ = (UniqueConstraint("type", "identifier", name="uq_lit_entity"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(300))
    name: Mapped[str] = mapped_column(Text)


class EntityName(Base):
    __tablename__ = "lit_entity_names"
    __table_args__ = (UniqueConstraint("entity_id", "norm", name="uq_lit_entity_name"),
                      Index("ix_lit_entity_names_norm", "norm"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("lit_entities.id", ondelete="CASCADE"))
    norm: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Mention(Base):
    __tablename__ = "lit_mentions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("lit_documents.id", ondelete="CASCADE"), index=True)
    sentence_id: Mapped[int | None] = mapped_column(ForeignKey("lit_sentences.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("lit_entities.id"), index=True)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    document: Mapped[Document] = relationship(back_populates="mentions")
    sentence: Mapped[Sentence | None] = relationship()
    entity: Mapped[Entity] = relationship()


class Relation(Base):
    __tablename__ = "lit_relations"
    __table_args__ = (UniqueConstraint("document_id", "type", "head_id", "tail_id", name="uq_lit_relation"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("lit_documents.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    head_id: Mapped[int] = mapped_column(ForeignKey("lit_entities.id"), index=True)
    tail_id: Mapped[int] = mapped_column(ForeignKey("lit_entities.id"), index=True)
    sentence_id: Mapped[int | None] = mapped_column(ForeignKey("lit_sentences.id", ondelete="CASCADE"))
    evidence: Mapped[str] = mapped_column(Text)
    pmid: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    score: Mapped[float | None] = mapped_column(Float)
    document: Mapped[Document] = relationship(back_populates="relations")
    head: Mapped[Entity] = relationship(foreign_keys=[head_id])
    tail: Mapped[Entity] = relationship(foreign_keys=[tail_id])


class Embedding(Base):
    """Dense vectors of documents (filled by :mod:`genolm.literature.search`)."""
    __tablename__ = "lit_embeddings"
    document_id: Mapped[int] = mapped_column(ForeignKey("lit_documents.id", ondelete="CASCADE"),
                                             primary_key=True)
    model: Mapped[str] = mapped_column(String(300), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


FTS_TABLE = "lit_fts"


# --------------------------------------------------------------------------------------------------
# Connecting


def db_url(db: str | os.PathLike) -> str:
    """A file path becomes a SQLite URL; anything with ``://`` is used as a SQLAlchemy URL."""
    db = str(db)
    if "://" in db:
        return db
    return "sqlite:///" + str(Path(db).expanduser().resolve())


_ENGINES: dict[str, sa.Engine] = {}


def connect(db: str | os.PathLike, create: bool = True) -> sa.Engine:
    """Engine for ``db`` (path or URL); creates the tables (and the full-text index) when missing."""
    url = db_url(db)
    if url in _ENGINES:
        return _ENGINES[url]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if not create and path and not Path(path).is_file():
            raise InputError("no knowledge graph database here (run `genolm lit kg build` first)", path)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            @sa.event.listens_for(engine, "connect")
            def _fk_on(dbapi_conn, _):  # noqa: ANN001 - DB-API connection
                dbapi_conn.execute("PRAGMA foreign_keys=ON")
        with engine.begin() as conn:
            if create:
                Base.metadata.create_all(conn)
                _create_fts(conn)
            elif not sa.inspect(conn).has_table(Document.__tablename__):
                raise InputError("not a genolm knowledge graph (no lit_documents table; run `genolm lit kg "
                                 "build` first)", db)
    except sa.exc.ArgumentError as e:
        raise UsageError(f"cannot use database URL {url!r}: {e}") from None
    except sa.exc.OperationalError as e:
        raise InputError(f"cannot open database: {str(e.orig).strip().splitlines()[0]}", db) from None
    _ENGINES[url] = engine
    return engine


def _create_fts(conn: sa.Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
                             "title, text, tokenize='porter unicode61')")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_lit_documents_fts ON lit_documents USING gin "
                             "(to_tsvector('english', title || ' ' || text))")


def drop_all(db: str | os.PathLike) -> None:
    """Remove every knowledge-graph table (tests, or rebuilding from scratch)."""
    engine = connect(db)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        Base.metadata.drop_all(conn)
    _ENGINES.pop(db_url(db), None)
    engine.dispose()


# --------------------------------------------------------------------------------------------------
# Reading documents (JSONL and PubTator), with file:line errors


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
    text: str                       # title + " " + body (or the body when there is no title)
    source: str | None = None
    mentions: list[InputMention] | None = None     # None: not annotated; [] annotated, no mentions
    relations: list[tuple[str, str, str]] = field(default_factory=list)   # (type, id1, id2)
    path: str | None = None
    line: int | None = None


# Entity types of the corpora (CDR, BioRED, NER models) folded onto one short vocabulary.
TYPE_ALIASES = {
    "chemical": "Chemical", "chemicalentity": "Chemical", "chem": "Chemical", "drug": "Chemical",
    "disease": "Disease", "diseaseorphenotypicfeature": "Disease", "diso": "Disease",
    "gene": "Gene", "geneorgeneproduct": "Gene", "protein": "Gene", "gene/protein": "Gene",
    "sequencevariant": "Variant", "variant": "Variant", "mutation": "Variant",
    "organismtaxon": "Species", "species": "Species", "organism": "Species",
    "cellline": "CellLine",
}


def canonical_type(t: str) -> str:
    return TYPE_ALIASES.get(t.strip().lower().replace("_", "").replace("-", ""), t.strip())


def normalize_name(name: str) -> str:
    """Lower-case, NFKC, whitespace collapsed, outer punctuation stripped: the dictionary key."""
    s = unicodedata.normalize("NFKC", name).lower()
    s = re.sub(r"\s+", " ", s)
    return s.strip(" .,;:\"'")


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line); non-UTF-8 bytes raise InputError naming the line (formats.read_lines)."""
    from genolm.literature.formats import read_lines

    return read_lines(path)


def is_pubtator(path: str) -> bool:
    from genolm.literature.formats import detect_format

    return detect_format(path) == "pubtator"


def read_jsonl(path: str | os.PathLike) -> Iterator[InputDocument]:
    """``{"id", "pmid", "title", "text", "source"}`` per line, read and validated by
    :func:`genolm.literature.formats.read_jsonl_texts` (``text`` required and non-empty; ``id`` defaults to
    the line number). The stored text is ``title + " " + text``."""
    from genolm.literature.formats import read_jsonl_texts

    path = str(path)
    for obj in read_jsonl_texts(path):
        title = obj.get("title") or ""
        if not isinstance(title, str):
            raise InputError("'title' must be a string", path, obj["_line"])
        pmid = obj.get("pmid")
        yield InputDocument(key=str(obj["id"]), pmid=None if pmid in (None, "") else str(pmid), title=title,
                            text=f"{title} {obj['text']}" if title else obj["text"], source=obj.get("source"),
                            path=path, line=obj["_line"])


def read_pubtator(path: str | os.PathLike) -> Iterator[InputDocument]:
    """PubTator (``PMID|t|``, ``PMID|a|``, mention and relation lines; offsets 0-based, end exclusive,
    over title + " " + abstract), read and validated by :func:`genolm.literature.formats.read_pubtator`."""
    from genolm.literature.formats import read_pubtator as _read

    for d in _read(path):
        mentions = [InputMention(m.start, m.end, m.text, canonical_type(m.type), _split_ids("|".join(m.ids)))
                    for m in d.mentions]
        yield InputDocument(key=d.id, pmid=d.id, title=d.title, text=d.text, mentions=mentions,
                            relations=[(r.type, r.id1, r.id2) for r in d.relations], path=str(path), line=d.line)


def _split_ids(ids: str) -> list[str]:
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


def read_documents(path: str | os.PathLike) -> Iterator[InputDocument]:
    """JSONL or PubTator (plain or gzipped), chosen by content."""
    path = str(path)
    if not Path(path).is_file():
        raise InputError("no such file", path)
    from genolm.literature.formats import detect_format

    fmt = detect_format(path)
    if fmt == "pubtator":
        return read_pubtator(path)
    if fmt == "jsonl":
        return read_jsonl(path)
    raise InputError(f"expected JSONL ({{\"id\", \"title\", \"text\"}} per line) or PubTator, found {fmt}", path)


# --------------------------------------------------------------------------------------------------
# Sentences and dictionary tagging

_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9(\[\"'])")


def split_sentences(text: str, title_len: int = 0) -> list[tuple[int, int]]:
    """0-based half-open sentence spans; the title (first ``title_len`` chars) is its own sentence."""
    spans = []
    pieces = [(0, title_len), (title_len, len(text))] if 0 < title_len < len(text) else [(0, len(text))]
    for lo, hi in pieces:
        pos = lo
        chunk = text[lo:hi]
        for m in _SENT_END.finditer(chunk):
            end = lo + m.start()
            # "e.g. Xyz", "Fig. 2", "vs. B": a short word before the dot is an abbreviation, not an end.
            prev = re.search(r"(\S+)$", text[pos:end])
            if prev and re.fullmatch(r"(?:[A-Za-z]{1,3}|e\.g|i\.e|et al|approx|vs|Dr|Fig|no)\.",
                                     prev.group(1)) and not re.fullmatch(r"[A-Z]{2,3}\.", prev.group(1)):
                continue
            spans.append((pos, end))
            pos = lo + m.end()
        spans.append((pos, hi))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


_TOKEN = re.compile(r"\w+|[^\w\s]")
# Types the co-occurrence fallback ignores (species like "patients" co-occur with everything).
_NO_COOCCURRENCE = {"Species"}
_TRAILING_PUNCT = {".", ",", ";", ":", "(", "[", "-", "/"}
_STOP_NAMES = {"and", "or", "the", "a", "an", "of", "in", "to", "for", "with", "was", "were", "is", "are",
               "that", "this", "these", "as", "by", "on", "at", "be", "not", "no", "all", "can", "may"}


class Dictionary:
    """Surface form -> entity ids, from annotated corpora; exact, then character-3-gram fuzzy matching."""

    def __init__(self) -> None:
        self.by_norm: dict[str, Counter] = defaultdict(Counter)   # norm -> Counter(entity_id -> count)
        self.case: dict[str, set[str]] = defaultdict(set)          # norm -> exact surface forms
        self.entity_type: dict[int, str] = {}
        self._fuzzy = None
        self._first: dict[str, int] = {}

    def add(self, entity_id: int, etype: str, name: str, count: int = 1) -> None:
        norm = normalize_name(name)
        if not norm:
            return
        new_name = norm not in self.by_norm
        self.by_norm[norm][entity_id] += count
        self.case[norm].add(name.strip())
        self.entity_type[entity_id] = etype
        if new_name and self._first:
            toks = _TOKEN.findall(norm)
            if toks:
                self._first[toks[0]] = max(self._first.get(toks[0], 0), len(toks))

    def __len__(self) -> int:
        return len(self.by_norm)

    def lookup(self, name: str, etype: str | None = None) -> int | None:
        """Most frequent entity with exactly this (normalised) name, optionally of one type."""
        cands = self.by_norm.get(normalize_name(name))
        if not cands:
            return None
        for eid, _ in cands.most_common():
            if etype is None or self.entity_type.get(eid) == etype:
                return eid
        return None

    def _build_fuzzy(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        names = sorted(self.by_norm)
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=1, sublinear_tf=True)
        mat = vec.fit_transform(names) if names else None
        self._fuzzy = (names, vec, mat)

    def fuzzy(self, name: str, etype: str | None = None, threshold: float = 0.8, n: int = 5
              ) -> list[tuple[str, float]]:
        """(dictionary name, cosine similarity) of the closest names, best first."""
        if not self.by_norm:
            return []
        # rebuilt when the dictionary grew by a fifth since the last build (not on every new name)
        if self._fuzzy is None or len(self.by_norm) > 1.2 * len(self._fuzzy[0]):
            self._build_fuzzy()
        names, vec, mat = self._fuzzy
        q = vec.transform([normalize_name(name)])
        sims = (mat @ q.T).toarray().ravel()
        order = sims.argsort()[::-1]
        out = []
        for i in order[: n * 20]:
            if sims[i] < threshold or len(out) >= n:
                break
            if etype is None or any(self.entity_type.get(e) == etype for e in self.by_norm[names[i]]):
                out.append((names[i], float(sims[i])))
        return out

    def normalize(self, name: str, etype: str | None = None, threshold: float = 0.8) -> int | None:
        """Exact match, else the best fuzzy match above ``threshold`` (same type when given)."""
        eid = self.lookup(name, etype)
        if eid is not None:
            return eid
        for cand, _ in self.fuzzy(name, etype, threshold, n=1):
            return self.lookup(cand, etype)
        return None

    def tag(self, text: str, max_tokens: int = 8) -> list[tuple[int, int, int]]:
        """Longest-match dictionary tagging: non-overlapping (start, end, entity_id), left to right.

        Names of 4 characters or fewer must match case-sensitively (gene symbols such as 'CAT', 'MAP')."""
        if not self._first:
            first: dict[str, int] = {}
            for norm in self.by_norm:
                toks = _TOKEN.findall(norm)
                if toks:
                    first[toks[0]] = max(first.get(toks[0], 0), len(toks))
            self._first = first
        toks = [(m.start(), m.end(), m.group(0).lower()) for m in _TOKEN.finditer(text)]
        out = []
        i = 0
        while i < len(toks):
            longest = min(self._first.get(unicodedata.normalize("NFKC", toks[i][2]), 0), max_tokens)
            hit = None
            for j in range(min(len(toks), i + longest), i, -1):
                if toks[j - 1][2] in _TRAILING_PUNCT:
                    continue
                s, e = toks[i][0], toks[j - 1][1]
                surface = text[s:e]
                norm = normalize_name(surface)
                if len(norm) < 3 or norm in _STOP_NAMES or norm not in self.by_norm:
                    continue
                if len(norm) <= 4 and surface not in self.case[norm]:
                    continue
                hit = (s, e, self.by_norm[norm].most_common(1)[0][0], j)
                break
            if hit:
                out.append(hit[:3])
                i = hit[3]
            else:
                i += 1
        return out


def load_dictionary(session: Session) -> Dictionary:
    d = Dictionary()
    rows = session.execute(select(EntityName.entity_id, Entity.type, EntityName.name, EntityName.count)
                           .join(Entity, Entity.id == EntityName.entity_id))
    for eid, etype, name, count in rows:
        d.add(eid, etype, name, count)
    return d


# --------------------------------------------------------------------------------------------------
# Ingestion


@dataclass
class BuildStats:
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    sentences: int = 0
    mentions: int = 0
    entities_added: int = 0
    relations: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class _Ingestor:
    def __init__(self, session: Session, ner=None, re_model=None, cooccurrence: bool = True,
                 fuzzy_threshold: float = 0.85):
        self.s = session
        self.ner = ner
        self.re_model = re_model
        self.cooccurrence = cooccurrence
        self.fuzzy_threshold = fuzzy_threshold
        self.stats = BuildStats()
        self.entities: dict[tuple[str, str], int] = {
            (t, i): eid for eid, t, i in session.execute(select(Entity.id, Entity.type, Entity.identifier))}
        self.names: dict[tuple[int, str], EntityName] = {
            (r.entity_id, r.norm): r for r in session.execute(select(EntityName)).scalars()}
        self.skipped_relations = 0
        self.dictionary = load_dictionary(session)

    # entities --------------------------------------------------------------------------------
    def entity(self, etype: str, identifier: str, name: str) -> int:
        key = (etype, identifier)
        eid = self.entities.get(key)
        if eid is None:
            ent = Entity(type=etype, identifier=identifier, name=name.strip())
            self.s.add(ent)
            self.s.flush()
            eid = self.entities[key] = ent.id
            self.stats.entities_added += 1
        return eid

    def add_name(self, eid: int, etype: str, name: str) -> None:
        norm = normalize_name(name)
        if not norm:
            return
        row = self.names.get((eid, norm))
        if row is None:
            row = EntityName(entity_id=eid, norm=norm, name=name.strip(), count=0)
            self.s.add(row)
            self.names[(eid, norm)] = row
        row.count += 1
        if norm not in self.dictionary.by_norm or eid not in self.dictionary.by_norm[norm]:
            self.dictionary.add(eid, etype, name)
        else:
            self.dictionary.by_norm[norm][eid] += 1

    def add_dictionary(self, docs: Iterable[InputDocument]) -> int:
        """Only the names of annotated mentions (no documents): seeds the normalisation dictionary."""
        n = 0
        for doc in docs:
            for m in doc.mentions or []:
                for ident in m.ids or [f"name:{normalize_name(m.text)}"]:
                    eid = self.entity(m.type, ident, m.text)
                    self.add_name(eid, m.type, m.text)
                    n += 1
        return n

    # documents -------------------------------------------------------------------------------
    def ingest(self, doc: InputDocument) -> None:
        sha = hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
        existing = self.s.execute(select(Document).where(Document.key == doc.key)).scalar_one_or_none()
        if existing is not None:
            if existing.sha256 == sha:
                self.stats.documents_unchanged += 1
                return
            self.s.delete(existing)
            self.s.flush()
            self.stats.documents_updated += 1
        else:
            self.stats.documents_added += 1
        row = Document(key=doc.key, pmid=doc.pmid, title=doc.title, text=doc.text, source=doc.source, sha256=sha)
        title_len = len(doc.title) if doc.title and doc.text.startswith(doc.title) else 0
        spans = split_sentences(doc.text, title_len)
        row.sentences = [Sentence(index=i, start=s, end=e, text=doc.text[s:e]) for i, (s, e) in enumerate(spans)]
        self.s.add(row)
        self.s.flush()
        self.stats.sentences += len(spans)
        if self.s.bind.dialect.name == "sqlite":
            self.s.execute(sa.text(f"INSERT INTO {FTS_TABLE}(rowid, title, text) VALUES (:id, :t, :x)"),
                           {"id": row.id, "t": doc.title, "x": doc.text[title_len:]})

        starts = [s for s, _ in spans]

        def sentence_of(pos: int) -> Sentence | None:
            import bisect
            i = bisect.bisect_right(starts, pos) - 1
            return row.sentences[i] if i >= 0 else None

        # mentions: gold annotations, else the NER model, else the dictionary tagger
        mentions: list[tuple[int, int, str, str, list[int]]] = []   # start, end, text, type, entity ids
        ident_to_eid: dict[str, int] = {}
        if doc.mentions is not None:
            source = "gold"
            for m in doc.mentions:
                ids = []
                for ident in m.ids:
                    ids.append(self.entity(m.type, ident, m.text))
                    ident_to_eid.setdefault(ident, ids[-1])
                if not ids:   # annotated without a concept id ('-1'): exact name match, else its own entity
                    eid = self.dictionary.lookup(m.text, m.type)
                    ids = [eid if eid is not None else self.entity(m.type, f"name:{normalize_name(m.text)}", m.text)]
                for eid in ids:
                    self.add_name(eid, m.type, m.text)
                mentions.append((m.start, m.end, m.text, m.type, ids))
        elif self.ner is not None:
            source = "ner"
            for p in self.ner.predict_text(doc.text):
                etype = canonical_type(str(p["type"]))
                start, end = int(p["start"]), int(p["end"])
                text = doc.text[start:end]
                mentions.append((start, end, text, etype, [self._normalise_new(text, etype)]))
        else:
            source = "dictionary"
            for start, end, eid in self.dictionary.tag(doc.text):
                mentions.append((start, end, doc.text[start:end], self.dictionary.entity_type[eid], [eid]))

        by_entity: dict[int, list[tuple[int, int, Sentence | None]]] = defaultdict(list)
        for start, end, text, etype, ids in mentions:
            sent = sentence_of(start)
            for eid in ids:
                row.mentions.append(Mention(start=start, end=end, text=text, type=etype, source=source,
                                            entity_id=eid, sentence=sent))
                by_entity[eid].append((start, end, sent))
        self.stats.mentions += len(row.mentions)

        # relations: gold lines, else the RE model, else same-sentence co-occurrence
        rels: dict[tuple[str, int, int], tuple[str, float | None]] = {}
        if doc.relations:
            for rtype, id1, id2 in doc.relations:
                h, t = ident_to_eid.get(id1), ident_to_eid.get(id2)
                if h is None or t is None:
                    log.debug("%s: relation %s %s %s names an id not annotated in document %s; skipped",
                              doc.path, rtype, id1, id2, doc.key)
                    self.skipped_relations += 1
                    continue
                rels[(rtype, h, t)] = ("gold", None)
        elif self.re_model is not None and mentions:
            for rtype, h, t, score in self._predict_relations(doc, title_len, mentions):
                rels[(rtype, h, t)] = ("re", score)
        elif self.cooccurrence:
            for sent in row.sentences:
                ents = sorted({eid for eid, occ in by_entity.items() for _, _, s in occ if s is sent
                               and self._etype(eid) not in _NO_COOCCURRENCE})
                for i, a in enumerate(ents):
                    for b in ents[i + 1:]:
                        rels.setdefault(("cooccurs", a, b), ("cooccurrence", None))
        for (rtype, h, t), (src, score) in rels.items():
            sid, evidence = self._evidence(doc.text, row, by_entity[h], by_entity[t])
            row.relations.append(Relation(type=rtype, head_id=h, tail_id=t, sentence_id=sid, evidence=evidence,
                                          pmid=doc.pmid, source=src, score=score))
        self.stats.relations += len(rels)
        self.s.flush()

    def _predict_relations(self, doc: InputDocument, title_len: int, mentions) -> list[tuple[str, int, int, float]]:
        """Run the --re model (genolm.literature.relations) on this document's normalised mentions."""
        from genolm.literature import formats as F

        ident = {eid: ident for (_, ident), eid in self.entities.items()}
        fdoc = F.Document(id=doc.key, title=doc.text[:title_len],
                          abstract=doc.text[title_len + 1:] if title_len else doc.text)
        by_ident: dict[str, int] = {}
        for s, e, tx, ty, ids in mentions:
            for eid in ids:
                by_ident[ident[eid]] = eid
            fdoc.mentions.append(F.Mention(s, e, tx, ty, tuple(ident[eid] for eid in ids)))
        out = []
        for r in self.re_model.predict_document(fdoc):
            h, t = by_ident.get(r.id1), by_ident.get(r.id2)
            if h is not None and t is not None:
                out.append((r.type, h, t, r.score))
        return out

    def _etype(self, eid: int) -> str:
        return self.dictionary.entity_type.get(eid) or self.s.get(Entity, eid).type

    def _normalise_new(self, text: str, etype: str) -> int:
        eid = self.dictionary.normalize(text, etype, self.fuzzy_threshold)
        if eid is None:
            eid = self.entity(etype, f"name:{normalize_name(text)}", text)
            self.add_name(eid, etype, text)
        self.dictionary.entity_type.setdefault(eid, etype)
        return eid

    @staticmethod
    def _evidence(text: str, row: Document, h_occ, t_occ) -> tuple[int | None, str]:
        """The first sentence mentioning both; else the closest pair of sentences (their span)."""
        for _, _, s in h_occ:
            if s is not None and any(s2 is s for _, _, s2 in t_occ):
                return s.id, s.text
        best = None
        for hs, _, sh in h_occ:
            for ts, _, st in t_occ:
                if sh is None or st is None:
                    continue
                d = abs(hs - ts)
                if best is None or d < best[0]:
                    best = (d, sh, st)
        if best is None:
            return None, ""
        _, a, b = best
        first, last = (a, b) if a.start <= b.start else (b, a)
        return first.id, text[first.start:last.end]


def build(inputs: list[str | os.PathLike], db: str | os.PathLike = DEFAULT_DB, ner: str | None = None,
          re_model: str | None = None, dictionaries: list[str | os.PathLike] = (), cooccurrence: bool = True,
          fuzzy_threshold: float = 0.85) -> BuildStats:
    """Ingest JSONL/PubTator files into the knowledge graph at ``db``, in one transaction.

    ``dictionaries``: annotated PubTator files whose mention names (not documents) seed the normalisation
    dictionary. ``ner`` / ``re_model``: model directories of :mod:`genolm.literature.ner` / ``relations``.
    """
    from genolm.core.progress import progress

    for p in [*inputs, *dictionaries]:
        if not Path(p).is_file():
            raise InputError("no such file", p)
    ner_model = _load_ner(ner) if ner else None
    rel_model = _load_re(re_model) if re_model else None
    engine = connect(db)
    with Session(engine) as session, session.begin():
        ing = _Ingestor(session, ner=ner_model, re_model=rel_model, cooccurrence=cooccurrence,
                        fuzzy_threshold=fuzzy_threshold)
        for d in dictionaries:
            n = ing.add_dictionary(read_documents(d))
            log.info("dictionary %s: %d annotated names", d, n)
        for path in inputs:
            for doc in progress(read_documents(path), desc=f"ingest {Path(path).name}", unit="doc"):
                ing.ingest(doc)
        # commit happens here; any exception above rolls the whole run back
    if ing.skipped_relations:
        log.warning("%d relation line(s) name ids that no mention of their document carries; skipped",
                    ing.skipped_relations)
    return ing.stats


def _load_ner(path: str):
    try:
        from genolm.literature.ner import load_ner
    except ImportError as e:
        raise UsageError(f"--ner needs genolm.literature.ner, which is not available: {e}") from None
    return load_ner(path)


def _load_re(path: str):
    try:
        from genolm.literature.relations import load_re
    except ImportError as e:
        raise UsageError(f"--re needs genolm.literature.relations, which is not available: {e}") from None
    model = load_re(path)
    if not hasattr(model, "predict_document"):
        raise UsageError(f"the relation model at {path} has no predict_document(document) method")
    return model


# --------------------------------------------------------------------------------------------------
# Queries


def counts(db: str | os.PathLike) -> dict[str, int]:
    engine = connect(db, create=False)
    with Session(engine) as s:
        return {name: s.execute(select(sa.func.count()).select_from(model)).scalar_one()
                for name, model in (("documents", Document), ("sentences", Sentence), ("mentions", Mention),
                                    ("entities", Entity), ("relations", Relation))}


def resolve_entity(session: Session, name: str) -> list[Entity]:
    """Entities named ``name``: by identifier (``D003000``, ``Chemical:D003000``) or any surface form."""
    name = name.strip()
    if not name:
        raise UsageError("--entity is empty")
    q = select(Entity)
    if ":" in name and name.split(":", 1)[0] in {t for t in TYPE_ALIASES.values()}:
        etype, ident = name.split(":", 1)
        ents = session.execute(q.where(Entity.type == etype, Entity.identifier == ident)).scalars().all()
    else:
        ents = session.execute(q.where(Entity.identifier == name)).scalars().all()
    if ents:
        return list(ents)
    norm = normalize_name(name)
    ids = session.execute(select(EntityName.entity_id).where(EntityName.norm == norm).distinct()).scalars().all()
    if ids:
        return list(session.execute(select(Entity).where(Entity.id.in_(ids))).scalars())
    return []


def query(db: str | os.PathLike, entity: str, relation: str | None = None, limit: int = 50,
          evidence_per_neighbour: int = 3) -> dict:
    """Neighbours of ``entity`` with relation types, document counts and evidence sentences (PMIDs).

    Raises :class:`InputError` (with close names as suggestions) when no entity has that name."""
    engine = connect(db, create=False)
    with Session(engine) as s:
        ents = resolve_entity(s, entity)
        if not ents:
            d = load_dictionary(s)
            sugg = [n for n, _ in d.fuzzy(entity, threshold=0.5, n=5)]
            hint = f"; did you mean: {', '.join(sugg)}?" if sugg else ""
            raise InputError(f"unknown entity {entity!r} in the knowledge graph{hint}", str(db))
        ids = [e.id for e in ents]
        stmt = select(Relation).where(sa.or_(Relation.head_id.in_(ids), Relation.tail_id.in_(ids)))
        if relation:
            stmt = stmt.where(sa.func.lower(Relation.type) == relation.lower())
        groups: dict[tuple[int, str], dict] = {}
        for r in s.execute(stmt.order_by(Relation.id)).scalars():
            other = r.tail if r.head_id in ids else r.head
            direction = "out" if r.head_id in ids else "in"
            g = groups.setdefault((other.id, r.type), {
                "entity": other.name, "type": other.type, "identifier": other.identifier,
                "relation": r.type, "direction": direction, "documents": 0, "evidence": [], "_pmids": set()})
            key = r.pmid or f"doc{r.document_id}"
            if key not in g["_pmids"]:
                g["_pmids"].add(key)
                g["documents"] += 1
                if len(g["evidence"]) < evidence_per_neighbour:
                    g["evidence"].append({"pmid": r.pmid, "sentence": r.evidence, "source": r.source})
        neighbours = sorted(groups.values(), key=lambda g: (-g["documents"], g["entity"].lower()))[:limit]
        for g in neighbours:
            g.pop("_pmids")
        return {"query": entity,
                "matches": [{"name": e.name, "type": e.type, "identifier": e.identifier} for e in ents],
                "relation": relation, "neighbours": neighbours}
