"""Metrics, one function per task type (scikit-learn / scipy underneath)."""
from __future__ import annotations

import math

import numpy as np


def _f(x) -> float:
    x = float(x)
    return x if math.isfinite(x) else float("nan")


def classification_metrics(y_true, probs: np.ndarray) -> dict:
    """y_true: int class indices; probs: (n, n_classes). Binary: f1/auroc/auprc of class 1; multi-class: macro."""
    from sklearn.metrics import (accuracy_score, average_precision_score, f1_score, matthews_corrcoef,
                                 roc_auc_score)

    y = np.asarray(y_true).astype(int)
    probs = np.asarray(probs, dtype=float)
    pred = probs.argmax(1)
    out = {"n": int(len(y)), "accuracy": _f(accuracy_score(y, pred)), "mcc": _f(matthews_corrcoef(y, pred))}
    k = probs.shape[1]
    present = np.unique(y)
    if k == 2:
        out["f1"] = _f(f1_score(y, pred, zero_division=0))
        if len(present) == 2:
            out["auroc"] = _f(roc_auc_score(y, probs[:, 1]))
            out["auprc"] = _f(average_precision_score(y, probs[:, 1]))
        else:
            out["auroc"] = out["auprc"] = float("nan")
    else:
        out["f1"] = _f(f1_score(y, pred, average="macro", zero_division=0))
        try:
            p = probs[:, present] / probs[:, present].sum(1, keepdims=True)
            out["auroc"] = _f(roc_auc_score(y, p if len(present) > 2 else p[:, 1], multi_class="ovr",
                                            labels=present if len(present) > 2 else None))
        except ValueError:
            out["auroc"] = float("nan")
    return out


def regression_metrics(y_true, y_pred) -> dict:
    from scipy.stats import pearsonr, spearmanr

    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    out = {"n": int(len(y)), "mse": _f(np.mean((y - p) ** 2)), "mae": _f(np.mean(np.abs(y - p)))}
    if len(y) > 2 and np.std(p) > 0 and np.std(y) > 0:
        out["pearson"] = _f(pearsonr(y, p)[0])
        out["spearman"] = _f(spearmanr(y, p)[0])
    else:
        out["pearson"] = out["spearman"] = float("nan")
    return out
