"""Loading, scoring, evaluation and prediction for NER models (one code path for the CLI and genolm.load)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from genolm.io.errors import InputError, UsageError
from genolm.literature import formats as F
from genolm.literature.ner.transformer import MARKER, load_transformer


def find_ner_dir(model_dir: str | os.PathLike) -> Path:
    """A run directory from ``lit ner train`` -> its model/; a model folder -> itself."""
    from genolm.core.loading import find_model_dir

    return find_model_dir(model_dir, MARKER, what="genolm NER model")


def load_ner(model_dir: str | os.PathLike, device=None):
    """Load a trained NER model (transformer or CRF) from a run directory or its model/ folder."""
    from genolm.literature.ner.crf import load_crf

    path = find_ner_dir(model_dir)
    try:
        meta = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"corrupt {MARKER} ({e})", path / MARKER) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("labels"), list):
        raise InputError(f"corrupt {MARKER} (no label list)", path / MARKER)
    if meta.get("arch") == "crf":
        return load_crf(path, meta)
    return load_transformer(path, meta, device)


# --------------------------------------------------------------------------------------- metrics
def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """seqeval entity-level exact-span ``precision`` / ``recall`` / ``f1``, overall (micro) and per type."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    gold = [F.repair_iob(g) for g in gold]
    pred = [F.repair_iob(p) for p in pred]
    kw = dict(mode="strict", scheme=IOB2, zero_division=0)
    rep = classification_report(gold, pred, output_dict=True, **kw)
    per_type = {
        k: {
            "precision": float(v["precision"]),
            "recall": float(v["recall"]),
            "f1": float(v["f1-score"]),
            "support": int(v["support"]),
        }
        for k, v in rep.items()
        if not k.endswith(" avg")
    }
    return {
        "precision": float(precision_score(gold, pred, **kw)),
        "recall": float(recall_score(gold, pred, **kw)),
        "f1": float(f1_score(gold, pred, **kw)),
        "per_type": per_type,
        "sentences": len(gold),
        "entities": sum(v["support"] for v in per_type.values()),
    }


def report(path, title: str, metrics: dict, history: list | None = None) -> None:
    """report.html of a NER run (core Report): metrics, per-type table, loss and dev-F1 curves."""
    from genolm.core.report import Report, loss_curve_figure

    flat = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    dev = metrics.get("dev") or metrics
    for k in ("precision", "recall", "f1"):
        if k in dev:
            flat[f"{'dev_' if 'dev' in metrics else ''}{k}"] = dev[k]
    r = Report(title)
    r.metrics_table(flat)
    per = dev.get("per_type", {})
    if per:
        r.table(
            ["type", "precision", "recall", "f1", "support"],
            [[t, s["precision"], s["recall"], s["f1"], s["support"]] for t, s in per.items()],
            title="Per entity type",
        )
    hist = history or []
    if any("train_loss" in h for h in hist):
        r.figure(loss_curve_figure(hist), "training loss")
    f1s = [(h["step"], h["eval_f1"]) for h in hist if "eval_f1" in h]
    if f1s:
        r.figure(_curve_figure(f1s, "dev entity F1"), "dev entity F1 at each evaluation")
    r.write(path)


def _curve_figure(points, ylabel: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot([p[0] for p in points], [p[1] for p in points], "o-", ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig


# ------------------------------------------------------------------------------------- evaluate
def evaluate_ner(
    model_dir: str | os.PathLike | None,
    data: str | os.PathLike,
    out: str | os.PathLike | None = None,
    predictions: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict:
    """Entity-level exact-span P/R/F1 of a model on a gold IOB file (or of a predictions IOB file)."""
    gold = F.read_iob(data)
    if predictions:
        pred_s = F.read_iob(predictions)
        if len(pred_s) != len(gold) or any(p.tokens != g.tokens for p, g in zip(pred_s, gold)):
            raise InputError("predictions do not have the same sentences/tokens as the gold file", predictions)
        pred = [p.tags for p in pred_s]
    else:
        if model_dir is None:
            raise UsageError("give --model or --predictions")
        pred = load_ner(model_dir).predict_tokens([s.tokens for s in gold])
    scores = entity_scores([s.tags for s in gold], pred)
    if out:
        from genolm.core.runs import RunDir

        with RunDir(
            out,
            command="lit ner evaluate",
            config={"model": str(model_dir), "data": str(data)},
            inputs=[data],
            overwrite=overwrite,
        ) as run:
            run.write_metrics(scores)
            F.write_iob(run.path / "predictions.tsv", [(s.tokens, p) for s, p in zip(gold, pred)])
            report(run.path / "report.html", "NER evaluation", scores)
    return scores


# -------------------------------------------------------------------------------------- predict
def tag_records(ner, recs: Sequence[dict]) -> list[dict]:
    """{"id", "text", ...} records -> the same records with ``entities`` (what predict writes as JSONL)."""
    ents = ner.predict_texts([r["text"] for r in recs])
    return [{**r, "entities": es} for r, es in zip(recs, ents)]


def text_records(texts: Sequence[str]) -> list[dict]:
    """Plain texts -> records with 1-based ids, as a text file with one document a line gets."""
    recs = []
    for i, t in enumerate(texts, 1):
        if not isinstance(t, str):
            raise InputError(f"text {i}: expected a string, got {type(t).__name__}")
        if not t.strip():
            raise InputError(f"text {i} is empty")
        recs.append({"id": str(i), "text": t})
    return recs


def predict_file(
    model_dir: str | os.PathLike, input: str | os.PathLike, out: str | os.PathLike, input_format: str = "auto", ner=None
) -> dict:
    """Tag a file. IOB in -> IOB out (tags replaced, tokens/order kept); JSONL/text in -> JSONL out
    ({"id", "text", "entities": [{start, end, text, type, score}]}); PubTator in -> PubTator out (mentions
    replaced by predictions). Returns counts."""
    fmt = F.detect_format(input) if input_format == "auto" else input_format
    if fmt not in ("iob", "jsonl", "text", "pubtator"):
        raise UsageError(f"unknown input format {fmt!r}: use auto, iob, text, jsonl or pubtator")
    # read (and validate) the input before loading the model
    if fmt == "iob":
        sents = F.read_iob(input, require_tags=False)
    elif fmt == "pubtator":
        docs = F.read_pubtator(input)
    elif fmt == "jsonl":
        recs = F.read_jsonl_texts(input)
    else:
        recs = F.read_text_documents(input)
    ner = ner or load_ner(model_dir)
    n_ent = 0
    if fmt == "iob":
        tags = ner.predict_tokens([s.tokens for s in sents])
        F.write_iob(out, [(s.tokens, t) for s, t in zip(sents, tags)])
        n_ent = sum(len(F.iob_to_spans(t)) for t in tags)
        return {"format": fmt, "sentences": len(sents), "entities": n_ent}
    if fmt == "pubtator":
        ents = ner.predict_texts([d.text for d in docs])
        for d, es in zip(docs, ents):
            d.mentions = [F.Mention(e["start"], e["end"], e["text"], e["type"]) for e in es]
            n_ent += len(es)
        F.write_pubtator(out, docs)
        return {"format": fmt, "documents": len(docs), "entities": n_ent}
    tagged = tag_records(ner, recs)
    F.write_jsonl(out, tagged)
    return {"format": fmt, "documents": len(tagged), "entities": sum(len(r["entities"]) for r in tagged)}
