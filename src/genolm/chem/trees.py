"""Fingerprint/descriptor tree models (scikit-learn): one estimator per task, trained on its labelled rows.

- ``hgb``: HistGradientBoosting (handles NaN descriptors natively; early stopping on an internal split).
- ``rf``: RandomForest and ``et``: ExtraTrees (NaN imputed with the training median); forests are grown in
  chunks of 100 trees so a time budget can stop them early with a usable, smaller forest.
- ``svm``: support vector machine with the MinMax (count Tanimoto) kernel on the Morgan count fingerprint
  only: K(a, b) = sum(min(a, b)) / sum(max(a, b)), the similarity medicinal chemists use. A different
  inductive bias from the forests (similarity to whole training molecules instead of single-feature
  splits), so it averages well with them. Classification gives Platt-scaled probabilities
  (``SVC(probability=True)``), regression an SVR on the standardised target. The training fingerprints
  are kept with the model (the kernel needs them at prediction time).

Stored as data, never as code: :meth:`TreeModel.state` is a dict of plain values, numpy arrays and scikit-learn
estimators that ``genolm.core.persist`` writes with skops (allow-listed types only), and
:meth:`TreeModel.from_state` rebuilds the model from it (identical predictions).
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

log = logging.getLogger("genolm.chem")

TREE_ARCHS = ("hgb", "rf", "et", "svm")
SVM_MAX_ROWS = 8000  # svm: training molecules kept at most (kernel 8000 x 8000 float64 = 0.5 GB)
SVR_C = 5.0  # svm regression: C of the SVR on the standardised target


def _unary(F: np.ndarray, n_levels: int):
    """Count matrix -> sparse 0/1 matrix U (column j*n_levels + t is [count_j > t]), so that
    (U_A @ U_B.T)[i, k] == sum_j min(A[i, j], B[k, j]): min(a, b) = number of thresholds t below both."""
    import scipy.sparse as sp

    rows, cols = np.nonzero(F)
    vals = F[rows, cols].astype(np.int64)
    rep = np.repeat(np.arange(len(rows)), vals)
    level = np.arange(len(rep)) - np.repeat(np.cumsum(vals) - vals, vals)  # 0 .. count-1
    return sp.csr_matrix(
        (np.ones(len(rep)), (rows[rep], cols[rep] * n_levels + level)), shape=(F.shape[0], F.shape[1] * n_levels)
    )


def minmax_kernel(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """MinMax (Tanimoto on counts) similarity sum(min) / sum(max) between the rows of two count matrices
    (NaN -> 0, counts rounded and clipped to 0..255); two empty fingerprints have similarity 0."""
    A = np.clip(np.rint(np.nan_to_num(A, nan=0.0)), 0, 255)
    B = np.clip(np.rint(np.nan_to_num(B, nan=0.0)), 0, 255)
    n_levels = int(max(A.max(initial=0), B.max(initial=0), 1))
    mins = (_unary(A, n_levels) @ _unary(B, n_levels).T).toarray()
    maxs = A.sum(1)[:, None] + B.sum(1)[None, :] - mins
    return np.divide(mins, maxs, out=np.zeros_like(mins), where=maxs > 0)


def select_columns(X: np.ndarray, min_count: int = 3) -> np.ndarray:
    """Indices of columns that vary and are non-zero in at least ``min_count`` rows (drops dead bits)."""
    finite = np.nan_to_num(X, nan=0.0)
    nonzero = (finite != 0).sum(axis=0)
    varies = np.nanmax(X, axis=0) > np.nanmin(X, axis=0)
    return np.where((nonzero >= min_count) & varies)[0]


class TreeModel:
    """Per-task tree ensembles over a shared feature matrix; ``predict`` gives probabilities or values."""

    def __init__(
        self,
        kind: str,
        task: str,
        n_tasks: int,
        seed: int = 0,
        n_jobs: int | None = None,
        n_estimators: int = 300,
        fp_columns: int | None = None,
    ):
        if n_jobs is None:  # 2 cores by default; GENOLM_CHEM_JOBS=1 keeps a shared machine's second core free
            n_jobs = int(os.environ.get("GENOLM_CHEM_JOBS", "2"))
        if kind not in TREE_ARCHS:
            raise ValueError(kind)
        self.kind, self.task, self.n_tasks, self.seed = kind, task, n_tasks, seed
        self.n_jobs, self.n_estimators = n_jobs, n_estimators
        self.fp_columns = fp_columns  # svm: the first fp_columns features are the Morgan counts
        self.train_fp: np.ndarray | None = None  # svm: training fingerprints (selected columns)
        self.y_scale: list = []  # svm regression: (mean, sd) of each task's target
        self.columns: np.ndarray | None = None
        self.medians: np.ndarray | None = None
        self.estimators: list = []
        self.constant: list = []  # a task with one class in training predicts its base rate
        self.rows: list = []  # svm: the training rows of each task

    # ---------------------------------------------------------------- storage (data only)
    _FIELDS = (
        "kind",
        "task",
        "n_tasks",
        "seed",
        "n_jobs",
        "n_estimators",
        "fp_columns",
        "train_fp",
        "y_scale",
        "columns",
        "medians",
        "constant",
        "rows",
    )

    def state(self) -> dict:
        """Plain data + scikit-learn estimators (a Platt SVC becomes a dict of its two estimators)."""
        out = {f: getattr(self, f, None) for f in self._FIELDS}
        out["y_scale"] = [None if s is None else [float(s[0]), float(s[1])] for s in self.y_scale]
        out["estimators"] = [e.state() if isinstance(e, PlattSVC) else e for e in self.estimators]
        return out

    @classmethod
    def from_state(cls, state: dict) -> "TreeModel":
        m = cls(
            state["kind"],
            state["task"],
            int(state["n_tasks"]),
            seed=int(state["seed"]),
            n_jobs=int(state["n_jobs"]),
            n_estimators=int(state["n_estimators"]),
            fp_columns=state["fp_columns"],
        )
        for f in cls._FIELDS[7:]:
            setattr(m, f, state.get(f))
        m.y_scale = [None if s is None else (s[0], s[1]) for s in (state.get("y_scale") or [])]
        m.estimators = [PlattSVC.from_state(e) if isinstance(e, dict) else e for e in state["estimators"]]
        return m

    def _estimator(self):
        from sklearn.ensemble import (
            ExtraTreesClassifier,
            ExtraTreesRegressor,
            HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
            RandomForestClassifier,
            RandomForestRegressor,
        )

        if self.kind == "hgb":
            # feature subsampling per split (max_features) regularises and roughly halves the fit time
            common = dict(
                learning_rate=0.1,
                max_iter=500,
                early_stopping=True,
                validation_fraction=0.1,
                n_iter_no_change=25,
                min_samples_leaf=10,
                l2_regularization=1.0,
                max_features=0.3,
                random_state=self.seed,
            )
            return (
                HistGradientBoostingClassifier(**common)
                if self.task == "classification"
                else HistGradientBoostingRegressor(**common)
            )
        forest = dict(n_estimators=0, n_jobs=self.n_jobs, random_state=self.seed, warm_start=True)
        if self.task == "classification":
            cls = RandomForestClassifier if self.kind == "rf" else ExtraTreesClassifier
            return cls(max_features="sqrt", **forest)
        # regression: more features per split than sqrt; ExtraTrees' random thresholds smooth the fit
        cls = RandomForestRegressor if self.kind == "rf" else ExtraTreesRegressor
        return cls(max_features=0.1 if self.kind == "rf" else 0.3, **forest)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "svm":
            return np.nan_to_num(X[:, self.columns], nan=0.0)
        X = X[:, self.columns]
        if self.kind != "hgb":
            X = np.where(np.isnan(X), self.medians, X)
        return X

    def fit(self, X: np.ndarray, Y: np.ndarray, deadline: float | None = None) -> "TreeModel":
        """X (n, f) features, Y (n, n_tasks) with NaN for missing labels; ``deadline`` a time.monotonic()."""
        from genolm.core.progress import progress

        if self.kind == "svm":
            return self._fit_svm(X, Y)
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

    def _fit_svm(self, X: np.ndarray, Y: np.ndarray) -> "TreeModel":
        from sklearn.svm import SVR

        from genolm.core.progress import progress

        n_fp = self.fp_columns or X.shape[1]
        ok = ~np.isnan(X).all(axis=1)
        if ok.sum() > SVM_MAX_ROWS:  # the kernel matrix is n x n: keep it within ~0.5 GB
            keep = np.sort(np.random.default_rng(self.seed).choice(np.flatnonzero(ok), SVM_MAX_ROWS, replace=False))
            log.warning("svm: %d training molecules, kernel fitted on a random %d of them", ok.sum(), SVM_MAX_ROWS)
            ok = np.zeros(len(X), dtype=bool)
            ok[keep] = True
        self.columns = np.where((np.nan_to_num(X[ok, :n_fp]) > 0).sum(axis=0) >= 1)[0]
        self.train_fp = self._prepare(X[ok]).astype(np.float32)
        K = minmax_kernel(self.train_fp, self.train_fp)
        Y = Y[ok]
        self.estimators, self.constant, self.rows, self.y_scale = [], [], [], []
        classification = self.task == "classification"
        for t in progress(range(self.n_tasks), total=self.n_tasks, desc="svm tasks", unit="task"):
            rows = np.where(~np.isnan(Y[:, t]))[0]
            y = Y[rows, t].astype(int) if classification else Y[rows, t]
            too_few = (len(np.unique(y)) < 2 or np.bincount(y, minlength=2).min() < 5) if classification else len(y) < 2
            self.y_scale.append(None)
            if too_few:  # a constant prediction: the task's mean label (or the uninformed value)
                self.estimators.append(None)
                self.rows.append(None)
                self.constant.append(float(y.mean()) if len(y) else (0.5 if classification else 0.0))
                continue
            if classification:
                est = PlattSVC(self.seed).fit(K[np.ix_(rows, rows)], y)
            else:
                mu, sd = float(y.mean()), float(y.std()) or 1.0
                self.y_scale[-1] = (mu, sd)
                est = SVR(C=SVR_C, epsilon=0.1, kernel="precomputed").fit(K[np.ix_(rows, rows)], (y - mu) / sd)
            self.rows.append(rows)  # a precomputed-kernel model takes similarities to all its training rows
            self.estimators.append(est)
            self.constant.append(None)
        return self

    def _predict_svm(self, X: np.ndarray) -> np.ndarray:
        out = np.full((len(X), self.n_tasks), np.nan)
        ok = ~np.isnan(X).all(axis=1)
        if not ok.any():
            return out
        idx = np.flatnonzero(ok)
        for a in range(0, len(idx), 2048):  # kernel rows in chunks: memory stays bounded for any input size
            rows = idx[a : a + 2048]
            K = minmax_kernel(self._prepare(X[rows]), self.train_fp)
            for t, est in enumerate(self.estimators):
                if est is None:
                    out[rows, t] = self.constant[t]
                elif self.task == "classification":
                    out[rows, t] = est.predict_proba(K[:, self.rows[t]])[:, 1]
                else:
                    mu, sd = self.y_scale[t]
                    out[rows, t] = est.predict(K[:, self.rows[t]]) * sd + mu
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "svm":
            return self._predict_svm(X)
        out = np.full((len(X), self.n_tasks), np.nan)
        ok = ~np.isnan(X).all(axis=1)  # rows of invalid molecules are all NaN
        if not ok.any():
            return out
        Xs = self._prepare(X[ok])
        for t, est in enumerate(self.estimators):
            if est is None:
                out[ok, t] = self.constant[t]
                continue
            # one thread: a forest sums its trees in the order threads finish, so n_jobs > 1 changes the last bits
            # of a prediction from run to run (the same model and molecules must give the same file)
            if hasattr(est, "n_jobs"):
                est.set_params(n_jobs=1)
            out[ok, t] = est.predict_proba(Xs)[:, 1] if self.task == "classification" else est.predict(Xs)
        return out


class PlattSVC:
    """Balanced C-SVM on a precomputed kernel with Platt-scaled probabilities: the sigmoid is fitted on
    5-fold out-of-fold decision values (sklearn's ``SVC(probability=True)`` is deprecated)."""

    def __init__(self, seed: int = 0, C: float = 1.0):
        self.seed, self.C = seed, C

    def _svc(self):
        from sklearn.svm import SVC

        return SVC(C=self.C, kernel="precomputed", class_weight="balanced")

    def fit(self, K: np.ndarray, y: np.ndarray) -> "PlattSVC":
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        oof = np.zeros(len(y))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=self.seed).split(K, y):
            oof[te] = self._svc().fit(K[np.ix_(tr, tr)], y[tr]).decision_function(K[np.ix_(te, tr)])
        self.platt = LogisticRegression(C=1e4).fit(oof[:, None], y)
        self.svc = self._svc().fit(K, y)
        return self

    def predict_proba(self, K: np.ndarray) -> np.ndarray:
        return self.platt.predict_proba(self.svc.decision_function(K)[:, None])

    def state(self) -> dict:
        return {"seed": self.seed, "C": self.C, "platt": self.platt, "svc": self.svc}

    @classmethod
    def from_state(cls, state: dict) -> "PlattSVC":
        m = cls(int(state["seed"]), float(state["C"]))
        m.platt, m.svc = state["platt"], state["svc"]
        return m
