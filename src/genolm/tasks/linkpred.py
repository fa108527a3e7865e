"""`genolm linkpred ...`: link prediction over a heterogeneous knowledge graph (Hetionet-style TSVs).

(`genolm kg ...` is the old name and still works; the literature database is `genolm lit kg ...`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from genolm.core.registry import Opt, echo, group, task

group(
    "linkpred",
    alias="kg",
    help="Knowledge-graph link prediction (Hetionet-style node/edge TSVs): train, score, predict. "
    "Not the literature database, which is `genolm lit kg`.",
)


@task("linkpred.train")
def train(
    train: Path = Opt(
        ...,
        "--train",
        "--edges",
        metavar="TSV",
        help="Training graph edges: source, metaedge, target (--edges: old name).",
    ),
    nodes: Path = Opt(..., "--nodes", metavar="TSV", help="Nodes: id, name, kind."),
    targets: str = Opt(
        ..., "--targets", metavar="METAEDGES", help="Metaedges to predict, comma-separated, e.g. CtD,DaG,CbG."
    ),
    out: Path = Opt(..., "--out", metavar="DIR", help="Run directory to write."),
    valid: Optional[Path] = Opt(None, "--valid", metavar="TSV", help="Held-out edges (dev) to report AUROC/AUPRC on."),
    combiner: str = Opt("hgb", "--combiner", help="hgb (gradient-boosted trees) | logistic"),
    folds: int = Opt(5, "--folds", help="Cross-fitting folds for the combiner's training features."),
    neg_ratio: int = Opt(5, "--neg-ratio", help="Random negatives per positive edge."),
    max_path_length: int = Opt(3, "--max-path-length", help="Longest metapath used as a feature (1-3)."),
    refit_with_valid: bool = Opt(
        True,
        "--refit-with-valid/--no-refit-with-valid",
        help="After reporting dev metrics, add the --valid edges to the graph.",
    ),
    time_budget: str = Opt("25m", "--time-budget", help="Wall-clock budget, e.g. 25m."),
    seed: int = Opt(0, "--seed"),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
) -> None:
    """Train one link predictor per target metaedge; writes model/, metrics.json, report.html."""
    from genolm.omics.linkpred import train as train_api

    m = train_api(
        train,
        out,
        nodes=nodes,
        targets=targets,
        valid=valid,
        combiner=combiner,
        folds=folds,
        neg_ratio=neg_ratio,
        max_path_length=max_path_length,
        seed=seed,
        time_budget=time_budget,
        refit_with_valid=refit_with_valid,
        overwrite=overwrite,
    )
    parts = []
    for t, e in m["targets"].items():
        parts.append(f"{t} valid AUROC {e['valid']['auroc']:.3f}" if "valid" in e else f"{t} trained")
    echo(f"linkpred train: {'; '.join(parts)} ({m['seconds']:.0f}s) -> {out}")


def _score(model: Path, input: Path, out: Path) -> None:
    from genolm.io.atomic import atomic_open
    from genolm.omics.predictors import LinkPredictorPredictor

    df = LinkPredictorPredictor(model).predict(input)
    with atomic_open(out, "w", newline="") as fh:
        df.to_csv(fh, sep="\t", index=False, na_rep="")
    missing = int((df["reason"] != "").sum())
    echo(f"linkpred score: {len(df) - missing} scored, {missing} without score -> {out}")


@task("linkpred.score")
def score(
    model: Path = Opt(..., "--model", metavar="DIR", help="Run directory from `genolm linkpred train`."),
    input: Path = Opt(
        ...,
        "--input",
        "--pairs",
        metavar="TSV",
        help="Pairs TSV with source, metaedge, target (node ids) (--pairs: old name).",
    ),
    out: Path = Opt(..., "--out", metavar="TSV", help="Output TSV: the input columns + score + reason."),
) -> None:
    """Score candidate edges (input order kept; unknown nodes get an empty score and a reason)."""
    _score(model, input, out)


@task("linkpred.predict")
def predict(
    model: Path = Opt(..., "--model", metavar="DIR", help="Run directory from `genolm linkpred train`."),
    node: Optional[str] = Opt(None, "--node", help="Node id (Disease::DOID:1612) or name (breast cancer)."),
    metaedge: Optional[str] = Opt(None, "--metaedge", help="CtD | DaG | CbG (any trained target)."),
    input: Optional[Path] = Opt(
        None, "--input", metavar="TSV", help="Instead of --node: score the pairs of this TSV (as `score`)."
    ),
    top: int = Opt(20, "--top"),
    novel_only: bool = Opt(False, "--novel-only", help="Leave out edges already in the graph."),
    out: Optional[Path] = Opt(None, "--out", metavar="TSV", help="Also write the ranking as TSV."),
) -> None:
    """Rank the most likely partners of a node (with names); or, with --input, score a pairs TSV."""
    from genolm.io.errors import UsageError

    if input is not None:
        if node is not None or out is None:
            raise UsageError("give either --node and --metaedge (a ranking), or --input and --out (score pairs)")
        _score(model, input, out)
        return
    if node is None or metaedge is None:
        raise UsageError("give --node and --metaedge (or --input pairs.tsv --out scored.tsv)")
    from genolm.omics.predictors import LinkPredictorPredictor

    df = LinkPredictorPredictor(model).rank(node, metaedge, top=top, novel_only=novel_only)
    if out is not None:
        from genolm.io.atomic import atomic_open

        with atomic_open(out, "w", newline="") as fh:
            df.to_csv(fh, sep="\t", index=False)
    echo(df.to_csv(sep="\t", index=False).rstrip("\n"))
