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
* ``lit_embeddings`` dense document vectors (:mod:`genolm.literature.search`); ``lit_fts`` the SQLite
  full-text index (PostgreSQL indexes ``lit_documents`` directly).

Modules: :mod:`.schema` (tables, connecting), :mod:`.documents` (reading JSONL / PubTator record by
record), :mod:`.dictionary` (sentences, name normalisation, dictionary tagger), :mod:`.ingest`
(:func:`build`), :mod:`.query` (:func:`counts`, :func:`query`).

Ingestion runs in one transaction. A bad record (JSONL line, PubTator document) is reported with file and
line and skipped; ``strict=True`` makes the first one an error that rolls the whole run back. Re-ingesting a
document whose key and text are unchanged adds nothing; a changed text replaces the document's rows.
"""

from __future__ import annotations

from genolm.literature.kg.dictionary import Dictionary, load_dictionary, normalize_name, split_sentences
from genolm.literature.kg.documents import (
    TYPE_ALIASES,
    InputDocument,
    InputMention,
    canonical_type,
    is_pubtator,
    iter_records,
    read_documents,
    read_jsonl,
    read_pubtator,
    split_ids,
)
from genolm.literature.kg.ingest import BuildStats, build
from genolm.literature.kg.query import counts, query, resolve_entity
from genolm.literature.kg.schema import (
    DEFAULT_DB,
    FTS_TABLE,
    Base,
    Document,
    Embedding,
    Entity,
    EntityName,
    Mention,
    Relation,
    Sentence,
    connect,
    db_url,
    drop_all,
    forget,
)

__all__ = [
    "DEFAULT_DB",
    "FTS_TABLE",
    "TYPE_ALIASES",
    "Base",
    "BuildStats",
    "Dictionary",
    "Document",
    "Embedding",
    "Entity",
    "EntityName",
    "InputDocument",
    "InputMention",
    "Mention",
    "Relation",
    "Sentence",
    "build",
    "canonical_type",
    "connect",
    "counts",
    "db_url",
    "drop_all",
    "forget",
    "is_pubtator",
    "iter_records",
    "load_dictionary",
    "normalize_name",
    "query",
    "read_documents",
    "read_jsonl",
    "read_pubtator",
    "resolve_entity",
    "split_ids",
    "split_sentences",
]
