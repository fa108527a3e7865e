"""Multi-task metrics with missing labels (scikit-learn): per-task ROC-AUC / RMSE, MAE, R2, and means.

Each task is scored on the rows where both its label and a prediction exist; a classification task whose
labelled rows hold one class only has no ROC-AUC and is left out of the mean (reported as null).
"""
from __future__ import annotations

import numpy as np


def _pairs(Y: np.ndarray, P: np.ndarray, t: int):
    rows = ~np.isnan(Y[:, t]) & ~np.isnan(P[:, t])
    return Y[rows, t], P[rows, t]


def classification_metrics(Y: np.ndarray, P: np.ndarray, targets: list[str]) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    per_task = {}
    for t, name in enumerate(targets):
        y, p = _pairs(Y, P, t)
        entry = {"n": int(len(y)), "n_pos": int((y == 1).sum()), "roc_auc": None, "pr_auc": None}
        if len(np.unique(y)) == 2:
            entry["roc_auc"] = float(roc_auc_score(y, p))
            entry["pr_auc"] = float(average_precision_score(y, p))
        per_task[name] = entry
    aucs = [e["roc_auc"] for e in per_task.values() if e["roc_auc"] is not None]
    prs = [e["pr_auc"] for e in per_task.values() if e["pr_auc"] is not None]
    return {"task": "classification", "mean_roc_auc": float(np.mean(aucs)) if aucs else None,
            "mean_pr_auc": float(np.mean(prs)) if prs else None, "per_task": per_task}


def regression_metrics(Y: np.ndarray, P: np.ndarray, targets: list[str]) -> dict:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    per_task = {}
    for t, name in enumerate(targets):
        y, p = _pairs(Y, P, t)
        entry = {"n": int(len(y)), "rmse": None, "mae": None, "r2": None}
        if len(y):
            entry["rmse"] = float(np.sqrt(mean_squared_error(y, p)))
            entry["mae"] = float(mean_absolute_error(y, p))
            entry["r2"] = float(r2_score(y, p)) if len(y) > 1 else None
        per_task[name] = entry

    def mean(key):
        vals = [e[key] for e in per_task.values() if e[key] is not None]
        return float(np.mean(vals)) if vals else None

    return {"task": "regression", "mean_rmse": mean("rmse"), "mean_mae": mean("mae"), "mean_r2": mean("r2"),
            "per_task": per_task}


def compute_metrics(task: str, Y: np.ndarray, P: np.ndarray, targets: list[str]) -> dict:
    return (classification_metrics if task == "classification" else regression_metrics)(Y, P, targets)


def selection_score(task: str, Y: np.ndarray, P: np.ndarray) -> float:
    """One number, higher is better: mean ROC-AUC, or minus the mean RMSE over tasks."""
    targets = [str(i) for i in range(Y.shape[1])]
    m = compute_metrics(task, Y, P, targets)
    if task == "classification":
        return m["mean_roc_auc"] if m["mean_roc_auc"] is not None else -np.inf
    return -m["mean_rmse"] if m["mean_rmse"] is not None else -np.inf
