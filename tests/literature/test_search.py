"""Hybrid search: SQLite FTS5 BM25 + MiniLM dense vectors, fused by reciprocal rank."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genolm.cli.main import main
from genolm.literature import kg, search

DATA = Path(__file__).resolve().parents[1] / "data" / "literature" / "kg"
ABSTRACTS = DATA / "abstracts_72.jsonl"


N_DOCS = 24


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("search")
    corpus = tmp / "abstracts.jsonl"
    corpus.write_text("\n".join(ABSTRACTS.read_text().splitlines()[-N_DOCS:]) + "\n")
    path = tmp / "kg.sqlite"
    rc = main(["lit", "kg", "build", "--input", str(corpus), "--db", str(path)])  # embeds by default
    assert rc == 0
    return path


def _docs() -> list[dict]:
    return [json.loads(line) for line in ABSTRACTS.read_text().splitlines()[-N_DOCS:]]


def test_rrf_known_values():
    fused = search.rrf([[(1, 9.0), (2, 8.0), (3, 7.0)], [(3, 0.9), (1, 0.8)]], k=60)
    scores = dict(fused)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert [d for d, _ in fused] == [1, 3, 2]


def test_every_document_is_embedded_once(db):
    assert search.index_embeddings(db) == 0  # build already embedded every document
    ids, mat = search._matrix(kg.connect(db), search.DEFAULT_ENCODER)
    assert len(ids) == N_DOCS and mat.shape == (N_DOCS, 384)
    assert abs(float((mat**2).sum(1).mean()) - 1.0) < 1e-4  # unit vectors


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_title_query_finds_its_abstract(db, mode):
    docs = [d for d in _docs() if d["title"]][:20]
    found = 0
    for d in docs:
        hits = search.search(db, d["title"], k=10, mode=mode)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
        found += d["id"] in [h.key for h in hits]
    assert found / len(docs) >= 0.9, f"{mode}: recall@10 {found / len(docs)}"


@pytest.mark.parametrize(
    "query, title_word",
    [("tooth decay caused by methamphetamine abuse", "meth mouth"), ("PKU in European populations", "phenylketonuria")],
)
def test_dense_and_hybrid_find_paraphrases(db, query, title_word):
    for mode in ("dense", "hybrid"):
        hits = search.search(db, query, k=3, mode=mode)
        assert any(title_word in h.title for h in hits), (mode, [h.title for h in hits])


def test_cli_search_and_errors(db, capsys):
    d = next(d for d in _docs() if d["title"])
    assert main(["lit", "search", "--db", str(db), d["title"], "-k", "3", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and rows[0]["key"] == d["id"] and rows[0]["rank"] == 1
    assert main(["lit", "search", "--db", str(db), "x", "--mode", "fuzzy"]) == 2
    assert "unknown search mode 'fuzzy'" in capsys.readouterr().err
    assert main(["lit", "search", "--db", str(db), "   "]) == 2
    assert "empty query" in capsys.readouterr().err


def test_an_updated_document_is_searched_by_its_new_text(tmp_path, capsys):
    """`lit kg build` twice with changed documents: the full-text row follows the document (no stale row, no
    KeyError), for a document in the middle (new id) and the last one (SQLite reuses its id)."""
    import re

    docs = [d for d in _docs() if d["title"]][:4]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    db = tmp_path / "kg.sqlite"
    assert main(["lit", "kg", "build", "--input", str(corpus), "--db", str(db)]) == 0
    capsys.readouterr()

    def only_in(i: int) -> str:
        """A word of document i's body that no title and no other document contains."""
        others = " ".join(d["title"] for d in docs) + " " + " ".join(d["text"] for j, d in enumerate(docs) if j != i)
        seen = set(re.findall(r"[a-z]+", others.lower()))
        return next(w for w in re.findall(r"[a-z]{7,}", docs[i]["text"].lower()) if w not in seen)

    changed = {
        1: "Zebrafish fin regeneration requires osteoblast dedifferentiation.",
        3: "Axolotl limb regrowth depends on blastema macrophages.",
    }
    old_words = {i: only_in(i) for i in changed}
    for i, text in changed.items():
        docs[i] = {**docs[i], "text": text}
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    assert main(["lit", "kg", "build", "--input", str(corpus), "--db", str(db)]) == 0
    assert "2 updated, 2 unchanged" in capsys.readouterr().out
    assert kg.counts(db)["documents"] == 4
    for i, query in ((1, "zebrafish osteoblast"), (3, "axolotl blastema")):
        for mode in ("bm25", "hybrid", "dense"):
            hits = search.search(db, query, k=2, mode=mode)
            assert hits[0].key == docs[i]["id"], (mode, query, [h.key for h in hits])
        assert docs[i]["id"] not in [h.key for h in search.search(db, old_words[i], k=4, mode="bm25")]
        assert main(["lit", "search", "--db", str(db), query, "--json", "-k", "1"]) == 0
        assert json.loads(capsys.readouterr().out)["key"] == docs[i]["id"]
    with kg.connect(db).connect() as conn:  # one full-text row per document, no orphans
        rows = conn.exec_driver_sql("SELECT rowid FROM lit_fts ORDER BY rowid").scalars().all()
        ids = conn.exec_driver_sql("SELECT id FROM lit_documents ORDER BY id").scalars().all()
    assert rows == ids
