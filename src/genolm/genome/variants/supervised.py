"""Supervised variant-effect models: features, the ensemble, the model folder, and scoring with it.

Inputs are the reference context and REF/ALT only (never other INFO fields): window features from
:mod:`genolm.genome.variants.features` (reading frame inferred from the +-450 bp window, stop gain,
amino-acid change, splice-site motif change...), transcription-factor motif changes from
:mod:`genolm.genome.variants.motifs`, gene-structure features from :mod:`genolm.genome.variants.genemodel`
(the variant's consequence under an ab-initio gene model decoded over 100 kb of reference), plus, with
``--model BASE``, the zero-shot LLR of a genolm/HF DNA language model. A scikit-learn ensemble is fitted on
them (members on feature views, see :class:`Ensemble`); training is in :mod:`genolm.genome.variants.train`.

The model folder (a run's ``model/``) holds ``variant_model.json`` (task, label, feature names),
``variant_model.skops`` (the ensemble's fitted scikit-learn members, read back under
:mod:`genolm.core.persist`'s allow-list: loading never runs code) and, with a base LM, ``base_lm/`` (loaded
by :func:`genolm.core.loading.load_model`, no remote code). Folders written by genolm < 0.2 (an unsafe
serialized estimator instead of ``variant_model.skops``) are refused by :func:`genolm.core.persist.load_estimator`
with a "retrain or convert with `genolm convert`" message.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from genolm.genome.variants.features import FEATURE_NAMES, FLANK, feature_matrix
from genolm.genome.variants.genemodel import GM_FEATURES, GeneStructure
from genolm.genome.variants.motifs import MOTIF_FEATURES, MOTIF_FLANK, motif_features
from genolm.genome.variants.reference import Allele, ReferenceCache
from genolm.genome.variants.scorers import Scorer, lm_scorer
from genolm.interpret.motifscan import MotifScanner
from genolm.io.errors import InputError

VARIANT_MODEL_FILE = "variant_model.json"
ESTIMATOR_FILE = "variant_model.skops"
ALL_FEATURES = FEATURE_NAMES + MOTIF_FEATURES + GM_FEATURES


def allele_features(
    ref_cache: ReferenceCache,
    alleles: list[Allele],
    lm: Scorer | None = None,
    genes: GeneStructure | None = None,
    motifs: MotifScanner | None = None,
) -> np.ndarray:
    """Feature matrix (columns :data:`ALL_FEATURES`, then ``lm_llr`` with an LM)."""
    windows = [ref_cache.fetch(a.chrom, a.pos0 - FLANK, a.pos0 + len(a.ref) + FLANK) for a in alleles]
    X = feature_matrix(windows, [a.ref for a in alleles], [a.alt for a in alleles])
    motifs = motifs or MotifScanner.from_file()
    M = np.array(
        [
            [row[k] for k in MOTIF_FEATURES]
            for row in (
                motif_features(
                    motifs, w[FLANK - MOTIF_FLANK : FLANK + len(a.ref) + MOTIF_FLANK], MOTIF_FLANK, a.ref, a.alt
                )
                for w, a in zip(windows, alleles)
            )
        ],
        dtype=np.float64,
    )
    genes = genes or GeneStructure(ref_cache)
    G = np.array(
        [[row[k] for k in GM_FEATURES] for row in (genes.features(a.chrom, a.pos0, a.ref, a.alt) for a in alleles)],
        dtype=np.float64,
    )
    X = np.column_stack([X, M.reshape(len(alleles), len(MOTIF_FEATURES)), G.reshape(len(alleles), len(GM_FEATURES))])
    if lm is not None:
        llr = np.full(len(alleles), np.nan)
        idx = [i for i, a in enumerate(alleles) if lm.causal or a.is_substitution]
        if idx:
            res = lm.score([alleles[i] for i in idx])
            llr[idx] = [r["GENOLM_SCORE"] for r in res]
        X = np.column_stack([X, llr])
    return X


class Ensemble:
    """The mean of a few members, each a model on a subset of the columns (a "view", see :func:`feature_views`).

    Binary labels: class-balanced, strongly regularised logistic regressions on the window view, the gene-model
    view and the motif view, plus shallow gradient boosting on the gene-model view. On BRCA1 dev
    (leave-one-exon-library-out AUROC): boosting on all features 0.667 (it learns exon-specific patterns), one
    regression on the window features 0.743, on window + gene-model features together 0.775, the four members
    0.795 (benchmarks/variants.py).
    Continuous labels: ridge regression and shallow gradient boosting on all columns, plus ridge regression on
    the motif view alone. On the Kircher 2019 MPRA dev loci (CV grouped by locus, mean per-element Spearman):
    ridge + boosting on all columns 0.101, with the motif ridge 0.115 (the features that transfer between
    regulatory elements are the motif changes).
    """

    def __init__(self, binary: bool, seed: int, views: list[list[int]] | None = None):
        self.binary, self.seed = binary, seed
        if binary:
            self.members = (
                [("linear", views[0]), ("linear", views[1]), ("trees", views[1]), ("linear", views[2])]
                if views
                else [("linear", None)]
            )
        else:
            self.members = [("linear", None), ("trees", None)] + ([("linear", views[2])] if views else [])
        self.models: list = []
        self.columns: list = []

    def _make(self, kind: str):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if kind == "linear":
            lin = (
                LogisticRegression(C=0.02, class_weight="balanced", max_iter=3000) if self.binary else Ridge(alpha=30.0)
            )
            return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), lin)
        if self.binary:
            return HistGradientBoostingClassifier(
                max_iter=100,
                learning_rate=0.05,
                max_depth=2,
                min_samples_leaf=40,
                class_weight="balanced",
                random_state=self.seed,
            )
        return HistGradientBoostingRegressor(
            max_iter=150,
            learning_rate=0.05,
            max_depth=3,
            min_samples_leaf=40,
            l2_regularization=5.0,
            random_state=self.seed,
        )

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float64)
        self.models, self.columns = [], []
        for kind, view in self.members:
            cols = np.arange(X.shape[1]) if view is None else np.asarray(view, dtype=int)
            if kind == "trees":  # boosting cannot bin a column with no value at all (e.g. no coding SNV)
                cols = cols[~np.all(np.isnan(X[:, cols]), axis=0)]
            self.models.append(self._make(kind).fit(X[:, cols], y))
            self.columns.append(cols)
        return self

    def predict(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self.binary:
            return np.mean([m.predict_proba(X[:, c])[:, 1] for m, c in zip(self.models, self.columns)], axis=0)
        return np.mean([m.predict(X[:, c]) for m, c in zip(self.models, self.columns)], axis=0)

    def to_state(self) -> dict:
        """Plain containers of fitted scikit-learn estimators and arrays (what :func:`save_model` stores)."""
        return {
            "binary": bool(self.binary),
            "seed": int(self.seed),
            "members": [[kind, None if view is None else [int(i) for i in view]] for kind, view in self.members],
            "models": list(self.models),
            "columns": [np.asarray(c, dtype=np.int64) for c in self.columns],
        }

    @classmethod
    def from_state(cls, state: dict) -> "Ensemble":
        ens = cls(bool(state["binary"]), int(state["seed"]))
        ens.members = [(kind, view) for kind, view in state["members"]]
        ens.models, ens.columns = list(state["models"]), [np.asarray(c, dtype=int) for c in state["columns"]]
        if len(ens.models) != len(ens.members) or len(ens.columns) != len(ens.members):
            raise ValueError("inconsistent ensemble state")
        return ens


def feature_views(names: list[str]) -> list[list[int]]:
    """Column subsets of the ensemble: window features, gene-model features, motif features (each with the LM
    score when there is one)."""
    extra = [i for i, n in enumerate(names) if n not in ALL_FEATURES]
    window = [i for i, n in enumerate(names) if n in FEATURE_NAMES] + extra
    gene = [i for i, n in enumerate(names) if n in GM_FEATURES] + extra
    motif = [i for i, n in enumerate(names) if n in MOTIF_FEATURES] + extra
    return [window, gene, motif]


def save_model(model_dir: Path, est: Ensemble, meta: dict) -> None:
    """Write the ensemble (skops, allow-listed types only) and its JSON description into ``model_dir``."""
    from genolm.core.persist import save_estimator
    from genolm.io.atomic import atomic_write_text

    save_estimator(est.to_state(), model_dir / ESTIMATOR_FILE)
    atomic_write_text(model_dir / VARIANT_MODEL_FILE, json.dumps(meta, indent=2))


def load_model(model_dir: str | Path) -> tuple[Ensemble, dict]:
    """(ensemble, meta) of a variant model folder; a folder from genolm < 0.2 is refused (core.persist)."""
    from genolm.core.persist import load_estimator

    model_dir = Path(model_dir)
    p = model_dir / VARIANT_MODEL_FILE
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read the variant model description ({e})", p) from None
    if not isinstance(meta, dict) or meta.get("task") not in ("binary", "continuous"):
        raise InputError("not a genolm variant model description (no task binary/continuous)", p)
    if meta.get("features", [])[: len(ALL_FEATURES)] != ALL_FEATURES:
        raise InputError("variant model was trained with a different genolm feature set; retrain it", model_dir)
    state = load_estimator(model_dir / ESTIMATOR_FILE)  # no .skops but a legacy file: refuse_legacy
    try:
        est = Ensemble.from_state(state)
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"not a genolm variant model ({type(e).__name__}: {e})", model_dir / ESTIMATOR_FILE) from None
    return est, meta


class SupervisedScorer(Scorer):
    """Scores alleles with a model written by :func:`genolm.genome.variants.train.train`."""

    method = "supervised"
    causal = True  # indels are fine (features handle them)

    def __init__(self, model_dir: Path, ref_cache: ReferenceCache, batch_size: int = 128, device=None):
        super().__init__(ref_cache, 2 * FLANK + 1, batch_size)
        model_dir = Path(model_dir)
        self.est, self.meta = load_model(model_dir)
        self.genes = GeneStructure(ref_cache)  # decoded blocks are cached across score() calls
        self.motifs = MotifScanner.from_file()
        self.lm = None
        if self.meta.get("base_lm"):
            self.lm = lm_scorer(
                str(model_dir / self.meta["base_lm"]), ref_cache, "llr", batch_size=batch_size, device=device
            )
        what = "P(label = 1)" if self.meta["task"] == "binary" else "predicted value"
        self.fields = {"GENOLM_SCORE": f"supervised: {what} of {self.meta['label']} (genolm variants train)"}
        if self.lm is not None:
            self.fields["GENOLM_LLR"] = "zero-shot llr of the base LM (an input of the supervised model)"

    def score(self, alleles):
        X = allele_features(self.ref_cache, list(alleles), self.lm, self.genes, self.motifs)
        pred = self.est.predict(X)
        out = []
        for i, p in enumerate(pred):
            d = {"GENOLM_SCORE": float(p)}
            if self.lm is not None:
                d["GENOLM_LLR"] = float(X[i, -1])
            out.append(d)
        return out
