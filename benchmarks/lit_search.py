"""Search quality: recall@10 / MRR of the source abstract when its own title is the query.

BM25-only, dense-only and hybrid (RRF) are measured in one run on the same index. The titles are
withheld from the index (only the abstract bodies are stored), otherwise full text finds every title
verbatim and the task says nothing. Documents: a seeded sample of the titled abstracts in
../shared/data/abstracts (no test split exists for this corpus; nothing is tuned on it).

    .venv/bin/python benchmarks/lit_search.py --n-docs 2000 --out runs/bench_lit_search

With ``--pubmedqa FILE`` it measures ``lit ask`` instead: a knowledge graph of the PubMedQA contexts
(long answers withheld), each question asked against it; reports how often the question's own abstract is
retrieved (hit@k) and the accuracy of the yes/no/maybe rule, with the majority-class baseline of the same
questions (dev data only: ../shared/data/pubmedqa/pqal_trainval.json).

    .venv/bin/python benchmarks/lit_search.py --pubmedqa ../shared/data/pubmedqa/pqal_trainval.json \
        --n-questions 100 --out runs/bench_lit_ask
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "abstracts" / "biomed_abstracts.jsonl.gz"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    ap.add_argument("--n-docs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/bench_lit_search")
    ap.add_argument("--pubmedqa", default=None, help="PubMedQA JSON: benchmark `lit ask` instead")
    ap.add_argument("--n-questions", type=int, default=100)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.pubmedqa:
        return bench_ask(args)
    from genolm.literature import kg, search

    with gzip.open(args.corpus, "rt", encoding="utf-8") as fh:
        docs = [d for d in map(json.loads, fh) if d.get("title") and d.get("text")]
    random.Random(args.seed).shuffle(docs)
    docs = docs[: args.n_docs]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "bodies.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"id": d["id"], "pmid": d["pmid"], "title": "", "text": d["text"]}) + "\n")
    db = out / "search.sqlite"
    if db.exists():
        db.unlink()
    t0 = time.time()
    kg.build([corpus], db=db)
    t_ingest = time.time() - t0
    t0 = time.time()
    enc = search.get_encoder()
    n_emb = search.index_embeddings(db, enc)
    t_embed = time.time() - t0

    results = {}
    for mode in ("bm25", "dense", "hybrid"):
        hits_at_k, rr, t0 = 0, 0.0, time.time()
        for d in docs:
            hits = search.search(db, d["title"], k=args.k, mode=mode, encoder=enc)
            keys = [h.key for h in hits]
            if d["id"] in keys:
                hits_at_k += 1
                rr += 1.0 / (keys.index(d["id"]) + 1)
        n = len(docs)
        results[mode] = {
            f"recall@{args.k}": round(hits_at_k / n, 4),
            f"mrr@{args.k}": round(rr / n, 4),
            "ms_per_query": round(1000 * (time.time() - t0) / n, 1),
        }
        print(mode, results[mode], flush=True)
    summary = {
        "n_docs": len(docs),
        "n_queries": len(docs),
        "seed": args.seed,
        "encoder": enc.name,
        "index": "abstract bodies (titles withheld)",
        "ingest_s": round(t_ingest, 1),
        "embed_s": round(t_embed, 1),
        "embedded_docs": n_emb,
        "threads": args.threads,
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def bench_ask(args) -> None:
    import ast
    from collections import Counter

    from genolm.literature import ask, kg, search

    data = json.loads(Path(args.pubmedqa).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "contexts.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        for pmid, q in data.items():
            ctx = q["CONTEXTS"] if isinstance(q["CONTEXTS"], list) else ast.literal_eval(q["CONTEXTS"])
            fh.write(json.dumps({"id": pmid, "pmid": pmid, "text": " ".join(ctx)}) + "\n")
    db = out / "ask.sqlite"
    if db.exists():
        db.unlink()
    t0 = time.time()
    kg.build([corpus], db=db)
    enc = search.get_encoder()
    search.index_embeddings(db, enc)
    t_index = time.time() - t0
    items = sorted(data.items())
    random.Random(args.seed).shuffle(items)
    items = items[: args.n_questions]
    hit = correct = 0
    preds, t0 = Counter(), time.time()
    for pmid, q in items:
        res = ask.ask(db, q["QUESTION"], k=5, n_evidence=3)
        hit += pmid in {d["pmid"] for d in res["documents"]}
        correct += res["answer"] == q["final_decision"]
        preds[res["answer"]] += 1
    n = len(items)
    gold = Counter(q["final_decision"] for _, q in items)
    summary = {
        "documents": len(data),
        "questions": n,
        "index_s": round(t_index, 1),
        "s_per_question": round((time.time() - t0) / n, 2),
        "retrieval_hit@5": round(hit / n, 4),
        "accuracy_rule": round(correct / n, 4),
        "accuracy_majority_baseline": round(gold.most_common(1)[0][1] / n, 4),
        "gold_labels": dict(gold),
        "predicted_labels": dict(preds),
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
