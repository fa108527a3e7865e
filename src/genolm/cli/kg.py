"""`genolm kg ...`: link prediction over a heterogeneous knowledge graph (Hetionet-style TSVs)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Knowledge-graph link prediction: train, score, predict.", no_args_is_help=True)


@app.command("train")
def train(
    nodes: Path = typer.Option(..., "--nodes", help="TSV: id, name, kind."),
    edges: Path = typer.Option(..., "--edges", help="TSV: source, metaedge, target (training graph)."),
    targets: str = typer.Option(..., "--targets", help="Metaedges to predict, comma-separated, e.g. CtD,DaG,CbG."),
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    valid: Optional[Path] = typer.Option(None, "--valid", help="TSV of held-out edges (dev) to report AUROC on."),
    combiner: str = typer.Option("hgb", "--combiner", help="hgb (gradient-boosted trees) | logistic"),
    folds: int = typer.Option(5, "--folds", help="Cross-fitting folds for the combiner's training features."),
    neg_ratio: int = typer.Option(5, "--neg-ratio", help="Random negatives per positive edge."),
    max_path_length: int = typer.Option(3, "--max-path-length", help="Longest metapath used as a feature (1-3)."),
    refit_with_valid: bool = typer.Option(True, "--refit-with-valid/--no-refit-with-valid",
                                          help="After reporting dev metrics, add the --valid edges to the graph."),
    time_budget: str = typer.Option("25m", "--time-budget", help="Wall-clock budget, e.g. 25m."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train one link predictor per target metaedge; writes model/, metrics.json, report.html."""
    from genolm.core.runs import parse_duration
    from genolm.omics import train_kg

    m = train_kg(nodes, edges, targets.split(","), out, valid=valid, combiner=combiner, folds=folds,
                 neg_ratio=neg_ratio, max_path_length=max_path_length, seed=seed,
                 time_budget=parse_duration(time_budget), refit_with_valid=refit_with_valid)
    parts = []
    for t, e in m["targets"].items():
        parts.append(f"{t} valid AUROC {e['valid']['auroc']:.3f}" if "valid" in e else f"{t} trained")
    typer.echo(f"kg train: {'; '.join(parts)} ({m['seconds']:.0f}s) -> {out}")


@app.command("score")
def score(
    model: Path = typer.Option(..., "--model", help="Run directory from `genolm kg train`."),
    pairs: Path = typer.Option(..., "--pairs", help="TSV with source, metaedge, target (node ids)."),
    out: Path = typer.Option(..., "--out", help="Output TSV: the input columns + score + reason."),
) -> None:
    """Score candidate edges (input order kept; unknown nodes get an empty score and a reason)."""
    from genolm.omics import score_pairs

    df = score_pairs(model, pairs, out)
    missing = int((df["reason"] != "").sum())
    typer.echo(f"kg score: {len(df) - missing} scored, {missing} without score -> {out}")


@app.command("predict")
def predict(
    model: Path = typer.Option(..., "--model"),
    node: str = typer.Option(..., "--node", help="Node id (Disease::DOID:1612) or name (breast cancer)."),
    metaedge: str = typer.Option(..., "--metaedge", help="CtD | DaG | CbG (any trained target)."),
    top: int = typer.Option(20, "--top"),
    novel_only: bool = typer.Option(False, "--novel-only", help="Leave out edges already in the graph."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the ranking as TSV."),
) -> None:
    """Rank the most likely partners of a node (with names)."""
    from genolm.omics import predict_links

    df = predict_links(model, node, metaedge, top=top, novel_only=novel_only)
    if out is not None:
        from genolm.io.atomic import atomic_open

        with atomic_open(out, "w", newline="") as fh:
            df.to_csv(fh, sep="\t", index=False)
    typer.echo(df.to_csv(sep="\t", index=False).rstrip("\n"))
