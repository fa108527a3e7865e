"""`genolm crispr ...`: CRISPR-Cas9 guide design (on-target model, off-target search + CFD, ranked guides)."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, group, task

group("crispr", help="CRISPR-Cas9: on-target efficiency model, off-target search with CFD, guide design.")


@task("crispr.train")
def train(
    train: str = Opt(..., "--train", metavar="CSV", help="Training CSV/TSV."),
    valid: Optional[str] = Opt(
        None,
        "--valid",
        metavar="CSV",
        help="Dev CSV/TSV (early stopping, ensemble weights); default: a seeded 10% of --train.",
    ),
    sequence_col: str = Opt(..., "--sequence-col", metavar="COL", help="30-mer (4+20+3+3), 23-mer or 20-mer column."),
    label_col: str = Opt(
        ..., "--label-col", "--target-col", metavar="COL", help="Efficiency column (regression target)."
    ),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory to create."),
    seed: int = Opt(0, "--seed"),
    time_budget: str = Opt("20m", "--time-budget", help="Wall-clock budget, e.g. 10m, 1h."),
    epochs: Optional[int] = Opt(None, "--epochs", help="Max epochs per CNN (default 60, early stop)."),
    n_cnn: Optional[int] = Opt(None, "--n-cnn", help="CNN ensemble members (default 4)."),
    no_gbm: bool = Opt(False, "--no-gbm", help="CNNs only, no gradient-boosting member."),
    threads: int = Opt(1, "--threads", help="torch CPU threads (1 is robust on a shared CPU)."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
    resume: bool = Opt(False, "--resume", help="Continue a killed run at --out from its checkpoint."),
    checkpoint_every: int = Opt(
        500,
        "--checkpoint-every",
        metavar="STEPS",
        help="Checkpoint the CNN member in training every N steps (0 = never).",
    ),
) -> None:
    """Train the on-target efficiency model (CNN ensemble + gradient boosting), early-stopped on --valid."""
    from genolm.editing.ontarget import train as train_model

    m = train_model(
        train,
        out,
        valid=valid,
        sequence_col=sequence_col,
        label_col=label_col,
        seed=seed,
        time_budget=time_budget,
        epochs=epochs,
        n_cnn=n_cnn,
        use_gbm=not no_gbm,
        threads=threads,
        overwrite=overwrite,
        resume=resume,
        checkpoint_every=checkpoint_every,
    )
    echo(
        f"dev spearman {m['dev']['spearman']:.4f} pearson {m['dev']['pearson']:.4f} "
        f"({m['n_train']} train / {m['n_dev']} dev, {m['train_seconds']}s) -> {out}"
    )


@task("crispr.predict")
def predict(
    model: str = Opt(..., "--model", metavar="DIR", help="Run directory from `genolm crispr train`."),
    input: str = Opt(..., "--input", metavar="CSV", help="CSV/TSV with the sequence column."),
    sequence_col: str = Opt("sequence", "--sequence-col", metavar="COL"),
    out: str = Opt(..., "--out", metavar="CSV", help="Output CSV/TSV: input columns + score (order kept)."),
) -> None:
    """Score sequences; input order is kept; a bad row gets an empty score and an `error` column."""
    from genolm.editing.ontarget import predict_file

    s = predict_file(model, input, sequence_col, out)
    echo(f"scored {s['scored']} of {s['rows']} rows ({s['bad']} bad) -> {out}")


@task("crispr.evaluate")
def evaluate(
    model: str = Opt(..., "--model", metavar="DIR"),
    input: str = Opt(..., "--input", metavar="CSV", help="Labelled CSV/TSV."),
    sequence_col: str = Opt("sequence", "--sequence-col", metavar="COL"),
    label_col: str = Opt(..., "--label-col", "--target-col", metavar="COL"),
    out: Optional[str] = Opt(None, "--out", metavar="JSON", help="metrics JSON (optional)."),
) -> None:
    """Spearman and Pearson correlation of the model on a labelled table."""
    from genolm.editing.ontarget import evaluate_file

    m = evaluate_file(model, input, sequence_col, label_col, out)
    echo(
        f"spearman {m['spearman']:.4f} pearson {m['pearson']:.4f} n {m['n']}"
        + (f" (skipped {m['skipped']})" if m["skipped"] else "")
    )


@task("crispr.offtargets")
def offtargets(
    guides: str = Opt(..., "--guides", "--input", metavar="FILE", help="Guides: FASTA, CSV/TSV or one per line."),
    genome: str = Opt(..., "--genome", metavar="FASTA", help="Genome FASTA (.gz ok)."),
    max_mismatches: int = Opt(4, "--max-mismatches"),
    pams: str = Opt("NGG,NAG", "--pams", help="PAM patterns searched."),
    out: str = Opt(..., "--out", metavar="TSV", help="Sites TSV (0-based half-open coordinates)."),
    summary: Optional[str] = Opt(None, "--summary", help="Per-guide counts TSV (default: OUT with .summary.tsv)."),
    sequence_col: Optional[str] = Opt(None, "--sequence-col"),
) -> None:
    """Every site within --max-mismatches of each guide, both strands, with mismatch positions and CFD."""
    import sys

    from genolm.editing.offtarget import run_offtargets

    s = run_offtargets(
        guides, genome, out, max_mismatches=max_mismatches, pams=pams, summary_path=summary, sequence_col=sequence_col
    )
    for e in s["errors"]:
        print(f"genolm: warning: {e}", file=sys.stderr)
    echo(f"{s['sites']} sites for {s['guides_ok']} guides ({s['guides_bad']} bad) -> {out}")


@task("crispr.design")
def design(
    reference: str = Opt(..., "--reference", metavar="FASTA", help="Reference FASTA."),
    region: Optional[str] = Opt(None, "--region", help="CHR:START-END, 1-based inclusive."),
    gff: Optional[str] = Opt(None, "--gff", metavar="GFF3", help="GFF3 with the gene."),
    gene: Optional[str] = Opt(None, "--gene", help="Gene Name/gene/ID/locus_tag in --gff."),
    out: str = Opt(..., "--out", metavar="TSV", help="guides.tsv; .bed and .html are written beside it."),
    pam: str = Opt("NGG", "--pam"),
    model: Optional[str] = Opt(None, "--model", metavar="DIR", help="On-target model run directory."),
    genome: Optional[str] = Opt(None, "--genome", metavar="FASTA", help="Genome FASTA for off-target search."),
    max_mismatches: int = Opt(4, "--max-mismatches"),
    top: Optional[int] = Opt(None, "--top", help="Keep the N best-ranked guides."),
) -> None:
    """Candidate guides in a region or gene: scores, flags, off-target counts, specificity, rank, BED, report."""
    from genolm.editing.design import design_guides

    s = design_guides(
        reference,
        out,
        region=region,
        gff=gff,
        gene=gene,
        pam=pam,
        model=model,
        genome=genome,
        max_mismatches=max_mismatches,
        top=top,
    )
    echo(
        f"{s['candidates']} guides ({s['unflagged']} unflagged) in {s['target']} "
        f"{s['chrom']}:{s['start'] + 1}-{s['end']} -> {s['tsv']}, {s['bed']}, {s['report']}"
    )
