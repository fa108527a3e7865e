"""The one metrics vocabulary of genolm (scikit-learn / scipy underneath), used by every domain and plot.

Keys: ``n``, ``accuracy``, ``mcc``, ``f1``, ``precision``, ``recall``, ``auroc``, ``auprc`` (= average
precision, the number the PR-curve legend shows), ``pearson``, ``spearman``, ``mse``, ``rmse``, ``mae``,
``r2``. Undefined values (one class present, constant predictions) are NaN, never None or missing.
Multiple-testing correction: :func:`fdr_bh` (``scipy.stats.false_discovery_control``).
"""

from __future__ import annotations

import math

import numpy as np


def _f(x) -> float:
    x = float(x)
    return x if math.isfinite(x) else float("nan")


def classification_metrics(y_true, probs: np.ndarray) -> dict:
    """y_true: int class indices; probs: (n, n_classes). Binary: f1/auroc/auprc of class 1; multi-class: macro."""
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, matthews_corrcoef, roc_auc_score

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
            out["auroc"] = _f(
                roc_auc_score(
                    y,
                    p if len(present) > 2 else p[:, 1],
                    multi_class="ovr",
                    labels=present if len(present) > 2 else None,
                )
            )
        except ValueError:
            out["auroc"] = float("nan")
    return out


def binary_metrics(y_true, scores) -> dict:
    """Binary labels (0/1) and scores (probability of class 1, threshold 0.5): the classification keys."""
    s = np.asarray(scores, dtype=float)
    return classification_metrics(y_true, np.stack([1 - s, s], 1))


def auroc(y_true, scores) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y_true).astype(int)
    return _f(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else float("nan")


def auprc(y_true, scores) -> float:
    """Average precision (the step-wise area sklearn defines; not the trapezoid under the PR curve)."""
    from sklearn.metrics import average_precision_score

    y = np.asarray(y_true).astype(int)
    return _f(average_precision_score(y, scores)) if len(np.unique(y)) == 2 else float("nan")


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return _f(spearmanr(x, y)[0])


def pearson(x, y) -> float:
    from scipy.stats import pearsonr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return _f(pearsonr(x, y)[0])


def fdr_bh(pvalues) -> np.ndarray:
    """Benjamini-Hochberg q-values in the input order (NaN p-values stay NaN)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(pvalues, dtype=float)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q[ok] = false_discovery_control(np.clip(p[ok], 0, 1), method="bh")
    return q


def regression_metrics(y_true, y_pred) -> dict:
    from scipy.stats import pearsonr, spearmanr

    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    mse = np.mean((y - p) ** 2) if len(y) else float("nan")
    out = {"n": int(len(y)), "mse": _f(mse), "rmse": _f(np.sqrt(mse)), "mae": _f(np.mean(np.abs(y - p)))}
    ss = np.sum((y - y.mean()) ** 2) if len(y) else 0.0
    out["r2"] = _f(1 - np.sum((y - p) ** 2) / ss) if ss > 0 else float("nan")
    if len(y) > 2 and np.std(p) > 0 and np.std(y) > 0:
        out["pearson"] = _f(pearsonr(y, p)[0])
        out["spearman"] = _f(spearmanr(y, p)[0])
    else:
        out["pearson"] = out["spearman"] = float("nan")
    return out
