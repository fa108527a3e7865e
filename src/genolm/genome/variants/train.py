"""``genolm variants train``: fit a supervised variant-effect model on a labelled VCF.

Features and the ensemble are :mod:`genolm.genome.variants.supervised`'s. Validation is grouped
cross-validation (groups = ``group_field`` values, else clusters of variants closer than ``group_gap`` bp, e.g.
exons; never a random variant split, which leaks), then the model is refitted on everything; an optional
``valid`` VCF is scored by that final model. The run directory holds ``metrics.json``, ``predictions_cv.csv``,
``report.html`` and ``model/`` (see :mod:`genolm.genome.variants.supervised`), so ``variants score --model RUN``
uses it directly.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter

import numpy as np

from genolm.genome.variants.evaluate import allele_values
from genolm.genome.variants.features import FLANK
from genolm.genome.variants.reference import Allele, ReferenceCache, check_allele
from genolm.genome.variants.scorers import lm_scorer
from genolm.genome.variants.supervised import ALL_FEATURES, Ensemble, allele_features, feature_views, save_model
from genolm.io.errors import InputError, UsageError
from genolm.io.vcf import VcfReader

log = logging.getLogger("genolm")

BASELINE_FEATURES = ["is_snv", "len_diff", "transition", "cpg", "ref_base", "alt_base"]


def baseline_model(binary: bool):
    """Substitution type only (REF/ALT base, transition, CpG, indel length), one-hot + a linear model."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    est = LogisticRegression(C=1.0, max_iter=2000) if binary else Ridge(alpha=1.0)
    return make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"), est)


def score_metrics(y: np.ndarray, p: np.ndarray, binary: bool) -> dict:
    """AUROC/AUPRC (binary) or Spearman/Pearson/MSE (continuous) over the finite predictions (core.metrics)."""
    from genolm.core import metrics as M

    ok = np.isfinite(p)
    y, p = y[ok], p[ok]
    if binary:
        return {"n": int(len(y)), "positives": int(y.sum()), "auroc": M.auroc(y, p), "auprc": M.auprc(y, p)}
    m = M.regression_metrics(y, p)
    return {"n": m["n"], "spearman": m["spearman"], "pearson": m["pearson"], "mse": m["mse"]}


def make_groups(keys: list[tuple], group_values: list | None, gap: int) -> np.ndarray:
    """Validation groups: the given values, else clusters of variants closer than ``gap`` bp."""
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


def load_labelled_alleles(
    vcf: str, label: str, ref_cache: ReferenceCache, group_field: str | None = None, max_allele: int = 50
) -> tuple[list[Allele], np.ndarray, list | None, dict]:
    """Alleles with a numeric ``label`` (INFO) that can be scored; counts of the rest."""
    reader = VcfReader(vcf)
    if label not in reader.header.ids("INFO"):
        raise InputError(f"INFO field {label!r} (--label) is not declared in the VCF header", vcf)
    if group_field and group_field not in reader.header.ids("INFO"):
        raise InputError(f"INFO field {group_field!r} (--group-field) is not declared in the VCF header", vcf)
    number = reader.header.info_number(label)
    alleles, ys, groups = [], [], [] if group_field else None
    skipped: Counter = Counter()
    for rec in reader:
        vals = allele_values(rec, label, number)
        for alt, v in zip(rec.alts or ["."], vals):
            if v is None:
                skipped["NO_LABEL"] += 1
                continue
            if not isinstance(v, float):
                raise InputError(f"--label {label} must be numeric, got {v!r}", vcf, rec.line)
            a, reason = check_allele(ref_cache, rec.chrom, rec.pos - 1, rec.ref, alt, max_allele, "supervised", True)
            if reason:
                skipped[reason] += 1
                continue
            alleles.append(a)
            ys.append(v)
            if groups is not None:
                groups.append(rec.info().get(group_field, "."))
    return alleles, np.asarray(ys, dtype=float), groups, dict(skipped)


def train(
    train: str,
    out: str,
    *,
    reference: str,
    label: str,
    valid: str | None = None,
    model: str | None = None,
    group_field: str | None = None,
    group_gap: int = 1000,
    folds: int = 5,
    batch_size: int = 128,
    time_budget: str | float | None = "25m",
    seed: int = 0,
    overwrite: bool = False,
) -> dict:
    """Fit a supervised variant-effect model on the labelled VCF ``train``; writes the run directory ``out``.

    ``reference`` is the FASTA the VCFs refer to, ``label`` the INFO field (0/1 = binary, other numbers =
    continuous), ``model`` an optional base DNA LM whose zero-shot llr becomes an input (copied into the model
    folder), ``valid`` an optional labelled VCF scored by the final model (``metrics["valid"]``; validation
    is otherwise grouped cross-validation on ``train``). ``time_budget`` (seconds or "25m") caps the
    cross-validation. Returns the metrics written to ``metrics.json``.
    """
    from genolm.core.loading import find_model_dir, is_hub_id
    from genolm.core.runs import RunDir, parse_duration, set_seed
    from genolm.io.atomic import atomic_path

    budget = parse_duration(time_budget)
    if folds < 2:
        raise UsageError("--folds must be at least 2")
    if model and is_hub_id(model):
        raise UsageError(
            "--model for `variants train` must be a local model folder (it is copied into the "
            "trained model's folder); download the hub model first"
        )
    base_dir = find_model_dir(model) if model else None
    t0 = time.perf_counter()
    set_seed(seed)
    ref_cache = ReferenceCache(reference)
    alleles, y, group_values, skipped = load_labelled_alleles(train, label, ref_cache, group_field)
    if len(alleles) < 20:
        raise InputError(
            f"only {len(alleles)} labelled, scorable alleles (need at least 20; skipped: {skipped})", train
        )
    binary = set(np.unique(y).tolist()) <= {0.0, 1.0}
    if binary and len(set(y.tolist())) < 2:
        raise InputError(f"--label {label} has a single class; need both 0 and 1", train)
    valid_set = None
    if valid:
        va, vy, _, vskipped = load_labelled_alleles(valid, label, ref_cache)
        if not va:
            raise InputError(f"no labelled, scorable allele in --valid (skipped: {vskipped})", valid)
        if binary and not set(np.unique(vy).tolist()) <= {0.0, 1.0}:
            raise InputError(f"--label {label} is 0/1 in --train but not in --valid", valid)
        valid_set = (va, vy)
    task = "binary" if binary else "continuous"
    config = {
        "command": "variants train",
        "reference": reference,
        "train": train,
        "valid": valid,
        "label": label,
        "model": model,
        "seed": seed,
        "time_budget": budget,
        "group_field": group_field,
        "group_gap": group_gap,
        "folds": folds,
        "task": task,
    }
    with RunDir(
        out, "variants train", config, inputs=[train] + ([valid] if valid else []), seed=seed, overwrite=overwrite
    ) as run:
        lm = lm_scorer(str(base_dir), ref_cache, "llr", batch_size=batch_size) if base_dir else None
        log.info("computing features for %d alleles", len(alleles))
        X = allele_features(ref_cache, alleles, lm)
        names = ALL_FEATURES + (["lm_llr"] if lm is not None else [])
        views = feature_views(names)
        keys = [(a.chrom, a.pos0 + 1, a.ref, a.alt) for a in alleles]
        groups = make_groups(keys, group_values, group_gap)
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
                oof[te] = Ensemble(binary, seed, views).fit(X[tr], y[tr]).predict(X[te])
                base = baseline_model(binary).fit(X[tr][:, base_cols], y[tr])
                oof_base[te] = (
                    base.predict_proba(X[te][:, base_cols])[:, 1] if binary else base.predict(X[te][:, base_cols])
                )
        else:
            cv_note = "one group only: no cross-validation"
        est = Ensemble(binary, seed, views).fit(X, y)
        meta = {
            "format": "genolm-variant-model/2",
            "task": task,
            "label": label,
            "features": names,
            "flank": FLANK,
            "base_lm": "base_lm" if lm is not None else None,
            "seed": seed,
            "n_train": int(len(y)),
        }
        with atomic_path(run.model_dir) as tmp:
            tmp.mkdir(parents=True)
            save_model(tmp, est, meta)
            if base_dir is not None:
                shutil.copytree(base_dir, tmp / "base_lm")
        metrics = {
            "task": task,
            "n": int(len(y)),
            "groups": n_groups,
            "skipped": skipped,
            "cv": score_metrics(y, oof, binary),
            "baseline_cv": score_metrics(y, oof_base, binary),
            "baseline": "substitution type only (REF/ALT base, transition, CpG, indel length)",
        }
        if binary:
            metrics["positives"] = int(y.sum())
        if cv_note:
            metrics["note"] = cv_note
        import pandas as pd

        if valid_set is not None:
            va, vy = valid_set
            pv = est.predict(allele_features(ref_cache, va, lm))
            metrics["valid"] = score_metrics(vy, pv, binary)
            dv = pd.DataFrame([(a.chrom, a.pos0 + 1, a.ref, a.alt) for a in va], columns=["chrom", "pos", "ref", "alt"])
            dv["label"], dv["score"] = vy, pv
            with atomic_path(run.path / "predictions_valid.csv") as tmp:
                dv.to_csv(tmp, index=False, float_format="%.6g")
        metrics["seconds"] = round(time.perf_counter() - t0, 2)
        run.write_metrics(metrics)
        df = pd.DataFrame(keys, columns=["chrom", "pos", "ref", "alt"])
        df["group"], df["label"], df["cv_score"], df["baseline_cv_score"] = groups, y, oof, oof_base
        with atomic_path(run.path / "predictions_cv.csv") as tmp:
            df.to_csv(tmp, index=False, float_format="%.6g")
        _report(run.path / "report.html", metrics, y, oof, binary, label, train, reference, n_groups)
    return metrics


def _report(
    path,
    metrics: dict,
    y: np.ndarray,
    oof: np.ndarray,
    binary: bool,
    label: str,
    train: str,
    reference: str,
    n_groups: int,
) -> None:
    from genolm.core.report import Report, roc_pr_figure, scatter_figure

    rep = Report(f"genolm variants train ({label}, {metrics['task']})", subtitle=f"{train} on {reference}")
    table = {
        "alleles": len(y),
        "groups": n_groups,
        **{f"cv_{k}": v for k, v in metrics["cv"].items()},
        **{f"baseline_cv_{k}": v for k, v in metrics["baseline_cv"].items()},
    }
    table.update({f"valid_{k}": v for k, v in metrics.get("valid", {}).items()})
    rep.metrics_table(table)
    ok = np.isfinite(oof)
    if ok.sum() > 2:
        if binary and len(set(y[ok].tolist())) == 2:
            rep.figure(roc_pr_figure(y[ok].astype(int), oof[ok], "grouped CV"), "out-of-fold ROC / PR")
        elif not binary:
            rep.figure(scatter_figure(y[ok], oof[ok], "grouped CV"), "out-of-fold predictions vs labels")
    rep.write(path)


def train_variant_model(
    reference: str,
    vcf: str,
    label: str,
    out: str,
    model: str | None = None,
    seed: int = 0,
    time_budget: str | float | None = "25m",
    group_field: str | None = None,
    group_gap: int = 1000,
    folds: int = 5,
    batch_size: int = 128,
) -> dict:
    """The pre-0.2 argument order of :func:`train` (kept for scripts): ``reference, vcf, label, out``."""
    return train(
        vcf,
        out,
        reference=reference,
        label=label,
        model=model,
        seed=seed,
        time_budget=time_budget,
        group_field=group_field,
        group_gap=group_gap,
        folds=folds,
        batch_size=batch_size,
    )
