"""Public API of genolm.chem: train, predict and evaluate molecular property models on SMILES tables."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genolm.chem.featurize import FeatureConfig, parse_smiles
from genolm.chem.metrics import compute_metrics
from genolm.chem.model import ChemModel, resolve_arch
from genolm.io.errors import InputError, UsageError
from genolm.io.tables import read_table

log = logging.getLogger("genolm.chem")

DEFAULT_ARCH = "trees"
DEFAULT_TIME_BUDGET = "25m"
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".gz")  # a string ending so is a table path, else a SMILES
DEFAULT_CHECKPOINT_EVERY = 500  # transformer steps between checkpoints (genolm.core.train)


def _split_targets(targets) -> list[str]:
    if isinstance(targets, str):
        targets = targets.split(",")
    out = [t.strip() for t in targets if t and t.strip()]
    if not out:
        raise UsageError("--targets needs at least one column name")
    if len(set(out)) != len(out):
        raise UsageError("--targets names a column twice")
    return out


def read_labels(df: pd.DataFrame, targets: list[str], task: str, path: str) -> np.ndarray:
    """Label columns -> float matrix with NaN for blanks; checks 0/1 (classification) or numbers."""
    Y = np.full((len(df), len(targets)), np.nan)
    for j, col in enumerate(targets):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise InputError(f"column {col!r}: {df[col].iloc[i]!r} is not a number", path, i + 2)
        v = values.to_numpy(dtype=float)
        if task == "classification":
            odd = ~np.isnan(v) & ~np.isin(v, (0.0, 1.0))
            if odd.any():
                i = int(np.argmax(odd))
                raise InputError(f"column {col!r}: classification labels must be 0 or 1, found {v[i]:g}", path, i + 2)
        Y[:, j] = v
    return Y


def check_two_classes(Y: np.ndarray, targets: list[str], path: str) -> None:
    """Classification training needs both classes among each target's labelled rows: InputError naming the
    file and the column otherwise (before any run directory is written)."""
    for j, col in enumerate(targets):
        present = np.unique(Y[~np.isnan(Y[:, j]), j])
        if len(present) < 2:
            found = "no labels" if not len(present) else f"only label {present[0]:g}"
            raise InputError(
                f"column {col!r}: classification needs both 0 and 1 among the labelled rows, found "
                f"{found}; drop the target or use --task regression",
                path,
            )


def _load_labelled(path, smiles_col: str, targets: list[str], task: str, training: bool = False):
    path = str(path)
    df = read_table(path, required=[smiles_col, *targets])
    Y = read_labels(df, targets, task, path)
    mols, errors = parse_smiles(df[smiles_col].tolist())
    bad = [i for i, e in enumerate(errors) if e]
    if bad:
        log.warning("%s: %d SMILES cannot be parsed and are skipped (first at line %d)", path, len(bad), bad[0] + 2)
    keep = np.array([e == "" for e in errors], dtype=bool) & ~np.isnan(Y).all(axis=1)
    if not keep.any():
        raise InputError("no rows with a valid SMILES and at least one label", path)
    if task == "classification":
        if training:
            check_two_classes(Y[keep], targets, path)
        else:
            for j, col in enumerate(targets):
                if len(np.unique(Y[keep][~np.isnan(Y[keep][:, j]), j])) < 2:
                    log.warning("%s: column %r has one class only: its AUROC/AUPRC are undefined (NaN)", path, col)
    return df[smiles_col][keep].astype(str).tolist(), [m for m, k in zip(mols, keep) if k], Y[keep], keep


def _alias(value, old_value, name: str, old_name: str):
    """A keyword renamed in the one API (``valid_csv`` -> ``valid``...): the old name still works."""
    if old_value is not None:
        if value is not None:
            raise UsageError(f"give {name} or its old name {old_name}, not both")
        return old_value
    return value


def train(
    train: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    *,
    valid: str | os.PathLike | None = None,
    targets=None,
    task: str = "classification",
    smiles_col: str = "smiles",
    arch: str = DEFAULT_ARCH,
    seed: int = 0,
    time_budget: str | float | None = DEFAULT_TIME_BUDGET,
    epochs: int | None = None,
    max_steps: int | None = None,
    morgan_bits: int = 2048,
    transformer_overrides: dict | None = None,
    overwrite: bool = False,
    resume: bool = False,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    train_csv: str | os.PathLike | None = None,
    valid_csv: str | os.PathLike | None = None,
) -> dict:
    """Train a multi-task property model and write a run directory ``out``; returns the metrics dict.

    ``train`` / ``valid``: CSV/TSV tables with ``smiles_col`` and the ``targets`` columns (a list or a
    comma-separated string); blank labels are missing, and each task learns from its labelled rows only.
    With ``valid`` the transformer picks its best epoch on it, and metrics.json holds the validation scores
    of every member and of their average (the model). Without it, 10% of the training rows (by ``seed``)
    are held out. ``time_budget``: seconds or "90s" / "25m". ``checkpoint_every`` (steps) and ``resume``
    apply to the transformer member's training loop. ``train_csv`` / ``valid_csv`` are the old names of
    ``train`` / ``valid``.
    """
    import torch

    from genolm.chem.report import write_report
    from genolm.core.runs import RunDir, parse_duration, set_seed

    train_path = _alias(train, train_csv, "train", "train_csv")
    valid_path = _alias(valid, valid_csv, "valid", "valid_csv")
    if train_path is None or out is None:
        raise UsageError("chem train needs a training table and an output run directory")
    if targets is None:
        raise UsageError("--targets needs at least one column name")
    targets = _split_targets(targets)
    if task not in ("classification", "regression"):
        raise UsageError(f"--task must be classification or regression, not {task!r}")
    members = resolve_arch(arch)
    budget = parse_duration(time_budget)
    config = {
        "command": "chem train",
        "train": str(train_path),
        "valid": None if valid_path is None else str(valid_path),
        "smiles_col": smiles_col,
        "targets": targets,
        "task": task,
        "arch": arch,
        "members": members,
        "seed": seed,
        "time_budget_s": budget,
        "epochs": epochs,
        "max_steps": max_steps,
        "checkpoint_every": checkpoint_every,
        "features": FeatureConfig(morgan_bits=morgan_bits).to_dict(),
        "transformer_overrides": transformer_overrides or {},
    }
    # read and check everything before creating the run directory: bad input leaves nothing behind
    smiles, mols, Y, _ = _load_labelled(train_path, smiles_col, targets, task, training=True)
    if valid_path is not None:
        vsmiles, vmols, vY, _ = _load_labelled(valid_path, smiles_col, targets, task)
    else:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(mols))
        n_valid = max(1, len(mols) // 10)
        vidx, tidx = np.sort(order[:n_valid]), np.sort(order[n_valid:])
        vmols, vY, vsmiles = [mols[i] for i in vidx], Y[vidx], [smiles[i] for i in vidx]
        mols, Y = [mols[i] for i in tidx], Y[tidx]
        if task == "classification":  # the rows left for training after the internal split
            check_two_classes(Y, targets, f"{train_path} (after holding out {n_valid} rows for validation)")
    started = time.monotonic()
    set_seed(seed)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    with RunDir(
        out,
        command="chem train",
        config=config,
        inputs=[train_path, valid_path],
        seed=seed,
        overwrite=overwrite,
        resume=resume,
    ) as run:
        log.info("train: %d molecules, valid: %d, targets: %s, members: %s", len(mols), len(vmols), targets, members)
        model = ChemModel(task, targets, members, FeatureConfig(morgan_bits=morgan_bits), smiles_col)
        X = vX = None
        if model.needs_features:
            from genolm.chem.featurize import featurize

            X = featurize(mols, model.features, desc="featurising train")
            vX = featurize(vmols, model.features, desc="featurising valid")
        remaining = None if budget is None else max(30.0, budget - (time.monotonic() - started) - 15)
        model.fit(
            mols,
            Y,
            vmols,
            vY,
            seed=seed,
            time_budget=remaining,
            epochs=epochs,
            max_steps=max_steps,
            X=X,
            valid_X=vX,
            transformer_overrides=transformer_overrides,
            out_dir=run.path,
            resume=resume,
            checkpoint_every=checkpoint_every,
        )
        model.save(run.model_dir)
        preds = model.predict_members(vmols, vX)
        P = model.combine(preds)
        metrics = {
            "valid": compute_metrics(task, vY, P, targets),
            "members_valid": {name: compute_metrics(task, vY, p, targets) for name, p in preds.items()},
            "n_train": len(mols),
            "n_valid": len(vmols),
            "members": members,
            "member_seconds": model.member_seconds,
            "train_seconds": round(time.monotonic() - started, 1),
        }
        run.write_metrics(metrics)
        pred_df = pd.DataFrame({smiles_col: vsmiles})
        for j, t in enumerate(targets):
            pred_df[t] = vY[:, j]
            pred_df[f"{t}_pred"] = P[:, j]
        from genolm.io.atomic import atomic_open

        with atomic_open(run.path / "valid_predictions.csv", "w", newline="") as fh:
            pred_df.to_csv(fh, index=False)
        history = model.members["transformer"].history if "transformer" in model.members else None
        write_report(run.path / "report.html", metrics, vY, P, targets, task, history=history, config=config)
    return metrics


def _as_model(model) -> ChemModel:
    return model if isinstance(model, ChemModel) else ChemModel.load(model)


def _as_table(inputs, smiles_col: str | None, required: list[str] | tuple[str, ...] = ()) -> tuple[pd.DataFrame, str]:
    """A path (CSV/TSV), a DataFrame, or a list of SMILES -> (table, where it came from)."""
    if isinstance(inputs, os.PathLike) or (
        isinstance(inputs, str) and (inputs.lower().endswith(TABLE_SUFFIXES) or Path(inputs).is_file())
    ):
        return read_table(str(inputs), required=list(required)), str(inputs)
    if isinstance(inputs, pd.DataFrame):
        df, source = inputs, "<DataFrame>"
    else:
        smiles = [inputs] if isinstance(inputs, str) else list(inputs)
        df, source = pd.DataFrame({smiles_col or "smiles": smiles}), "<list of SMILES>"
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(map(repr, missing))} in the {source}")
    return df, source


def predict_frame(
    model: ChemModel, df: pd.DataFrame, smiles_col: str | None = None, source: str = "<input>"
) -> pd.DataFrame:
    """The `chem predict` table for ``df``: its columns that are not target names (nor ``error``), then one
    column per target (probability of 1, or the value), then ``error``. Input order kept; invalid SMILES
    get empty (NaN) scores and the reason. The CLI and ``genolm.load(...).predict`` both return this."""
    col = smiles_col or model.smiles_col
    if col not in df.columns:
        if smiles_col is None and "smiles" in df.columns:
            col = "smiles"
        else:
            raise InputError(
                f"missing column {col!r} (use --smiles-col); found {', '.join(map(repr, map(str, df.columns[:10])))}",
                source,
            )
    mols, errors = parse_smiles(df[col].tolist())
    P = model.predict(mols) if len(mols) else np.empty((0, len(model.targets)))
    out_df = df[[c for c in df.columns if c not in model.targets and c != "error"]].copy()
    for j, t in enumerate(model.targets):
        out_df[t] = P[:, j]
    out_df["error"] = errors
    return out_df


def predict(
    model: str | os.PathLike | ChemModel,
    inputs=None,
    out: str | os.PathLike | None = None,
    smiles_col: str | None = None,
    *,
    input_csv: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Score molecules: ``inputs`` is a table (path) that needs only a SMILES column, a DataFrame, or a
    list of SMILES; input order kept. ``out``: also write the table as CSV (full precision, so reading it
    back gives these values). ``input_csv`` is the old name of ``inputs``.

    Output: the input's columns that are not target names, then one column per target (probability of 1
    or the value), then ``error`` (empty when fine). Invalid SMILES get empty scores and the reason.
    """
    inputs = _alias(inputs, input_csv, "inputs", "input_csv")
    if inputs is None:
        raise UsageError("chem predict needs an input table or a list of SMILES")
    m = _as_model(model)
    df, source = _as_table(inputs, smiles_col)
    out_df = predict_frame(m, df, smiles_col, source)
    if out is not None:
        from genolm.io.atomic import atomic_open

        with atomic_open(out, "w", newline="") as fh:
            out_df.to_csv(fh, index=False)
    return out_df


def evaluate(
    model: str | os.PathLike | ChemModel,
    inputs=None,
    out: str | os.PathLike | None = None,
    smiles_col: str | None = None,
    *,
    input_csv: str | os.PathLike | None = None,
) -> dict:
    """Metrics of a model on a labelled table (path or DataFrame, columns named as in training): per task
    and their means, keys as in ``genolm.core.metrics`` (``auroc``/``auprc`` or ``rmse``/``mae``/``r2``...,
    NaN when undefined). Rows whose SMILES cannot be parsed count in ``n_invalid`` and are left out.
    """
    import json

    inputs = _alias(inputs, input_csv, "inputs", "input_csv")
    if inputs is None:
        raise UsageError("chem evaluate needs a labelled input table")
    m = _as_model(model)
    col = smiles_col or m.smiles_col
    df, path = _as_table(inputs, col, required=[col, *m.targets])
    Y = read_labels(df, m.targets, m.task, path)
    mols, errors = parse_smiles(df[col].tolist())
    P = m.predict(mols)
    metrics = compute_metrics(m.task, Y, P, m.targets)
    metrics["n_rows"] = int(len(df))
    metrics["n_invalid"] = int(sum(1 for e in errors if e))
    metrics["input"] = path
    if out is not None:
        from genolm.io.atomic import atomic_write_text

        atomic_write_text(out, json.dumps(metrics, indent=2))
    return metrics
