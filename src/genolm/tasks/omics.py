"""`genolm omics ...`: classify samples from expression profiles (CSV or h5ad) and name marker genes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from genolm.core.registry import Opt, echo, group, task

group("omics", help="Expression-based classification: train, predict, evaluate.")


@task("omics.train")
def train(
    train: Path = Opt(
        ...,
        "--train",
        "--matrix",
        metavar="CSV",
        help="Samples x genes: CSV/TSV (one row per sample) or .h5ad (--matrix: old name).",
    ),
    label_col: str = Opt(..., "--label-col", metavar="COL", help="Class column (CSV column or h5ad obs column)."),
    out: Path = Opt(..., "--out", metavar="DIR", help="Run directory to write."),
    model: str = Opt(
        "logistic", "--classifier", "--model", help="logistic | svm | mlp | rf | knn (--model: old name)."
    ),
    reduce: str = Opt("none", "--reduce", help="none | pca:K | autoencoder:K"),
    cv: int = Opt(5, "--cv", help="Stratified K-fold cross-validation (0 = none)."),
    genes: Optional[Path] = Opt(
        None, "--genes", metavar="CSV", help="Gene table: id, name (e.g. genes.csv) for marker names."
    ),
    valid: Optional[Path] = Opt(None, "--valid", metavar="CSV", help="Labelled matrix scored after training."),
    top_genes: int = Opt(2000, "--top-genes", help="Keep the N most variable genes (0 = all)."),
    log: str = Opt("auto", "--log", help="auto | log2 | none"),
    floor: str = Opt("auto", "--floor", help="Clip values below this before log2 (auto: median value)."),
    ceiling: Optional[float] = Opt(None, "--ceiling", help="Clip values above this before log2."),
    sample_center: bool = Opt(
        True, "--sample-center/--no-sample-center", help="Centre each sample over the kept genes."
    ),
    epochs: int = Opt(300, "--epochs", help="Autoencoder epochs (with --reduce autoencoder:K)."),
    id_col: Optional[str] = Opt(
        None, "--id-col", metavar="COL", help="Sample id column (default: sample_id/id if present)."
    ),
    time_budget: str = Opt("25m", "--time-budget", help="Wall-clock budget for the autoencoder, e.g. 25m."),
    seed: int = Opt(0, "--seed"),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    resume: bool = Opt(
        False,
        "--resume",
        help="Continue a killed run at --out from the autoencoder's "
        "checkpoint (the scikit-learn parts are refitted: same seed, same result).",
    ),
    checkpoint_every: int = Opt(
        0, "--checkpoint-every", metavar="STEPS", min=0, help="Autoencoder steps between checkpoints (0 = none)."
    ),
) -> None:
    """Train a classifier; writes model/, metrics.json (CV too), genes.csv (markers), report.html."""
    from genolm.omics.expression import train as train_api

    m = train_api(
        train,
        out,
        label_col=label_col,
        valid=valid,
        model=model,
        reduce=reduce,
        cv=cv,
        seed=seed,
        gene_names=genes,
        top_genes=top_genes,
        log=log,
        floor=floor,
        ceiling=ceiling,
        sample_center=sample_center,
        ae_epochs=epochs,
        id_col=id_col,
        time_budget=time_budget,
        overwrite=overwrite,
        resume=resume,
        checkpoint_every=checkpoint_every,
    )
    parts = [f"{m['n_samples']} samples, {m['n_genes']} genes"]
    if "cv" in m:
        parts.append(f"cv{m['cv']['folds']} accuracy {m['cv']['accuracy']:.3f}")
    if "valid" in m:
        parts.append(f"valid accuracy {m['valid']['accuracy']:.3f}")
    echo(f"omics train: {', '.join(parts)} -> {out}")


@task("omics.predict")
def predict(
    model: Path = Opt(..., "--model", metavar="DIR", help="Run directory (or its model/) from `genolm omics train`."),
    input: Path = Opt(
        ...,
        "--input",
        "--matrix",
        metavar="CSV",
        help="Samples x genes (CSV/TSV or .h5ad), same gene ids (--matrix: old name).",
    ),
    out: Path = Opt(..., "--out", metavar="CSV", help="Output CSV: id, prediction, prob_<class>..."),
    id_col: Optional[str] = Opt(None, "--id-col", metavar="COL"),
) -> None:
    """Predict the class of each sample (input order kept); the same table as genolm.load(model).predict(df)."""
    from genolm.io.atomic import atomic_open
    from genolm.omics.predictors import ExpressionPredictor

    df = ExpressionPredictor(model).predict(input, id_col=id_col)
    with atomic_open(out, "w", newline="") as fh:
        df.to_csv(fh, index=False)
    counts = df["prediction"].value_counts().to_dict()
    echo(f"omics predict: {len(df)} samples ({', '.join(f'{k} {v}' for k, v in counts.items())}) -> {out}")


@task("omics.evaluate")
def evaluate(
    model: Path = Opt(..., "--model", metavar="DIR"),
    input: Path = Opt(
        ..., "--input", "--matrix", metavar="CSV", help="Labelled samples x genes matrix (--matrix: old name)."
    ),
    label_col: Optional[str] = Opt(None, "--label-col", metavar="COL", help="Default: the training label column."),
    out: Optional[Path] = Opt(None, "--out", metavar="DIR", help="Directory for metrics.json and predictions.csv."),
    id_col: Optional[str] = Opt(None, "--id-col", metavar="COL"),
) -> None:
    """Accuracy, balanced accuracy, MCC, AUROC and confusion matrix on a labelled matrix."""
    import json

    from genolm.omics import evaluate_expression

    m = evaluate_expression(model, input, label_col=label_col, out=out, id_col=id_col)
    echo(json.dumps({k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "mcc", "auroc", "errors") if k in m}))
