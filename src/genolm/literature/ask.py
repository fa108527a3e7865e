"""Answer a question from the knowledge-graph database with citations.

1. retrieve documents with hybrid search (:func:`genolm.literature.search.search`);
2. shortlist their sentences by TF-IDF overlap with the question, rank the shortlist by cosine similarity
   to the question (same sentence encoder) plus a small bonus for the document's retrieval rank; keep the
   top ``n_evidence`` sentences with their PMIDs;
3. decide yes / no / maybe:
   * with an LLM backend (any OpenAI-compatible server, ``llm_url``): the model reads the numbered evidence,
     starts its answer with yes/no/maybe and cites ``[n]``; its text is returned as the cited answer;
   * without one (or when the LLM's answer does not start with a label): a transparent lexical rule —
     weak evidence (best similarity below ``min_similarity``) gives "maybe"; otherwise the similarity-weighted
     share of evidence sentences with negation cues ("no significant", "did not", "not associated"...)
     decides between "no", "yes" and "maybe". It is a baseline, not a trained reader.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re

import numpy as np

from genolm.io.errors import UsageError

log = logging.getLogger("genolm.literature.ask")

LABELS = ("yes", "no", "maybe")

_NEGATION = re.compile(
    r"\b(no(?:t)? (?:significant(?:ly)?|statistically significant|difference|association|associat\w+|effect|"
    r"evidence|correlat\w+|relationship|change|benefit|increase\w*|reduc\w+|improve\w*)|"
    r"did not|does not|do not|was not|were not|is not|are not|cannot|could not|failed to|neither|nor|"
    r"unrelated|unchanged|not associated|no longer|absence of (?:any )?(?:association|effect)|"
    r"lack of (?:association|effect|evidence)|ineffective|no role)\b",
    re.I,
)

SYSTEM_PROMPT = (
    "You answer biomedical research questions using only the numbered evidence sentences. "
    "Begin your answer with one word, yes, no or maybe, then explain in one to three sentences, "
    "citing the evidence as [1], [2] with its PMID."
)


def _has_negation(sentence: str) -> bool:
    return bool(_NEGATION.search(sentence))


def heuristic_label(evidence: list[dict], min_similarity: float = 0.35) -> str:
    if not evidence or max(e["similarity"] for e in evidence) < min_similarity:
        return "maybe"
    neg = sum(max(e["similarity"], 0.0) for e in evidence if _has_negation(e["sentence"]))
    pos = sum(max(e["similarity"], 0.0) for e in evidence if not _has_negation(e["sentence"]))
    if neg > pos:
        return "no"
    if pos >= 2 * neg:
        return "yes"
    return "maybe"


def parse_label(text: str) -> str | None:
    """yes/no/maybe when the answer starts with one (within its first few words)."""
    m = re.match(r"^\W*(?:answer\W*)?(yes|no|maybe)\b", text.strip(), re.I)
    return m.group(1).lower() if m else None


def evidence_prompt(question: str, evidence: list[dict]) -> str:
    lines = [f"Question: {question}", "", "Evidence:"]
    for i, e in enumerate(evidence, 1):
        lines.append(f"[{i}] (PMID {e['pmid'] or e['key']}) {e['sentence']}")
    lines += ["", "Answer (yes, no or maybe, then a short explanation with citations):"]
    return "\n".join(lines)


def _lexical_shortlist(question: str, sents: list, n: int) -> list:
    """The ``n`` sentences with the highest TF-IDF cosine to the question (input order kept): encoding every
    sentence of every retrieved abstract is the slow part of ``ask`` on a CPU."""
    if len(sents) <= n:
        return sents
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    try:
        mat = vec.fit_transform([s.text for _, s in sents] + [question])
    except ValueError:  # only stop words
        return sents[:n]
    scores = (mat[:-1] @ mat[-1].T).toarray().ravel()
    keep = sorted(np.argsort(-scores, kind="stable")[:n])
    return [sents[i] for i in keep]


def ask(
    db: str | os.PathLike,
    question: str,
    k: int = 5,
    n_evidence: int = 3,
    llm_url: str | None = None,
    llm_model: str | None = None,
    api_key: str | None = None,
    encoder: str | None = None,
    min_similarity: float = 0.35,
    max_tokens: int = 200,
) -> dict:
    """Retrieve evidence for ``question`` and answer yes/no/maybe with supporting sentences and PMIDs.

    ``api_key`` (default ``$OPENAI_API_KEY``) goes only to an https:// or loopback ``llm_url``."""
    question = question.strip()
    if not question:
        raise UsageError("the question is empty")
    if n_evidence < 1 or k < 1:
        raise UsageError("-k and --evidence must be at least 1")
    client = None
    if llm_url:
        from genolm.literature.llm import LLMClient

        client = LLMClient(llm_url, model=llm_model, api_key=api_key)  # refuses a clear-text key up front
    with client or contextlib.nullcontext():
        return _answer(db, question, k, n_evidence, client, encoder, min_similarity, max_tokens)


def _answer(
    db, question: str, k: int, n_evidence: int, client, encoder: str | None, min_similarity: float, max_tokens: int
) -> dict:
    from genolm.literature.kg import connect
    from genolm.literature.search import get_encoder, search, sentences_of

    engine = connect(db, create=False)  # a missing or foreign database fails before the encoder loads
    enc = get_encoder(encoder)
    hits = search(db, question, k=k, mode="hybrid", encoder=enc)
    evidence: list[dict] = []
    if hits:
        by_doc = {h.document_id: h for h in hits}
        sents = [(did, s) for did, s in sentences_of(engine, list(by_doc)) if len(s.text) >= 20]
        sents = _lexical_shortlist(question, sents, max(4 * n_evidence, 12))
        if sents:
            vecs = enc.encode([s.text for _, s in sents])
            q = enc.encode([question])[0]
            sims = vecs @ q
            scores = sims + 0.05 / np.array([by_doc[did].rank for did, _ in sents])
            for i in np.argsort(-scores, kind="stable")[:n_evidence]:
                did, s = sents[i]
                h = by_doc[did]
                evidence.append(
                    {
                        "pmid": h.pmid,
                        "key": h.key,
                        "title": h.title,
                        "sentence": s.text,
                        "start": s.start,
                        "end": s.end,
                        "similarity": round(float(sims[i]), 4),
                        "document_rank": h.rank,
                    }
                )
    label = heuristic_label(evidence, min_similarity)
    method = "heuristic"
    text = _templated_answer(label, evidence)
    if client is not None:
        reply = client.chat(
            [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": evidence_prompt(question, evidence)},
            ],
            max_tokens=max_tokens,
            temperature=0.0,
        ).strip()
        llm_label = parse_label(reply)
        if llm_label:
            label, method = llm_label, f"llm:{client.model}"
        else:
            method = f"heuristic (the answer of llm:{client.model} did not start with yes/no/maybe)"
        refs = "\n".join(
            f"[{i}] PMID {e['pmid'] or e['key']}: {e['title'] or e['sentence'][:80]}" for i, e in enumerate(evidence, 1)
        )
        text = f"{reply}\n\nReferences:\n{refs}" if refs else reply
    return {
        "question": question,
        "answer": label,
        "method": method,
        "text": text,
        "evidence": evidence,
        "documents": [h.as_dict() for h in hits],
    }


def _templated_answer(label: str, evidence: list[dict]) -> str:
    if not evidence:
        return "maybe: no supporting documents were found."
    cites = ", ".join(f"[{i}] PMID {e['pmid'] or e['key']}" for i, e in enumerate(evidence, 1))
    return f"{label} (lexical rule over the retrieved evidence; see {cites})."
