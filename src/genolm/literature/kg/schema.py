"""Tables of the literature knowledge graph and connecting to its database (SQLite file or SQLAlchemy URL).

Tables are prefixed ``lit_``; see :mod:`genolm.literature.kg` for what each holds. A plain path is a SQLite
file; anything with ``://`` is a SQLAlchemy URL (PostgreSQL in practice). A file that is not a SQLite
database, a folder, or a database without the knowledge-graph tables (when reading) is an
:class:`~genolm.io.errors.InputError` naming it, never a traceback and never a rewritten file.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from genolm.io.errors import InputError, UsageError

DEFAULT_DB = "kg.sqlite"
FTS_TABLE = "lit_fts"
SQLITE_MAGIC = b"SQLite format 3\x00"


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
    sentences: Mapped[list["Sentence"]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="Sentence.index"
    )
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
    __table_args__ = (
        UniqueConstraint("entity_id", "norm", name="uq_lit_entity_name"),
        Index("ix_lit_entity_names_norm", "norm"),
    )
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
    document_id: Mapped[int] = mapped_column(ForeignKey("lit_documents.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(300), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


# --------------------------------------------------------------------------------------------------
# Connecting


def db_url(db: str | os.PathLike) -> str:
    """A file path becomes a SQLite URL; anything with ``://`` is used as a SQLAlchemy URL."""
    db = str(db)
    if "://" in db:
        return db
    return "sqlite:///" + str(Path(db).expanduser().resolve())


_ENGINES: dict[str, sa.Engine] = {}


def _check_sqlite_file(path: Path, create: bool, db: str | os.PathLike) -> None:
    """Refuse what cannot be a knowledge-graph SQLite file before SQLite touches it."""
    if path.is_dir():
        raise InputError("expected a SQLite database file or a database URL, got a folder", db)
    if not path.exists():
        if not create:
            raise InputError("no knowledge graph database here (run `genolm lit kg build` first)", db)
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise InputError(f"cannot read the database file: {e.strerror or e}", db) from None
    if head and head != SQLITE_MAGIC:
        raise InputError(
            "not a SQLite database (give --db a knowledge graph built by `genolm lit kg build`, "
            "a new file name, or a database URL)",
            db,
        )
    if not head and not create:
        raise InputError("not a genolm knowledge graph (an empty file; run `genolm lit kg build` first)", db)


def connect(db: str | os.PathLike, create: bool = True) -> sa.Engine:
    """Engine for ``db`` (path or URL); creates the tables (and the full-text index) when missing."""
    url = db_url(db)
    if url in _ENGINES:
        return _ENGINES[url]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            _check_sqlite_file(Path(path), create, db)
            if create:
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise InputError(f"cannot create the database folder: {e.strerror or e}", db) from None
    engine = None
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
                raise InputError(
                    "not a genolm knowledge graph (no lit_documents table; run `genolm lit kg build` first)", db
                )
    except sa.exc.ArgumentError as e:
        raise UsageError(f"cannot use database URL {url!r}: {e}") from None
    except sa.exc.NoSuchModuleError as e:
        raise UsageError(f"cannot use database URL {url!r}: {e}") from None
    except sa.exc.DBAPIError as e:  # OperationalError, DatabaseError ("file is not a database"), ...
        if engine is not None:
            engine.dispose()
        orig = str(getattr(e, "orig", e)).strip().splitlines()
        raise InputError(f"cannot open database: {orig[0] if orig else e}", db) from None
    except InputError:
        if engine is not None:
            engine.dispose()
        raise
    _ENGINES[url] = engine
    return engine


def forget(db: str | os.PathLike) -> None:
    """Dispose of the cached engine for ``db`` (after dropping its schema, or in tests)."""
    engine = _ENGINES.pop(db_url(db), None)
    if engine is not None:
        engine.dispose()


def _create_fts(conn: sa.Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(title, text, tokenize='porter unicode61')"
        )
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_lit_documents_fts ON lit_documents USING gin "
            "(to_tsvector('english', title || ' ' || text))"
        )


def write_fulltext(session: Session, document_id: int, title: str, body: str) -> None:
    """(Re)index one document in the SQLite full-text table (PostgreSQL indexes ``lit_documents`` itself).

    Any row of that id is replaced: a document that was updated, a stale row left by an older genolm, or
    an id SQLite reused after a delete."""
    if session.get_bind().dialect.name != "sqlite":
        return
    delete_fulltext(session, document_id)
    session.execute(
        sa.text(f"INSERT INTO {FTS_TABLE}(rowid, title, text) VALUES (:id, :t, :x)"),
        {"id": document_id, "t": title, "x": body},
    )


def delete_fulltext(session: Session, document_id: int) -> None:
    """Remove one document's full-text row (SQLite; nothing to do on PostgreSQL)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": document_id})


def drop_all(db: str | os.PathLike) -> None:
    """Remove every knowledge-graph table (tests, or rebuilding from scratch)."""
    engine = connect(db)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        Base.metadata.drop_all(conn)
    forget(db)
