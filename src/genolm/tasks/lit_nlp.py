"""`genolm lit ner|re|qa train|predict|evaluate`: thin commands over genolm.literature.{ner,relations,qa}."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

from genolm.core.registry import Opt, echo, group, task

group("lit.ner", help="Named-entity recognition on IOB / text / JSONL / PubTator.")
group("lit.re", help="Document-level relation extraction on PubTator (BioCreative V CDR style).")
group("lit.qa", help="PubMedQA question answering (yes / no / maybe).")


def _summary(title: str, scores: dict, keys=("precision", "recall", "f1")) -> None:
    vals = "  ".join(f"{k}={scores[k]:.4f}" for k in keys if k in scores)
    echo(f"{title}: {vals}")
    for t, s in (scores.get("per_type") or {}).items():
        echo(f"  {t}: " + "  ".join(f"{k}={s[k]:.4f}" for k in keys if k in s))


# ---------------------------------------------------------------------------------------------- NER
@task("lit.ner.train")
def ner_train(
    train: List[Path] = Opt(..., "--train", metavar="TSV", help="IOB TSV (token<TAB>tag); repeat to combine files."),
    valid: Optional[Path] = Opt(None, "--valid", metavar="TSV", help="IOB TSV for checkpoint choice and dev scores."),
    out: Path = Opt(..., "--out", metavar="DIR", help="Run directory to write."),
    arch: str = Opt(
        "transformer",
        "--arch",
        help="transformer (fine-tunes --model within "
        "--time-budget; default) or crf (CRFsuite + dictionary features, minutes on CPU).",
    ),
    model: Optional[str] = Opt(
        None,
        "--model",
        path="in",
        help="Backbone for --arch transformer: a local HF folder (PubMedBERT...) or run dir; default: packaged MiniLM.",
    ),
    time_budget: str = Opt("25m", "--time-budget", help="Wall-clock budget for transformer training."),
    epochs: Optional[float] = Opt(None, "--epochs"),
    max_steps: Optional[int] = Opt(None, "--max-steps"),
    batch_size: int = Opt(16, "--batch-size"),
    lr: float = Opt(1e-4, "--lr"),
    max_length: int = Opt(128, "--max-length", help="Word pieces per window."),
    crf_iterations: int = Opt(100, "--crf-iterations", help="L-BFGS iterations for --arch crf."),
    seed: int = Opt(0, "--seed"),
    checkpoint_every: int = Opt(
        0, "--checkpoint-every", min=0, help="Steps between resumable checkpoints (transformer; 0 = none)."
    ),
    resume: bool = Opt(False, "--resume", help="Continue a killed transformer run from its checkpoint."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
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
    echo(f"model written to {out}/model")
    if "dev" in m:
        _summary("dev", m["dev"])


@task("lit.ner.predict")
def ner_predict(
    model: Path = Opt(..., "--model", metavar="DIR", help="A run directory from 'lit ner train'."),
    input: Path = Opt(
        ...,
        "--input",
        metavar="FILE",
        help='IOB TSV, plain text (one document a line), JSONL ({"id","text"}) or PubTator.',
    ),
    out: Path = Opt(
        ...,
        "--out",
        help="Output: IOB for IOB input, PubTator for PubTator input, JSONL with entities for text/JSONL input.",
    ),
    input_format: str = Opt("auto", "--format", help="auto, iob, text, jsonl or pubtator."),
) -> None:
    """Tag entities in a file."""
    from genolm.literature.ner import predict_file

    s = predict_file(model, input, out, input_format)
    echo(
        f"{s['entities']} entities in {s.get('sentences', s.get('documents'))} "
        f"{'sentences' if 'sentences' in s else 'documents'} -> {out}"
    )


@task("lit.ner.evaluate")
def ner_evaluate(
    data: Path = Opt(..., "--input", "--data", metavar="TSV", help="Gold IOB TSV (--data: old name)."),
    model: Optional[Path] = Opt(None, "--model", metavar="DIR", help="A run directory from 'lit ner train'."),
    predictions: Optional[Path] = Opt(None, "--predictions", help="Score this IOB file instead."),
    out: Optional[Path] = Opt(None, "--out", metavar="DIR", help="Optional run directory for metrics/report."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    as_json: bool = Opt(False, "--json"),
) -> None:
    """Entity-level exact-span precision / recall / F1, overall and per type (seqeval, strict IOB2)."""
    from genolm.io.errors import UsageError
    from genolm.literature.ner import evaluate_ner

    if model is None and predictions is None:
        raise UsageError("give --model or --predictions")
    s = evaluate_ner(model, data, out, predictions, overwrite=overwrite)
    echo(json.dumps(s, indent=2)) if as_json else _summary("entities", s)


# ----------------------------------------------------------------------------------------------- RE
@task("lit.re.train")
def re_train(
    train: List[Path] = Opt(..., "--train", metavar="PUBTATOR", help="PubTator with mentions and relation lines."),
    valid: Optional[Path] = Opt(None, "--valid", metavar="PUBTATOR", help="PubTator for dev scores."),
    out: Path = Opt(..., "--out", metavar="DIR"),
    exclude_pmids: Optional[Path] = Opt(
        None, "--exclude-pmids", help="File of PMIDs (first column) to drop from training."
    ),
    c: float = Opt(2.0, "--C", help="Inverse L2 regularisation."),
    ngrams: int = Opt(2, "--ngrams", help="Word n-grams (1..N) of the pair text."),
    rerank: bool = Opt(
        True,
        "--rerank/--no-rerank",
        help="Second stage that rescores each pair against the other pairs of its document.",
    ),
    no_priors: bool = Opt(False, "--no-priors", help="Do not use concept priors from training."),
    stack: bool = Opt(
        False,
        "--stack/--linear",
        help="Add gradient-boosted trees over the structure/"
        "prior features and the regression score (default: logistic regression alone).",
    ),
    seed: int = Opt(0, "--seed"),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
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
    echo(f"model written to {out}/model ({m['candidates']} candidate pairs, {m['positives']} positive)")
    if "dev" in m:
        _summary("dev", m["dev"])


@task("lit.re.predict")
def re_predict(
    model: Path = Opt(..., "--model"),
    input: Path = Opt(..., "--input", help="PubTator with entity mention lines (with concept ids)."),
    out: Path = Opt(..., "--out", help="PubTator with PMID<TAB>TYPE<TAB>ID1<TAB>ID2 lines."),
) -> None:
    """Add predicted relation lines to a PubTator file."""
    from genolm.literature.relations import predict_file

    s = predict_file(model, input, out)
    echo(f"{s['relations']} relations in {s['documents']} documents -> {out}")


@task("lit.re.evaluate")
def re_evaluate(
    data: Path = Opt(
        ..., "--input", "--data", metavar="PUBTATOR", help="Gold PubTator with relation lines (--data: old name)."
    ),
    model: Optional[Path] = Opt(None, "--model"),
    predictions: Optional[Path] = Opt(None, "--predictions", help="Score this PubTator instead."),
    out: Optional[Path] = Opt(None, "--out", metavar="DIR"),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    as_json: bool = Opt(False, "--json"),
) -> None:
    """Document-level P/R/F1 over (PMID, type, id1, id2), as BioCreative V CDR scores it."""
    from genolm.literature.relations import evaluate_re

    s = evaluate_re(model, data, predictions, out, overwrite=overwrite)
    echo(json.dumps(s, indent=2)) if as_json else _summary("relations", s)


# ----------------------------------------------------------------------------------------------- QA
@task("lit.qa.train")
def qa_train(
    train: Path = Opt(..., "--train", metavar="JSON", help="PubMedQA JSON {id: {QUESTION, CONTEXTS, final_decision}}."),
    out: Path = Opt(..., "--out", metavar="DIR"),
    valid: Optional[Path] = Opt(None, "--valid", metavar="JSON"),
    model: Optional[str] = Opt(
        None,
        "--model",
        path="in",
        help="Text encoder for embedding features (local HF folder); default: packaged MiniLM.",
    ),
    encoder: bool = Opt(
        False,
        "--encoder/--no-encoder",
        help="Add frozen sentence-embedding features from the text encoder (default: lexical and cue features only).",
    ),
    c: float = Opt(0.3, "--C", help="Inverse L2 regularisation."),
    seed: int = Opt(0, "--seed"),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
) -> None:
    """Train a yes/no/maybe classifier (reasoning-required: question + contexts)."""
    from genolm.literature.qa import train_qa

    m = train_qa(train, out, valid, overwrite=overwrite, model=model, encoder=encoder, C=c, seed=seed)
    echo(f"model written to {out}/model ({m['train_questions']} questions)")
    if "dev" in m:
        _summary("dev", m["dev"], ("accuracy", "f1"))


@task("lit.qa.predict")
def qa_predict(
    model: Path = Opt(..., "--model"),
    input: Path = Opt(..., "--input", help="PubMedQA JSON (final_decision not needed)."),
    out: Path = Opt(..., "--out", help="CSV with columns id,prediction."),
) -> None:
    """Answer questions: writes id,prediction CSV."""
    from genolm.literature.qa import predict_file

    s = predict_file(model, input, out)
    echo(f"{s['questions']} answers -> {out} ({s['counts']})")


@task("lit.qa.evaluate")
def qa_evaluate(
    data: Path = Opt(
        ..., "--input", "--data", metavar="JSON", help="PubMedQA JSON with final_decision (--data: old name)."
    ),
    model: Optional[Path] = Opt(None, "--model"),
    predictions: Optional[Path] = Opt(None, "--predictions", help="CSV id,prediction to score."),
    folds: Optional[Path] = Opt(
        None, "--folds", help="Cross-validate on DATA with these folds (pqal_cv_folds.json) instead of scoring a model."
    ),
    out: Optional[Path] = Opt(None, "--out", metavar="DIR"),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    as_json: bool = Opt(False, "--json"),
) -> None:
    """Accuracy and macro-F1 (or official 10-fold cross-validation with --folds)."""
    from genolm.io.errors import UsageError
    from genolm.literature.qa import cross_validate, evaluate_qa

    if folds is not None:
        s = cross_validate(data, folds)
        echo(
            json.dumps(s, indent=2)
            if as_json
            else f"{s['folds']}-fold CV: accuracy={s['accuracy_mean']:.4f} (sd {s['accuracy_std']:.4f})  "
            f"f1={s['f1_mean']:.4f}"
        )
        return
    if model is None and predictions is None:
        raise UsageError("give --model, --predictions or --folds")
    s = evaluate_qa(model, data, predictions, out, overwrite=overwrite)
    echo(json.dumps(s, indent=2)) if as_json else _summary("answers", s, ("accuracy", "f1"))
