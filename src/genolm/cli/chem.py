"""`genolm chem ...`: molecular property prediction from SMILES (train, predict, evaluate)."""
from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(help="Molecular property prediction from SMILES: RDKit fingerprint/descriptor trees, "
                       "a SMILES Transformer, or their ensemble.", no_args_is_help=True)


@app.command("train")
def train_cmd(
    train: str = typer.Option(..., "--train", help="CSV/TSV with a SMILES column and label columns (blank = missing)."),
    out: str = typer.Option(..., "--out", help="Run directory to write."),
    targets: str = typer.Option(..., "--targets", help="Label column(s), comma-separated (multi-task)."),
    task: str = typer.Option("classification", "--task", help="classification (0/1 labels) or regression."),
    valid: Optional[str] = typer.Option(None, "--valid", help="Validation table (model selection, metrics); "
                                        "default: 10% of --train."),
    smiles_col: str = typer.Option("smiles", "--smiles-col", help="Name of the SMILES column."),
    arch: str = typer.Option("trees", "--arch", help="rf, et, hgb, svm, transformer, trees (=rf,et,svm; default), forests (=rf,et), ensemble "
                             "(=rf,et,transformer), all, or a comma-separated list; members are averaged."),
    seed: int = typer.Option(0, "--seed"),
    time_budget: str = typer.Option("25m", "--time-budget", help="Wall-clock budget for training, e.g. 90s, 15m."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Transformer epochs (default 60, early stopping)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Transformer optimiser steps at most."),
) -> None:
    """Train a multi-task property model (missing labels masked) and write a run directory."""
    from genolm.chem.api import train as train_api

    m = train_api(train, out, targets, task=task, valid_csv=valid, smiles_col=smiles_col, arch=arch, seed=seed,
                  time_budget=time_budget, epochs=epochs, max_steps=max_steps)
    key = "mean_roc_auc" if task == "classification" else "mean_rmse"
    members = ", ".join(f"{k} {v[key]:.4f}" for k, v in m["members_valid"].items() if v[key] is not None)
    typer.echo(f"chem train: {m['n_train']} train / {m['n_valid']} valid molecules; valid {key} "
               f"{m['valid'][key]:.4f} (members: {members}); {m['train_seconds']} s -> {out}")


@app.command("predict")
def predict_cmd(
    model: str = typer.Option(..., "--model", help="Run directory (or its model/ folder) from `chem train`."),
    input: str = typer.Option(..., "--input", help="CSV/TSV with a SMILES column."),
    out: str = typer.Option(..., "--out", help="Output CSV: input columns, one column per target, error."),
    smiles_col: Optional[str] = typer.Option(None, "--smiles-col", help="SMILES column (default: as in training)."),
) -> None:
    """Score molecules; input order kept; invalid SMILES get empty scores and an `error`."""
    from genolm.chem.api import predict as predict_api

    df = predict_api(model, input, out, smiles_col=smiles_col)
    n_bad = int((df["error"] != "").sum())
    typer.echo(f"chem predict: {len(df)} rows ({n_bad} invalid SMILES) -> {out}")


@app.command("evaluate")
def evaluate_cmd(
    model: str = typer.Option(..., "--model", help="Run directory (or its model/ folder) from `chem train`."),
    input: str = typer.Option(..., "--input", help="Labelled CSV/TSV with the training target columns."),
    out: Optional[str] = typer.Option(None, "--out", help="Write the metrics as JSON here."),
    smiles_col: Optional[str] = typer.Option(None, "--smiles-col", help="SMILES column (default: as in training)."),
) -> None:
    """Per-task ROC-AUC and their mean (classification) or RMSE/MAE/R2 (regression)."""
    from genolm.chem.api import evaluate as evaluate_api

    m = evaluate_api(model, input, out, smiles_col=smiles_col)
    key = "roc_auc" if m["task"] == "classification" else "rmse"
    for name, e in m["per_task"].items():
        extra = "" if key == "roc_auc" else f"  mae {e['mae']:.4f}  r2 {e['r2']:.4f}" if e["r2"] is not None else ""
        val = "n/a" if e[key] is None else f"{e[key]:.4f}"
        typer.echo(f"{name}\t{key} {val}\tn={e['n']}{extra}")
    mean_key = "mean_roc_auc" if key == "roc_auc" else "mean_rmse"
    mean = m[mean_key]
    typer.echo(f"{mean_key}\t{'n/a' if mean is None else f'{mean:.4f}'}\t(rows {m['n_rows']}, invalid SMILES "
               f"{m['n_invalid']})")
    if out:
        typer.echo(f"metrics -> {out}")
