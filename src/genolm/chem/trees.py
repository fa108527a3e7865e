"""Fingerprint/descriptor tree models (scikit-learn): one estimator per task, trained on its labelled rows.

- ``hgb``: HistGradientBoosting (handles NaN descriptors natively; early stopping on an internal split).
- ``rf``: RandomForest and ``et``: ExtraTrees (NaN imputed with the training median); forests are grown in
  chunks of 100 trees so a time budget can stop them early with a usable, smaller forest.
"""
from __future__ import annotations

import logging
import time

import numpy as np

log = logging.getLogger("genolm.chem")

TREE_ARCHS = ("hgb", "rf", "et")


def select_columns(X: np.ndarray, min_count: int = 3) -> np.ndarray:
    """Indices of columns that vary and are non-zero in at least ``min_count`` rows (drops dead bits)."""
    finite = np.nan_to_num(X, nan=0.0)
    nonzero = (finite != 0).sum(axis=0)
    varies = np.nanmax(X, axis=0) > np.nanmin(X, axis=0)
    return np.where((nonzero >= min_count) & varies)[0]


class TreeModel:
    """Per-task tree ensembles over a shared feature matrix; ``predict`` gives probabilities or values."""

    def __init__(self, kind: str, task: str, n_tasks: int, seed: int = 0, n_jobs: int = 2,
                 n_estimators: int = 300):
        if kind not in TREE_ARCHS:
            raise ValueError(kind)
        self.kind, self.task, self.n_tasks, self.seed = kind, task, n_tasks, seed
        self.n_jobs, self.n_estimators = n_jobs, n_estimators
        self.columns: np.ndarray | None = None
        self.medians: np.ndarray | None = None
        self.estimators: list = []
        self.constant: list = []  # a task with one class in training predicts its base rate

    def _estimator(self):
        from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, HistGradientBoostingClassifier,
                                      HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)

        if self.kind == "hgb":
            # feature subsampling per split (max_features) regularises and roughly halves the fit time
            common = dict(learning_rate=0.1, max_iter=500, early_stopping=True, validation_fraction=0.1,
                          n_iter_no_change=25, min_samples_leaf=10, l2_regularization=1.0, max_features=0.3,
                          random_state=self.seed)
            return (HistGradientBoostingClassifier(**common) if self.task == "classification"
                    else HistGradientBoostingRegressor(**common))
        forest = dict(n_estimators=0, n_jobs=self.n_jobs, random_state=self.seed, warm_start=True)
        if self.task == "classification":
            cls = RandomForestClassifier if self.kind == "rf" else ExtraTreesClassifier
            return cls(max_features="sqrt", **forest)
        # regression: more features per split than sqrt; ExtraTrees' random thresholds smooth the fit
        cls = RandomForestRegressor if self.kind == "rf" else ExtraTreesRegressor
        return cls(max_features=0.1 if self.kind == "rf" else 0.3, **forest)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        X = X[:, self.columns]
        if self.kind != "hgb":
            X = np.where(np.isnan(X), self.medians, X)
        return X

    def fit(self, X: np.ndarray, Y: np.ndarray, deadline: float | None = None) -> "TreeModel":
        """X (n, f) features, Y (n, n_tasks) with NaN for missing labels; ``deadline`` a time.monotonic()."""
        from genolm.core.progress import progress

        self.columns = select_columns(X)
        self.medians = np.nan_to_num(np.nanmedian(X[:, self.columns], axis=0))
        Xs = self._prepare(X)
        self.estimators, self.constant = [], []
        for t in progress(range(self.n_tasks), total=self.n_tasks, desc=f"{self.kind} tasks", unit="task"):
            rows = ~np.isnan(Y[:, t])
            y = Y[rows, t]
            if self.task == "classification":
                y = y.astype(int)
                if len(np.unique(y)) < 2:
                    self.estimators.append(None)
                    self.constant.append(float(y.mean()) if len(y) else 0.5)
                    continue
            est = self._estimator()
            if self.task == "classification" and self.kind != "hgb":
                # balanced class weights, computed once (warm-started forests cannot use the 'balanced' presets)
                counts = np.bincount(y, minlength=2)
                est.set_params(class_weight={c: len(y) / (2 * counts[c]) for c in (0, 1)})
            if self.kind != "hgb":
                # grow in chunks so a deadline stops it with a usable (smaller) forest
                # after the deadline each remaining task still gets a small forest (30 trees), never none
                late = deadline is not None and time.monotonic() > deadline
                while est.n_estimators < self.n_estimators:
                    est.n_estimators = min(self.n_estimators, est.n_estimators + (30 if late else 100))
                    est.fit(Xs[rows], y)
                    if deadline is not None and time.monotonic() > deadline:
                        log.warning("%s: time budget reached at %d trees (task %d)", self.kind, est.n_estimators, t)
                        break
            else:
                est.fit(Xs[rows], y)
            self.estimators.append(est)
            self.constant.append(None)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = np.full((len(X), self.n_tasks), np.nan)
        ok = ~np.isnan(X).all(axis=1)  # rows of invalid molecules are all NaN
        if not ok.any():
            return out
        Xs = self._prepare(X[ok])
        for t, est in enumerate(self.estimators):
            if est is None:
                out[ok, t] = self.constant[t]
            elif self.task == "classification":
                out[ok, t] = est.predict_proba(Xs)[:, 1]
            else:
                out[ok, t] = est.predict(Xs)
        return out
