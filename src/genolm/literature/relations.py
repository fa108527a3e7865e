"""Document-level relation extraction between annotated entities (BioCreative V CDR style).

A candidate is a pair of concept ids (e.g. chemical MeSH id, disease MeSH id) that both occur in one
document; the classifier says whether the document asserts the relation (CDR: chemical-induced disease,
``CID``). Scoring is over (PMID, type, id1, id2) sets, as the BioCreative V CDR task does.

Model: logistic regression over (1) the words of the sentences where the two concepts co-occur and the
words between them (entity mentions masked as @T1$/@T2$), (2) document-structure features (mentions in
the title, frequency ranks, sentence distance...) and (3) concept "memory" priors learned from the
training relations (how often this chemical / this disease / this pair was a positive), computed out of
fold during training so the classifier learns how far to trust them. A second-stage logistic regression
(``rerank``, on by default) rescores each pair from its first-stage score relative to the other pairs of the
same document (best pair of the document, of the same chemical, of the same disease; rank), trained on
out-of-fold first-stage scores. The decision threshold is chosen on out-of-fold document-level F1 of the
training data (never on dev). Everything is scikit-learn; it trains in about a minute on a CPU.

Public API (stable; the knowledge-graph code calls it)::

    re_model = load_re("runs/cdr_re")
    re_model.predict_document(doc)   # doc: formats.Document with mentions -> [Relation(type, id1, id2, score)]
    train_re("train.PubTator", "dev.PubTator", "runs/cdr_re")
    evaluate_re("runs/cdr_re", "dev.PubTator")
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from genolm.io.errors import InputError, UsageError
from genolm.literature import formats as F

log = logging.getLogger("genolm.literature.relations")

__all__ = ["REConfig", "REModel", "load_re", "train_re", "evaluate_re", "predict_file", "relation_scores",
           "candidate_pairs"]

_NO_ID = {"-1", "", "-"}
FEATURE_VERSION = 2  # bump when the pair features change (saved models must be retrained)


@dataclass
class REConfig:
    C: float = 2.0                 # inverse regularisation of the logistic regression
    ngrams: int = 2                # word n-grams (1..ngrams) of the pair text
    folds: int = 5                 # out-of-fold priors and threshold choice
    use_priors: bool = True
    min_one_per_doc: bool = True   # every CDR abstract has at least one CID relation
    stack: bool = False            # add gradient-boosted trees over structure/prior features + the LR score
    rerank: bool = True            # second stage: rescore each pair against the other pairs of its document
    max_sentence_gap: int = 100
    seed: int = 0
    exclude_pmids: str | None = None  # a file of PMIDs (first column) to drop from training


# ---------------------------------------------------------------------------------- document view
@dataclass
class _Concept:
    id: str
    type: str
    mentions: list  # (start, end, sentence index)


def _concepts(doc: F.Document) -> dict[tuple[str, str], _Concept]:
    """Concept id -> its mentions; composite mentions count for each of their ids; '-1' ids are skipped."""
    sents = _sentences(doc)
    out: dict[tuple[str, str], _Concept] = {}
    for m in doc.mentions:
        si = _sentence_of(sents, m.start)
        for cid in m.ids:
            if cid in _NO_ID:
                continue
            c = out.setdefault((m.type, cid), _Concept(cid, m.type, []))
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
    marks = sorted([(s, e, " @T1$ ") for s, e, _ in ma if a0 <= s < b0] +
                   [(s, e, " @T2$ ") for s, e, _ in mb if a0 <= s < b0])
    out, pos = [], a0
    for s, e, tag in marks:
        if s < pos:
            continue
        out.append(text[pos:s])
        out.append(tag)
        pos = e
    out.append(text[pos:b0])
    return "".join(out).lower()


def _pair_text(doc: F.Document, a: _Concept, b: _Concept) -> str:
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
            between = toks[lo + 1:hi]
            d = "f" if i < j else "r"
            if len(between) <= 12:
                feats += [f"b{d}_{t}" for t in between]
                feats.append(f"bpat{d}_" + "_".join(between[:4]))
            feats.append(f"dist_{min(hi - lo, 20) // 3}")
    # local context of each concept's mentions anywhere in the document
    for tag, c in (("A", a), ("B", b)):
        for s, e, _ in c.mentions[:5]:
            left = _WORD.findall(text[max(0, s - 25):s].lower())[-2:]
            right = _WORD.findall(text[e:e + 25].lower())[:2]
            feats += [f"{tag}l_{t}" for t in left] + [f"{tag}r_{t}" for t in right]
    # the words of each concept's mention texts ("toxicity", "induced", "acid"...)
    words = set()
    for tag, c in (("MA", a), ("MB", b)):
        for s, e, _ in c.mentions[:5]:
            words |= {f"{tag}_{w}" for w in _WORD.findall(text[s:e].lower()) if w.isalpha() and len(w) > 2}
    feats += sorted(words)
    return " ".join(feats) if feats else "nofeat"


def _dense(doc: F.Document, a: _Concept, b: _Concept, concepts: dict, priors: dict | None,
           pair_key: tuple[str, str, str]) -> list[float]:
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
    f = [math.log1p(len(sa)), math.log1p(len(sb)), float(co > 0), math.log1p(co), min(gap, 10) / 10,
         in_title_a, in_title_b, in_title_a * in_title_b, float(ra == 0), float(rb == 0), min(ra, 5) / 5,
         min(rb, 5) / 5, min(sa) / n_sent, min(sb) / n_sent, math.log1p(n_type_a), math.log1p(n_type_b),
         float(n_type_b == 1), float(n_type_a == 1)]
    f += _specificity(doc, a, concepts) + _specificity(doc, b, concepts)
    f += _window_feats(doc, a, b, concepts, spans)
    if priors is not None:
        f += _prior_feats(priors, pair_key, a, b)
    return f


_TRIGGER = re.compile(r"induc|caus|associat|toxic|after|follow|develop|due to|secondary|provok|produc|result|"
                      r"relat|elicit")
_ADJACENT = re.compile(r"[\s-]*(induced|associated|related)?[\s-]*")


def _window_feats(doc: F.Document, a: _Concept, b: _Concept, concepts: dict, spans) -> list[float]:
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
    trig = sum(1 for si in co if _TRIGGER.search(text[spans[si][0]:spans[si][1]].lower()))
    adj = float(any(y[0] >= x[1] and y[0] - x[1] <= 12 and _ADJACENT.fullmatch(text[x[1]:y[0]].lower())
                    for x in a.mentions for y in b.mentions))
    return [float(bool(co & last)), float(bool(sa & last)), float(bool(sb & last)), len(a.mentions) / max(1, ca),
            len(b.mentions) / max(1, cb), math.log1p(char_gap) / 8, math.log1p(trig), adj,
            len(co) / max(1, len(sa | sb)), float(0 in co)]


def _context_features(keys: list[tuple], p) -> "np.ndarray":
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
    return np.array([[v, v - dm, v - best_a[k[1]], v - best_b[k[2]], min(r, 5), float(r == 0), math.log(len(lg))]
                     for k, v, r in zip(keys, lg, rank)])


def _rerank_matrix(rows, p):
    """_context_features over many documents (rows grouped by document and relation type, order kept)."""
    import numpy as np

    out = np.zeros((len(rows), 7))
    groups = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r["doc"], r["key"][0])].append(i)
    for idx in groups.values():
        out[idx] = _context_features([rows[i]["key"] for i in idx], p[idx])
    return out


def _specificity(doc: F.Document, c: _Concept, concepts: dict) -> list[float]:
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


def _prior_feats(priors: dict, key, a: _Concept, b: _Concept) -> list[float]:
    rel = key[0]

    def rate(table, k):
        pos, n = table.get(k, (0, 0))
        return (pos + 0.1) / (n + 1.0), math.log1p(n)

    pr, pn = rate(priors["pair"], (rel, a.id, b.id))
    ar, an = rate(priors["a"], (rel, a.id))
    br, bn = rate(priors["b"], (rel, b.id))
    return [pr, float(pn > 0), ar, an / 5, br, bn / 5, pr * float(pn > 0)]


def _count_priors(examples) -> dict:
    pair, ea, eb = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    for ex in examples:
        for lab_type, (rel, a, b) in ((ex["label"], ex["key"]),):
            for table, k in ((pair, (rel, a, b)), (ea, (rel, a)), (eb, (rel, b))):
                table[k][1] += 1
                if lab_type:
                    table[k][0] += 1
    return {"pair": {k: tuple(v) for k, v in pair.items()}, "a": {k: tuple(v) for k, v in ea.items()},
            "b": {k: tuple(v) for k, v in eb.items()}}


# ------------------------------------------------------------------------------------------- model
class REModel:
    """Document-level pair classifier; one binary classifier per relation type (CDR has one: CID)."""

    def __init__(self, relation_types: list[tuple[str, str, str]], vectorizer, scaler, classifiers: dict,
                 thresholds: dict, priors: dict | None, config: dict, rerankers: dict | None = None):
        self.relation_types = relation_types   # (relation, type1, type2)
        self.vectorizer = vectorizer
        self.scaler = scaler
        self.classifiers = classifiers
        self.thresholds = thresholds
        self.priors = priors
        self.config = config
        self.rerankers = rerankers or {}

    def _examples(self, doc: F.Document, priors):
        rows = []
        for rel, t1, t2 in self.relation_types:
            pairs, concepts = candidate_pairs(doc, [(t1, t2)])
            for a, b in pairs:
                key = (rel, a.id, b.id)
                rows.append({"doc": doc.id, "key": key, "text": _pair_text(doc, a, b),
                             "dense": _dense(doc, a, b, concepts, priors, key)})
        return rows

    def _features(self, rows):
        import numpy as np
        import scipy.sparse as sp

        X_text = self.vectorizer.transform([r["text"] for r in rows])
        X_dense = self.scaler.transform(np.array([r["dense"] for r in rows], dtype=float))
        return sp.hstack([X_text, sp.csr_matrix(X_dense)]).tocsr()

    def score_documents(self, docs: Sequence[F.Document]) -> list[list[F.Relation]]:
        """Every candidate pair with its probability (no threshold)."""
        out = []
        for doc in docs:
            rows = self._examples(doc, self.priors)
            rels = []
            if rows:
                X = self._features(rows)
                for rel in {r["key"][0] for r in rows}:
                    idx = [i for i, r in enumerate(rows) if r["key"][0] == rel]
                    p = self.classifiers[rel].predict_proba(X[idx])[:, 1]
                    if rel in self.rerankers:
                        ctx = _context_features([rows[i]["key"] for i in idx], p)
                        p = self.rerankers[rel].predict_proba(ctx)[:, 1]
                    rels += [F.Relation(rel, rows[i]["key"][1], rows[i]["key"][2], score=float(s))
                             for i, s in zip(idx, p)]
            out.append(rels)
        return out

    def predict_documents(self, docs: Sequence[F.Document]) -> list[list[F.Relation]]:
        """Pairs above the threshold; with ``min_one_per_doc`` (on by default: every CDR abstract asserts at
        least one relation) the best pair of a document with none above the threshold is kept too."""
        out = []
        for rels in self.score_documents(docs):
            keep = [r for r in rels if r.score >= self.thresholds[r.type]]
            if not keep and rels and self.config.get("min_one_per_doc", True):
                keep = [max(rels, key=lambda r: r.score)]
            out.append(keep)
        return out

    def predict_document(self, doc: F.Document) -> list[F.Relation]:
        """Relations asserted by one document (needs the document's entity mentions with ids)."""
        return self.predict_documents([doc])[0]

    def save(self, path: str | os.PathLike) -> None:
        import json

        import joblib

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump({"vectorizer": self.vectorizer, "scaler": self.scaler, "classifiers": self.classifiers,
                     "priors": self.priors, "rerankers": self.rerankers}, path / "re_model.joblib")
        (path / "genolm_re.json").write_text(json.dumps(
            {"task": "re", "feature_version": FEATURE_VERSION, "relation_types": self.relation_types,
             "thresholds": self.thresholds,
             "config": self.config}, indent=2))


def load_re(model_dir: str | os.PathLike) -> REModel:
    """Load a trained relation model from a run directory or its model/ folder."""
    import json

    import joblib

    p = Path(model_dir)
    if (p / "model" / "genolm_re.json").is_file():
        p = p / "model"
    if not (p / "genolm_re.json").is_file():
        raise UsageError(f"{model_dir} is not a genolm relation model (no genolm_re.json); train one with "
                         "'genolm lit re train'")
    meta = json.loads((p / "genolm_re.json").read_text())
    if meta.get("feature_version", 1) != FEATURE_VERSION:
        raise UsageError(f"{model_dir} was trained by an older genolm with other relation features; retrain it "
                         "with 'genolm lit re train'")
    blob = joblib.load(p / "re_model.joblib")
    return REModel([tuple(x) for x in meta["relation_types"]], blob["vectorizer"], blob["scaler"],
                   blob["classifiers"], meta["thresholds"], blob["priors"], meta.get("config", {}),
                   blob.get("rerankers"))


class StackedClassifier:
    """Logistic regression on all features, then gradient-boosted trees on the document-structure/prior
    features plus the (out-of-fold) regression score: the trees learn interactions (title x frequency x
    prior) that a linear model cannot."""

    def __init__(self, C: float, n_dense: int, seed: int = 0):
        self.C, self.n_dense, self.seed = C, n_dense, seed

    def _lr(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, max_iter=2000, class_weight="balanced")

    def _stack(self, X, score):
        import numpy as np

        return np.hstack([X[:, -self.n_dense:].toarray(), score[:, None]])

    def fit(self, X, y, groups):
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingClassifier

        oof = np.zeros(X.shape[0])
        for k in np.unique(groups):
            tr, te = groups != k, groups == k
            if y[tr].sum() and te.any():
                oof[te] = self._lr().fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
        self.lr = self._lr().fit(X, y)
        self.classes_ = self.lr.classes_
        self.trees = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                                    random_state=self.seed).fit(self._stack(X, oof), y)
        return self

    def predict_proba(self, X):
        return self.trees.predict_proba(self._stack(X, self.lr.predict_proba(X)[:, 1]))


# ----------------------------------------------------------------------------------------- metrics
def _key(pmid: str, r: F.Relation) -> tuple:
    return (pmid, r.type, frozenset((r.id1, r.id2)))


def relation_scores(gold_docs: Sequence[F.Document], pred: Sequence[Sequence[F.Relation]]) -> dict:
    """Micro P/R/F1 over (PMID, type, {id1, id2}) sets, overall and per relation type."""
    gold = {_key(d.id, r) for d in gold_docs for r in d.relations}
    got = {_key(d.id, r) for d, rs in zip(gold_docs, pred) for r in rs}

    def prf(g, p):
        tp = len(g & p)
        pr = tp / len(p) if p else 0.0
        rc = tp / len(g) if g else 0.0
        return {"precision": pr, "recall": rc, "f1": 2 * pr * rc / (pr + rc) if pr + rc else 0.0,
                "tp": tp, "gold": len(g), "predicted": len(p)}

    out = prf(gold, got)
    out["per_type"] = {t: prf({k for k in gold if k[1] == t}, {k for k in got if k[1] == t})
                       for t in sorted({k[1] for k in gold | got})}
    out["documents"] = len(gold_docs)
    return out


# ------------------------------------------------------------------------------------------- train
def _relation_types(docs) -> list[tuple[str, str, str]]:
    counts = Counter()
    for d in docs:
        id_type = {}
        for m in d.mentions:
            for i in m.ids:
                id_type.setdefault(i, m.type)
        for r in d.relations:
            t1, t2 = id_type.get(r.id1), id_type.get(r.id2)
            if t1 and t2:
                counts[(r.type, t1, t2)] += 1
    return sorted(k for k, n in counts.items() if n >= 3)


def _labelled_rows(model: REModel, docs, priors):
    rows = []
    for d in docs:
        gold = {_key(d.id, r) for r in d.relations}
        for r in model._examples(d, priors):
            r["label"] = int((d.id, r["key"][0], frozenset(r["key"][1:])) in gold)
            rows.append(r)
    return rows


def _best_doc_threshold(docs_of, y, p, min_one: bool) -> tuple[float, float]:
    """Threshold maximising document-level F1 (with the at-least-one-per-document rule), and that F1."""
    import numpy as np

    groups = defaultdict(list)
    for i, d in enumerate(docs_of):
        groups[d].append(i)
    tops = [max(idx, key=lambda i: p[i]) for idx in groups.values()]
    n_gold = int(y.sum())
    best, best_t = -1.0, 0.5
    for t in np.arange(0.05, 0.95, 0.01):
        pred = p >= t
        if min_one:
            for i in tops:
                if not pred[groups[docs_of[i]]].any():
                    pred[i] = True
        tp = float((pred & (y == 1)).sum())
        f1 = 2 * tp / (pred.sum() + n_gold) if pred.sum() + n_gold else 0.0
        if f1 > best:
            best, best_t = f1, float(t)
    return round(best_t, 2), best


def _read_exclude(path) -> set[str]:
    out = set()
    for _, line in F.read_lines(path):
        if line.strip() and not line.startswith("#"):
            out.add(line.split("\t")[0].strip())
    return out


def train_re(train: str | os.PathLike | Sequence, valid: str | os.PathLike | None, out: str | os.PathLike,
             config: REConfig | None = None, **overrides) -> dict:
    """Train the document-level relation classifier on PubTator files with entity and relation lines."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from genolm.core.runs import RunDir, set_seed

    cfg = config or REConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise UsageError(f"unknown relation option {k!r}")
        setattr(cfg, k, v)
    files = [train] if isinstance(train, (str, os.PathLike)) else list(train)
    docs = [d for f in files for d in F.read_pubtator(f)]
    if cfg.exclude_pmids:
        drop = _read_exclude(cfg.exclude_pmids)
        docs = [d for d in docs if d.id not in drop]
    valid_docs = F.read_pubtator(valid) if valid else []
    rtypes = _relation_types(docs)
    if not rtypes:
        raise InputError("no relation lines (PMID<TAB>TYPE<TAB>ID1<TAB>ID2) between annotated entities in the "
                         "training file", files[0])
    run = RunDir(out, command="lit re train", config={**asdict(cfg), "train": [str(f) for f in files],
                                                      "valid": str(valid) if valid else None,
                                                      "relation_types": rtypes},
                 inputs=[*files, valid], seed=cfg.seed)
    with run:
        set_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        shell = REModel(rtypes, None, None, {}, {}, None, asdict(cfg))
        base = _labelled_rows(shell, docs, None)
        # out-of-fold priors: each document's prior features come from the other folds' relations
        fold_of = {d.id: int(f) for d, f in zip(docs, rng.integers(0, cfg.folds, len(docs)))}
        rows = []
        by_doc = defaultdict(list)
        for r in base:
            by_doc[r["doc"]].append(r)
        full_priors = _count_priors(base) if cfg.use_priors else None
        for k in range(cfg.folds):
            pri = _count_priors([r for r in base if fold_of[r["doc"]] != k]) if cfg.use_priors else None
            fold_docs = [d for d in docs if fold_of[d.id] == k]
            rows += _labelled_rows(shell, fold_docs, pri)
        vec = TfidfVectorizer(token_pattern=r"\S+", min_df=2, sublinear_tf=True, lowercase=False,
                              ngram_range=(1, max(1, cfg.ngrams)))
        vec.fit([r["text"] for r in rows])
        scaler = StandardScaler().fit(np.array([r["dense"] for r in rows], dtype=float))
        shell.vectorizer, shell.scaler = vec, scaler
        X = shell._features(rows)
        y = np.array([r["label"] for r in rows])
        folds = np.array([fold_of[r["doc"]] for r in rows])
        rel_of = np.array([r["key"][0] for r in rows])
        classifiers, thresholds, oof_f1, rerankers = {}, {}, {}, {}
        doc_of = np.array([r["doc"] for r in rows])
        n_dense = len(rows[0]["dense"])

        def make(Xa, ya, ga):
            if cfg.stack:
                return StackedClassifier(cfg.C, n_dense, cfg.seed).fit(Xa, ya, ga)
            return LogisticRegression(C=cfg.C, max_iter=2000, class_weight="balanced").fit(Xa, ya)

        def out_of_fold(fit, Xa, ya, ga):
            """P(positive) of each row from a model fitted on the other folds (0 where a fold has no positives)."""
            oof = np.zeros(len(ya))
            for k in range(cfg.folds):
                tr, te = ga != k, ga == k
                if ya[tr].sum() == 0 or te.sum() == 0:
                    continue
                oof[te] = fit(Xa[tr], ya[tr], ga[tr]).predict_proba(Xa[te])[:, 1]
            return oof

        def fit_reranker(Xa, ya, ga):
            return LogisticRegression(max_iter=1000).fit(Xa, ya)

        for rel in sorted(set(rel_of)):
            m = rel_of == rel
            Xr, yr = X[m], y[m]
            oof = out_of_fold(make, Xr, yr, folds[m])
            if cfg.rerank:
                # second stage on out-of-fold first-stage scores; its own out-of-fold scores pick the threshold
                ctx = _rerank_matrix([r for r, keep in zip(rows, m) if keep], oof)
                oof = out_of_fold(fit_reranker, ctx, yr, folds[m])
                rerankers[rel] = fit_reranker(ctx, yr, folds[m])
            thresholds[rel], oof_f1[rel] = _best_doc_threshold(doc_of[m], yr, oof, cfg.min_one_per_doc)
            classifiers[rel] = make(Xr, yr, folds[m])
        shell.classifiers, shell.thresholds, shell.priors = classifiers, thresholds, full_priors
        shell.rerankers = rerankers
        shell.save(run.model_dir)
        metrics = {"train_documents": len(docs), "candidates": len(rows), "positives": int(y.sum()),
                   "relation_types": [list(t) for t in rtypes], "thresholds": thresholds,
                   "train_oof_document_f1": oof_f1}
        if valid_docs:
            pred = shell.predict_documents(valid_docs)
            metrics["dev"] = relation_scores(valid_docs, pred)
            _write_predictions(run.path / "dev_predictions.PubTator", valid_docs, pred)
        run.write_metrics(metrics)
        _report(run.path / "report.html", "Relation extraction training", metrics)
    return metrics


def _report(path, title, metrics):
    from genolm.literature.textmodels import write_report

    dev = metrics.get("dev", metrics)
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
    flat.update({f"dev_{k}": dev[k] for k in ("precision", "recall", "f1") if k in dev})
    rows = [{"relation": t, **s} for t, s in dev.get("per_type", {}).items()]
    write_report(path, title, flat, None, [("Per relation type", rows)])


def _write_predictions(path, docs, pred):
    import copy

    out = []
    for d, rs in zip(docs, pred):
        d2 = copy.copy(d)
        d2.relations = [F.Relation(r.type, r.id1, r.id2) for r in rs]
        out.append(d2)
    F.write_pubtator(path, out)


def evaluate_re(model_dir: str | os.PathLike | None, data: str | os.PathLike,
                predictions: str | os.PathLike | None = None, out: str | os.PathLike | None = None) -> dict:
    """P/R/F1 of a model (or of a predicted PubTator file) against gold relation lines."""
    gold = F.read_pubtator(data)
    if predictions:
        pd = {d.id: d.relations for d in F.read_pubtator(predictions, check_offsets=False)}
        pred = [pd.get(d.id, []) for d in gold]
    else:
        if model_dir is None:
            raise UsageError("give --model or --predictions")
        pred = load_re(model_dir).predict_documents(gold)
    scores = relation_scores(gold, pred)
    if out:
        from genolm.core.runs import RunDir

        with RunDir(out, command="lit re evaluate", config={"model": str(model_dir), "data": str(data)},
                    inputs=[data]) as run:
            run.write_metrics(scores)
            _write_predictions(run.path / "predictions.PubTator", gold, pred)
            _report(run.path / "report.html", "Relation extraction evaluation", scores)
    return scores


def predict_file(model_dir: str | os.PathLike, input: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Read PubTator with entity annotations; write it back with predicted relation lines
    ``PMID<TAB>TYPE<TAB>ID1<TAB>ID2`` (relation lines already in the input are replaced)."""
    docs = F.read_pubtator(input)
    if not any(d.mentions for d in docs):
        raise InputError("no entity mention lines in the input: relation extraction needs annotated entities "
                         "(run 'genolm lit ner predict' first, or use a PubTator file with mentions)", input)
    model = load_re(model_dir)
    pred = model.predict_documents(docs)
    _write_predictions(out, docs, pred)
    return {"documents": len(docs), "relations": sum(len(p) for p in pred)}
