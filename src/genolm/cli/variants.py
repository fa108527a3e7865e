"""`genolm variants score|ism|train|evaluate`: variant effect prediction (VCF in, annotated VCF out)."""

from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(
    help="Variant effect prediction: score VCFs with DNA language models or trained models.", no_args_is_help=True
)


@app.command()
def score(
    model: str = typer.Option(
        ...,
        "--model",
        metavar="DIR",
        help="A genolm run dir / model folder (LM, fine-tuned, or `variants train`), "
        "or a local HF folder; with --method motif a MEME motif file or `jaspar` "
        "(the bundled JASPAR 2022 CORE vertebrates).",
    ),
    reference: str = typer.Option(
        ..., "--reference", metavar="FASTA", help="Reference FASTA (.fa, .fa.gz bgzip with .fai/.gzi, or plain gzip)."
    ),
    vcf: str = typer.Option(..., "--input", "--vcf", metavar="VCF", help="VCF to score (.vcf or .vcf.gz)."),
    out: str = typer.Option(..., "--out", metavar="VCF", help="Output VCF; .vcf.gz = bgzip + tabix index."),
    method: Optional[str] = typer.Option(
        None,
        "--method",
        metavar="METHOD",
        help="llr, delta, embedding, supervised or motif (default: the "
        "model's own: LM -> llr, fine-tuned -> delta, variants train "
        "-> supervised).",
    ),
    window: Optional[int] = typer.Option(
        None, "--window", metavar="BASES", help="Context window in bases (default: the model's length)."
    ),
    batch_size: int = typer.Option(128, "--batch-size", metavar="N", help="Windows per forward pass."),
    max_allele: Optional[int] = typer.Option(
        None, "--max-allele", metavar="BASES", help="Longest REF/ALT scored (default window/2)."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Stop at the first malformed or unscorable record (default: keep it, flagged in GENOLM_SKIP).",
    ),
):
    """Score every variant of a VCF; writes the VCF back with GENOLM_* INFO fields."""
    from genolm.genome.variants.scoring import score_vcf

    s = score_vcf(
        model,
        reference,
        vcf,
        out,
        method=method,
        window=window,
        batch_size=batch_size,
        max_allele=max_allele,
        strict=strict,
    )
    typer.echo(s.line())
    typer.echo(f"wrote {out}" + (f" (+ {out}.tbi)" if s.indexed else ""))


@app.command()
def ism(
    model: str = typer.Option(..., "--model", metavar="DIR", help="Model (as for `variants score`)."),
    reference: str = typer.Option(..., "--reference", metavar="FASTA", help="Reference FASTA."),
    region: str = typer.Option(
        ..., "--region", metavar="CHR:START-END", help="CHR:START-END, 1-based inclusive (as samtools)."
    ),
    out: str = typer.Option(..., "--out", metavar="DIR", help="Run directory: ism.tsv, ism.bedGraph, ism_heatmap.png."),
    method: Optional[str] = typer.Option(
        None, "--method", metavar="METHOD", help="llr, delta, embedding or supervised (default: model's own)."
    ),
    window: Optional[int] = typer.Option(None, "--window", metavar="BASES", help="Context window in bases."),
    batch_size: int = typer.Option(128, "--batch-size", metavar="N"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run of another kind at --out."),
):
    """In-silico saturation mutagenesis: every position x 3 alternative bases."""
    from genolm.genome.variants.mutagenesis import ism as run_ism

    s = run_ism(model, reference, region, out, method=method, window=window, batch_size=batch_size, overwrite=overwrite)
    typer.echo(
        f"scored {s['alleles']} substitutions over {s['positions']} bp ({s['method']}, {s['seconds']:.1f}s); "
        f"wrote {out}/ism.tsv, ism.bedGraph, ism_heatmap.png"
    )


@app.command()
def train(
    train_vcf: str = typer.Option(..., "--train", "--vcf", metavar="VCF", help="Training VCF with a label in INFO."),
    reference: str = typer.Option(..., "--reference", metavar="FASTA", help="Reference FASTA."),
    label: str = typer.Option(
        ...,
        "--label",
        "--label-col",
        metavar="FIELD",
        help="INFO field with the label: 0/1 (binary) or a number (continuous).",
    ),
    out: str = typer.Option(..., "--out", metavar="DIR", help="Run directory to write."),
    valid: Optional[str] = typer.Option(
        None,
        "--valid",
        metavar="VCF",
        help="Labelled VCF scored by the final model (default: grouped cross-validation on --train only).",
    ),
    model: Optional[str] = typer.Option(
        None, "--model", metavar="DIR", help="Base DNA LM whose zero-shot llr becomes an extra input."
    ),
    group_field: Optional[str] = typer.Option(
        None,
        "--group-field",
        metavar="FIELD",
        help="INFO field defining validation groups (e.g. EXON); "
        "default: clusters of variants closer than --group-gap.",
    ),
    group_gap: int = typer.Option(
        1000, "--group-gap", metavar="BP", help="Variants further apart than this (bp) fall into different groups."
    ),
    folds: int = typer.Option(5, "--folds", metavar="K", help="Grouped cross-validation folds."),
    time_budget: Optional[str] = typer.Option(
        "25m", "--time-budget", metavar="DURATION", help="Stop cross-validation after this long (e.g. 25m)."
    ),
    seed: int = typer.Option(0, "--seed", metavar="N"),
    batch_size: int = typer.Option(128, "--batch-size", metavar="N", help="Windows per base-LM forward pass."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run of another kind at --out."),
):
    """Train a supervised variant-effect model from reference context + REF/ALT only."""
    from genolm.genome.variants.train import train as run_train

    m = run_train(
        train_vcf,
        out,
        reference=reference,
        label=label,
        valid=valid,
        model=model,
        seed=seed,
        time_budget=time_budget,
        group_field=group_field,
        group_gap=group_gap,
        folds=folds,
        batch_size=batch_size,
        overwrite=overwrite,
    )
    cv, base = m["cv"], m["baseline_cv"]
    key = "auroc" if m["task"] == "binary" else "spearman"
    text = (
        f"trained on {m['n']} alleles in {m['groups']} groups; grouped-CV {key} {cv.get(key, float('nan')):.3f} "
        f"(baseline {base.get(key, float('nan')):.3f})"
    )
    if "valid" in m:
        text += f"; --valid {key} {m['valid'].get(key, float('nan')):.3f}"
    typer.echo(f"{text}; model in {out}/model")


@app.command()
def evaluate(
    scores: str = typer.Option(..., "--scores", "--input", metavar="VCF", help="Scored VCF (from `variants score`)."),
    truth: str = typer.Option(..., "--truth", metavar="VCF", help="VCF with the true label in INFO."),
    label: str = typer.Option(
        ..., "--label", "--label-col", metavar="FIELD", help="INFO field of the label in --truth."
    ),
    out: str = typer.Option(
        ..., "--out", metavar="JSON", help="metrics.json to write (the ROC/PR or scatter plot goes beside it, .png)."
    ),
    score_field: str = typer.Option(
        "GENOLM_SCORE", "--score-field", metavar="FIELD", help="INFO field of the score in --scores."
    ),
    negate: bool = typer.Option(False, "--negate", help="Use -score (for llr, where low = damaging)."),
    by_chrom: bool = typer.Option(False, "--by-chrom", help="Also report metrics per CHROM (e.g. per MPRA element)."),
):
    """AUROC/AUPRC (binary label) or Spearman/Pearson (continuous), joined by CHROM/POS/REF/ALT."""
    from genolm.genome.variants.evaluate import evaluate_scores

    m = evaluate_scores(scores, truth, label, out, score_field=score_field, negate=negate, by_chrom=by_chrom)
    if m["type"] == "binary":
        typer.echo(f"{m['joined']} alleles ({m['positives']} positive): AUROC {m['auroc']:.3f}, AUPRC {m['auprc']:.3f}")
    else:
        typer.echo(f"{m['joined']} alleles: Spearman {m['spearman']:.3f}, Pearson {m['pearson']:.3f}")
    if by_chrom:
        typer.echo(f"mean per CHROM: {m['mean_by_chrom']:.3f}")
    typer.echo(f"wrote {out} and {m['plot']}")


@app.command()
def explain(
    model: str = typer.Option(
        ..., "--model", metavar="DIR", help="A sequence model (DNA classifier/regressor run dir or model folder)."
    ),
    reference: str = typer.Option(
        ..., "--reference", metavar="FASTA", help="Reference FASTA (.fa or bgzipped .fa.gz)."
    ),
    vcf: str = typer.Option(
        ..., "--vcf", "--input", metavar="VCF", help="Variants (.vcf or .vcf.gz; SNVs and indels)."
    ),
    out: str = typer.Option(..., "--out", metavar="DIR", help="Run directory: variants.tsv, bedGraphs, report.html."),
    window: Optional[int] = typer.Option(
        None,
        "--window",
        metavar="BASES",
        help="Window centred on each variant (default: the model's length, else 100).",
    ),
    method: str = typer.Option("ism", "--method", metavar="METHOD", help="saliency, ig, deeplift_shap or ism."),
    target: Optional[str] = typer.Option(None, "--target", metavar="CLASS", help="Output to explain (default: last)."),
    baseline: str = typer.Option("shuffle", "--baseline", metavar="KIND", help="shuffle or zeros (ig/deeplift_shap)."),
    n_baselines: int = typer.Option(8, "--n-baselines", metavar="N", help="Dinucleotide shuffles per window."),
    steps: int = typer.Option(32, "--steps", metavar="N", help="Integrated-gradients steps."),
    top: int = typer.Option(10, "--top", metavar="N", help="REF/ALT logos of the top N variants by |delta|."),
    batch_size: int = typer.Option(64, "--batch-size", metavar="N", help="Rows per forward pass."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed for the shuffled baselines."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run of another kind in --out."),
):
    """REF vs ALT attribution tracks and logos around each variant (which motif a variant breaks)."""
    from genolm.api import load
    from genolm.core.seqmodel import pick_device
    from genolm.interpret.variant_explain import explain_variants

    pick_device(device)  # validates --device (UsageError for an unknown name / no CUDA)
    sm = load(model).sequence_model(None if device == "auto" else device)
    m = explain_variants(
        sm,
        reference,
        vcf,
        out,
        model_path=model,
        window=window,
        target=target,
        method=method,
        baseline=baseline,
        n_baselines=n_baselines,
        steps=steps,
        top=top,
        batch_size=batch_size,
        seed=seed,
        overwrite=overwrite,
    )
    typer.echo(
        f"{m['n_variants']} variants explained with {m['method_used']} ({m['window']}-nt windows), mean |delta| "
        f"{m['mean_abs_delta']:.4g} -> {out}/variants.tsv"
    )
