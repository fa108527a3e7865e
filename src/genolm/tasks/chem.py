"""`genolm chem ...`: molecular property prediction from SMILES (train, predict, evaluate)."""

from __future__ import annotations

import math
from typing import Optional

from genolm.core.registry import Opt, echo, group, task

group(
    "chem",
    help="Molecular property prediction from SMILES: RDKit fingerprint/descriptor trees, "
    "a SMILES Transformer, or their ensemble.",
)


def _fmt(v) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


@task("chem.train")
def train_cmd(
    train: str = Opt(
        ..., "--train", metavar="CSV", help="CSV/TSV with a SMILES column and label columns (blank = missing)."
    ),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory to write."),
    targets: str = Opt(
        ..., "--targets", "--label-col", metavar="COLS", help="Label column(s), comma-separated (multi-task)."
    ),
    task: str = Opt("classification", "--task", help="classification (0/1 labels) or regression."),
    valid: Optional[str] = Opt(
        None, "--valid", metavar="CSV", help="Validation table (model selection, metrics); default: 10% of --train."
    ),
    smiles_col: str = Opt("smiles", "--smiles-col", metavar="COL", help="Name of the SMILES column."),
    arch: str = Opt(
        "trees",
        "--arch",
        help="rf, et, hgb, svm, transformer, trees (=rf,et,svm; default), "
        "forests (=rf,et), ensemble (=rf,et,transformer), all, or a comma-separated list; "
        "members are averaged.",
    ),
    seed: int = Opt(0, "--seed"),
    time_budget: str = Opt("25m", "--time-budget", help="Wall-clock budget for training, e.g. 90s, 15m."),
    epochs: Optional[int] = Opt(None, "--epochs", help="Transformer epochs (default 60, early stopping)."),
    max_steps: Optional[int] = Opt(None, "--max-steps", help="Transformer optimiser steps at most."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    resume: bool = Opt(
        False,
        "--resume",
        help="Continue a killed run at --out from the transformer's "
        "checkpoint (tree members are refitted: same seed, same trees).",
    ),
    checkpoint_every: int = Opt(
        500, "--checkpoint-every", metavar="STEPS", min=0, help="Transformer steps between checkpoints (0 = none)."
    ),
) -> None:
    """Train a multi-task property model (missing labels masked) and write a run directory."""
    from genolm.chem.api import train as train_api
    from genolm.chem.metrics import MAIN_KEY

    m = train_api(
        train,
        out,
        valid=valid,
        targets=targets,
        task=task,
        smiles_col=smiles_col,
        arch=arch,
        seed=seed,
        time_budget=time_budget,
        epochs=epochs,
        max_steps=max_steps,
        overwrite=overwrite,
        resume=resume,
        checkpoint_every=checkpoint_every,
    )
    key = MAIN_KEY[task]
    members = ", ".join(f"{k} {_fmt(v[key])}" for k, v in m["members_valid"].items())
    echo(
        f"chem train: {m['n_train']} train / {m['n_valid']} valid molecules; valid {key} "
        f"{_fmt(m['valid'][key])} (members: {members}); {m['train_seconds']} s -> {out}"
    )


@task("chem.predict")
def predict_cmd(
    model: str = Opt(..., "--model", metavar="DIR", help="Run directory (or its model/ folder) from `chem train`."),
    input: str = Opt(..., "--input", metavar="CSV", help="CSV/TSV with a SMILES column."),
    out: str = Opt(..., "--out", metavar="CSV", help="Output CSV: input columns, one column per target, error."),
    smiles_col: Optional[str] = Opt(
        None, "--smiles-col", metavar="COL", help="SMILES column (default: as in training)."
    ),
) -> None:
    """Score molecules; input order kept; invalid SMILES get empty scores and an `error`."""
    from genolm.chem.api import predict as predict_api

    df = predict_api(model, input, out, smiles_col=smiles_col)
    n_bad = int((df["error"] != "").sum())
    echo(f"chem predict: {len(df)} rows ({n_bad} invalid SMILES) -> {out}")


@task("chem.evaluate")
def evaluate_cmd(
    model: str = Opt(..., "--model", metavar="DIR", help="Run directory (or its model/ folder) from `chem train`."),
    input: str = Opt(..., "--input", metavar="CSV", help="Labelled CSV/TSV with the training target columns."),
    out: Optional[str] = Opt(None, "--out", metavar="JSON", help="Write the metrics as JSON here."),
    smiles_col: Optional[str] = Opt(
        None, "--smiles-col", metavar="COL", help="SMILES column (default: as in training)."
    ),
) -> None:
    """Per-task AUROC and AUPRC with their means (classification) or RMSE/MAE/R2 (regression)."""
    from genolm.chem.api import evaluate as evaluate_api
    from genolm.chem.metrics import MAIN_KEY

    m = evaluate_api(model, input, out, smiles_col=smiles_col)
    mean_key = MAIN_KEY[m["task"]]
    key = mean_key.removeprefix("mean_")
    for name, e in m["per_task"].items():
        extra = f"  auprc {_fmt(e['auprc'])}" if key == "auroc" else f"  mae {_fmt(e['mae'])}  r2 {_fmt(e['r2'])}"
        echo(f"{name}\t{key} {_fmt(e[key])}{extra}\tn={e['n']}")
    echo(f"{mean_key}\t{_fmt(m[mean_key])}\t(rows {m['n_rows']}, invalid SMILES {m['n_invalid']})")
    if out:
        echo(f"metrics -> {out}")
