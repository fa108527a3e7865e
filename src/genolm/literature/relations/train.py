"""Training of the document-level relation classifier (scikit-learn; about a minute on a CPU).

Concept priors are computed out of fold, so the classifier learns how far to trust them; a second-stage
logistic regression (``rerank``) rescores each pair against the other pairs of its document, trained on
out-of-fold first-stage scores; the decision threshold is chosen on out-of-fold document-level F1 of the
training data (never on dev).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter, defaultdict
from dataclasses import asdict
from typing import Sequence

from genolm.io.errors import InputError, UsageError
from genolm.literature import formats as F
from genolm.literature.relations.features import count_priors, rerank_matrix
from genolm.literature.relations.model import REConfig, REModel, StackedClassifier, relation_key, relation_scores
from genolm.literature.relations.predict import report, write_predictions


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
        gold = {relation_key(d.id, r) for r in d.relations}
        for r in model.examples(d, priors):
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


def train_re(
    train: str | os.PathLike | Sequence,
    out: str | os.PathLike,
    legacy_out: str | os.PathLike | None = None,
    *,
    valid: str | os.PathLike | None = None,
    config: REConfig | None = None,
    overwrite: bool = False,
    **overrides,
) -> dict:
    """Train the document-level relation classifier on PubTator files with entity and relation lines.

    ``valid`` (PubTator with relation lines) is scored at the end; ``overrides`` are :class:`REConfig` fields
    (``C``, ``ngrams``, ``rerank``, ``seed``...). The old order ``train_re(train, valid, out)`` still works.
    """
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from genolm.core.runs import RunDir, set_seed

    if legacy_out is not None:
        warnings.warn(
            "train_re(train, valid, out) is deprecated: call train_re(train, out, valid=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        out, valid = legacy_out, out
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
        raise InputError(
            "no relation lines (PMID<TAB>TYPE<TAB>ID1<TAB>ID2) between annotated entities in the training file",
            files[0],
        )
    run = RunDir(
        out,
        command="lit re train",
        config={
            **asdict(cfg),
            "train": [str(f) for f in files],
            "valid": str(valid) if valid else None,
            "relation_types": rtypes,
        },
        inputs=[*files, valid],
        seed=cfg.seed,
        overwrite=overwrite,
    )
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
        full_priors = count_priors(base) if cfg.use_priors else None
        for k in range(cfg.folds):
            pri = count_priors([r for r in base if fold_of[r["doc"]] != k]) if cfg.use_priors else None
            fold_docs = [d for d in docs if fold_of[d.id] == k]
            rows += _labelled_rows(shell, fold_docs, pri)
        vec = TfidfVectorizer(
            token_pattern=r"\S+", min_df=2, sublinear_tf=True, lowercase=False, ngram_range=(1, max(1, cfg.ngrams))
        )
        vec.fit([r["text"] for r in rows])
        scaler = StandardScaler().fit(np.array([r["dense"] for r in rows], dtype=float))
        shell.vectorizer, shell.scaler = vec, scaler
        X = shell.features(rows)
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
                ctx = rerank_matrix([r for r, keep in zip(rows, m) if keep], oof)
                oof = out_of_fold(fit_reranker, ctx, yr, folds[m])
                rerankers[rel] = fit_reranker(ctx, yr, folds[m])
            thresholds[rel], oof_f1[rel] = _best_doc_threshold(doc_of[m], yr, oof, cfg.min_one_per_doc)
            classifiers[rel] = make(Xr, yr, folds[m])
        shell.classifiers, shell.thresholds, shell.priors = classifiers, thresholds, full_priors
        shell.rerankers = rerankers
        shell.save(run.model_dir)
        metrics = {
            "train_documents": len(docs),
            "candidates": len(rows),
            "positives": int(y.sum()),
            "relation_types": [list(t) for t in rtypes],
            "thresholds": thresholds,
            "train_oof_document_f1": oof_f1,
        }
        if valid_docs:
            pred = shell.predict_documents(valid_docs)
            metrics["dev"] = relation_scores(valid_docs, pred)
            write_predictions(run.path / "dev_predictions.PubTator", valid_docs, pred)
        run.write_metrics(metrics)
        report(run.path / "report.html", "Relation extraction training", metrics)
    return metrics
