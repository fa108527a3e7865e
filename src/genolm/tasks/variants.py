"""`genolm variants score|ism|train|evaluate`: variant effect prediction (VCF in, annotated VCF out)."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, group, task
from genolm.tasks.options import (
    ATTR_BASELINE,
    ATTR_N_BASELINES,
    ATTR_STEPS,
    ATTR_TARGET,
    BATCH_SIZE,
    DEVICE,
    OVERWRITE,
    SHUFFLE_SEED,
    sequence_model,
)

group("variants", help="Variant effect prediction: score VCFs with DNA language models or trained models.")


@task("variants.score")
def score(
    model: str = Opt(
        ...,
        "--model",
        metavar="DIR",
        keywords=("jaspar",),
        help="A genolm run dir / model folder (LM, fine-tuned, or `variants train`), "
        "or a local HF folder; with --method motif a MEME motif file or `jaspar` "
        "(the bundled JASPAR 2022 CORE vertebrates).",
    ),
    reference: str = Opt(
        ..., "--reference", metavar="FASTA", help="Reference FASTA (.fa, .fa.gz bgzip with .fai/.gzi, or plain gzip)."
    ),
    vcf: str = Opt(..., "--input", "--vcf", metavar="VCF", help="VCF to score (.vcf or .vcf.gz)."),
    out: str = Opt(..., "--out", metavar="VCF", help="Output VCF; .vcf.gz = bgzip + tabix index."),
    method: Optional[str] = Opt(
        None,
        "--method",
        metavar="METHOD",
        help="llr, delta, embedding, supervised or motif (default: the "
        "model's own: LM -> llr, fine-tuned -> delta, variants train "
        "-> supervised).",
    ),
    window: Optional[int] = Opt(
        None, "--window", metavar="BASES", help="Context window in bases (default: the model's length)."
    ),
    batch_size: int = Opt(128, "--batch-size", metavar="N", help="Windows per forward pass."),
    max_allele: Optional[int] = Opt(
        None, "--max-allele", metavar="BASES", help="Longest REF/ALT scored (default window/2)."
    ),
    strict: bool = Opt(
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
    echo(s.line())
    echo(f"wrote {out}" + (f" (+ {out}.tbi)" if s.indexed else ""))


@task("variants.ism")
def ism(
    model: str = Opt(..., "--model", metavar="DIR", keywords=("jaspar",), help="Model (as for `variants score`)."),
    reference: str = Opt(..., "--reference", metavar="FASTA", help="Reference FASTA."),
    region: str = Opt(..., "--region", metavar="CHR:START-END", help="CHR:START-END, 1-based inclusive (as samtools)."),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory: ism.tsv, ism.bedGraph, ism_heatmap.png."),
    method: Optional[str] = Opt(
        None, "--method", metavar="METHOD", help="llr, delta, embedding or supervised (default: model's own)."
    ),
    window: Optional[int] = Opt(None, "--window", metavar="BASES", help="Context window in bases."),
    batch_size: int = Opt(128, "--batch-size", metavar="N"),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
):
    """In-silico saturation mutagenesis: every position x 3 alternative bases."""
    from genolm.genome.variants.mutagenesis import ism as run_ism

    s = run_ism(model, reference, region, out, method=method, window=window, batch_size=batch_size, overwrite=overwrite)
    echo(
        f"scored {s['alleles']} substitutions over {s['positions']} bp ({s['method']}, {s['seconds']:.1f}s); "
        f"wrote {out}/ism.tsv, ism.bedGraph, ism_heatmap.png"
    )


@task("variants.train")
def train(
    train_vcf: str = Opt(..., "--train", "--vcf", metavar="VCF", help="Training VCF with a label in INFO."),
    reference: str = Opt(..., "--reference", metavar="FASTA", help="Reference FASTA."),
    label: str = Opt(
        ...,
        "--label",
        "--label-col",
        metavar="FIELD",
        help="INFO field with the label: 0/1 (binary) or a number (continuous).",
    ),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory to write."),
    valid: Optional[str] = Opt(
        None,
        "--valid",
        metavar="VCF",
        help="Labelled VCF scored by the final model (default: grouped cross-validation on --train only).",
    ),
    model: Optional[str] = Opt(
        None, "--model", metavar="DIR", help="Base DNA LM whose zero-shot llr becomes an extra input."
    ),
    group_field: Optional[str] = Opt(
        None,
        "--group-field",
        metavar="FIELD",
        help="INFO field defining validation groups (e.g. EXON); "
        "default: clusters of variants closer than --group-gap.",
    ),
    group_gap: int = Opt(
        1000, "--group-gap", metavar="BP", help="Variants further apart than this (bp) fall into different groups."
    ),
    folds: int = Opt(5, "--folds", metavar="K", help="Grouped cross-validation folds."),
    time_budget: Optional[str] = Opt(
        "25m", "--time-budget", metavar="DURATION", help="Stop cross-validation after this long (e.g. 25m)."
    ),
    seed: int = Opt(0, "--seed", metavar="N"),
    batch_size: int = Opt(128, "--batch-size", metavar="N", help="Windows per base-LM forward pass."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind at --out."),
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
    echo(f"{text}; model in {out}/model")


@task("variants.evaluate")
def evaluate(
    scores: str = Opt(..., "--scores", "--input", metavar="VCF", help="Scored VCF (from `variants score`)."),
    truth: str = Opt(..., "--truth", metavar="VCF", help="VCF with the true label in INFO."),
    label: str = Opt(..., "--label", "--label-col", metavar="FIELD", help="INFO field of the label in --truth."),
    out: str = Opt(
        ..., "--out", metavar="JSON", help="metrics.json to write (the ROC/PR or scatter plot goes beside it, .png)."
    ),
    score_field: str = Opt(
        "GENOLM_SCORE", "--score-field", metavar="FIELD", help="INFO field of the score in --scores."
    ),
    negate: bool = Opt(False, "--negate", help="Use -score (for llr, where low = damaging)."),
    by_chrom: bool = Opt(False, "--by-chrom", help="Also report metrics per CHROM (e.g. per MPRA element)."),
):
    """AUROC/AUPRC (binary label) or Spearman/Pearson (continuous), joined by CHROM/POS/REF/ALT."""
    from genolm.genome.variants.evaluate import evaluate_scores

    m = evaluate_scores(scores, truth, label, out, score_field=score_field, negate=negate, by_chrom=by_chrom)
    if m["type"] == "binary":
        echo(f"{m['joined']} alleles ({m['positives']} positive): AUROC {m['auroc']:.3f}, AUPRC {m['auprc']:.3f}")
    else:
        echo(f"{m['joined']} alleles: Spearman {m['spearman']:.3f}, Pearson {m['pearson']:.3f}")
    if by_chrom:
        echo(f"mean per CHROM: {m['mean_by_chrom']:.3f}")
    echo(f"wrote {out} and {m['plot']}")


@task("variants.explain")
def explain(
    model: str = Opt(
        ..., "--model", metavar="DIR", help="A sequence model (DNA classifier/regressor run dir or model folder)."
    ),
    reference: str = Opt(..., "--reference", metavar="FASTA", help="Reference FASTA (.fa or bgzipped .fa.gz)."),
    vcf: str = Opt(..., "--vcf", "--input", metavar="VCF", help="Variants (.vcf or .vcf.gz; SNVs and indels)."),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory: variants.tsv, bedGraphs, report.html."),
    window: Optional[int] = Opt(
        None,
        "--window",
        metavar="BASES",
        help="Window centred on each variant (default: the model's length, else 100).",
    ),
    method: str = Opt("ism", "--method", metavar="METHOD", help="saliency, ig, deeplift_shap or ism."),
    target: Optional[str] = ATTR_TARGET,
    baseline: str = ATTR_BASELINE,
    n_baselines: int = ATTR_N_BASELINES,
    steps: int = ATTR_STEPS,
    top: int = Opt(10, "--top", metavar="N", help="REF/ALT logos of the top N variants by |delta|."),
    batch_size: int = BATCH_SIZE,
    device: str = DEVICE,
    seed: int = SHUFFLE_SEED,
    overwrite: bool = OVERWRITE,
):
    """REF vs ALT attribution tracks and logos around each variant (which motif a variant breaks)."""
    from genolm.interpret.variant_explain import explain_variants

    sm = sequence_model(model, device)
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
    echo(
        f"{m['n_variants']} variants explained with {m['method_used']} ({m['window']}-nt windows), mean |delta| "
        f"{m['mean_abs_delta']:.4g} -> {out}/variants.tsv"
    )
