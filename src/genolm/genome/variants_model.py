"""Supervised variant-effect models: ``genolm variants train`` and scoring with the result.

Inputs are the reference context and REF/ALT only (never other INFO fields): window features from
:mod:`genolm.genome.variants_features` (reading frame inferred from the +-450 bp window, stop gain,
amino-acid change, splice-site motif change...), transcription-factor motif changes from
:mod:`genolm.genome.motifs`, gene-structure features from :mod:`genolm.genome.genefinder` (the variant's
consequence under an ab-initio gene model decoded over 100 kb of reference), plus, with ``--model BASE``,
the zero-shot LLR of a genolm/HF DNA language model. A scikit-learn ensemble is fitted on them (members on
feature views, see :class:`_Ensemble`), validated by
grouped cross-validation (groups = clusters of nearby variants, e.g. exons; never a random variant split,
which leaks), then refitted on everything. The run directory's ``model/`` holds ``variant_model.joblib``,
``variant_model.json`` and the base LM (``base_lm/``), so ``variants score --model RUN`` uses it directly.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from genolm.genome.variants import (VARIANT_MODEL_FILE, Allele, ReferenceCache, Scorer, check_allele,
                                    make_scorer)
from genolm.genome.genefinder import GM_FEATURES, GeneStructure
from genolm.genome.motifs import MOTIF_FEATURES, MOTIF_FLANK, MotifScanner, motif_features
from genolm.genome.variants_features import FEATURE_NAMES, FLANK, feature_matrix
from genolm.io.errors import InputError, UsageError
from genolm.io.vcf import VcfReader

log = logging.getLogger("genolm")

BASELINE_FEATURES = ["is_snv", "len_diff", "transition", "cpg", "ref_base", "alt_base"]
ALL_FEATURES = FEATURE_NAMES + MOTIF_FEATURES + GM_FEATURES


def allele_features(ref_cache: ReferenceCache, alleles: list[Allele], lm: Scorer | None = None,
                    genes: GeneStructure | None = None, motifs: MotifScanner | None = None) -> np.ndarray:
    """Feature matrix (columns :data:`ALL_FEATURES`, then ``lm_llr`` with an LM)."""
    windows = [ref_cache.fetch(a.chrom, a.pos0 - FLANK, a.pos0 + len(a.ref) + FLANK) for a in alleles]
    X = feature_matrix(windows, [a.ref for a in alleles], [a.alt for a in alleles])
    motifs = motifs or MotifScanner.from_file()
    M = np.array([[row[k] for k in MOTIF_FEATURES] for row in
                  (motif_features(motifs, w[FLANK - MOTIF_FLANK:FLANK + len(a.ref) + MOTIF_FLANK], MOTIF_FLANK, a.ref,
                                  a.alt) for w, a in zip(windows, alleles))], dtype=np.float64)
    genes = genes or GeneStructure(ref_cache)
    G = np.array([[row[k] for k in GM_FEATURES] for row in
                  (genes.features(a.chrom, a.pos0, a.ref, a.alt) for a in alleles)], dtype=np.float64)
    X = np.column_stack([X, M.reshape(len(alleles), len(MOTIF_FEATURES)), G.reshape(len(alleles), len(GM_FEATURES))])
    if lm is not None:
        llr = np.full(len(alleles), np.nan)
        idx = [i for i, a in enumerate(alleles) if lm.causal or a.is_substitution]
        if idx:
            res = lm.score([alleles[i] for i in idx])
            llr[idx] = [r["GENOLM_SCORE"] for r in res]
        X = np.column_stack([X, llr])
    return X


class _Ensemble:
    """The mean of a few members, each a model on a subset of the columns (a "view", see :func:`feature_views`).

    Binary labels: class-balanced, strongly regularised logistic regressions on the window view, the gene-model
    view and the motif view, plus shallow gradient boosting on the gene-model view. On BRCA1 dev
    (leave-one-exon-library-out AUROC): boosting on all features 0.667 (it learns exon-specific patterns), one
    regression on the window features 0.743, on window + gene-model features together 0.775, the four members
    0.795 (benchmarks/variants.py).
    Continuous labels: ridge regression and shallow gradient boosting on all columns, plus ridge regression on
    the motif view alone. On the Kircher 2019 MPRA dev loci (CV grouped by locus, mean per-element Spearman):
    ridge + boosting on all columns 0.101, with the motif ridge 0.115 (the features that transfer between
    regulatory elements are the motif changes).
    """

    def __init__(self, binary: bool, seed: int, views: list[list[int]] | None = None):
        self.binary, self.seed = binary, seed
        if binary:
            self.members = [("linear", views[0]), ("linear", views[1]), ("trees", views[1]), ("linear", views[2])] \
                if views else [("linear", None)]
        else:
            self.members = [("linear", None), ("trees", None)] + ([("linear", views[2])] if views else [])
        self.models: list = []
        self.columns: list = []

    def _make(self, kind: str):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if kind == "linear":
            lin = LogisticRegression(C=0.02, class_weight="balanced", max_iter=3000) if self.binary else Ridge(alpha=30.0)
            return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), lin)
        if self.binary:
            return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, max_depth=2, min_samples_leaf=40,
                                                  class_weight="balanced", random_state=self.seed)
        return HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_depth=3, min_samples_leaf=40,
                                             l2_regularization=5.0, random_state=self.seed)

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float64)
        self.models, self.columns = [], []
        for kind, view in self.members:
            cols = np.arange(X.shape[1]) if view is None else np.asarray(view, dtype=int)
            if kind == "trees":  # boosting cannot bin a column with no value at all (e.g. no coding SNV)
                cols = cols[~np.all(np.isnan(X[:, cols]), axis=0)]
            self.models.append(self._make(kind).fit(X[:, cols], y))
            self.columns.append(cols)
        return self

    def predict(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self.binary:
            return np.mean([m.predict_proba(X[:, c])[:, 1] for m, c in zip(self.models, self.columns)], axis=0)
        return np.mean([m.predict(X[:, c]) for m, c in zip(self.models, self.columns)], axis=0)


def feature_views(names: list[str]) -> list[list[int]]:
    """Column subsets of the ensemble: window features, gene-model features, motif features (each with the LM
    score when there is one)."""
    extra = [i for i, n in enumerate(names) if n not in ALL_FEATURES]
    window = [i for i, n in enumerate(names) if n in FEATURE_NAMES] + extra
    gene = [i for i, n in enumerate(names) if n in GM_FEATURES] + extra
    motif = [i for i, n in enumerate(names) if n in MOTIF_FEATURES] + extra
    return [window, gene, motif]


def _baseline(binary: bool):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    est = LogisticRegression(C=1.0, max_iter=2000) if binary else Ridge(alpha=1.0)
    return make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"), est)


def _metrics(y: np.ndarray, p: np.ndarray, binary: bool) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from genolm.core.metrics import regression_metrics

    ok = np.isfinite(p)
    y, p = y[ok], p[ok]
    if binary:
        if len(set(y.tolist())) < 2:
            return {"n": int(len(y)), "auroc": float("nan"), "auprc": float("nan")}
        return {"n": int(len(y)), "positives": int(y.sum()), "auroc": float(roc_auc_score(y, p)),
                "auprc": float(average_precision_score(y, p))}
    m = regression_metrics(y, p)
    return {"n": m["n"], "spearman": m["spearman"], "pearson": m["pearson"], "mse": m["mse"]}


def _groups(keys: list[tuple], group_values: list | None, gap: int) -> np.ndarray:
    if group_values is not None:
        return np.array([str(v) for v in group_values])
    order = sorted(range(len(keys)), key=lambda i: (keys[i][0], keys[i][1]))
    out = np.empty(len(keys), dtype=object)
    gid, last = 0, None
    for i in order:
        chrom, pos = keys[i][0], keys[i][1]
        if last is not None and (chrom != last[0] or pos - last[1] > gap):
            gid += 1
        out[i] = f"{chrom}:{gid}"
        last = (chrom, pos)
    return out.astype(str)


def load_labelled_alleles(vcf: str, label: str, ref_cache: ReferenceCache, group_field: str | None = None,
                          max_allele: int = 50) -> tuple[list[Allele], np.ndarray, list | None, dict]:
    """Alleles with a numeric ``label`` (INFO) that can be scored; counts of the rest."""
    from collections import Counter

    from genolm.genome.variants import _allele_values

    reader = VcfReader(vcf)
    if label not in reader.header.ids("INFO"):
        raise InputError(f"INFO field {label!r} (--label) is not declared in the VCF header", vcf)
    if group_field and group_field not in reader.header.ids("INFO"):
        raise InputError(f"INFO field {group_field!r} (--group-field) is not declared in the VCF header", vcf)
    number = reader.header.info_number(label)
    alleles, ys, groups = [], [], [] if group_field else None
    skipped: Counter = Counter()
    for rec in reader:
        vals = _allele_values(rec, label, number)
        for alt, v in zip(rec.alts or ["."], vals):
            if v is None:
                skipped["NO_LABEL"] += 1
                continue
            if not isinstance(v, float):
                raise InputError(f"--label {label} must be numeric, got {v!r}", vcf, rec.line)
            a, reason = check_allele(ref_cache, rec.chrom, rec.pos - 1, rec.ref, alt, max_allele, "supervised",
                                     True)
            if reason:
                skipped[reason] += 1
                continue
            alleles.append(a)
            ys.append(v)
            if groups is not None:
                groups.append(rec.info().get(group_field, "."))
    return alleles, np.asarray(ys, dtype=float), groups, dict(skipped)


def train_variant_model(reference: str, vcf: str, label: str, out: str, model: str | None = None,
                        seed: int = 0, time_budget: str | float | None = "25m", group_field: str | None = None,
                        group_gap: int = 1000, folds: int = 5, batch_size: int = 128) -> dict:
    """Fit a supervised variant-effect model; writes a run directory (see module docstring)."""
    import joblib

    from genolm.core.report import Report, roc_pr_figure, scatter_figure
    from genolm.core.runs import RunDir, parse_duration, set_seed
    from genolm.io.atomic import atomic_path

    budget = parse_duration(time_budget)
    if folds < 2:
        raise UsageError("--folds must be at least 2")
    t0 = time.perf_counter()
    set_seed(seed)
    ref_cache = ReferenceCache(reference)
    alleles, y, group_values, skipped = load_labelled_alleles(vcf, label, ref_cache, group_field)
    if len(alleles) < 20:
        raise InputError(f"only {len(alleles)} labelled, scorable alleles (need at least 20; skipped: {skipped})", vcf)
    binary = set(np.unique(y).tolist()) <= {0.0, 1.0}
    if binary and len(set(y.tolist())) < 2:
        raise InputError(f"--label {label} has a single class; need both 0 and 1", vcf)
    config = {"command": "variants train", "reference": reference, "vcf": vcf, "label": label, "model": model,
              "seed": seed, "time_budget": budget, "group_field": group_field, "group_gap": group_gap,
              "folds": folds, "task": "binary" if binary else "continuous"}
    run = RunDir(out, "variants train", config, inputs=[vcf], seed=seed)
    lm = None
    if model:
        lm = make_scorer(model, ref_cache, "llr", batch_size=batch_size)
    log.info("computing features for %d alleles", len(alleles))
    X = allele_features(ref_cache, alleles, lm)
    names = ALL_FEATURES + (["lm_llr"] if lm is not None else [])
    views = feature_views(names)
    keys = [(a.chrom, a.pos0 + 1, a.ref, a.alt) for a in alleles]
    groups = _groups(keys, group_values, group_gap)
    n_groups = len(set(groups.tolist()))
    oof, oof_base = np.full(len(y), np.nan), np.full(len(y), np.nan)
    base_cols = [names.index(c) for c in BASELINE_FEATURES]
    cv_note = ""
    if n_groups >= 2:
        from sklearn.model_selection import GroupKFold

        for i, (tr, te) in enumerate(GroupKFold(n_splits=min(folds, n_groups)).split(X, y, groups)):
            if budget and time.perf_counter() - t0 > budget * 0.8:
                cv_note = f"cross-validation stopped after {i} folds (time budget)"
                log.warning("%s", cv_note)
                break
            if binary and len(set(y[tr].tolist())) < 2:
                continue
            oof[te] = _Ensemble(binary, seed, views).fit(X[tr], y[tr]).predict(X[te])
            oof_base[te] = _baseline(binary).fit(X[tr][:, base_cols], y[tr]).predict_proba(X[te][:, base_cols])[:, 1] \
                if binary else _baseline(binary).fit(X[tr][:, base_cols], y[tr]).predict(X[te][:, base_cols])
    else:
        cv_note = "one group only: no cross-validation"
    est = _Ensemble(binary, seed, views).fit(X, y)
    model_dir = run.model_dir
    with atomic_path(model_dir) as tmp:
        tmp.mkdir(parents=True)
        joblib.dump(est, tmp / "variant_model.joblib")
        meta = {"format": "genolm-variant-model/1", "task": "binary" if binary else "continuous", "label": label,
                "features": names, "flank": FLANK, "base_lm": "base_lm" if lm is not None else None,
                "seed": seed, "n_train": int(len(y))}
        (tmp / VARIANT_MODEL_FILE).write_text(json.dumps(meta, indent=2))
        if lm is not None:
            from genolm.core.loading import resolve_model_dir

            shutil.copytree(resolve_model_dir(model), tmp / "base_lm")
    metrics = {"task": meta["task"], "n": int(len(y)), "groups": n_groups, "skipped": skipped,
               "cv": _metrics(y, oof, binary), "baseline_cv": _metrics(y, oof_base, binary),
               "baseline": "substitution type only (REF/ALT base, transition, CpG, indel length)",
               "seconds": round(time.perf_counter() - t0, 2)}
    if binary:
        metrics["positives"] = int(y.sum())
    if cv_note:
        metrics["note"] = cv_note
    run.write_metrics(metrics)
    import pandas as pd

    df = pd.DataFrame(keys, columns=["chrom", "pos", "ref", "alt"])
    df["group"], df["label"], df["cv_score"], df["baseline_cv_score"] = groups, y, oof, oof_base
    with atomic_path(run.path / "predictions_cv.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    rep = Report(f"genolm variants train ({label}, {meta['task']})", subtitle=f"{vcf} on {reference}")
    rep.metrics_table({"alleles": len(y), "groups": n_groups, **{f"cv_{k}": v for k, v in metrics["cv"].items()},
                       **{f"baseline_cv_{k}": v for k, v in metrics["baseline_cv"].items()}})
    ok = np.isfinite(oof)
    if ok.sum() > 2:
        if binary and len(set(y[ok].tolist())) == 2:
            rep.figure(roc_pr_figure(y[ok].astype(int), oof[ok], "grouped CV"), "out-of-fold ROC / PR")
        elif not binary:
            rep.figure(scatter_figure(y[ok], oof[ok], "grouped CV"), "out-of-fold predictions vs labels")
    rep.write(run.path / "report.html")
    run.finish()
    return metrics


class SupervisedScorer(Scorer):
    """Scores alleles with a model written by :func:`train_variant_model`."""

    method = "supervised"
    causal = True  # indels are fine (features handle them)

    def __init__(self, model_dir: Path, ref_cache: ReferenceCache, batch_size: int = 128, device=None):
        import joblib

        super().__init__(ref_cache, 2 * FLANK + 1, batch_size)
        self.meta = json.loads((model_dir / VARIANT_MODEL_FILE).read_text())
        if self.meta.get("features", [])[:len(ALL_FEATURES)] != ALL_FEATURES:
            raise InputError("variant model was trained with a different genolm feature set; retrain it", model_dir)
        self.est = joblib.load(model_dir / "variant_model.joblib")
        self.genes = GeneStructure(ref_cache)  # decoded blocks are cached across score() calls
        self.motifs = MotifScanner.from_file()
        self.lm = None
        if self.meta.get("base_lm"):
            self.lm = make_scorer(str(model_dir / self.meta["base_lm"]), ref_cache, "llr", batch_size=batch_size,
                                  device=device)
        what = "P(label = 1)" if self.meta["task"] == "binary" else "predicted value"
        self.fields = {"GENOLM_SCORE": f"supervised: {what} of {self.meta['label']} (genolm variants train)"}
        if self.lm is not None:
            self.fields["GENOLM_LLR"] = "zero-shot llr of the base LM (an input of the supervised model)"

    def score(self, alleles):
        X = allele_features(self.ref_cache, list(alleles), self.lm, self.genes, self.motifs)
        pred = self.est.predict(X)
        out = []
        for i, p in enumerate(pred):
            d = {"GENOLM_SCORE": float(p)}
            if self.lm is not None:
                d["GENOLM_LLR"] = float(X[i, -1])
            out.append(d)
        return out
