"""Classify samples from expression profiles and name the genes that drive the classes.

>>> from genolm.omics.expression import train, predict_expression
>>> metrics = train("train.csv", "runs/golub", label_col="cancer", cv=5)
>>> predict_expression("runs/golub", "new.csv", "pred.csv")
>>> import genolm; genolm.load("runs/golub").predict(new_dataframe)   # the same table as the CLI

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

from genolm.core.loading import find_model_dir
from genolm.core.persist import load_estimator, save_estimator
from genolm.io.atomic import atomic_open, atomic_path
from genolm.io.errors import InputError, UsageError
from genolm.omics.files import refuse_old_files
from genolm.omics.matrix import ExpressionMatrix, read_gene_names, read_matrix
from genolm.omics.preprocess import AutoencoderReducer, PreprocessConfig, Preprocessor, parse_reduce

logger = logging.getLogger("genolm.omics")

CLASSIFIERS = ("logistic", "svm", "mlp", "rf", "knn")
FORMAT = "genolm.omics.expression/1"
#: a file only an expression-classifier model folder has (genolm.load picks the loader by it)
MARKER = "preprocess.safetensors"


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
        return CalibratedClassifierCV(
            SVC(kernel="linear", C=1.0, random_state=seed), method="sigmoid", cv=3, ensemble=False
        )
    if name == "mlp":
        return MLPClassifier(hidden_layer_sizes=(64,), alpha=1.0, solver="lbfgs", max_iter=500, random_state=seed)
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

    def __init__(
        self,
        classifier: str = "logistic",
        reduce: str | None = None,
        preprocess: PreprocessConfig | None = None,
        seed: int = 0,
        ae_epochs: int = 300,
    ):
        self.classifier_name = classifier
        self.reduce_kind, self.reduce_k = parse_reduce(reduce)
        self.preprocess_config = preprocess or PreprocessConfig()
        self.seed = seed
        self.ae_epochs = ae_epochs
        make_classifier(classifier, seed)  # validate early
        self.genes: list[str] = []
        self.classes: list[str] = []
        self.label_col: str | None = None
        self.path: Path | None = None

    # -- fitting -------------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: list[str], genes: list[str], **train_kw) -> "ExpressionClassifier":
        """``train_kw`` (time_budget, out_dir, resume, checkpoint_every) go to the autoencoder's training."""
        with _single_thread():
            return self._fit(X, y, genes, train_kw)

    def _fit(self, X: np.ndarray, y: list[str], genes: list[str], train_kw: dict) -> "ExpressionClassifier":
        self.genes = list(genes)
        self.pre = Preprocessor(self.preprocess_config).fit(X)
        Z = self.pre.transform(X)
        self.reducer = None
        if self.reduce_kind == "pca":
            from sklearn.decomposition import PCA

            k = min(self.reduce_k, Z.shape[0], Z.shape[1])
            self.reducer = PCA(n_components=k, random_state=self.seed).fit(Z)
        elif self.reduce_kind == "autoencoder":
            self.reducer = AutoencoderReducer(self.reduce_k, epochs=self.ae_epochs, seed=self.seed).fit(Z, **train_kw)
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
    def save(self, directory: str | os.PathLike, label_col: str | None = None) -> None:
        """Safetensors (preprocessing, autoencoder), JSON (config) and skops (scikit-learn parts): nothing that runs code."""
        from safetensors.numpy import save_file

        with atomic_path(directory) as tmp:
            tmp.mkdir(parents=True)
            save_file({k: np.ascontiguousarray(v) for k, v in self.pre.arrays().items()}, str(tmp / MARKER))
            config = {
                "format": FORMAT,
                "classifier": self.classifier_name,
                "reduce": f"{self.reduce_kind}:{self.reduce_k}" if self.reduce_kind != "none" else "none",
                "classes": self.classes,
                "genes": self.genes,
                "seed": self.seed,
                "label_col": label_col,
                "preprocess": self.pre.state(),
            }
            (tmp / "config.json").write_text(json.dumps(config, indent=1))
            if self.reduce_kind == "autoencoder":
                self.reducer.save(tmp)
            elif self.reducer is not None:
                save_estimator(self.reducer, tmp / "reducer.skops")
            save_estimator(_storable(self.clf), tmp / "classifier.skops")

    @classmethod
    def load(cls, model: str | os.PathLike) -> "ExpressionClassifier":
        from safetensors.numpy import load_file

        directory = find_model_dir(model, marker=MARKER, what="expression model")
        refuse_old_files(directory, ("classifier", "reducer"))
        cfg_path = directory / "config.json"
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"corrupt or missing config.json ({e})", cfg_path) from None
        if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
            raise InputError("not an expression model (wrong format)", cfg_path)
        self = cls(cfg["classifier"], cfg["reduce"], PreprocessConfig(**cfg["preprocess"]["config"]), cfg["seed"])
        self.genes, self.classes = cfg["genes"], cfg["classes"]
        self.label_col = cfg.get("label_col")
        self.path = directory
        self.pre = Preprocessor.from_state(cfg["preprocess"], load_file(str(directory / MARKER)))
        self.reducer = None
        if self.reduce_kind == "autoencoder":
            self.reducer = AutoencoderReducer.load(directory)
        elif self.reduce_kind == "pca":
            self.reducer = load_estimator(directory / "reducer.skops")
        self.clf = _restored(load_estimator(directory / "classifier.skops"))
        return self


def _storable(clf):
    """What the skops file holds for a classifier. k-NN's fitted state holds a distance-metric object outside
    the persist allow-list, so a k-NN model is stored as its parameters and training points and refitted on
    load (k-NN fitting only indexes the points: the same predictions)."""
    from sklearn.neighbors import KNeighborsClassifier

    if isinstance(clf, KNeighborsClassifier):
        return {
            "refit": "KNeighborsClassifier",
            "n_neighbors": int(clf.n_neighbors),
            "X": np.asarray(clf._fit_X),
            "y": np.asarray(clf.classes_)[clf._y].astype(str),
        }
    return clf


def _restored(obj):
    if isinstance(obj, dict) and obj.get("refit") == "KNeighborsClassifier":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=obj["n_neighbors"]).fit(obj["X"], obj["y"])
    return obj


# -- metrics and markers ---------------------------------------------------------------------------------
def expression_metrics(y_true: list[str], proba: np.ndarray, classes: list[str]) -> dict:
    """genolm.core.metrics keys (n, accuracy, mcc, f1, auroc, auprc) plus balanced_accuracy, errors and
    the confusion matrix; ``proba`` columns follow ``classes``."""
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix

    from genolm.core.metrics import classification_metrics

    y_true = np.asarray(y_true)
    index = {c: i for i, c in enumerate(classes)}
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    out = classification_metrics(np.array([index[c] for c in y_true]), proba)
    out["balanced_accuracy"] = float(balanced_accuracy_score(y_true, pred))
    out["errors"] = int((pred != y_true).sum())
    out["confusion"] = {"labels": list(classes), "matrix": confusion_matrix(y_true, pred, labels=classes).tolist()}
    return out


def marker_genes(
    L: np.ndarray, y: list[str], genes: list[str], names: dict[str, str], weights: np.ndarray | None = None
) -> pd.DataFrame:
    """Per gene: the class it marks (one-vs-rest), Golub's signal-to-noise ratio, Welch t-test p and BH q.

    ``L`` holds clipped/logged values of all genes. Sorted by |SNR| (strongest markers first). The
    Benjamini-Hochberg q-values are computed over all genes' p-values (scipy's false_discovery_control),
    independent of the display order: q >= p, and q is monotone in p.
    """
    from scipy import stats

    from genolm.core.metrics import fdr_bh

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
    q = fdr_bh(best_p)[order]
    df = pd.DataFrame(
        {
            "rank": np.arange(1, m + 1),
            "gene": [genes[i] for i in order],
            "name": [names.get(genes[i], "") for i in order],
            "marks_class": best_cls[order],
            "snr": np.round(best_snr[order], 5),
            "p_value": ranked_p,
            "q_value": np.clip(q, 0, 1),
        }
    )
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


def cross_validate(data: ExpressionMatrix, folds: int, make_model, time_budget=None) -> tuple[dict, pd.DataFrame]:
    """Stratified K-fold CV of the whole pipeline; returns metrics and out-of-fold predictions.
    ``time_budget``: a callable giving the seconds left (for an autoencoder's training), or None."""
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
        model = make_model().fit(
            data.X[tr], list(y[tr]), data.genes, time_budget=time_budget() if time_budget else None
        )
        p = model.predict_proba(data.X[te])
        idx = [classes.index(c) for c in model.classes]
        proba[np.ix_(te, idx)] = p
        fold_of[te] = k
        fold_acc.append(float((np.asarray(classes)[proba[te].argmax(axis=1)] == y[te]).mean()))
    metrics = expression_metrics(list(y), proba, classes)
    metrics["folds"] = folds
    metrics["fold_accuracy"] = fold_acc
    pred = pd.DataFrame(
        {
            data.id_col: data.samples,
            "label": y,
            "fold": fold_of,
            "prediction": np.asarray(classes)[proba.argmax(axis=1)],
        }
    )
    for i, c in enumerate(classes):
        pred[f"prob_{c}"] = proba[:, i]
    return metrics, pred


def train(
    train: str | os.PathLike,
    out: str | os.PathLike,
    *,
    label_col: str,
    valid: str | os.PathLike | None = None,
    model: str = "logistic",
    reduce: str | None = None,
    cv: int = 5,
    gene_names: str | os.PathLike | None = None,
    top_genes: int = 2000,
    log: str = "auto",
    floor: str = "auto",
    ceiling: float | None = None,
    sample_center: bool = True,
    ae_epochs: int = 300,
    id_col: str | None = None,
    top_markers: int = 50,
    time_budget: str | float | None = "25m",
    seed: int = 0,
    overwrite: bool = False,
    resume: bool = False,
    checkpoint_every: int = 0,
) -> dict:
    """Fit a classifier on the ``train`` matrix (classes in ``label_col``) and write a run directory to ``out``.

    ``valid``: a labelled matrix scored after training; ``cv``: stratified K-fold CV of the whole pipeline
    (0 = none). ``time_budget`` (e.g. "25m", or seconds) bounds the autoencoder's training (with
    ``reduce="autoencoder:K"``; scikit-learn fits are not interrupted). ``checkpoint_every`` (steps) and
    ``resume`` apply to the final autoencoder fit. Returns the metrics written to ``metrics.json``.
    """
    from genolm.core.runs import RunDir, parse_duration, set_seed

    if log not in ("auto", "log2", "none"):
        raise UsageError(f"unknown --log {log!r}; use auto, log2 or none")
    if floor != "auto":
        try:
            float(floor)
        except ValueError:
            raise UsageError(f"--floor must be a number or auto, not {floor!r}") from None
    if top_genes < 0:
        raise UsageError("--top-genes must be >= 0 (0 keeps all genes)")
    if checkpoint_every < 0:
        raise UsageError("--checkpoint-every must be >= 0 (0 = no checkpoints)")
    budget = parse_duration(time_budget)
    data = read_matrix(train, label_col=label_col, id_col=id_col, require_label=True)
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
    config = {
        "matrix": str(train),
        "label_col": label_col,
        "model": model,
        "reduce": reduce or "none",
        "cv": cv,
        "seed": seed,
        "gene_names": str(gene_names) if gene_names else None,
        "valid": str(valid) if valid else None,
        "preprocess": asdict(pcfg),
        "ae_epochs": ae_epochs,
        "time_budget_s": budget,
        "checkpoint_every": checkpoint_every,
    }
    t0 = time.time()

    def remaining() -> float | None:
        return None if budget is None else max(1.0, budget - (time.time() - t0))

    set_seed(seed)
    with RunDir(
        out,
        command="omics train",
        config=config,
        inputs=[train, gene_names, valid],
        seed=seed,
        overwrite=overwrite,
        resume=resume,
    ) as run:
        metrics: dict = {
            "n_samples": data.n_samples,
            "n_genes": len(data.genes),
            "classes": dict(zip(*np.unique(data.labels, return_counts=True))),
        }
        metrics["classes"] = {str(k): int(v) for k, v in metrics["classes"].items()}
        if cv:
            cv_metrics, cv_pred = cross_validate(data, cv, make_model, time_budget=remaining)
            metrics["cv"] = cv_metrics
            with atomic_open(run.path / "cv_predictions.csv", "w", newline="") as fh:
                cv_pred.to_csv(fh, index=False)
            logger.info("cv accuracy %.3f over %d folds", cv_metrics["accuracy"], cv)
        set_seed(seed)
        clf = make_model().fit(
            data.X,
            data.labels,
            data.genes,
            time_budget=remaining(),
            out_dir=run.path,
            resume=resume,
            checkpoint_every=checkpoint_every,
        )
        clf.save(run.model_dir, label_col=label_col)
        train_proba = clf.predict_proba(data.X)
        metrics["train"] = expression_metrics(data.labels, train_proba, clf.classes)
        if valid_data is not None:
            vp = clf.predict_proba(valid_data.align(clf.genes))
            metrics["valid"] = expression_metrics(valid_data.labels, vp, clf.classes)
        markers = marker_genes(clf.pre.log_values(data.X), data.labels, data.genes, names, clf.gene_weights())
        with atomic_open(run.path / "genes.csv", "w", newline="") as fh:
            markers.to_csv(fh, index=False)
        metrics["top_markers"] = markers.head(10)[["gene", "name", "marks_class", "snr"]].to_dict("records")
        metrics["seconds"] = round(time.time() - t0, 2)
        run.write_metrics(metrics)
        from genolm.omics.report import expression_report

        expression_report(run.path / "report.html", clf, data, markers.head(top_markers), metrics)
    return metrics


def train_expression(matrix: str | os.PathLike, label_col: str, out: str | os.PathLike, **kwargs) -> dict:
    """:func:`train` with the older argument order ``(matrix, label_col, out, ...)`` (kept for scripts)."""
    return train(matrix, out, label_col=label_col, **kwargs)


def prediction_frame(clf: ExpressionClassifier, data: ExpressionMatrix) -> pd.DataFrame:
    """What `genolm omics predict` writes: ``<id column>, prediction, prob_<class>...`` in input order."""
    proba = clf.predict_proba(data.align(clf.genes))
    df = pd.DataFrame({data.id_col: data.samples, "prediction": [clf.classes[i] for i in proba.argmax(axis=1)]})
    for i, c in enumerate(clf.classes):
        df[f"prob_{c}"] = np.round(proba[:, i], 6)
    return df


def predict_expression(
    model: str | os.PathLike | ExpressionClassifier,
    matrix: str | os.PathLike,
    out: str | os.PathLike | None = None,
    id_col: str | None = None,
) -> pd.DataFrame:
    """``prediction`` and ``prob_<class>`` per sample (input order), written to ``out`` (CSV) when given."""
    clf = model if isinstance(model, ExpressionClassifier) else ExpressionClassifier.load(model)
    data = read_matrix(matrix, label_col=label_col_of(clf), id_col=id_col)
    df = prediction_frame(clf, data)
    if out is not None:
        with atomic_open(out, "w", newline="") as fh:
            df.to_csv(fh, index=False)
    return df


def label_col_of(clf: ExpressionClassifier) -> str | None:
    """The training label column (so a matrix that still carries it is read correctly): recorded in the
    model's config.json, or (folders from before it was) in the run's config.yaml."""
    import yaml

    if getattr(clf, "label_col", None):
        return clf.label_col
    cfg = Path(clf.path).parent / "config.yaml"
    if cfg.is_file():
        return (yaml.safe_load(cfg.read_text()) or {}).get("label_col")
    return None


def evaluate_expression(
    model: str | os.PathLike,
    matrix: str | os.PathLike,
    label_col: str | None = None,
    out: str | os.PathLike | None = None,
    id_col: str | None = None,
) -> dict:
    """Accuracy, balanced accuracy, MCC, AUROC and confusion matrix on a labelled matrix."""
    clf = ExpressionClassifier.load(model)
    label_col = label_col or label_col_of(clf)
    if not label_col:
        raise UsageError("give --label-col (the model does not record one)")
    data = read_matrix(matrix, label_col=label_col, id_col=id_col, require_label=True)
    unknown = sorted(set(data.labels) - set(clf.classes))
    if unknown:
        raise InputError(
            f"labels unknown to the model: {', '.join(unknown)} (model classes: {', '.join(clf.classes)})", data.path
        )
    pred = prediction_frame(clf, data)
    proba = pred[[f"prob_{c}" for c in clf.classes]].to_numpy()
    metrics = expression_metrics(data.labels, proba, clf.classes)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        pred.insert(1, "label", data.labels)
        with atomic_open(out / "predictions.csv", "w", newline="") as fh:
            pred.to_csv(fh, index=False)
        from genolm.io.atomic import atomic_write_text

        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    return metrics
