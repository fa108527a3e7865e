"""Evaluation and prediction for relation models (one code path for the CLI and genolm.load)."""

from __future__ import annotations

import os

from genolm.io.errors import InputError, UsageError
from genolm.literature import formats as F
from genolm.literature.relations.model import load_re, relation_scores


def report(path, title: str, metrics: dict) -> None:
    """report.html of a relation run (core Report): metrics and the per-relation-type table."""
    from genolm.core.report import Report

    dev = metrics.get("dev", metrics)
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
    flat.update({f"dev_{k}": dev[k] for k in ("precision", "recall", "f1") if k in dev})
    r = Report(title)
    r.metrics_table(flat)
    per = dev.get("per_type", {})
    if per:
        cols = ["precision", "recall", "f1", "tp", "gold", "predicted"]
        r.table(
            ["relation", *cols], [[t, *[s.get(c, "") for c in cols]] for t, s in per.items()], title="Per relation type"
        )
    r.write(path)


def relations_frame(docs, pred):
    """One row per predicted relation line (pmid, type, id1, id2), in the order predict writes them."""
    import pandas as pd

    rows = [(d.id, r.type, r.id1, r.id2) for d, rs in zip(docs, pred) for r in rs]
    return pd.DataFrame(rows, columns=["pmid", "type", "id1", "id2"])


def check_has_mentions(docs, path=None) -> None:
    if not any(d.mentions for d in docs):
        raise InputError(
            "no entity mention lines in the input: relation extraction needs annotated entities "
            "(run 'genolm lit ner predict' first, or use a PubTator file with mentions)",
            path,
        )


def write_predictions(path, docs, pred):
    import copy

    out = []
    for d, rs in zip(docs, pred):
        d2 = copy.copy(d)
        d2.relations = [F.Relation(r.type, r.id1, r.id2) for r in rs]
        out.append(d2)
    F.write_pubtator(path, out)


def evaluate_re(
    model_dir: str | os.PathLike | None,
    data: str | os.PathLike,
    predictions: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict:
    """P/R/F1 of a model (or of a predicted PubTator file) against gold relation lines."""
    gold = F.read_pubtator(data)
    if predictions:
        pd = {d.id: d.relations for d in F.read_pubtator(predictions, check_offsets=False)}
        pred = [pd.get(d.id, []) for d in gold]
    else:
        if model_dir is None:
            raise UsageError("give --model or --predictions")
        pred = load_re(model_dir).predict_documents(gold)
    scores = relation_scores(gold, pred)
    if out:
        from genolm.core.runs import RunDir

        with RunDir(
            out,
            command="lit re evaluate",
            config={"model": str(model_dir), "data": str(data)},
            inputs=[data],
            overwrite=overwrite,
        ) as run:
            run.write_metrics(scores)
            write_predictions(run.path / "predictions.PubTator", gold, pred)
            report(run.path / "report.html", "Relation extraction evaluation", scores)
    return scores


def predict_file(model_dir: str | os.PathLike, input: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Read PubTator with entity annotations; write it back with predicted relation lines
    ``PMID<TAB>TYPE<TAB>ID1<TAB>ID2`` (relation lines already in the input are replaced)."""
    docs = F.read_pubtator(input)
    check_has_mentions(docs, input)
    model = load_re(model_dir)
    pred = model.predict_documents(docs)
    write_predictions(out, docs, pred)
    return {"documents": len(docs), "relations": sum(len(p) for p in pred)}
