"""Classify samples from expression profiles and name the genes that drive the classes.

>>> from genolm.omics import train_expression, predict_expression
>>> metrics = train_expression("train.csv", label_col="cancer", out="runs/golub", cv=5)
>>> predict_expression("runs/golub", "new.csv", "pred.csv")

A model is preprocessing (clip/log/variance filter/standardise) -> optional reduction (PCA or a torch
autoencoder) -> a scikit-learn classifier, all fitted on the training samples only (inside each fold
for ``cv``).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from genolm.io.atomic import atomic_open, atomic_path
from genolm.io.errors import InputError, UsageError
from genolm.omics.matrix import ExpressionMatrix, read_gene_names, read_matrix
from genolm.omics.preprocess import AutoencoderReducer, PreprocessConfig, Preprocessor, parse_reduce

logger = logging.getLogger("genolm.omics")

CLASSIFIERS = ("logistic", "svm", "mlp", "rf", "knn")


def make_classifier(name: str, seed: int = 0):
    """A scikit-learn classifier with probabilities, by short name."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    if name == "logistic":
        return LogisticRegression(C=0.1, max_iter=5000)
    if name == "svm":
        from sklearn.calibration import CalibratedClassifierCV

        # Platt-scaled linear SVM (SVC(probability=True) is deprecated in scikit-learn 1.9)
        return CalibratedClassifierCV(SVC(kernel="linear", C=1.0, random_state=seed), method="sigmoid", cv=3,
                                      ensemble=False)
    if name == "mlp":
        return MLPClassifier(hidden_layer_sizes=(64,), alpha=1.0, solver="lbfgs", max_iter=500,
                             random_state=seed)
    if name == "rf":
        return RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=1)
    if name == "knn":
        return KNeighborsClassifier(n_neighbors=3)
    raise UsageError(f"unknown --model {name!r}; choose one of {', '.join(CLASSIFIERS)}")


def _single_thread():
    """BLAS/OpenMP on one thread: these matrices are small, and on a shared CPU extra threads spin-wait."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


class ExpressionClassifier:
    """Preprocessor -> reducer -> classifier, with the training gene list and class names."""

    def __init__(self, classifier: str = "logistic", reduce: str | None = None,
                 preprocess: PreprocessConfig | None = None, seed: int = 0, ae_epochs: int = 300):
        self.classifier_name = classifier
        self.reduce_kind, self.reduce_k = parse_reduce(reduce)
        self.preprocess_config = preprocess or PreprocessConfig()
        self.seed = seed
        self.ae_epochs = ae_epochs
        make_classifier(classifier, seed)  # validate early
        self.genes: list[str] = []
        self.classes: list[str] = []

    # -- fitting -------------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: list[str], genes: list[str]) -> "ExpressionClassifier":
        with _single_thread():
            return self._fit(X, y, genes)

    def _fit(self, X: np.ndarray, y: list[str], genes: list[str]) -> "ExpressionClassifier":
        self.genes = list(genes)
        self.pre = Preprocessor(self.preprocess_config).fit(X)
        Z = self.pre.transform(X)
        self.reducer = None
        if self.reduce_kind == "pca":
            from sklearn.decomposition import PCA

            k = min(self.reduce_k, Z.shape[0], Z.shape[1])
            self.reducer = PCA(n_components=k, random_state=self.seed).fit(Z)
        elif self.reduce_kind == "autoencoder":
            self.reducer = AutoencoderReducer(self.reduce_k, epochs=self.ae_epochs, seed=self.seed).fit(Z)
        if self.reducer is not None:
            Z = self.reducer.transform(Z)
        self.clf = make_classifier(self.classifier_name, self.seed).fit(Z, np.asarray(y))
        self.classes = [str(c) for c in self.clf.classes_]
        return self

    def features(self, X: np.ndarray) -> np.ndarray:
        Z = self.pre.transform(X)
        return self.reducer.transform(Z) if self.reducer is not None else Z

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.clf.predict_proba(self.features(X))

    def predict(self, X: np.ndarray) -> list[str]:
        return [self.classes[i] for i in self.predict_proba(X).argmax(axis=1)]

    def gene_weights(self) -> np.ndarray | None:
        """|weight| per training gene for a linear classifier on unreduced genes (else None)."""
        if self.reducer is not None or not hasattr(self.clf, "coef_"):
            return None
        w = np.zeros(len(self.genes))
        w[self.pre.keep] = np.abs(np.asarray(self.clf.coef_)).max(axis=0)
        return w

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        import joblib
        from safetensors.numpy import save_file

        with atomic_path(directory) as tmp:
            tmp.mkdir(parents=True)
            save_file({k: np.ascontiguousarray(v) for k, v in self.pre.arrays().items()},
                      str(tmp / "preprocess.safetensors"))
            config = {"format": "genolm.omics.expression/1", "classifier": self.classifier_name,
                      "reduce": f"{self.reduce_kind}:{self.reduce_k}" if self.reduce_kind != "none" else "none",
                      "classes": self.classes, "genes": self.genes, "seed": self.seed,
                      "preprocess": self.pre.state()}
            (tmp / "config.json").write_text(json.dumps(config, indent=1))
            if self.reduce_kind == "autoencoder":
                self.reducer.save(tmp)
            elif self.reducer is not None:
                joblib.dump(self.reducer, tmp / "reducer.joblib")
            joblib.dump(self.clf, tmp / "classifier.joblib")

    @classmethod
    def load(cls, model: str | os.PathLike) -> "ExpressionClassifier":
        import joblib
        from safetensors.numpy import load_file

        directory = Path(model)
        if (directory / "model" / "config.json").is_file():
            directory = directory / "model"
        cfg_path = directory / "config.json"
        if not cfg_path.is_file():
            raise InputError("not an omics model directory (no model/config.json)", str(model))
        cfg = json.loads(cfg_path.read_text())
        if cfg.get("format") != "genolm.omics.expression/1":
            raise InputError("not an expression model (wrong format)", str(cfg_path))
        self = cls(cfg["classifier"], cfg["reduce"], PreprocessConfig(**cfg["preprocess"]["config"]), cfg["seed"])
        self.genes, self.classes = cfg["genes"], cfg["classes"]
        self.pre = Preprocessor.from_state(cfg["preprocess"], load_file(str(directory / "preprocess.safetensors")))
        self.reducer = None
        if self.reduce_kind == "autoencoder":
            self.reducer = AutoencoderReducer.load(directory)
        elif self.reduce_kind == "pca":
            self.reducer = joblib.load(directory / "reducer.joblib")
        self.clf = joblib.load(directory / "classifier.joblib")
        return self


# -- metrics and markers ---------------------------------------------------------------------------------
def classification_metrics(y_true: list[str], proba: np.ndarray, classes: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, roc_auc_score

    y_true = np.asarray(y_true)
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    out = {"n": int(len(y_true)), "accuracy": float(accuracy_score(y_true, pred)),
           "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)),
           "errors": int((pred != y_true).sum()),
           "confusion": {"labels": list(classes),
                         "matrix": confusion_matrix(y_true, pred, labels=classes).tolist()}}
    present = [c for c in classes if c in set(y_true)]
    try:
        if len(classes) == 2 and len(present) == 2:
            out["roc_auc"] = float(roc_auc_score(y_true == classes[1], proba[:, 1]))
        elif len(present) == len(classes) > 2:
            out["roc_auc"] = float(roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
    except ValueError:
        pass
    return out


def marker_genes(L: np.ndarray, y: list[str], genes: list[str], names: dict[str, str],
                 weights: np.ndarray | None = None) -> pd.DataFrame:
    """Per gene: the class it marks (one-vs-rest), Golub's signal-to-noise ratio, Welch t-test p and BH q.

    ``L`` holds clipped/logged values of all genes. Sorted by |SNR| (strongest markers first).
    """
    from scipy import stats

    y = np.asarray(y)
    classes = sorted(set(y))
    best_snr = np.zeros(L.shape[1])
    best_cls = np.array([classes[0]] * L.shape[1], dtype=object)
    best_p = np.ones(L.shape[1])
    # binary: one direction is enough (positive SNR marks class[1]... reported as the up-regulated class)
    for c in classes if len(classes) > 2 else classes[:1]:
        a, b = L[y == c], L[y != c]
        sd = a.std(axis=0) + b.std(axis=0)
        snr = (a.mean(axis=0) - b.mean(axis=0)) / np.where(sd > 1e-12, sd, 1e-12)
        with np.errstate(all="ignore"):
            p = stats.ttest_ind(a, b, axis=0, equal_var=False).pvalue
        p = np.nan_to_num(p, nan=1.0)
        better = np.abs(snr) > np.abs(best_snr)
        best_snr = np.where(better, snr, best_snr)
        best_p = np.where(better, p, best_p)
        if len(classes) == 2:
            best_cls = np.where(snr >= 0, classes[0], classes[1]).astype(object)
        else:
            best_cls = np.where(better, c, best_cls)
    if len(classes) == 2:
        best_snr = np.where(best_cls == classes[0], best_snr, -best_snr)  # SNR toward the marked class
    order = np.argsort(-np.abs(best_snr), kind="stable")
    m = len(best_p)
    ranked_p = best_p[order]
    q = np.minimum.accumulate((ranked_p * m / np.arange(1, m + 1))[::-1])[::-1]
    df = pd.DataFrame({
        "rank": np.arange(1, m + 1),
        "gene": [genes[i] for i in order],
        "name": [names.get(genes[i], "") for i in order],
        "marks_class": best_cls[order],
        "snr": np.round(best_snr[order], 5),
        "p_value": ranked_p,
        "q_value": np.clip(q, 0, 1),
    })
    if weights is not None:
        df["model_weight"] = np.round(weights[order], 6)
    return df


# -- the public verbs ------------------------------------------------------------------------------------
def _check_folds(folds: int, y) -> None:
    smallest = int(min(np.unique(np.asarray(y), return_counts=True)[1]))
    if folds < 2:
        raise UsageError("--cv must be at least 2 (or 0 for none)")
    if folds > smallest:
        raise UsageError(f"--cv {folds}: the smallest class has only {smallest} samples")


def cross_validate(data: ExpressionMatrix, folds: int, make_model) -> tuple[dict, pd.DataFrame]:
    """Stratified K-fold CV of the whole pipeline; returns metrics and out-of-fold predictions."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(data.labels)
    _check_folds(folds, y)
    seed = make_model().seed
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    classes = sorted(set(y))
    proba = np.zeros((len(y), len(classes)))
    fold_of = np.zeros(len(y), dtype=int)
    fold_acc = []
    for k, (tr, te) in enumerate(skf.split(data.X, y)):
        model = make_model().fit(data.X[tr], list(y[tr]), data.genes)
        p = model.predict_proba(data.X[te])
        idx = [classes.index(c) for c in model.classes]
        proba[np.ix_(te, idx)] = p
        fold_of[te] = k
        fold_acc.append(float((np.asarray(classes)[proba[te].argmax(axis=1)] == y[te]).mean()))
    metrics = classification_metrics(list(y), proba, classes)
    metrics["folds"] = folds
    metrics["fold_accuracy"] = fold_acc
    pred = pd.DataFrame({data.id_col: data.samples, "label": y, "fold": fold_of,
                         "prediction": np.asarray(classes)[proba.argmax(axis=1)]})
    for i, c in enumerate(classes):
        pred[f"prob_{c}"] = proba[:, i]
    return metrics, pred


def train_expression(matrix: str | os.PathLike, label_col: str, out: str | os.PathLike, *,
                     model: str = "logistic", reduce: str | None = None, cv: int = 5, seed: int = 0,
                     gene_names: str | os.PathLike | None = None, top_genes: int = 2000, log: str = "auto",
                     floor: str = "auto", ceiling: float | None = None, sample_center: bool = True,
                     valid: str | os.PathLike | None = None, ae_epochs: int = 300, id_col: str | None = None,
                     top_markers: int = 50) -> dict:
    """Fit a classifier on ``matrix`` (labels in ``label_col``) and write a run directory to ``out``."""
    from genolm.core.runs import RunDir, set_seed

    if log not in ("auto", "log2", "none"):
        raise UsageError(f"unknown --log {log!r}; use auto, log2 or none")
    if floor != "auto":
        try:
            float(floor)
        except ValueError:
            raise UsageError(f"--floor must be a number or auto, not {floor!r}") from None
    if top_genes < 0:
        raise UsageError("--top-genes must be >= 0 (0 keeps all genes)")
    data = read_matrix(matrix, label_col=label_col, id_col=id_col, require_label=True)
    if len(set(data.labels)) < 2:
        raise InputError(f"column {label_col!r} holds a single class; need at least two", data.path)
    names = read_gene_names(gene_names)
    pcfg = PreprocessConfig(log=log, floor=floor, ceiling=ceiling, top_genes=top_genes, sample_center=sample_center)
    valid_data = read_matrix(valid, label_col=label_col, id_col=id_col, require_label=True) if valid else None

    def make_model():
        return ExpressionClassifier(model, reduce, pcfg, seed=seed, ae_epochs=ae_epochs)

    make_model()  # validate options before creating the run directory
    if cv:
        _check_folds(cv, data.labels)
    config = {"matrix": str(matrix), "label_col": label_col, "model": model, "reduce": reduce or "none", "cv": cv,
              "seed": seed, "gene_names": str(gene_names) if gene_names else None,
              "valid": str(valid) if valid else None, "preprocess": asdict(pcfg), "ae_epochs": ae_epochs}
    out = Path(out)
    t0 = time.time()
    set_seed(seed)
    with RunDir(out, command="omics train", config=config, inputs=[matrix, gene_names, valid], seed=seed) as run:
        metrics: dict = {"n_samples": data.n_samples, "n_genes": len(data.genes),
                         "classes": dict(zip(*np.unique(data.labels, return_counts=True)))}
        metrics["classes"] = {str(k): int(v) for k, v in metrics["classes"].items()}
        if cv:
            cv_metrics, cv_pred = cross_validate(data, cv, make_model)
            metrics["cv"] = cv_metrics
            with atomic_open(out / "cv_predictions.csv", "w", newline="") as fh:
                cv_pred.to_csv(fh, index=False)
            logger.info("cv accuracy %.3f over %d folds", cv_metrics["accuracy"], cv)
        set_seed(seed)
        clf = make_model().fit(data.X, data.labels, data.genes)
        clf.save(run.model_dir)
        train_proba = clf.predict_proba(data.X)
        metrics["train"] = classification_metrics(data.labels, train_proba, clf.classes)
        if valid_data is not None:
            vp = clf.predict_proba(valid_data.align(clf.genes))
            metrics["valid"] = classification_metrics(valid_data.labels, vp, clf.classes)
        markers = marker_genes(clf.pre.log_values(data.X), data.labels, data.genes, names, clf.gene_weights())
        with atomic_open(out / "genes.csv", "w", newline="") as fh:
            markers.to_csv(fh, index=False)
        metrics["top_markers"] = markers.head(10)[["gene", "name", "marks_class", "snr"]].to_dict("records")
        metrics["seconds"] = round(time.time() - t0, 2)
        run.write_metrics(metrics)
        from genolm.omics.report import expression_report

        expression_report(out / "report.html", clf, data, markers.head(top_markers), metrics)
    return metrics


def _prediction_frame(clf: ExpressionClassifier, data: ExpressionMatrix) -> pd.DataFrame:
    proba = clf.predict_proba(data.align(clf.genes))
    df = pd.DataFrame({data.id_col: data.samples,
                       "prediction": [clf.classes[i] for i in proba.argmax(axis=1)]})
    for i, c in enumerate(clf.classes):
        df[f"prob_{c}"] = np.round(proba[:, i], 6)
    return df


def predict_expression(model: str | os.PathLike, matrix: str | os.PathLike, out: str | os.PathLike,
                       id_col: str | None = None) -> pd.DataFrame:
    """Write ``prediction`` and ``prob_<class>`` per sample (input order) to ``out`` (CSV)."""
    clf = ExpressionClassifier.load(model)
    label_col = _label_col_of(model)
    data = read_matrix(matrix, label_col=label_col, id_col=id_col)
    df = _prediction_frame(clf, data)
    with atomic_open(out, "w", newline="") as fh:
        df.to_csv(fh, index=False)
    return df


def _label_col_of(model: str | os.PathLike) -> str | None:
    """The training label column (so a matrix that still carries it is read correctly)."""
    import yaml

    cfg = Path(model) / "config.yaml"
    if cfg.is_file():
        return (yaml.safe_load(cfg.read_text()) or {}).get("label_col")
    return None


def evaluate_expression(model: str | os.PathLike, matrix: str | os.PathLike, label_col: str | None = None,
                        out: str | os.PathLike | None = None, id_col: str | None = None) -> dict:
    """Accuracy, balanced accuracy, ROC-AUC and confusion matrix on a labelled matrix."""
    clf = ExpressionClassifier.load(model)
    label_col = label_col or _label_col_of(model)
    if not label_col:
        raise UsageError("give --label-col (the model does not record one)")
    data = read_matrix(matrix, label_col=label_col, id_col=id_col, require_label=True)
    unknown = sorted(set(data.labels) - set(clf.classes))
    if unknown:
        raise InputError(f"labels unknown to the model: {', '.join(unknown)} (model classes: "
                         f"{', '.join(clf.classes)})", data.path)
    pred = _prediction_frame(clf, data)
    proba = pred[[f"prob_{c}" for c in clf.classes]].to_numpy()
    metrics = classification_metrics(data.labels, proba, clf.classes)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        pred.insert(1, "label", data.labels)
        with atomic_open(out / "predictions.csv", "w", newline="") as fh:
            pred.to_csv(fh, index=False)
        from genolm.io.atomic import atomic_write_text

        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    return metrics
