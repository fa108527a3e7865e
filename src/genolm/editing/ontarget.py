"""On-target efficiency regression from the guide sequence and its genomic context.

The model is an ensemble chosen on the dev split: several small multi-kernel CNNs on the one-hot
sequence (:mod:`genolm.editing.cnn`, trained by :func:`genolm.core.train.train`, early-stopped on dev
Spearman) plus a histogram gradient-boosting model on handcrafted Rule-Set-2 style features
(scikit-learn). Members are z-scored and mixed with a weight picked on dev.

Inputs are equal-length sequences as the data provides them: a 30-mer (4 nt + 20 nt spacer + PAM + 3 nt)
or a 23-mer (spacer + PAM), or a bare 20-mer spacer. Saved as ``model/``: ``genolm_ontarget.json`` (the
marker :func:`genolm.load` looks for), ``config.json``, ``cnn.safetensors`` (all CNN members) and
``gbm.skops`` (skops, allow-listed types only; folders from earlier versions, whose GBM file could run code, are
refused with a "retrain or convert" message).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genolm.core.metrics import pearson, regression_metrics, spearman
from genolm.editing.cnn import MIN_EPOCHS, build_cnn, predict_raw, train_member
from genolm.editing.features import handcrafted_features
from genolm.editing.guides import check_guide
from genolm.io.errors import InputError, UsageError
from genolm.sequence import one_hot

log = logging.getLogger("genolm.editing")

# Where the 20-nt spacer starts for each supported input length.
SPACER_OFFSET = {30: 4, 23: 0, 20: 0}
MODEL_TYPE = "genolm-crispr-ontarget"
MARKER = "genolm_ontarget.json"  # unique to this model type (genolm.load's marker)
__all__ = [
    "MARKER",
    "MIN_EPOCHS",
    "OnTargetConfig",
    "OnTargetModel",
    "build_cnn",
    "evaluate_file",
    "predict_file",
    "predict_frame",
    "score_sequences",
    "train",
    "train_ontarget",
]


@dataclass
class OnTargetConfig:
    length: int = 30
    spacer_offset: int = 4
    n_cnn: int = 4
    filters: int = 64
    kernels: tuple[int, ...] = (3, 5, 7)
    hidden: int = 128
    dropout: float = 0.3
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 60
    patience: int = 6
    use_gbm: bool = True
    gbm_max_iter: int = 400
    gbm_learning_rate: float = 0.1
    # filled in by fit()
    y_mean: float = 0.0
    y_std: float = 1.0
    cnn_weight: float = 1.0
    member_stats: list = field(default_factory=list)  # (mean, std) of each member's dev predictions


def rank_metrics(y_true, y_pred) -> dict:
    """For ensemble members, whose outputs are on the z-scored scale (an MSE would mislead)."""
    return {"spearman": spearman(y_true, y_pred), "pearson": pearson(y_true, y_pred)}


class OnTargetModel:
    """Ensemble on-target regressor with a scikit-learn-like ``fit`` / ``predict``."""

    def __init__(self, config: OnTargetConfig | None = None):
        self.config = config or OnTargetConfig()
        self.cnns: list = []
        self.gbm = None
        self.history: list[dict] = []
        self.dev_metrics: dict = {}

    # -- training -------------------------------------------------------------------------------
    def fit(
        self,
        train_seqs: list[str],
        y_train,
        dev_seqs: list[str],
        y_dev,
        seed: int = 0,
        time_budget: float | None = None,
        work_dir: str | os.PathLike | None = None,
        resume: bool = False,
        checkpoint_every: int = 0,
    ) -> "OnTargetModel":
        """Fit on train, early-stop and mix on dev. With ``work_dir`` (the run directory), finished members are
        kept in ``work_dir/members`` and the member in training checkpoints to ``work_dir/checkpoint`` every
        ``checkpoint_every`` steps, so ``resume=True`` continues a killed run where it stopped."""
        from genolm.core.progress import progress

        cfg = self.config
        cfg.length = len(train_seqs[0])
        cfg.spacer_offset = SPACER_OFFSET.get(cfg.length, 0)
        y_train = np.asarray(y_train, dtype=np.float32)
        y_dev = np.asarray(y_dev, dtype=np.float32)
        cfg.y_mean, cfg.y_std = float(y_train.mean()), float(y_train.std() or 1.0)
        z_tr = (y_train - cfg.y_mean) / cfg.y_std
        start = time.monotonic()
        budget = time_budget if time_budget else float("inf")
        members_dir = Path(work_dir) / "members" if work_dir is not None else None
        if members_dir is not None:
            members_dir.mkdir(parents=True, exist_ok=True)
        # The GBM is quick; the CNNs share what is left of the budget.
        dev_preds = []
        if cfg.use_gbm:
            f_dev = handcrafted_features(dev_seqs, cfg.spacer_offset)
            gbm_file = members_dir / "gbm.skops" if members_dir is not None else None
            if resume and gbm_file is not None and gbm_file.is_file():
                from genolm.core.persist import load_estimator

                self.gbm = load_estimator(gbm_file)
                log.info("resume: gradient-boosting member reloaded from %s", gbm_file)
            else:
                self._fit_gbm(handcrafted_features(train_seqs, cfg.spacer_offset), z_tr, seed, start + 0.25 * budget)
                if gbm_file is not None:
                    from genolm.core.persist import save_estimator

                    save_estimator(self.gbm, gbm_file)
            gbm_dev = self.gbm.predict(f_dev)
            self.dev_metrics["gbm"] = rank_metrics(y_dev, gbm_dev)
            log.info("gbm dev spearman %.4f (%d iterations)", self.dev_metrics["gbm"]["spearman"], self.gbm.n_iter_)
        x_tr, x_dev = one_hot(train_seqs), one_hot(dev_seqs)
        cnn_dev = []
        for k in progress(range(cfg.n_cnn), total=cfg.n_cnn, desc="cnn members", unit="model"):
            done = self._load_member(members_dir, k) if resume else None
            if done is None:
                left = budget - (time.monotonic() - start)
                if k > 0 and left < 0:
                    log.warning("time budget spent: keeping %d of %d CNN members", k, cfg.n_cnn)
                    break
                if k > 0 and math.isfinite(left) and self._epoch_seconds() * MIN_EPOCHS > left:
                    log.warning("not enough budget left for another CNN member (%d of %d trained)", k, cfg.n_cnn)
                    break
                done = train_member(
                    cfg,
                    x_tr,
                    z_tr,
                    x_dev,
                    y_dev,
                    seed + k,
                    left,
                    cfg.n_cnn - k,
                    out_dir=work_dir,
                    resume=resume and work_dir is not None and (Path(work_dir) / "checkpoint").is_dir(),
                    checkpoint_every=checkpoint_every,
                )
                self._save_member(members_dir, k, *done)
            model, best, history = done
            self.history.extend(history)
            self.cnns.append(model)
            cnn_dev.append(self._cnn_raw([model], x_dev))
            self.dev_metrics[f"cnn_{k}"] = {"spearman": best}
        cfg.n_cnn = len(self.cnns)
        cnn_mean = np.mean(cnn_dev, axis=0)
        self.dev_metrics["cnn_ensemble"] = rank_metrics(y_dev, cnn_mean)
        dev_preds.append(cnn_mean)
        if self.gbm is not None:
            dev_preds.append(gbm_dev)
        cfg.member_stats = [(float(p.mean()), float(p.std() or 1.0)) for p in dev_preds]
        if self.gbm is not None:
            # Mixing weight picked on dev (one parameter; dev figures are therefore slightly optimistic).
            zs = [(p - m) / s for p, (m, s) in zip(dev_preds, cfg.member_stats)]
            grid = np.linspace(0, 1, 11)
            scores = np.array([spearman(y_dev, w * zs[0] + (1 - w) * zs[1]) for w in grid])
            cfg.cnn_weight = float(grid[int(np.nanargmax(scores))]) if np.isfinite(scores).any() else 1.0
        else:
            cfg.cnn_weight = 1.0
        self.dev_predictions = self.predict(dev_seqs)
        self.dev_metrics["ensemble"] = regression_metrics(y_dev, self.dev_predictions)
        self.dev_metrics["cnn_weight"] = cfg.cnn_weight
        if members_dir is not None:
            shutil.rmtree(members_dir, ignore_errors=True)  # the model is saved in model/ from here on
        return self

    def _fit_gbm(self, f_tr: np.ndarray, z_tr: np.ndarray, seed: int, deadline: float) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        cfg = self.config
        self.gbm = HistGradientBoostingRegressor(
            max_iter=0,
            learning_rate=cfg.gbm_learning_rate,
            max_leaf_nodes=31,
            min_samples_leaf=20,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=20,
            random_state=seed,
            warm_start=True,
        )
        # Grown 25 trees at a time so it can stop at its share of the budget (a quarter); OpenMP barriers
        # in HGB crawl on an oversubscribed CPU, and one thread is fast enough here.
        with threadpool_limits(limits=1, user_api="openmp"):
            while self.gbm.max_iter < cfg.gbm_max_iter:
                self.gbm.max_iter += 25
                self.gbm.fit(f_tr, z_tr)
                if self.gbm.n_iter_ < self.gbm.max_iter or time.monotonic() > deadline:
                    break  # early-stopped on its validation fraction, or out of time

    def _save_member(self, members_dir: Path | None, k: int, model, best: float, history: list) -> None:
        if members_dir is None:
            return
        from safetensors.torch import save_file

        from genolm.io.atomic import atomic_path, atomic_write_text

        with atomic_path(members_dir / f"cnn{k}.safetensors") as tmp:
            save_file({n: v.contiguous() for n, v in model.state_dict().items()}, str(tmp))
        atomic_write_text(members_dir / f"cnn{k}.json", json.dumps({"best": best, "history": history}))

    def _load_member(self, members_dir: Path | None, k: int):
        if members_dir is None or not (members_dir / f"cnn{k}.json").is_file():
            return None
        from safetensors.torch import load_file

        meta = json.loads((members_dir / f"cnn{k}.json").read_text())
        model = build_cnn(self.config)
        model.load_state_dict(load_file(str(members_dir / f"cnn{k}.safetensors")))
        log.info("resume: CNN member %d reloaded (dev spearman %.4f)", k, meta["best"])
        return model.eval(), float(meta["best"]), meta["history"]

    def _epoch_seconds(self) -> float:
        times = [h["seconds"] for h in self.history if "seconds" in h]
        return float(np.median(times)) if times else 0.0

    # -- inference ------------------------------------------------------------------------------
    def _cnn_raw(self, models, x: np.ndarray) -> np.ndarray:
        return np.mean([predict_raw(m, x) for m in models], axis=0)

    def predict(self, seqs: list[str]) -> np.ndarray:
        """Efficiency on the training target's scale, one value per (valid, equal-length) sequence."""
        cfg = self.config
        if not seqs:
            return np.zeros(0)
        members = [self._cnn_raw(self.cnns, one_hot(seqs))]
        if self.gbm is not None:
            members.append(self.gbm.predict(handcrafted_features(seqs, cfg.spacer_offset)))
        zs = [(p - m) / s for p, (m, s) in zip(members, cfg.member_stats)]
        z = zs[0] if len(zs) == 1 else cfg.cnn_weight * zs[0] + (1 - cfg.cnn_weight) * zs[1]
        return cfg.y_mean + cfg.y_std * z

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, sequence_col: str | None = None) -> Path:
        from safetensors.torch import save_file

        from genolm.core.persist import save_estimator
        from genolm.io.atomic import atomic_path, atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"member{i}.{k}": v.contiguous() for i, m in enumerate(self.cnns) for k, v in m.state_dict().items()}
        with atomic_path(directory / "cnn.safetensors") as tmp:
            save_file(tensors, str(tmp))
        if self.gbm is not None:
            save_estimator(self.gbm, directory / "gbm.skops")
        cfg = asdict(self.config)
        cfg["model_type"] = MODEL_TYPE
        atomic_write_text(directory / "config.json", json.dumps(cfg, indent=2))
        atomic_write_text(
            directory / MARKER,
            json.dumps(
                {
                    "model_type": MODEL_TYPE,
                    "format": 2,
                    "input_length": self.config.length,
                    "sequence_col": sequence_col,
                },
                indent=2,
            ),
        )
        return directory

    @classmethod
    def load(cls, path: str | os.PathLike) -> "OnTargetModel":
        from safetensors.torch import load_file

        from genolm.core.loading import find_model_dir
        from genolm.core.persist import load_estimator

        directory = find_model_dir(path, marker=(MARKER, "config.json"), what="CRISPR on-target model")
        cfg_path = directory / "config.json"
        if not cfg_path.is_file():
            raise InputError("CRISPR on-target model folder without config.json", directory)
        try:
            raw = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"corrupt config.json ({e})", cfg_path) from None
        if not isinstance(raw, dict) or raw.pop("model_type", None) != MODEL_TYPE:
            raise InputError("not a genolm CRISPR on-target model (config.json model_type)", cfg_path)
        raw["kernels"] = tuple(raw.get("kernels", OnTargetConfig.kernels))
        known = {k: v for k, v in raw.items() if k in OnTargetConfig.__dataclass_fields__}
        self = cls(OnTargetConfig(**known))
        if self.config.use_gbm:  # before the CNN: an old-format folder gets the "retrain or convert" message
            self.gbm = load_estimator(directory / "gbm.skops")
        weights = directory / "cnn.safetensors"
        if not weights.is_file():
            raise InputError("model file missing", weights)
        tensors = load_file(str(weights))
        for i in range(self.config.n_cnn):
            m = build_cnn(self.config)
            prefix = f"member{i}."
            try:
                m.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
            except RuntimeError as e:
                raise InputError(
                    f"CNN member {i} does not match config.json ({str(e).splitlines()[0]})", weights
                ) from None
            m.eval()
            self.cnns.append(m)
        return self


# -- table-level API used by the CLI and genolm.load ----------------------------------------------


def _read_training_table(path, sequence_col: str, label_col: str, length: int | None = None):
    from genolm.io.tables import read_table

    df = read_table(path, required=[sequence_col, label_col])
    seqs = []
    for i, raw in enumerate(df[sequence_col].tolist()):
        s, err = check_guide(raw, lengths=(20, 23, 30) if length is None else (length,))
        if err:
            raise InputError(f"{sequence_col!r}: {err}", path, i + 2)
        if length is None:
            length = len(s)
        elif len(s) != length:
            raise InputError(
                f"{sequence_col!r}: sequence length {len(s)} differs from the first row's {length}", path, i + 2
            )
        seqs.append(s)
    y = df[label_col]
    try:
        y = y.astype(float)
    except (TypeError, ValueError):
        bad = int(pd_numeric(y, path, label_col, allow_some=True))
        raise InputError(f"non-numeric value in {label_col!r}", path, bad + 2) from None
    if y.isna().any():
        raise InputError(f"missing {label_col!r} value", path, int(y.isna().to_numpy().argmax()) + 2)
    return seqs, y.to_numpy(dtype=np.float32)


def train(
    train: str | os.PathLike,
    out: str | os.PathLike,
    *,
    label_col: str,
    valid: str | os.PathLike | None = None,
    sequence_col: str = "sequence",
    time_budget: str | float | None = "20m",
    seed: int = 0,
    epochs: int | None = None,
    n_cnn: int | None = None,
    use_gbm: bool = True,
    threads: int | None = 1,
    overwrite: bool = False,
    resume: bool = False,
    checkpoint_every: int = 500,
) -> dict:
    """Train the on-target ensemble on ``train`` and write a run directory at ``out``.

    ``valid`` is the dev table used for early stopping and the mixing weight; without it a seeded 10% of
    ``train`` is held out. ``time_budget``: seconds or a duration string (``"20m"``, ``"1h"``); ``None``
    trains to ``epochs`` / early stopping. ``resume=True`` continues a killed run from its checkpoint.
    Returns the metrics written to ``metrics.json`` (``dev`` = the ensemble on the dev rows).
    """
    from genolm.core.runs import RunDir, parse_duration, set_seed, staging_path
    from genolm.editing.report import ontarget_report

    budget = parse_duration(time_budget)
    if checkpoint_every < 0:
        raise UsageError("--checkpoint-every must be >= 0 (0 = never)")
    if threads:
        import torch

        torch.set_num_threads(threads)  # small CNNs: 1 thread wastes little and never spins on a busy CPU
    train, valid = str(train), None if valid is None else str(valid)
    tr_seqs, y_tr = _read_training_table(train, sequence_col, label_col)
    if valid is not None:
        dv_seqs, y_dv = _read_training_table(valid, sequence_col, label_col, length=len(tr_seqs[0]))
    else:
        order = np.random.default_rng(seed).permutation(len(tr_seqs))
        n_dev = max(3, len(tr_seqs) // 10)
        dev_idx, tr_idx = np.sort(order[:n_dev]), np.sort(order[n_dev:])
        dv_seqs, y_dv = [tr_seqs[i] for i in dev_idx], y_tr[dev_idx]
        tr_seqs, y_tr = [tr_seqs[i] for i in tr_idx], y_tr[tr_idx]
        log.info("no --valid: holding out %d of %d training rows (seed %d) as dev", n_dev, len(order), seed)
    if len(tr_seqs) < 10 or len(dv_seqs) < 3:
        raise InputError("too few rows to train (need >= 10 train and >= 3 valid rows)", train)
    cfg = OnTargetConfig(use_gbm=use_gbm)
    if epochs is not None:
        if epochs < 1:
            raise UsageError("--epochs must be >= 1")
        cfg.max_epochs = epochs
    if n_cnn is not None:
        if n_cnn < 1:
            raise UsageError("--n-cnn must be >= 1")
        cfg.n_cnn = n_cnn
    config = {
        "train": train,
        "valid": valid,
        "sequence_col": sequence_col,
        "label_col": label_col,
        "seed": seed,
        "time_budget_s": budget,
        "checkpoint_every": checkpoint_every,
        "model": asdict(cfg),
    }
    if resume and not staging_path(out).is_dir():
        log.warning("--resume: no interrupted run at %s, nothing to resume; training from the start", out)
    with RunDir(
        out,
        command="crispr train",
        config=config,
        inputs=[p for p in (train, valid) if p],
        seed=seed,
        overwrite=overwrite,
        resume=resume,
    ) as run:
        set_seed(seed)
        t0 = time.monotonic()
        model = OnTargetModel(cfg).fit(
            tr_seqs,
            y_tr,
            dv_seqs,
            y_dv,
            seed=seed,
            time_budget=budget,
            work_dir=run.path,
            resume=resume,
            checkpoint_every=checkpoint_every,
        )
        model.save(run.model_dir, sequence_col=sequence_col)
        metrics = {
            "dev": model.dev_metrics["ensemble"],
            "members": model.dev_metrics,
            "train_seconds": round(time.monotonic() - t0, 1),
            "n_train": len(tr_seqs),
            "n_dev": len(dv_seqs),
        }
        run.write_metrics(metrics)
        run.write_json("history.json", model.history)
        _write_predictions(run.path / "dev_predictions.csv", dv_seqs, model.dev_predictions, y_dv, sequence_col)
        ontarget_report(run.path / "report.html", model, y_dv, metrics)
    return metrics


def train_ontarget(
    train_path: str,
    valid: str | None,
    sequence_col: str,
    target_col: str,
    out: str,
    seed: int = 0,
    time_budget: float | str | None = 20 * 60,
    epochs: int | None = None,
    n_cnn: int | None = None,
    use_gbm: bool = True,
    threads: int | None = 1,
    **kw,
) -> dict:
    """The earlier positional signature (benchmarks/scripts); same as :func:`train`."""
    return train(
        train_path,
        out,
        valid=valid,
        sequence_col=sequence_col,
        label_col=target_col,
        seed=seed,
        time_budget=time_budget,
        epochs=epochs,
        n_cnn=n_cnn,
        use_gbm=use_gbm,
        threads=threads,
        **kw,
    )


def _write_predictions(path, seqs, scores, y=None, sequence_col="sequence"):
    import pandas as pd

    from genolm.io.atomic import atomic_open

    df = pd.DataFrame({sequence_col: seqs, "score": scores})
    if y is not None:
        df["target"] = y
    with atomic_open(path, "w", newline="") as fh:
        df.to_csv(fh, index=False)


def score_sequences(model: OnTargetModel, seqs: list) -> tuple[np.ndarray, list[str | None]]:
    """Scores for a list of sequences; a bad one gets NaN and a reason, the others are still scored."""
    length = model.config.length
    good, idx, errors = [], [], []
    for i, raw in enumerate(seqs):
        s, err = check_guide(raw, lengths=(length,))
        errors.append(err)
        if err is None:
            good.append(s)
            idx.append(i)
    scores = np.full(len(seqs), np.nan)
    if good:
        scores[idx] = model.predict(good)
    return scores, errors


def predict_frame(model: OnTargetModel, df, sequence_col: str, source: str = "<input>", first_line: int = 2):
    """What ``genolm crispr predict`` writes: ``df`` (order kept) + ``score`` (+ ``error`` when a row is bad).

    Shared by the CLI and :class:`genolm.editing.predictors.OnTargetPredictor`. Every row bad is an error.
    """
    if sequence_col not in df.columns:
        raise InputError(f"missing column(s) {sequence_col!r} (columns: {', '.join(map(str, df.columns))})", source)
    df = df.copy()
    scores, errors = score_sequences(model, df[sequence_col].tolist())
    n_bad = sum(e is not None for e in errors)
    for i, e in enumerate(errors):
        if e is not None:
            log.warning("%s:%d: %s", source, i + first_line, e)
    if len(df) and n_bad == len(df):
        raise InputError(
            f"no valid sequence in {sequence_col!r} (first problem: {errors[0]}; the model expects "
            f"{model.config.length}-nt sequences)",
            source,
            first_line,
        )
    df["score"] = scores
    if n_bad:
        df["error"] = [e or "" for e in errors]
    return df


def predict_file(model_path: str, input_path: str, sequence_col: str, out: str) -> dict:
    """Score every row of ``input_path`` (order kept); adds ``score`` (and ``error`` for bad rows)."""
    from genolm.io.atomic import atomic_open
    from genolm.io.tables import read_table

    model = OnTargetModel.load(model_path)
    df = predict_frame(model, read_table(input_path, required=[sequence_col]), sequence_col, str(input_path))
    n_bad = int((df["error"] != "").sum()) if "error" in df.columns else 0
    sep = "\t" if str(out).lower().endswith((".tsv", ".txt")) else ","
    with atomic_open(out, "w", newline="") as fh:
        df.to_csv(fh, index=False, sep=sep)
    return {"rows": len(df), "scored": len(df) - n_bad, "bad": n_bad, "out": str(out)}


def evaluate_file(model_path: str, input_path: str, sequence_col: str, label_col: str, out: str | None = None) -> dict:
    """Spearman / Pearson (and the other regression metrics) on a labelled table; bad rows are skipped, counted."""
    from genolm.io.atomic import atomic_write_text
    from genolm.io.tables import read_table

    model = OnTargetModel.load(model_path)
    df = read_table(input_path, required=[sequence_col, label_col])
    scores, errors = score_sequences(model, df[sequence_col].tolist())
    y = pd_numeric(df[label_col], input_path, label_col)
    keep = ~np.isnan(scores) & ~np.isnan(y)
    if keep.sum() < 3:
        raise InputError("fewer than 3 valid labelled rows to evaluate", input_path)
    metrics = regression_metrics(y[keep], scores[keep])
    metrics["skipped"] = int((~keep).sum())
    if out:
        atomic_write_text(out, json.dumps(metrics, indent=2))
    return metrics


def pd_numeric(col, path, name, allow_some: bool = False):
    """Numeric values of ``col`` (NaN where not a number). ``allow_some``: return the index of the first bad one."""
    import pandas as pd

    vals = pd.to_numeric(col, errors="coerce")
    if allow_some:
        return int((vals.isna() & col.notna()).to_numpy().argmax())
    if vals.isna().all():
        raise InputError(f"no numeric values in {name!r}", path)
    return vals.to_numpy(dtype=float)
