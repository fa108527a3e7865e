"""Golub ALL/AML: cross-validated accuracy of `genolm omics` settings on the 38 training samples.

The published independent test set (34 samples) is held out and scored elsewhere; this script only
uses ../shared/data/expression/golub_all_aml/train.csv (repeated stratified 5-fold CV, 3 seeds).

    .venv/bin/python benchmarks/omics.py [--data ../shared/data/expression/golub_all_aml] [--seeds 3]

Prints a markdown table (mean CV accuracy / errors / ROC-AUC per setting) and the wall time of the
default `genolm omics train` command. Baselines in the same run: majority class, and logistic
regression on unlogged, unfloored (z-scored) values.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/expression/golub_all_aml"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    from genolm.omics.expression import ExpressionClassifier, cross_validate, train_expression
    from genolm.omics.matrix import read_matrix
    from genolm.omics.preprocess import PreprocessConfig

    train = Path(args.data) / "train.csv"
    data = read_matrix(train, label_col="cancer", require_label=True)
    majority = max(data.labels.count(c) for c in set(data.labels)) / len(data.labels)
    settings = [
        (
            "baseline: logistic on unlogged, unfloored values (z-scored)",
            "logistic",
            None,
            PreprocessConfig(log="none", floor="auto", sample_center=False),
        ),
        (
            "default: logistic (floor=median, log2, top 2000 genes, sample-centred, z-scored)",
            "logistic",
            None,
            PreprocessConfig(),
        ),
        ("svm (linear, Platt-scaled)", "svm", None, PreprocessConfig()),
        ("knn (k=3)", "knn", None, PreprocessConfig()),
        ("rf (500 trees)", "rf", None, PreprocessConfig()),
        ("mlp (64 hidden, lbfgs)", "mlp", None, PreprocessConfig()),
        ("logistic on pca:10", "logistic", "pca:10", PreprocessConfig()),
        ("logistic on autoencoder:8", "logistic", "autoencoder:8", PreprocessConfig()),
    ]
    rows = [("baseline: majority class (ALL)", majority, None, None, 0.0)]
    for label, clf, red, pcfg in settings:
        t = time.time()
        accs, aucs, errs = [], [], []
        for seed in range(args.seeds):
            m, _ = cross_validate(
                data, args.folds, lambda: ExpressionClassifier(clf, red, pcfg, seed=seed, ae_epochs=200)
            )
            accs.append(m["accuracy"])
            aucs.append(m.get("auroc", float("nan")))
            errs.append(m["errors"])
        rows.append((label, float(np.mean(accs)), float(np.mean(aucs)), errs, time.time() - t))
        print(
            json.dumps({"setting": label, "cv_accuracy": rows[-1][1], "cv_roc_auc": rows[-1][2], "errors": errs}),
            flush=True,
        )
    with tempfile.TemporaryDirectory() as tmp:
        t = time.time()
        train_expression(train, "cancer", Path(tmp) / "run", cv=args.folds, gene_names=Path(args.data) / "genes.csv")
        default_seconds = time.time() - t
    print(f"\n{args.folds}-fold stratified CV on the 38 Golub training samples, {args.seeds} seeds (mean)\n")
    print("| setting | CV accuracy | CV ROC-AUC | errors per seed | seconds |")
    print("|---|---|---|---|---|")
    for label, acc, auc, errs, secs in rows:
        auc_s = "" if auc is None else f"{auc:.3f}"
        print(f"| {label} | {acc:.3f} | {auc_s} | {'' if errs is None else errs} | {secs:.0f} |")
    print(
        f"\n`genolm omics train` default settings (with --cv {args.folds} and genes.csv): {default_seconds:.0f} s wall"
    )


if __name__ == "__main__":
    main()
