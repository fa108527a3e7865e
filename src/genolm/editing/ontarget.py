"""On-target efficiency regression from the guide sequence and its genomic context.

The model is an ensemble chosen on the dev split: several small multi-kernel CNNs on the one-hot
sequence (torch, early-stopped on dev Spearman) plus a histogram gradient-boosting model on handcrafted
Rule-Set-2 style features (scikit-learn). Members are z-scored and mixed with a weight picked on dev.

Inputs are equal-length sequences as the data provides them: a 30-mer (4 nt + 20 nt spacer + PAM + 3 nt)
or a 23-mer (spacer + PAM), or a bare 20-mer spacer. Saved as ``model/``: ``config.json``,
``cnn.safetensors`` (all CNN members) and ``gbm.joblib``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genolm.editing.features import handcrafted_features
from genolm.editing.guides import check_guide, one_hot
from genolm.io.errors import InputError, UsageError

log = logging.getLogger("genolm.editing")

# Where the 20-nt spacer starts for each supported input length.
SPACER_OFFSET = {30: 4, 23: 0, 20: 0}
MIN_EPOCHS = 10  # a CNN member is only started when the budget left allows about this many epochs


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


def _torch():
    import torch
    import torch.nn as nn

    return torch, nn


def build_cnn(cfg: OnTargetConfig):
    torch, nn = _torch()

    class GuideCNN(nn.Module):
        """Parallel convolutions of several widths over the one-hot sequence, then a small MLP."""

        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv1d(4, cfg.filters, k, padding=k // 2) for k in cfg.kernels)
            width = cfg.filters * len(cfg.kernels)
            self.conv2 = nn.Conv1d(width, cfg.filters * 2, 3, padding=1)
            self.pool = nn.AvgPool1d(2)
            flat = cfg.filters * 2 * (cfg.length // 2)
            self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(flat, cfg.hidden), nn.ReLU(),
                                      nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, 32), nn.ReLU(),
                                      nn.Linear(32, 1))

        def forward(self, x):
            h = torch.relu(torch.cat([c(x) for c in self.convs], dim=1))
            h = torch.relu(self.conv2(h))
            h = self.pool(h).flatten(1)
            return self.head(h).squeeze(-1)

    return GuideCNN()


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    r = spearmanr(a, b).statistic
    return 0.0 if r is None or not np.isfinite(r) else float(r)


def _pearson(a, b) -> float:
    from scipy.stats import pearsonr

    if np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(pearsonr(a, b).statistic)


def _rank_metrics(y_true, y_pred) -> dict:
    """For ensemble members, whose outputs are on the z-scored scale (an MSE would mislead)."""
    return {"spearman": _spearman(y_true, y_pred), "pearson": _pearson(y_true, y_pred)}


def regression_metrics(y_true, y_pred) -> dict:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    return {"n": int(len(y_true)), "spearman": _spearman(y_true, y_pred), "pearson": _pearson(y_true, y_pred),
            "mse": float(np.mean((y_true - y_pred) ** 2))}


def _train_one_cnn(cfg, x_tr, y_tr, x_dev, y_dev, seed: int, time_left: float, n_left: int, history: list):
    """One member, early-stopped on dev Spearman. Its deadline is its share of ``time_left``; once the first
    epoch has been timed, the share grows so that every member that will still run gets >= MIN_EPOCHS epochs
    (on a slow or busy CPU, fewer well-trained members beat many undertrained ones)."""
    torch, nn = _torch()
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = build_cnn(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    xd = torch.from_numpy(x_dev)
    best, best_state, bad = -2.0, None, 0
    t_start = time.monotonic()
    deadline = t_start + time_left / n_left
    for epoch in range(cfg.max_epochs):
        t_epoch = time.monotonic()
        model.train()
        perm = torch.randperm(len(xt), generator=g)
        total = 0.0
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        model.eval()
        with torch.no_grad():
            pred = model(xd).numpy()
        rho = _spearman(y_dev, pred)
        history.append({"member": seed, "epoch": epoch + 1, "train_mse": total / len(xt), "dev_spearman": rho,
                        "seconds": round(time.monotonic() - t_epoch, 3)})
        log.info("cnn seed %d epoch %d train_mse %.4f dev_spearman %.4f", seed, epoch + 1, total / len(xt), rho)
        if epoch == 0 and math.isfinite(time_left):
            per_epoch = time.monotonic() - t_start
            n_fit = max(1, min(n_left, int(time_left // (MIN_EPOCHS * per_epoch))))
            deadline = t_start + time_left / n_fit
        if rho > best:
            best, bad = rho, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
        if bad >= cfg.patience or time.monotonic() > deadline:
            break
    model.load_state_dict(best_state)
    model.eval()
    return model, best


class OnTargetModel:
    """Ensemble on-target regressor with a scikit-learn-like ``fit`` / ``predict``."""

    def __init__(self, config: OnTargetConfig | None = None):
        self.config = config or OnTargetConfig()
        self.cnns: list = []
        self.gbm = None
        self.history: list[dict] = []
        self.dev_metrics: dict = {}

    # -- training -------------------------------------------------------------------------------
    def fit(self, train_seqs: list[str], y_train, dev_seqs: list[str], y_dev, seed: int = 0,
            time_budget: float | None = None) -> "OnTargetModel":
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
        # The GBM is quick; the CNNs share what is left of the budget.
        dev_preds = []
        if cfg.use_gbm:
            from sklearn.ensemble import HistGradientBoostingRegressor

            f_tr = handcrafted_features(train_seqs, cfg.spacer_offset)
            f_dev = handcrafted_features(dev_seqs, cfg.spacer_offset)
            self.gbm = HistGradientBoostingRegressor(max_iter=0, learning_rate=cfg.gbm_learning_rate,
                                                     max_leaf_nodes=31, min_samples_leaf=20, l2_regularization=1.0,
                                                     early_stopping=True, validation_fraction=0.1,
                                                     n_iter_no_change=20, random_state=seed, warm_start=True)
            from threadpoolctl import threadpool_limits

            # Grown 25 trees at a time so it can stop at its share of the budget (a quarter); OpenMP barriers
            # in HGB crawl on an oversubscribed CPU, and one thread is fast enough here.
            gbm_deadline = start + 0.25 * budget
            with threadpool_limits(limits=1, user_api="openmp"):
                while self.gbm.max_iter < cfg.gbm_max_iter:
                    self.gbm.max_iter += 25
                    self.gbm.fit(f_tr, z_tr)
                    if self.gbm.n_iter_ < self.gbm.max_iter or time.monotonic() > gbm_deadline:
                        break  # early-stopped on its validation fraction, or out of time
            gbm_dev = self.gbm.predict(f_dev)
            self.dev_metrics["gbm"] = _rank_metrics(y_dev, gbm_dev)
            log.info("gbm dev spearman %.4f (%d iterations)", self.dev_metrics["gbm"]["spearman"], self.gbm.n_iter_)
        x_tr, x_dev = one_hot(train_seqs), one_hot(dev_seqs)
        cnn_dev = []
        for k in progress(range(cfg.n_cnn), total=cfg.n_cnn, desc="cnn members", unit="model"):
            left = budget - (time.monotonic() - start)
            if k > 0 and left < 0:
                log.warning("time budget spent: keeping %d of %d CNN members", k, cfg.n_cnn)
                break
            if k > 0 and math.isfinite(left) and self._epoch_seconds() * MIN_EPOCHS > left:
                log.warning("not enough budget left for another CNN member (%d of %d trained)", k, cfg.n_cnn)
                break
            model, best = _train_one_cnn(cfg, x_tr, z_tr, x_dev, y_dev, seed + k, left, cfg.n_cnn - k, self.history)
            self.cnns.append(model)
            cnn_dev.append(self._cnn_raw([model], x_dev))
            self.dev_metrics[f"cnn_{k}"] = {"spearman": best}
        cfg.n_cnn = len(self.cnns)
        cnn_mean = np.mean(cnn_dev, axis=0)
        self.dev_metrics["cnn_ensemble"] = _rank_metrics(y_dev, cnn_mean)
        dev_preds.append(cnn_mean)
        if self.gbm is not None:
            dev_preds.append(gbm_dev)
        cfg.member_stats = [(float(p.mean()), float(p.std() or 1.0)) for p in dev_preds]
        if self.gbm is not None:
            # Mixing weight picked on dev (one parameter; dev figures are therefore slightly optimistic).
            zs = [(p - m) / s for p, (m, s) in zip(dev_preds, cfg.member_stats)]
            grid = np.linspace(0, 1, 11)
            scores = [_spearman(y_dev, w * zs[0] + (1 - w) * zs[1]) for w in grid]
            cfg.cnn_weight = float(grid[int(np.argmax(scores))])
        else:
            cfg.cnn_weight = 1.0
        self.dev_predictions = self.predict(dev_seqs)
        self.dev_metrics["ensemble"] = regression_metrics(y_dev, self.dev_predictions)
        self.dev_metrics["cnn_weight"] = cfg.cnn_weight
        return self

    def _epoch_seconds(self) -> float:
        times = [h["seconds"] for h in self.history if "seconds" in h]
        return float(np.median(times)) if times else 0.0

    # -- inference ------------------------------------------------------------------------------
    def _cnn_raw(self, models, x: np.ndarray) -> np.ndarray:
        torch, _ = _torch()
        out = []
        with torch.no_grad():
            xt = torch.from_numpy(x)
            for m in models:
                preds = [m(xt[i:i + 4096]).numpy() for i in range(0, len(xt), 4096)]
                out.append(np.concatenate(preds) if preds else np.zeros(0, dtype=np.float32))
        return np.mean(out, axis=0)

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
    def save(self, directory: str | os.PathLike) -> Path:
        import joblib
        from safetensors.torch import save_file

        from genolm.io.atomic import atomic_path, atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"member{i}.{k}": v.contiguous() for i, m in enumerate(self.cnns)
                   for k, v in m.state_dict().items()}
        with atomic_path(directory / "cnn.safetensors") as tmp:
            save_file(tensors, str(tmp))
        if self.gbm is not None:
            with atomic_path(directory / "gbm.joblib") as tmp:
                joblib.dump(self.gbm, tmp)
        cfg = asdict(self.config)
        cfg["model_type"] = "genolm-crispr-ontarget"
        atomic_write_text(directory / "config.json", json.dumps(cfg, indent=2))
        return directory

    @classmethod
    def load(cls, path: str | os.PathLike) -> "OnTargetModel":
        import joblib
        from safetensors.torch import load_file

        path = Path(path)
        directory = path / "model" if (path / "model" / "config.json").is_file() else path
        cfg_path = directory / "config.json"
        if not cfg_path.is_file():
            raise InputError("not an on-target model: no model/config.json (pass a `genolm crispr train` run "
                             "directory)", path)
        raw = json.loads(cfg_path.read_text())
        if raw.pop("model_type", None) != "genolm-crispr-ontarget":
            raise InputError("not a genolm CRISPR on-target model (config.json model_type)", cfg_path)
        raw["kernels"] = tuple(raw["kernels"])
        self = cls(OnTargetConfig(**raw))
        tensors = load_file(str(directory / "cnn.safetensors"))
        for i in range(self.config.n_cnn):
            m = build_cnn(self.config)
            prefix = f"member{i}."
            m.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            m.eval()
            self.cnns.append(m)
        if self.config.use_gbm:
            self.gbm = joblib.load(directory / "gbm.joblib")
        return self


# -- table-level API used by the CLI --------------------------------------------------------------

def _read_training_table(path, sequence_col: str, target_col: str, length: int | None = None):
    from genolm.io.tables import read_table

    df = read_table(path, required=[sequence_col, target_col])
    seqs = []
    for i, raw in enumerate(df[sequence_col].tolist()):
        s, err = check_guide(raw, lengths=(20, 23, 30) if length is None else (length,))
        if err:
            raise InputError(f"{sequence_col!r}: {err}", path, i + 2)
        if length is None:
            length = len(s)
        elif len(s) != length:
            raise InputError(f"{sequence_col!r}: sequence length {len(s)} differs from the first row's {length}",
                             path, i + 2)
        seqs.append(s)
    y = df[target_col]
    try:
        y = y.astype(float)
    except (TypeError, ValueError):
        raise InputError(f"non-numeric values in {target_col!r}", path) from None
    if y.isna().any():
        raise InputError(f"missing {target_col!r} value", path, int(y.isna().to_numpy().argmax()) + 2)
    return seqs, y.to_numpy(dtype=np.float32)


def train_ontarget(train: str, valid: str, sequence_col: str, target_col: str, out: str, seed: int = 0,
                   time_budget: float | None = 20 * 60, epochs: int | None = None, n_cnn: int | None = None,
                   use_gbm: bool = True, threads: int | None = 1) -> dict:
    """Train the ensemble on ``train``, early-stop and pick mixing weights on ``valid``; write a run directory."""
    from genolm.core.runs import RunDir, set_seed
    from genolm.editing.report import ontarget_report

    if threads:
        import torch

        torch.set_num_threads(threads)  # small CNNs: 1 thread wastes little and never spins on a busy CPU
    tr_seqs, y_tr = _read_training_table(train, sequence_col, target_col)
    dv_seqs, y_dv = _read_training_table(valid, sequence_col, target_col, length=len(tr_seqs[0]))
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
    config = {"train": train, "valid": valid, "sequence_col": sequence_col, "target_col": target_col,
              "seed": seed, "time_budget_s": time_budget, "model": asdict(cfg)}
    with RunDir(out, command="crispr train", config=config, inputs=[train, valid], seed=seed) as run:
        set_seed(seed)
        t0 = time.monotonic()
        model = OnTargetModel(cfg).fit(tr_seqs, y_tr, dv_seqs, y_dv, seed=seed, time_budget=time_budget)
        model.save(run.model_dir)
        metrics = {"dev": model.dev_metrics["ensemble"], "members": model.dev_metrics,
                   "train_seconds": round(time.monotonic() - t0, 1), "n_train": len(tr_seqs), "n_dev": len(dv_seqs)}
        run.write_metrics(metrics)
        run.write_json("history.json", model.history)
        _write_predictions(run.path / "dev_predictions.csv", dv_seqs, model.dev_predictions, y_dv, sequence_col)
        ontarget_report(run.path / "report.html", model, y_dv, metrics)
    return metrics


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


def predict_file(model_path: str, input_path: str, sequence_col: str, out: str) -> dict:
    """Score every row of ``input_path`` (order kept); adds ``score`` (and ``error`` for bad rows)."""
    from genolm.io.atomic import atomic_open
    from genolm.io.tables import read_table

    model = OnTargetModel.load(model_path)
    df = read_table(input_path, required=[sequence_col])
    scores, errors = score_sequences(model, df[sequence_col].tolist())
    n_bad = sum(e is not None for e in errors)
    for i, e in enumerate(errors):
        if e is not None:
            log.warning("%s:%d: %s", input_path, i + 2, e)
    if n_bad == len(df):
        raise InputError(f"no valid sequence in {sequence_col!r} (first problem: {errors[0]}; the model expects "
                         f"{model.config.length}-nt sequences)", input_path, 2)
    df["score"] = scores
    if n_bad:
        df["error"] = [e or "" for e in errors]
    sep = "\t" if str(out).lower().endswith((".tsv", ".txt")) else ","
    with atomic_open(out, "w", newline="") as fh:
        df.to_csv(fh, index=False, sep=sep)
    return {"rows": len(df), "scored": len(df) - n_bad, "bad": n_bad, "out": str(out)}


def evaluate_file(model_path: str, input_path: str, sequence_col: str, target_col: str,
                  out: str | None = None) -> dict:
    """Spearman / Pearson of the model on a labelled table (bad rows are skipped and counted)."""
    from genolm.io.atomic import atomic_write_text
    from genolm.io.tables import read_table

    model = OnTargetModel.load(model_path)
    df = read_table(input_path, required=[sequence_col, target_col])
    scores, errors = score_sequences(model, df[sequence_col].tolist())
    y = pd_numeric(df[target_col], input_path, target_col)
    keep = ~np.isnan(scores) & ~np.isnan(y)
    if keep.sum() < 3:
        raise InputError("fewer than 3 valid labelled rows to evaluate", input_path)
    metrics = regression_metrics(y[keep], scores[keep])
    metrics["skipped"] = int((~keep).sum())
    if out:
        atomic_write_text(out, json.dumps(metrics, indent=2))
    return metrics


def pd_numeric(col, path, name) -> np.ndarray:
    import pandas as pd

    vals = pd.to_numeric(col, errors="coerce")
    if vals.isna().all():
        raise InputError(f"no numeric values in {name!r}", path)
    return vals.to_numpy(dtype=float)
