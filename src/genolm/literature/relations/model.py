"""The relation classifier: configuration, the fitted model, its safe storage and the CDR-style scores.

Stored as ``re_model.skops`` (vectorizer, scaler, classifiers, rerankers: scikit-learn objects read back under
:mod:`genolm.core.persist`'s allow-list) and ``genolm_re.json`` (relation types, thresholds, config and the
concept priors as plain JSON lists). Folders written by genolm < 0.2 are refused with a "retrain or
convert" message (:func:`genolm.core.persist.load_estimator`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from genolm.io.errors import InputError
from genolm.literature import formats as F
from genolm.literature.relations.features import candidate_pairs, context_features, dense_features, pair_text

FEATURE_VERSION = 2  # bump when the pair features change (saved models must be retrained)
MARKER = "genolm_re.json"
MODEL_FILE = "re_model.skops"


@dataclass
class REConfig:
    C: float = 2.0  # inverse regularisation of the logistic regression
    ngrams: int = 2  # word n-grams (1..ngrams) of the pair text
    folds: int = 5  # out-of-fold priors and threshold choice
    use_priors: bool = True
    min_one_per_doc: bool = True  # every CDR abstract has at least one CID relation
    stack: bool = False  # add gradient-boosted trees over structure/prior features + the LR score
    rerank: bool = True  # second stage: rescore each pair against the other pairs of its document
    max_sentence_gap: int = 100
    seed: int = 0
    exclude_pmids: str | None = None  # a file of PMIDs (first column) to drop from training


# ------------------------------------------------------------------------------------------- model
class REModel:
    """Document-level pair classifier; one binary classifier per relation type (CDR has one: CID)."""

    def __init__(
        self,
        relation_types: list[tuple[str, str, str]],
        vectorizer,
        scaler,
        classifiers: dict,
        thresholds: dict,
        priors: dict | None,
        config: dict,
        rerankers: dict | None = None,
    ):
        self.relation_types = relation_types  # (relation, type1, type2)
        self.vectorizer = vectorizer
        self.scaler = scaler
        self.classifiers = classifiers
        self.thresholds = thresholds
        self.priors = priors
        self.config = config
        self.rerankers = rerankers or {}

    def examples(self, doc: F.Document, priors):
        rows = []
        for rel, t1, t2 in self.relation_types:
            pairs, concepts = candidate_pairs(doc, [(t1, t2)])
            for a, b in pairs:
                key = (rel, a.id, b.id)
                rows.append(
                    {
                        "doc": doc.id,
                        "key": key,
                        "text": pair_text(doc, a, b),
                        "dense": dense_features(doc, a, b, concepts, priors, key),
                    }
                )
        return rows

    def features(self, rows):
        import numpy as np
        import scipy.sparse as sp

        X_text = self.vectorizer.transform([r["text"] for r in rows])
        X_dense = self.scaler.transform(np.array([r["dense"] for r in rows], dtype=float))
        return sp.hstack([X_text, sp.csr_matrix(X_dense)]).tocsr()

    def score_documents(self, docs: Sequence[F.Document]) -> list[list[F.Relation]]:
        """Every candidate pair with its probability (no threshold)."""
        out = []
        for doc in docs:
            rows = self.examples(doc, self.priors)
            rels = []
            if rows:
                X = self.features(rows)
                for rel in {r["key"][0] for r in rows}:
                    idx = [i for i, r in enumerate(rows) if r["key"][0] == rel]
                    p = self.classifiers[rel].predict_proba(X[idx])[:, 1]
                    if rel in self.rerankers:
                        ctx = context_features([rows[i]["key"] for i in idx], p)
                        p = self.rerankers[rel].predict_proba(ctx)[:, 1]
                    rels += [
                        F.Relation(rel, rows[i]["key"][1], rows[i]["key"][2], score=float(s)) for i, s in zip(idx, p)
                    ]
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
        from genolm.core.persist import save_estimator
        from genolm.io.atomic import atomic_write_text

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_estimator(
            {
                "vectorizer": self.vectorizer,
                "scaler": self.scaler,
                "classifiers": {k: _to_storable(c) for k, c in self.classifiers.items()},
                "rerankers": self.rerankers,
            },
            path / MODEL_FILE,
        )
        atomic_write_text(
            path / MARKER,
            json.dumps(
                {
                    "task": "re",
                    "feature_version": FEATURE_VERSION,
                    "relation_types": self.relation_types,
                    "thresholds": self.thresholds,
                    "config": self.config,
                    "priors": priors_to_json(self.priors),
                },
                indent=2,
            ),
        )


def priors_to_json(priors: dict | None) -> dict | None:
    """Concept priors {table: {(rel, id...): (pos, n)}} -> {table: [[rel, id..., pos, n], ...]} (JSON)."""
    if priors is None:
        return None
    return {t: [[*k, int(v[0]), int(v[1])] for k, v in table.items()] for t, table in priors.items()}


def priors_from_json(data: dict | None) -> dict | None:
    if data is None:
        return None
    return {t: {tuple(row[:-2]): (int(row[-2]), int(row[-1])) for row in rows} for t, rows in data.items()}


def _to_storable(clf):
    """StackedClassifier is genolm's own class: store its two scikit-learn parts and its settings instead."""
    if isinstance(clf, StackedClassifier):
        return {
            "kind": "stacked",
            "lr": clf.lr,
            "trees": clf.trees,
            "C": clf.C,
            "n_dense": clf.n_dense,
            "seed": clf.seed,
        }
    return clf


def _from_storable(obj):
    if isinstance(obj, dict) and obj.get("kind") == "stacked":
        c = StackedClassifier(obj["C"], int(obj["n_dense"]), int(obj["seed"]))
        c.lr, c.trees = obj["lr"], obj["trees"]
        c.classes_ = c.lr.classes_
        return c
    return obj


def find_re_dir(model_dir: str | os.PathLike) -> Path:
    from genolm.core.loading import find_model_dir

    return find_model_dir(model_dir, MARKER, what="genolm relation model")


def load_re(model_dir: str | os.PathLike) -> REModel:
    """Load a trained relation model from a run directory or its model/ folder (nothing in it can run code)."""
    from genolm.core.persist import load_estimator

    p = find_re_dir(model_dir)
    try:
        meta = json.loads((p / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"corrupt {MARKER} ({e})", p / MARKER) from None
    if meta.get("feature_version", 1) != FEATURE_VERSION:
        raise InputError(
            "this relation model was trained by an older genolm with other relation features; "
            "retrain it with 'genolm lit re train'",
            p,
        )
    blob = load_estimator(p / MODEL_FILE)
    return REModel(
        [tuple(x) for x in meta["relation_types"]],
        blob["vectorizer"],
        blob["scaler"],
        {k: _from_storable(c) for k, c in blob["classifiers"].items()},
        meta["thresholds"],
        priors_from_json(meta.get("priors")),
        meta.get("config", {}),
        blob.get("rerankers"),
    )


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

        return np.hstack([X[:, -self.n_dense :].toarray(), score[:, None]])

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
        self.trees = HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=self.seed
        ).fit(self._stack(X, oof), y)
        return self

    def predict_proba(self, X):
        return self.trees.predict_proba(self._stack(X, self.lr.predict_proba(X)[:, 1]))


# ----------------------------------------------------------------------------------------- metrics
def relation_key(pmid: str, r: F.Relation) -> tuple:
    return (pmid, r.type, frozenset((r.id1, r.id2)))


def relation_scores(gold_docs: Sequence[F.Document], pred: Sequence[Sequence[F.Relation]]) -> dict:
    """Micro P/R/F1 over (PMID, type, {id1, id2}) sets, overall and per relation type."""
    gold = {relation_key(d.id, r) for d in gold_docs for r in d.relations}
    got = {relation_key(d.id, r) for d, rs in zip(gold_docs, pred) for r in rs}

    def prf(g, p):
        tp = len(g & p)
        pr = tp / len(p) if p else 0.0
        rc = tp / len(g) if g else 0.0
        return {
            "precision": pr,
            "recall": rc,
            "f1": 2 * pr * rc / (pr + rc) if pr + rc else 0.0,
            "tp": tp,
            "gold": len(g),
            "predicted": len(p),
        }

    out = prf(gold, got)
    out["per_type"] = {
        t: prf({k for k in gold if k[1] == t}, {k for k in got if k[1] == t})
        for t in sorted({k[1] for k in gold | got})
    }
    out["documents"] = len(gold_docs)
    return out
