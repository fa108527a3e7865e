"""Multi-task metrics with missing labels, in genolm's one vocabulary (``genolm.core.metrics``).

Each task is scored on the rows where both its label and a prediction exist. Per task, classification
gives ``n``, ``n_pos``, ``auroc`` and ``auprc`` (average precision); regression gives the keys of
:func:`genolm.core.metrics.regression_metrics` (``n``, ``mse``, ``rmse``, ``mae``, ``r2``, ``pearson``,
``spearman``). Undefined values (a task whose labelled rows hold one class, an empty task) are NaN, and the
``mean_<key>`` over tasks leaves them out (NaN when no task has a value).

>>> m = compute_metrics("classification", Y, P, ["NR-AR", "SR-p53"])     # doctest: +SKIP
>>> m["mean_auroc"], m["per_task"]["NR-AR"]["auprc"]                       # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np

from genolm.core.metrics import auprc, auroc, regression_metrics as core_regression_metrics

NAN = float("nan")
CLASSIFICATION_MEANS = ("auroc", "auprc")
REGRESSION_MEANS = ("rmse", "mae", "r2", "pearson", "spearman")
#: the key of the metrics dict that summarises a model (model selection, CLI summaries)
MAIN_KEY = {"classification": "mean_auroc", "regression": "mean_rmse"}


def task_pairs(Y: np.ndarray, P: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions of task ``t`` on the rows where both exist."""
    rows = ~np.isnan(Y[:, t]) & ~np.isnan(P[:, t])
    return Y[rows, t], P[rows, t]


def _mean(per_task: dict, key: str) -> float:
    vals = [e[key] for e in per_task.values() if not math.isnan(e[key])]
    return float(np.mean(vals)) if vals else NAN


def classification_metrics(Y: np.ndarray, P: np.ndarray, targets: list[str]) -> dict:
    per_task = {}
    for t, name in enumerate(targets):
        y, p = task_pairs(Y, P, t)
        per_task[name] = {"n": int(len(y)), "n_pos": int((y == 1).sum()), "auroc": auroc(y, p), "auprc": auprc(y, p)}
    return {
        "task": "classification",
        **{f"mean_{k}": _mean(per_task, k) for k in CLASSIFICATION_MEANS},
        "per_task": per_task,
    }


def regression_metrics(Y: np.ndarray, P: np.ndarray, targets: list[str]) -> dict:
    per_task = {}
    for t, name in enumerate(targets):
        y, p = task_pairs(Y, P, t)
        if len(y):
            per_task[name] = core_regression_metrics(y, p)
        else:
            per_task[name] = {"n": 0, **{k: NAN for k in ("mse", "rmse", "mae", "r2", "pearson", "spearman")}}
    return {"task": "regression", **{f"mean_{k}": _mean(per_task, k) for k in REGRESSION_MEANS}, "per_task": per_task}


def compute_metrics(task: str, Y: np.ndarray, P: np.ndarray, targets: list[str]) -> dict:
    return (classification_metrics if task == "classification" else regression_metrics)(Y, P, targets)


def selection_score(task: str, Y: np.ndarray, P: np.ndarray) -> float:
    """One number, higher is better: mean AUROC, or minus the mean RMSE over tasks (-inf when undefined)."""
    targets = [str(i) for i in range(Y.shape[1])]
    value = compute_metrics(task, Y, P, targets)[MAIN_KEY[task]]
    if math.isnan(value):
        return -math.inf
    return value if task == "classification" else -value
