"""Top-level DNA language-model commands: pretrain, finetune, evaluate, predict, embed, demo."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, task


ARCH_HELP = "Backbone: cnn, transformer or hybrid (conv stem + Transformer)."
TRUST_HELP = (
    "Allow a model folder's own Python code to run (needed by some hub models, e.g. DNABERT-2). "
    "Off by default: genolm's own models never need it."
)
# a command-line decision only: a REST/MCP client must never make the server run a model folder's own code
TRUST_REMOTE_CODE = Opt(False, "--trust-remote-code", help=TRUST_HELP, local_only=True)
OVERWRITE_HELP = "Replace an existing run of another kind (or other files) in --out."
CKPT_HELP = "Save a resumable checkpoint every N steps, or every DURATION (e.g. 10m); 0 = never."


def _shape(arch, hidden, layers, heads, conv_layers, kernel, dropout, pooling="mean"):
    from genolm.genome.lm import ModelShape

    s = ModelShape(
        arch=arch,
        hidden=hidden,
        layers=layers,
        heads=heads,
        conv_layers=conv_layers,
        kernel=kernel,
        dropout=dropout,
        pooling=pooling,
    )
    s.check()
    return s


@task("pretrain")
def pretrain(
    genome: str = Opt(
        ..., "--genome", "--train", metavar="FASTA", help="Genome FASTA (.gz ok) to sample training windows from."
    ),
    out: str = Opt(..., metavar="DIR", help="Run directory to write."),
    objective: str = Opt("mlm", help="mlm (masked) or clm (causal)."),
    tokenizer: str = Opt("base", help="base, kmer:K or bpe:V."),
    arch: str = Opt("cnn", help=ARCH_HELP),
    seq_len: int = Opt(256, help="Window length in bases."),
    max_steps: Optional[int] = Opt(None, help="Stop after this many optimizer steps."),
    time_budget: Optional[str] = Opt(None, help="Stop after this long, e.g. 10m (default 10m if no budget)."),
    batch_size: int = Opt(32),
    lr: float = Opt(1e-3),
    hidden: int = Opt(128),
    layers: int = Opt(6, help="Conv blocks (cnn) or Transformer blocks."),
    heads: int = Opt(4),
    conv_layers: int = Opt(2),
    kernel: int = Opt(9),
    dropout: float = Opt(0.1),
    eval_every: int = Opt(200),
    seed: int = Opt(0),
    resume: bool = Opt(False, help="Continue a killed run from its last checkpoint."),
    overwrite: bool = Opt(False, help=OVERWRITE_HELP),
    checkpoint_every: str = Opt("500", metavar="STEPS|DURATION", help=CKPT_HELP),
):
    """Pretrain a DNA language model on windows sampled from a genome (both strands; N runs skipped)."""
    from genolm.genome.lm import pretrain as _pretrain

    m = _pretrain(
        genome,
        out,
        objective=objective,
        tokenizer=tokenizer,
        shape=_shape(arch, hidden, layers, heads, conv_layers, kernel, dropout),
        seq_len=seq_len,
        max_steps=max_steps,
        time_budget=time_budget,
        seed=seed,
        batch_size=batch_size,
        lr=lr,
        eval_every=eval_every,
        resume=resume,
        overwrite=overwrite,
        checkpoint_every=checkpoint_every,
    )
    if m:
        echo(
            f"pretrained {m['steps']} steps in {m['seconds']:.0f}s; validation perplexity "
            f"{m['valid_perplexity']:.3f}; model in {out}/model"
        )


@task("finetune")
def finetune(
    train: str = Opt(..., metavar="CSV", help="Training table with columns sequence,label (.csv/.tsv, .gz ok)."),
    valid: Optional[str] = Opt(
        None,
        metavar="CSV",
        help="Validation table (early stopping and model selection); default: hold out 10% of --train (seeded).",
    ),
    out: str = Opt(..., metavar="DIR", help="Run directory to write."),
    model: Optional[str] = Opt(
        None,
        metavar="DIR|hf:ID",
        help="Start from a run dir, a local HF folder or hf:org/name; default: train from scratch.",
    ),
    task: Optional[str] = Opt(None, help="classification or regression (default: from the labels)."),
    arch: str = Opt("cnn", help=ARCH_HELP),
    tokenizer: str = Opt("base", help="For models trained from scratch: base, kmer:K or bpe:V."),
    epochs: Optional[float] = Opt(None),
    max_steps: Optional[int] = Opt(None),
    time_budget: Optional[str] = Opt(None, help="e.g. 20m (default 20m if no budget given)."),
    batch_size: int = Opt(64),
    lr: Optional[float] = Opt(None),
    hidden: int = Opt(128),
    layers: int = Opt(6, help="Conv blocks (cnn) or Transformer blocks."),
    heads: int = Opt(4),
    conv_layers: int = Opt(2),
    kernel: int = Opt(9),
    dropout: float = Opt(0.3),
    pooling: str = Opt(
        "bins",
        help="Sequence pooling for models trained from scratch: mean, max, cls or bins (position-aware segment means).",
    ),
    patience: int = Opt(6, help="Evaluations without improvement before stopping."),
    eval_every: Optional[int] = Opt(None, help="Steps between validations (default: half an epoch)."),
    label_column: str = Opt("label", "--label-col", "--label-column", metavar="COL"),
    sequence_column: str = Opt("sequence", "--sequence-col", metavar="COL"),
    seed: int = Opt(0),
    resume: bool = Opt(False, help="Continue a killed run from its last checkpoint."),
    overwrite: bool = Opt(False, help=OVERWRITE_HELP),
    checkpoint_every: str = Opt("500", metavar="STEPS|DURATION", help=CKPT_HELP),
    trust_remote_code: bool = TRUST_REMOTE_CODE,
):
    """Fine-tune (or train from scratch) a sequence classifier/regressor on a sequence,label table."""
    from genolm.genome.lm import finetune as _finetune

    shape = _shape(arch, hidden, layers, heads, conv_layers, kernel, dropout, pooling)
    m = _finetune(
        train,
        valid,
        out,
        model=model,
        task=task,
        tokenizer=tokenizer,
        shape=shape,
        epochs=epochs,
        max_steps=max_steps,
        time_budget=time_budget,
        seed=seed,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        eval_every=eval_every,
        label_column=label_column,
        resume=resume,
        overwrite=overwrite,
        checkpoint_every=checkpoint_every,
        sequence_column=sequence_column,
        trust_remote_code=trust_remote_code,
    )
    if m:
        v = m["valid"]
        key = "mcc" if "mcc" in v else "spearman"
        echo(f"validation {key} {v[key]:.4f} (n={v['n']}) after {v['steps']} steps; model in {out}/model")


@task("evaluate")
def evaluate(
    model: str = Opt(..., metavar="DIR", help="Run directory or model folder."),
    data: str = Opt(..., "--input", "--data", metavar="CSV", help="Table with sequence,label."),
    out: str = Opt(..., metavar="JSON", help="metrics.json to write."),
    report: Optional[str] = Opt(None, metavar="HTML", help="Also write an HTML report here."),
    label_column: str = Opt("label", "--label-col", "--label-column", metavar="COL"),
    sequence_column: str = Opt("sequence", "--sequence-col", metavar="COL"),
    batch_size: int = Opt(256),
    trust_remote_code: bool = TRUST_REMOTE_CODE,
):
    """Score a fine-tuned model on a labelled table (accuracy, MCC, F1, AUROC / Pearson, Spearman, MSE)."""
    from genolm.genome.lm import evaluate as _evaluate

    m = _evaluate(
        model,
        data,
        out,
        label_column=label_column,
        batch_size=batch_size,
        report=report,
        sequence_column=sequence_column,
        trust_remote_code=trust_remote_code,
    )
    echo(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))


@task("predict")
def predict(
    model: str = Opt(..., metavar="DIR", help="Run directory or model folder."),
    input: str = Opt(..., "--input", metavar="FASTA|CSV", help="FASTA or CSV with a sequence column."),
    out: str = Opt(..., metavar="CSV", help="CSV to write: id, prediction, score (or score_<label> per class)."),
    batch_size: int = Opt(256),
    sequence_column: str = Opt("sequence", "--sequence-col", metavar="COL"),
    trust_remote_code: bool = TRUST_REMOTE_CODE,
):
    """Predict labels/values for sequences; input order is preserved."""
    from genolm.genome.lm import predict as _predict

    n = _predict(
        model, input, out, batch_size=batch_size, sequence_column=sequence_column, trust_remote_code=trust_remote_code
    )
    echo(f"wrote {n} predictions to {out}")


@task("embed")
def embed(
    model: str = Opt(..., metavar="DIR|hf:ID", help="Run directory, model folder or HF folder."),
    input: str = Opt(..., "--input", metavar="FASTA|CSV", help="FASTA or CSV with a sequence column."),
    out: str = Opt(..., metavar="PARQUET", help="Parquet file: id + one column per dimension."),
    pooling: str = Opt("mean", help="mean, cls or max."),
    batch_size: int = Opt(128),
    sequence_column: str = Opt("sequence", "--sequence-col", metavar="COL"),
    trust_remote_code: bool = TRUST_REMOTE_CODE,
):
    """One embedding per sequence (Parquet)."""
    from genolm.genome.lm import embed as _embed

    n, d = _embed(
        model,
        input,
        out,
        pooling=pooling,
        batch_size=batch_size,
        sequence_column=sequence_column,
        trust_remote_code=trust_remote_code,
    )
    echo(f"wrote {n} embeddings of dimension {d} to {out}")


@task("demo")
def demo(
    out: str = Opt("runs/demo", metavar="DIR", help="Directory for the demo's runs and report."),
    minutes: float = Opt(7.0, help="Total training time budget in minutes (the whole demo takes ~1.5 min more)."),
    seed: int = Opt(0),
):
    """The main job on bundled data: pretrain on an E. coli slice, fine-tune a promoter classifier
    on a GUE slice, evaluate on held-out rows, write report.html."""
    from genolm.genome.demo import run_demo

    res = run_demo(out, minutes=minutes, seed=seed)
    echo(f"demo done: held-out MCC {res['test']['mcc']:.3f}, AUROC {res['test']['auroc']:.3f}; report: {res['report']}")
