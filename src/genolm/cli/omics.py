"""`genolm omics ...`: classify samples from expression profiles (CSV or h5ad) and name marker genes."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Expression-based classification: train, predict, evaluate.", no_args_is_help=True)


@app.command("train")
def train(
    matrix: Path = typer.Option(..., "--matrix", help="Samples x genes: CSV/TSV (one row per sample) or .h5ad."),
    label_col: str = typer.Option(..., "--label-col", help="Class column (CSV column or h5ad obs column)."),
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    model: str = typer.Option("logistic", "--model", help="logistic | svm | mlp | rf | knn"),
    reduce: str = typer.Option("none", "--reduce", help="none | pca:K | autoencoder:K"),
    cv: int = typer.Option(5, "--cv", help="Stratified K-fold cross-validation (0 = none)."),
    genes: Optional[Path] = typer.Option(None, "--genes",
                                         help="Gene table: id, name (e.g. genes.csv) for marker names."),
    valid: Optional[Path] = typer.Option(None, "--valid", help="Labelled matrix scored after training."),
    top_genes: int = typer.Option(2000, "--top-genes", help="Keep the N most variable genes (0 = all)."),
    log: str = typer.Option("auto", "--log", help="auto | log2 | none"),
    floor: str = typer.Option("auto", "--floor", help="Clip values below this before log2 (auto: median value)."),
    ceiling: Optional[float] = typer.Option(None, "--ceiling", help="Clip values above this before log2."),
    sample_center: bool = typer.Option(True, "--sample-center/--no-sample-center",
                                       help="Centre each sample over the kept genes."),
    epochs: int = typer.Option(300, "--epochs", help="Autoencoder epochs (with --reduce autoencoder:K)."),
    id_col: Optional[str] = typer.Option(None, "--id-col", help="Sample id column (default: sample_id/id if present)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train a classifier; writes model/, metrics.json (CV too), genes.csv (markers), report.html."""
    from genolm.omics import train_expression

    m = train_expression(matrix, label_col, out, model=model, reduce=reduce, cv=cv, seed=seed, gene_names=genes,
                         top_genes=top_genes, log=log, floor=floor, ceiling=ceiling, sample_center=sample_center,
                         valid=valid, ae_epochs=epochs, id_col=id_col)
    parts = [f"{m['n_samples']} samples, {m['n_genes']} genes"]
    if "cv" in m:
        parts.append(f"cv{m['cv']['folds']} accuracy {m['cv']['accuracy']:.3f}")
    if "valid" in m:
        parts.append(f"valid accuracy {m['valid']['accuracy']:.3f}")
    typer.echo(f"omics train: {', '.join(parts)} -> {out}")


@app.command("predict")
def predict(
    model: Path = typer.Option(..., "--model", help="Run directory from `genolm omics train`."),
    matrix: Path = typer.Option(..., "--matrix", help="Samples x genes (CSV/TSV or .h5ad), same gene ids."),
    out: Path = typer.Option(..., "--out", help="Output CSV: id, prediction, prob_<class>..."),
    id_col: Optional[str] = typer.Option(None, "--id-col"),
) -> None:
    """Predict the class of each sample (input order kept)."""
    from genolm.omics import predict_expression

    df = predict_expression(model, matrix, out, id_col=id_col)
    counts = df["prediction"].value_counts().to_dict()
    typer.echo(f"omics predict: {len(df)} samples ({', '.join(f'{k} {v}' for k, v in counts.items())}) -> {out}")


@app.command("evaluate")
def evaluate(
    model: Path = typer.Option(..., "--model"),
    matrix: Path = typer.Option(..., "--matrix", help="Labelled samples x genes matrix."),
    label_col: Optional[str] = typer.Option(None, "--label-col", help="Default: the training label column."),
    out: Optional[Path] = typer.Option(None, "--out", help="Directory for metrics.json and predictions.csv."),
    id_col: Optional[str] = typer.Option(None, "--id-col"),
) -> None:
    """Accuracy, balanced accuracy, ROC-AUC and confusion matrix on a labelled matrix."""
    import json

    from genolm.omics import evaluate_expression

    m = evaluate_expression(model, matrix, label_col=label_col, out=out, id_col=id_col)
    typer.echo(json.dumps({k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "roc_auc", "errors") if k in m}))
