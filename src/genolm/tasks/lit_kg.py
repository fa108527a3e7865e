"""`genolm lit kg build|query`, `lit search`, `lit ask`, `lit generate`, `lit textlm train`.

Thin: parse options, call one function of genolm.literature.{kg,search,ask,textlm}, print a summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

from genolm.core.registry import Arg, Opt, echo, group, task

group("lit.kg", help="Knowledge graph of documents, entities and relations (SQLite file or PostgreSQL URL).")
group("lit.textlm", help="Causal text language model (GPT-2 style) trained on abstracts.")

DB_HELP = "Database: a SQLite file path (default kg.sqlite) or a SQLAlchemy URL (postgresql+psycopg://...)."
DB_METAVAR = "FILE|URL"


@task("lit.kg.build")
def kg_build(
    input: List[Path] = Opt(
        ...,
        "--input",
        "-i",
        metavar="JSONL|PUBTATOR",
        help="JSONL ({id, pmid, title, text}) or PubTator file(s), plain or .gz; "
        "PubTator annotations and relation lines are used as given.",
    ),
    db: str = Opt("kg.sqlite", "--db", metavar=DB_METAVAR, help=DB_HELP, path="out"),
    ner: Optional[Path] = Opt(
        None,
        "--ner",
        metavar="DIR",
        help="NER model (lit ner train) for unannotated documents; without it a "
        "dictionary tagger built from annotated corpora is used.",
    ),
    re_model: Optional[Path] = Opt(
        None,
        "--re",
        metavar="DIR",
        help="Relation model (lit re train); without it, entities in the same sentence are linked as 'cooccurs'.",
    ),
    dictionary: List[Path] = Opt(
        [],
        "--dictionary",
        metavar="PUBTATOR",
        help="Annotated PubTator file(s) whose names seed the normalisation dictionary (documents are not stored).",
    ),
    cooccurrence: bool = Opt(
        True, "--cooccurrence/--no-cooccurrence", help="Same-sentence relations when no relation source exists."
    ),
    embed: bool = Opt(True, "--embed/--no-embed", help="Compute dense vectors for search."),
    encoder: Optional[Path] = Opt(
        None, "--encoder", metavar="DIR", help="Sentence encoder folder (default: the bundled all-MiniLM-L6-v2)."
    ),
    strict: bool = Opt(
        False,
        "--strict",
        help="Stop at the first bad record (exit 2, nothing ingested) instead of reporting and skipping it.",
    ),
) -> None:
    """Ingest documents into the knowledge graph (one transaction; re-running adds nothing twice).

    A bad record (JSONL line, PubTator document) is reported as FILE:LINE: reason and skipped;
    --strict stops at the first one."""
    from genolm.literature import kg

    stats = kg.build(
        [str(p) for p in input],
        db=db,
        ner=str(ner) if ner else None,
        re_model=str(re_model) if re_model else None,
        dictionaries=[str(d) for d in dictionary],
        cooccurrence=cooccurrence,
        strict=strict,
    )
    s = stats.as_dict()
    bad = f"; {len(s['bad_records'])} bad record(s) skipped" if s["bad_records"] else ""
    echo(
        f"documents: {s['documents_added']} added, {s['documents_updated']} updated, "
        f"{s['documents_unchanged']} unchanged; {s['mentions']} mentions, {s['entities_added']} new "
        f"entities, {s['relations']} relations{bad}"
    )
    if embed:
        from genolm.literature import search

        n = search.index_embeddings(db, str(encoder) if encoder else None)
        echo(f"embedded {n} document(s) for search")
    totals = kg.counts(db)
    echo("database: " + ", ".join(f"{v} {k}" for k, v in totals.items()))


@task("lit.kg.query")
def kg_query(
    entity: str = Opt(
        ..., "--entity", "-e", help="Entity name (any synonym) or identifier (D003000, Chemical:D003000)."
    ),
    db: str = Opt("kg.sqlite", "--db", metavar=DB_METAVAR, help=DB_HELP),
    relation: Optional[str] = Opt(
        None, "--relation", "-r", help="Only this relation type (CID, Association, cooccurs...)."
    ),
    limit: int = Opt(50, "--limit", min=1),
    as_json: bool = Opt(False, "--json", help="Print JSON."),
) -> None:
    """List the neighbours of an entity with evidence sentences and PMIDs."""
    from genolm.literature import kg

    res = kg.query(db, entity, relation=relation, limit=limit)
    if as_json:
        echo(json.dumps(res, indent=2, ensure_ascii=False))
        return
    names = "; ".join(f"{m['name']} ({m['type']} {m['identifier']})" for m in res["matches"])
    echo(f"{entity}: {names}")
    if not res["neighbours"]:
        echo("no relations" + (f" of type {relation}" if relation else ""))
    for n in res["neighbours"]:
        arrow = "->" if n["direction"] == "out" else "<-"
        echo(f"  {arrow} {n['relation']} {n['entity']} ({n['type']} {n['identifier']}): {n['documents']} document(s)")
        for ev in n["evidence"]:
            echo(f"      PMID {ev['pmid']}: {ev['sentence'][:200]}")


@task("lit.search")
def search_cmd(
    query: str = Arg(..., metavar="QUERY", help="Free-text query."),
    db: str = Opt("kg.sqlite", "--db", metavar=DB_METAVAR, help=DB_HELP),
    k: int = Opt(10, "-k", "--top", min=1, metavar="N", help="Number of results."),
    mode: str = Opt("hybrid", "--mode", metavar="hybrid|bm25|dense", help="hybrid (BM25 + dense, RRF), bm25 or dense."),
    encoder: Optional[Path] = Opt(None, "--encoder", metavar="DIR", help="Sentence encoder used at build time."),
    as_json: bool = Opt(False, "--json", help="Print JSON lines."),
) -> None:
    """Hybrid search: full-text BM25 and dense embeddings, reciprocal-rank fused."""
    from genolm.literature import search

    hits = search.search(db, query, k=k, mode=mode, encoder=str(encoder) if encoder else None)
    for h in hits:
        if as_json:
            echo(json.dumps(h.as_dict(), ensure_ascii=False))
        else:
            echo(f"{h.rank:>3}. PMID {h.pmid or '-'} [{h.key}] {h.score:.4f}  {h.title or h.snippet[:100]}")
    if not hits and not as_json:
        echo("no results")


@task("lit.ask")
def ask_cmd(
    question: str = Arg(..., metavar="QUESTION", help="A yes/no/maybe research question."),
    db: str = Opt("kg.sqlite", "--db", metavar=DB_METAVAR, help=DB_HELP),
    k: int = Opt(5, "-k", "--top", min=1, metavar="N", help="Documents to retrieve."),
    evidence: int = Opt(3, "--evidence", min=1, metavar="N", help="Supporting sentences to keep."),
    llm_url: Optional[str] = Opt(
        None,
        "--llm-url",
        metavar="URL",
        envvar="GENOLM_LLM_URL",
        local_only=True,
        help="OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1) that writes a cited answer.",
    ),
    llm_model: Optional[str] = Opt(
        None, "--llm-model", metavar="NAME", help="Model name on that server (default: its first model)."
    ),
    api_key: Optional[str] = Opt(
        None,
        "--llm-key",
        "--api-key",
        envvar="OPENAI_API_KEY",
        metavar="KEY",
        show_envvar=True,
        local_only=True,
        help="API key for the LLM server; sent only over "
        "https:// or to a loopback address (127.0.0.1, ::1, localhost).",
    ),
    encoder: Optional[Path] = Opt(None, "--encoder", metavar="DIR", help="Sentence encoder used at build time."),
    as_json: bool = Opt(False, "--json", help="Print JSON."),
) -> None:
    """Answer yes/no/maybe with supporting sentences and PMIDs (cited answer with an LLM backend)."""
    from genolm.literature import ask

    res = ask.ask(
        db,
        question,
        k=k,
        n_evidence=evidence,
        llm_url=llm_url,
        llm_model=llm_model,
        api_key=api_key,
        encoder=str(encoder) if encoder else None,
    )
    if as_json:
        echo(json.dumps(res, indent=2, ensure_ascii=False))
        return
    echo(f"answer: {res['answer']}  ({res['method']})")
    for i, e in enumerate(res["evidence"], 1):
        echo(f"  [{i}] PMID {e['pmid'] or e['key']} (similarity {e['similarity']:.2f}): {e['sentence']}")
    if llm_url:
        echo("")
        echo(res["text"])


@task("lit.generate")
def generate_cmd(
    model: Path = Opt(
        ..., "--model", metavar="DIR", help="Text LM run directory (lit textlm train) or HF causal-LM folder."
    ),
    prompt: str = Opt(..., "--prompt", metavar="TEXT", help="Text to continue."),
    max_new_tokens: int = Opt(64, "--max-new-tokens", min=1, max=4096),
    temperature: float = Opt(0.8, "--temperature", min=0.0, help="0 = greedy."),
    top_k: int = Opt(50, "--top-k", min=0),
    seed: int = Opt(0, "--seed"),
) -> None:
    """Generate text with a causal language model."""
    from genolm.literature import textlm

    echo(
        textlm.generate(
            str(model), prompt, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed
        )
    )


@task("lit.textlm.train")
def textlm_train(
    corpus: Path = Opt(
        ...,
        "--train",
        "--corpus",
        metavar="JSONL|PUBTATOR|TXT",
        help="JSONL abstracts ({id, title, text}), PubTator or plain text (one document "
        "per line); .gz ok. (--corpus is the old name.)",
    ),
    out: Path = Opt(..., "--out", metavar="DIR", help="Run directory to write."),
    time_budget: str = Opt(
        "25m", "--time-budget", metavar="DURATION", help="Wall-clock training budget (e.g. 90s, 15m)."
    ),
    max_steps: Optional[int] = Opt(None, "--max-steps", min=1, metavar="N"),
    epochs: Optional[float] = Opt(None, "--epochs", min=0.0, metavar="N"),
    seed: int = Opt(0, "--seed", metavar="INT"),
    vocab_size: int = Opt(4096, "--vocab-size", min=300, metavar="N"),
    layers: int = Opt(3, "--layers", min=1, metavar="N"),
    dim: int = Opt(192, "--dim", min=16, metavar="N"),
    heads: int = Opt(4, "--heads", min=1, metavar="N"),
    block_size: int = Opt(128, "--block-size", min=8, metavar="N"),
    batch_size: int = Opt(16, "--batch-size", min=1, metavar="N"),
    lr: float = Opt(2e-3, "--lr", metavar="FLOAT"),
    threads: Optional[int] = Opt(
        None,
        "--threads",
        min=1,
        metavar="N",
        help="torch CPU threads (default: torch's choice; 1 is often faster on a busy machine).",
    ),
    valid_fraction: float = Opt(
        0.05,
        "--valid-fraction",
        min=0.0,
        max=0.5,
        metavar="FLOAT",
        help="Held-out share of documents (hash of the id) for perplexity.",
    ),
    checkpoint_every: Optional[int] = Opt(
        None, "--checkpoint-every", min=1, metavar="STEPS", help="Write a resumable checkpoint every N steps."
    ),
    resume: bool = Opt(False, "--resume", help="Continue a killed run in --out from its checkpoint."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run in --out."),
) -> None:
    """Train a byte-level BPE tokenizer and a small GPT-2-style LM (time-budgeted)."""
    from genolm.core.runs import parse_duration
    from genolm.literature import textlm

    cfg = textlm.TextLMConfig(
        vocab_size=vocab_size,
        n_layer=layers,
        n_head=heads,
        n_embd=dim,
        block_size=block_size,
        batch_size=batch_size,
        lr=lr,
        valid_fraction=valid_fraction,
        time_budget=parse_duration(time_budget),
        max_steps=max_steps,
        epochs=epochs,
        seed=seed,
        threads=threads,
        checkpoint_every=checkpoint_every or 0,
    )
    m = textlm.train_textlm(str(corpus), str(out), cfg, overwrite=overwrite, resume=resume)
    ppl = m.get("heldout_perplexity")
    echo(
        f"trained {m['steps']} steps in {m['train_seconds']}s; held-out perplexity "
        f"{ppl:.2f}, {m.get('heldout_bits_per_byte', float('nan')):.3f} bits/byte"
        if ppl is not None
        else f"trained {m['steps']} steps in {m['train_seconds']}s (no held-out documents)"
    )
    echo(f"model: {Path(out) / 'model'}")
