"""Candidate pairs and their features for document-level relation extraction.

A candidate is a pair of concept ids that both occur in one document. Features: (1) the words of the
sentences where the two concepts co-occur and the words between them (entity mentions masked as @T1$/@T2$),
(2) document-structure features (mentions in the title, frequency ranks, sentence distance...), (3) concept
"memory" priors learned from the training relations, and, for the second stage, (4) a pair's first-stage score
relative to the other pairs of its document (:func:`context_features`).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from genolm.literature import formats as F

_NO_ID = {"-1", "", "-"}


# ---------------------------------------------------------------------------------- document view
@dataclass
class Concept:
    id: str
    type: str
    mentions: list  # (start, end, sentence index)


def _concepts(doc: F.Document) -> dict[tuple[str, str], Concept]:
    """Concept id -> its mentions; composite mentions count for each of their ids; '-1' ids are skipped."""
    sents = _sentences(doc)
    out: dict[tuple[str, str], Concept] = {}
    for m in doc.mentions:
        si = _sentence_of(sents, m.start)
        for cid in m.ids:
            if cid in _NO_ID:
                continue
            c = out.setdefault((m.type, cid), Concept(cid, m.type, []))
            c.mentions.append((m.start, m.end, si))
    return out


def _sentences(doc: F.Document) -> list[tuple[int, int]]:
    cache = getattr(doc, "_sent_cache", None)
    if cache is not None:
        return cache
    text = doc.text
    toks = F.tokenize_with_offsets(text)
    spans = [(s[0][1], s[-1][2]) for s in F.split_sentences(toks)] if toks else [(0, len(text))]
    if doc.title and doc.abstract:  # the title is always its own sentence
        tl = len(doc.title)
        fixed = []
        for a, b in spans:
            if a < tl < b:
                fixed += [(a, tl), (tl + 1, b)]
            else:
                fixed.append((a, b))
        spans = fixed
    doc._sent_cache = spans  # type: ignore[attr-defined]
    return spans


def _sentence_of(spans, pos: int) -> int:
    for i, (a, b) in enumerate(spans):
        if pos < b:
            return i
    return len(spans) - 1


def candidate_pairs(doc: F.Document, type_pairs: Sequence[tuple[str, str]]):
    """All (concept1, concept2) pairs of the given ordered type pairs within one document."""
    concepts = _concepts(doc)
    by_type = defaultdict(list)
    for c in concepts.values():
        by_type[c.type].append(c)
    out = []
    for t1, t2 in type_pairs:
        for a in by_type.get(t1, []):
            for b in by_type.get(t2, []):
                if a.id == b.id or (t1 == t2 and a.id > b.id):
                    continue
                out.append((a, b))
    return out, concepts


# ------------------------------------------------------------------------------------------ features
_WORD = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")


def _masked_sentence(text: str, span: tuple[int, int], ma: list, mb: list) -> str:
    a0, b0 = span
    marks = sorted(
        [(s, e, " @T1$ ") for s, e, _ in ma if a0 <= s < b0] + [(s, e, " @T2$ ") for s, e, _ in mb if a0 <= s < b0]
    )
    out, pos = [], a0
    for s, e, tag in marks:
        if s < pos:
            continue
        out.append(text[pos:s])
        out.append(tag)
        pos = e
    out.append(text[pos:b0])
    return "".join(out).lower()


def pair_text(doc: F.Document, a: Concept, b: Concept) -> str:
    """Tokens of co-occurrence sentences, prefixed words between the two mentions, and mention contexts."""
    text = doc.text
    spans = _sentences(doc)
    sa = {m[2] for m in a.mentions}
    sb = {m[2] for m in b.mentions}
    feats = []
    for si in sorted(sa & sb):
        sent = _masked_sentence(text, spans[si], a.mentions, b.mentions)
        toks = _WORD.findall(sent.replace("@t1$", " T1 ").replace("@t2$", " T2 "))
        feats += [f"s_{t}" for t in toks]
        # words between the closest T1 and T2 (directional)
        pos1 = [i for i, t in enumerate(toks) if t == "T1"]
        pos2 = [i for i, t in enumerate(toks) if t == "T2"]
        if pos1 and pos2:
            i, j = min(((i, j) for i in pos1 for j in pos2), key=lambda p: abs(p[0] - p[1]))
            lo, hi = sorted((i, j))
            between = toks[lo + 1 : hi]
            d = "f" if i < j else "r"
            if len(between) <= 12:
                feats += [f"b{d}_{t}" for t in between]
                feats.append(f"bpat{d}_" + "_".join(between[:4]))
            feats.append(f"dist_{min(hi - lo, 20) // 3}")
    # local context of each concept's mentions anywhere in the document
    for tag, c in (("A", a), ("B", b)):
        for s, e, _ in c.mentions[:5]:
            left = _WORD.findall(text[max(0, s - 25) : s].lower())[-2:]
            right = _WORD.findall(text[e : e + 25].lower())[:2]
            feats += [f"{tag}l_{t}" for t in left] + [f"{tag}r_{t}" for t in right]
    # the words of each concept's mention texts ("toxicity", "induced", "acid"...)
    words = set()
    for tag, c in (("MA", a), ("MB", b)):
        for s, e, _ in c.mentions[:5]:
            words |= {f"{tag}_{w}" for w in _WORD.findall(text[s:e].lower()) if w.isalpha() and len(w) > 2}
    feats += sorted(words)
    return " ".join(feats) if feats else "nofeat"


def dense_features(
    doc: F.Document, a: Concept, b: Concept, concepts: dict, priors: dict | None, pair_key: tuple[str, str, str]
) -> list[float]:
    spans = _sentences(doc)
    n_sent = max(1, len(spans))
    sa = [m[2] for m in a.mentions]
    sb = [m[2] for m in b.mentions]
    co = len(set(sa) & set(sb))
    gap = min(abs(x - y) for x in sa for y in sb)
    in_title_a = float(bool(doc.title) and 0 in sa)
    in_title_b = float(bool(doc.title) and 0 in sb)

    def rank(c):
        same = sorted((len(x.mentions) for x in concepts.values() if x.type == c.type), reverse=True)
        return same.index(len(c.mentions))

    ra, rb = rank(a), rank(b)
    n_type_b = sum(1 for x in concepts.values() if x.type == b.type)
    n_type_a = sum(1 for x in concepts.values() if x.type == a.type)
    f = [
        math.log1p(len(sa)),
        math.log1p(len(sb)),
        float(co > 0),
        math.log1p(co),
        min(gap, 10) / 10,
        in_title_a,
        in_title_b,
        in_title_a * in_title_b,
        float(ra == 0),
        float(rb == 0),
        min(ra, 5) / 5,
        min(rb, 5) / 5,
        min(sa) / n_sent,
        min(sb) / n_sent,
        math.log1p(n_type_a),
        math.log1p(n_type_b),
        float(n_type_b == 1),
        float(n_type_a == 1),
    ]
    f += _specificity(doc, a, concepts) + _specificity(doc, b, concepts)
    f += _window_feats(doc, a, b, concepts, spans)
    if priors is not None:
        f += _prior_feats(priors, pair_key, a, b)
    return f


_TRIGGER = re.compile(
    r"induc|caus|associat|toxic|after|follow|develop|due to|secondary|provok|produc|result|"
    r"relat|elicit"
)
_ADJACENT = re.compile(r"[\s-]*(induced|associated|related)?[\s-]*")


def _window_feats(doc: F.Document, a: Concept, b: Concept, concepts: dict, spans) -> list[float]:
    """Where and how close the two concepts meet: co-occurrence in the last two sentences (conclusions),
    character distance of the closest mentions, co-occurrence sentences with a causal trigger word, "X-induced
    Y" adjacency, and each concept's share of its type's mentions."""
    text = doc.text
    n = len(spans)
    sa = {m[2] for m in a.mentions}
    sb = {m[2] for m in b.mentions}
    co = sa & sb
    last = {n - 1, n - 2}
    ca = sum(len(x.mentions) for x in concepts.values() if x.type == a.type)
    cb = sum(len(x.mentions) for x in concepts.values() if x.type == b.type)
    char_gap = min(abs(x[0] - y[0]) for x in a.mentions for y in b.mentions)
    trig = sum(1 for si in co if _TRIGGER.search(text[spans[si][0] : spans[si][1]].lower()))
    adj = float(
        any(
            y[0] >= x[1] and y[0] - x[1] <= 12 and _ADJACENT.fullmatch(text[x[1] : y[0]].lower())
            for x in a.mentions
            for y in b.mentions
        )
    )
    return [
        float(bool(co & last)),
        float(bool(sa & last)),
        float(bool(sb & last)),
        len(a.mentions) / max(1, ca),
        len(b.mentions) / max(1, cb),
        math.log1p(char_gap) / 8,
        math.log1p(trig),
        adj,
        len(co) / max(1, len(sa | sb)),
        float(0 in co),
    ]


def context_features(keys: list[tuple], p):
    """Second-stage features of one document's candidate pairs of one relation type (keys: (rel, id1, id2)):
    the first-stage log-odds and how it compares with the best pair of the document, of the same first concept
    and of the same second concept, and its rank."""
    import numpy as np

    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    lg = np.log(p / (1 - p))
    best_a, best_b = defaultdict(lambda: -np.inf), defaultdict(lambda: -np.inf)
    for k, v in zip(keys, lg):
        best_a[k[1]] = max(best_a[k[1]], v)
        best_b[k[2]] = max(best_b[k[2]], v)
    dm = lg.max()
    rank = np.argsort(np.argsort(-lg, kind="stable"), kind="stable")
    return np.array(
        [
            [v, v - dm, v - best_a[k[1]], v - best_b[k[2]], min(r, 5), float(r == 0), math.log(len(lg))]
            for k, v, r in zip(keys, lg, rank)
        ]
    )


def rerank_matrix(rows, p):
    """_context_features over many documents (rows grouped by document and relation type, order kept)."""
    import numpy as np

    out = np.zeros((len(rows), 7))
    groups = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r["doc"], r["key"][0])].append(i)
    for idx in groups.values():
        out[idx] = context_features([rows[i]["key"] for i in idx], p[idx])
    return out


def _specificity(doc: F.Document, c: Concept, concepts: dict) -> list[float]:
    """Is another concept of the same type named by a longer phrase that contains this one's name (this one
    is more general: CDR annotates the most specific disease), or the other way round?"""
    text = doc.text
    mine = {text[s:e].lower() for s, e, _ in c.mentions}
    general = specific = 0.0
    for other in concepts.values():
        if other.type != c.type or other.id == c.id:
            continue
        theirs = {text[s:e].lower() for s, e, _ in other.mentions}
        if any(m != t and re.search(r"\b" + re.escape(m) + r"\b", t) for m in mine for t in theirs):
            general = 1.0
        if any(m != t and re.search(r"\b" + re.escape(t) + r"\b", m) for m in mine for t in theirs):
            specific = 1.0
    return [general, specific]


def _prior_feats(priors: dict, key, a: Concept, b: Concept) -> list[float]:
    rel = key[0]

    def rate(table, k):
        pos, n = table.get(k, (0, 0))
        return (pos + 0.1) / (n + 1.0), math.log1p(n)

    pr, pn = rate(priors["pair"], (rel, a.id, b.id))
    ar, an = rate(priors["a"], (rel, a.id))
    br, bn = rate(priors["b"], (rel, b.id))
    return [pr, float(pn > 0), ar, an / 5, br, bn / 5, pr * float(pn > 0)]


def count_priors(examples) -> dict:
    pair, ea, eb = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    for ex in examples:
        for lab_type, (rel, a, b) in ((ex["label"], ex["key"]),):
            for table, k in ((pair, (rel, a, b)), (ea, (rel, a)), (eb, (rel, b))):
                table[k][1] += 1
                if lab_type:
                    table[k][0] += 1
    return {
        "pair": {k: tuple(v) for k, v in pair.items()},
        "a": {k: tuple(v) for k, v in ea.items()},
        "b": {k: tuple(v) for k, v in eb.items()},
    }
