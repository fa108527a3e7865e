"""`genolm lit ner|re|qa train|predict|evaluate`: thin commands over genolm.literature.{ner,relations,qa}."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

ner_app = typer.Typer(help="Named-entity recognition on IOB / text / JSONL / PubTator.", no_args_is_help=True)
re_app = typer.Typer(
    help="Document-level relation extraction on PubTator (BioCreative V CDR style).", no_args_is_help=True
)
qa_app = typer.Typer(help="PubMedQA question answering (yes / no / maybe).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(ner_app, name="ner")
    app.add_typer(re_app, name="re")
    app.add_typer(qa_app, name="qa")


def _summary(title: str, scores: dict, keys=("precision", "recall", "f1")) -> None:
    vals = "  ".join(f"{k}={scores[k]:.4f}" for k in keys if k in scores)
    typer.echo(f"{title}: {vals}")
    for t, s in (scores.get("per_type") or {}).items():
        typer.echo(f"  {t}: " + "  ".join(f"{k}={s[k]:.4f}" for k in keys if k in s))


# ---------------------------------------------------------------------------------------------- NER
@ner_app.command("train")
def ner_train(
    train: List[Path] = typer.Option(
        ..., "--train", metavar="TSV", help="IOB TSV (token<TAB>tag); repeat to combine files."
    ),
    valid: Optional[Path] = typer.Option(
        None, "--valid", metavar="TSV", help="IOB TSV for checkpoint choice and dev scores."
    ),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Run directory to write."),
    arch: str = typer.Option(
        "transformer",
        "--arch",
        help="transformer (fine-tunes --model within "
        "--time-budget; default) or crf (CRFsuite + dictionary features, minutes on CPU).",
    ),
    model: Optional[str] = typer.Option(
        None,
        "--model",
        help="Backbone for --arch transformer: a local HF folder (PubMedBERT...) or run dir; default: packaged MiniLM.",
    ),
    time_budget: str = typer.Option("25m", "--time-budget", help="Wall-clock budget for transformer training."),
    epochs: Optional[float] = typer.Option(None, "--epochs"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    batch_size: int = typer.Option(16, "--batch-size"),
    lr: float = typer.Option(1e-4, "--lr"),
    max_length: int = typer.Option(128, "--max-length", help="Word pieces per window."),
    crf_iterations: int = typer.Option(100, "--crf-iterations", help="L-BFGS iterations for --arch crf."),
    seed: int = typer.Option(0, "--seed"),
    checkpoint_every: int = typer.Option(
        0, "--checkpoint-every", min=0, help="Steps between resumable checkpoints (transformer; 0 = none)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed transformer run from its checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run of another kind at --out."),
) -> None:
    """Train a NER model on IOB files."""
    from genolm.literature.ner import train_ner

    kw = dict(
        arch=arch,
        model=model,
        time_budget=time_budget,
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        max_length=max_length,
        seed=seed,
        crf_iterations=crf_iterations,
        checkpoint_every=checkpoint_every,
    )
    if epochs is not None:
        kw["epochs"] = epochs
    m = train_ner(train, out, valid=valid, overwrite=overwrite, resume=resume, **kw)
    typer.echo(f"model written to {out}/model")
    if "dev" in m:
        _summary("dev", m["dev"])


@ner_app.command("predict")
def ner_predict(
    model: Path = typer.Option(..., "--model", metavar="DIR", help="A run directory from 'lit ner train'."),
    input: Path = typer.Option(
        ...,
        "--input",
        metavar="FILE",
        help='IOB TSV, plain text (one document a line), JSONL ({"id","text"}) or PubTator.',
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Output: IOB for IOB input, PubTator for PubTator input, JSONL with entities for text/JSONL input.",
    ),
    input_format: str = typer.Option("auto", "--format", help="auto, iob, text, jsonl or pubtator."),
) -> None:
    """Tag entities in a file."""
    from genolm.literature.ner import predict_file

    s = predict_file(model, input, out, input_format)
    typer.echo(
        f"{s['entities']} entities in {s.get('sentences', s.get('documents'))} "
        f"{'sentences' if 'sentences' in s else 'documents'} -> {out}"
    )


@ner_app.command("evaluate")
def ner_evaluate(
    data: Path = typer.Option(..., "--input", "--data", metavar="TSV", help="Gold IOB TSV (--data: old name)."),
    model: Optional[Path] = typer.Option(None, "--model", metavar="DIR", help="A run directory from 'lit ner train'."),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help="Score this IOB file instead."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Optional run directory for metrics/report."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Entity-level exact-span precision / recall / F1, overall and per type (seqeval, strict IOB2)."""
    from genolm.io.errors import UsageError
    from genolm.literature.ner import evaluate_ner

    if model is None and predictions is None:
        raise UsageError("give --model or --predictions")
    s = evaluate_ner(model, data, out, predictions, overwrite=overwrite)
    typer.echo(json.dumps(s, indent=2)) if as_json else _summary("entities", s)


# ----------------------------------------------------------------------------------------------- RE
@re_app.command("train")
def re_train(
    train: List[Path] = typer.Option(
        ..., "--train", metavar="PUBTATOR", help="PubTator with mentions and relation lines."
    ),
    valid: Optional[Path] = typer.Option(None, "--valid", metavar="PUBTATOR", help="PubTator for dev scores."),
    out: Path = typer.Option(..., "--out", metavar="DIR"),
    exclude_pmids: Optional[Path] = typer.Option(
        None, "--exclude-pmids", help="File of PMIDs (first column) to drop from training."
    ),
    c: float = typer.Option(2.0, "--C", help="Inverse L2 regularisation."),
    ngrams: int = typer.Option(2, "--ngrams", help="Word n-grams (1..N) of the pair text."),
    rerank: bool = typer.Option(
        True,
        "--rerank/--no-rerank",
        help="Second stage that rescores each pair against the other pairs of its document.",
    ),
    no_priors: bool = typer.Option(False, "--no-priors", help="Do not use concept priors from training."),
    stack: bool = typer.Option(
        False,
        "--stack/--linear",
        help="Add gradient-boosted trees over the structure/"
        "prior features and the regression score (default: logistic regression alone).",
    ),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run of another kind at --out."),
) -> None:
    """Train the document-level relation classifier."""
    from genolm.literature.relations import train_re

    m = train_re(
        train,
        out,
        valid=valid,
        overwrite=overwrite,
        C=c,
        ngrams=ngrams,
        rerank=rerank,
        use_priors=not no_priors,
        stack=stack,
        seed=seed,
        exclude_pmids=str(exclude_pmids) if exclude_pmids else None,
    )
    typer.echo(f"model written to {out}/model ({m['candidates']} candidate pairs, {m['positives']} positive)")
    if "dev" in m:
        _summary("dev", m["dev"])


@re_app.command("predict")
def re_predict(
    model: Path = typer.Option(..., "--model"),
    input: Path = typer.Option(..., "--input", help="PubTator with entity mention lines (with concept ids)."),
    out: Path = typer.Option(..., "--out", help="PubTator with PMID<TAB>TYPE<TAB>ID1<TAB>ID2 lines."),
) -> None:
    """Add predicted relation lines to a PubTator file."""
    from genolm.literature.relations import predict_file

    s = predict_file(model, input, out)
    typer.echo(f"{s['relations']} relations in {s['documents']} documents -> {out}")


@re_app.command("evaluate")
def re_evaluate(
    data: Path = typer.Option(
        ..., "--input", "--data", metavar="PUBTATOR", help="Gold PubTator with relation lines (--data: old name)."
    ),
    model: Optional[Path] = typer.Option(None, "--model"),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help="Score this PubTator instead."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Document-level P/R/F1 over (PMID, type, id1, id2), as BioCreative V CDR scores it."""
    from genolm.literature.relations import evaluate_re

    s = evaluate_re(model, data, predictions, out, overwrite=overwrite)
    typer.echo(json.dumps(s, indent=2)) if as_json else _summary("relations", s)


# ----------------------------------------------------------------------------------------------- QA
@qa_app.command("train")
def qa_train(
    train: Path = typer.Option(
        ..., "--train", metavar="JSON", help="PubMedQA JSON {id: {QUESTION, CONTEXTS, final_decision}}."
    ),
    out: Path = typer.Option(..., "--out", metavar="DIR"),
    valid: Optional[Path] = typer.Option(None, "--valid", metavar="JSON"),
    model: Optional[str] = typer.Option(
        None, "--model", help="Text encoder for embedding features (local HF folder); default: packaged MiniLM."
    ),
    encoder: bool = typer.Option(
        False,
        "--encoder/--no-encoder",
        help="Add frozen sentence-embedding features from the text encoder (default: lexical and cue features only).",
    ),
    c: float = typer.Option(0.3, "--C", help="Inverse L2 regularisation."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run of another kind at --out."),
) -> None:
    """Train a yes/no/maybe classifier (reasoning-required: question + contexts)."""
    from genolm.literature.qa import train_qa

    m = train_qa(train, out, valid, overwrite=overwrite, model=model, encoder=encoder, C=c, seed=seed)
    typer.echo(f"model written to {out}/model ({m['train_questions']} questions)")
    if "dev" in m:
        _summary("dev", m["dev"], ("accuracy", "f1"))


@qa_app.command("predict")
def qa_predict(
    model: Path = typer.Option(..., "--model"),
    input: Path = typer.Option(..., "--input", help="PubMedQA JSON (final_decision not needed)."),
    out: Path = typer.Option(..., "--out", help="CSV with columns id,prediction."),
) -> None:
    """Answer questions: writes id,prediction CSV."""
    from genolm.literature.qa import predict_file

    s = predict_file(model, input, out)
    typer.echo(f"{s['questions']} answers -> {out} ({s['counts']})")


@qa_app.command("evaluate")
def qa_evaluate(
    data: Path = typer.Option(
        ..., "--input", "--data", metavar="JSON", help="PubMedQA JSON with final_decision (--data: old name)."
    ),
    model: Optional[Path] = typer.Option(None, "--model"),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help="CSV id,prediction to score."),
    folds: Optional[Path] = typer.Option(
        None, "--folds", help="Cross-validate on DATA with these folds (pqal_cv_folds.json) instead of scoring a model."
    ),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Accuracy and macro-F1 (or official 10-fold cross-validation with --folds)."""
    from genolm.io.errors import UsageError
    from genolm.literature.qa import cross_validate, evaluate_qa

    if folds is not None:
        s = cross_validate(data, folds)
        typer.echo(
            json.dumps(s, indent=2)
            if as_json
            else f"{s['folds']}-fold CV: accuracy={s['accuracy_mean']:.4f} (sd {s['accuracy_std']:.4f})  "
            f"f1={s['f1_mean']:.4f}"
        )
        return
    if model is None and predictions is None:
        raise UsageError("give --model, --predictions or --folds")
    s = evaluate_qa(model, data, predictions, out, overwrite=overwrite)
    typer.echo(json.dumps(s, indent=2)) if as_json else _summary("answers", s, ("accuracy", "f1"))
