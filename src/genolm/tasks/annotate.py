"""`genolm annotate train|predict|evaluate`: per-base genome annotation decoded into GFF3 gene models."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, group, task

group("annotate", help="Genome annotation: per-base labelling -> HMM-decoded gene models (GFF3).")


@task("annotate.train")
def train(
    genome: str = Opt(..., "--genome", metavar="FASTA", help="Genome FASTA (.gz ok)."),
    gff: str = Opt(
        ..., "--train", "--gff", metavar="GFF3", help="Reference annotation of --genome to learn from, GFF3 (.gz ok)."
    ),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory to write."),
    valid: Optional[str] = Opt(
        None,
        "--valid",
        metavar="BED",
        help="Genome regions to use as the dev split (default: an internal split, see --dev-fraction).",
    ),
    scheme: str = Opt(
        "prokaryote",
        metavar="SCHEME",
        help="eukaryote (5'UTR/CDS/intron/3'UTR per strand) or prokaryote (CDS+/CDS-/RNA).",
    ),
    window: int = Opt(2048, metavar="BASES", help="Training window length in bases."),
    hidden: int = Opt(32, metavar="N", help="CNN channels."),
    layers: int = Opt(8, metavar="N", help="Dilated conv layers (receptive field ~500 bp at 8)."),
    batch_size: int = Opt(8, metavar="N"),
    lr: float = Opt(3e-3, metavar="LR"),
    max_steps: Optional[int] = Opt(None, metavar="N", help="Stop after this many optimizer steps."),
    epochs: Optional[float] = Opt(None, metavar="N", help="Stop after this many passes over the training bases."),
    time_budget: str = Opt(
        "25m",
        metavar="DURATION",
        help="Stop after this long (default 25m; decoding the dev split follows, "
        "all within 30 minutes on 2 CPU cores).",
    ),
    eval_every: int = Opt(200, metavar="STEPS", help="Steps between dev evaluations (best weights kept)."),
    dev_fraction: float = Opt(
        0.1,
        metavar="FRACTION",
        help="Internal dev split (without --valid): whole sequences when there "
        "are >= 20, else the last fraction of each.",
    ),
    seed: int = Opt(0, metavar="N"),
    init: Optional[str] = Opt(None, metavar="DIR", help="Continue training from this annotation model (same scheme)."),
    checkpoint_every: int = Opt(
        1000, metavar="STEPS", help="Write a resumable checkpoint every this many steps (0 = never)."
    ),
    resume: bool = Opt(False, "--resume", help="Continue a killed run of the same --out from its checkpoint."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind in --out."),
):
    """Learn per-base labels from a reference annotation; reports decoded dev-split metrics."""
    from genolm.core.runs import parse_duration
    from genolm.genome.annotate import train as train_annotation
    from genolm.io.errors import UsageError

    if not 0 < dev_fraction < 0.9:
        raise UsageError("--dev-fraction must be between 0 and 0.9")
    if checkpoint_every < 0:
        raise UsageError("--checkpoint-every must be >= 0")
    m = train_annotation(
        genome,
        gff,
        out,
        scheme=scheme,
        window=window,
        hidden=hidden,
        layers=layers,
        batch_size=batch_size,
        lr=lr,
        max_steps=max_steps,
        epochs=epochs,
        time_budget=parse_duration(time_budget),
        eval_every=eval_every,
        dev_fraction=dev_fraction,
        seed=seed,
        init=init,
        valid=valid,
        checkpoint_every=checkpoint_every,
        resume=resume,
        overwrite=overwrite,
    )
    d = m["dev"]
    echo(
        f"trained {m['train']['steps']} steps in {m['train']['seconds']:.0f}s; dev CDS base F1 "
        f"{d['base'].get('CDS', {}).get('f1', float('nan')):.4f}, intron F1 {d['intron']['f1']}, "
        f"gene F1 {d['gene']['f1']}; model in {out}/model"
    )


@task("annotate.predict")
def predict(
    model: str = Opt(..., "--model", metavar="DIR", help="Run directory or model folder from `genolm annotate train`."),
    genome: str = Opt(..., "--input", "--genome", metavar="FASTA", help="Genome FASTA to annotate (.gz ok)."),
    out: str = Opt(..., "--out", metavar="GFF3", help="Output GFF3 file."),
    regions: Optional[str] = Opt(None, metavar="BED", help="BED file: call features inside these regions only."),
    bedgraph: Optional[str] = Opt(
        None, metavar="BEDGRAPH", path="out", help="Also write a bedGraph of per-base class probability."
    ),
    bedgraph_class: str = Opt(
        "CDS", metavar="CLASS", help="Class for --bedgraph: CDS, intron, UTR5, UTR3, RNA, intergenic."
    ),
):
    """Annotate a genome: per-base posteriors (both strands) decoded by Viterbi into GFF3 gene models."""
    from genolm.genome.annotate import predict as predict_annotation

    r = predict_annotation(model, genome, out, regions=regions, bedgraph=bedgraph, bedgraph_class=bedgraph_class)
    echo(f"{r['genes']} genes ({r['introns']} introns) in {r['regions']} region(s), {r['bases']:,} bases -> {out}")


@task("annotate.evaluate")
def evaluate(
    pred: str = Opt(..., "--input", "--pred", metavar="GFF3", help="Predicted GFF3."),
    truth: str = Opt(..., "--truth", metavar="GFF3", help="Reference GFF3."),
    out: str = Opt(..., "--out", metavar="JSON", help="metrics.json to write."),
    regions: Optional[str] = Opt(None, metavar="BED", help="BED file: score only inside these regions."),
    genome: Optional[str] = Opt(
        None,
        metavar="FASTA",
        help="Genome FASTA for sequence lengths (default: ##sequence-region lines, else feature extents).",
    ),
):
    """Base-level P/R/F1 per class; coding-exon, exon and intron exact-boundary P/R/F1; gene exact matches."""
    from genolm.genome.annotate import evaluate as evaluate_annotation

    m = evaluate_annotation(pred, truth, regions=regions, out=out, genome=genome)
    for cls, v in m["base"].items():
        echo(f"base {cls:<10} P {v['precision']:.4f} R {v['recall']:.4f} F1 {v['f1']:.4f}")
    for k in ("cds_exon", "exon", "intron", "gene"):
        v = m[k]
        echo(f"{k:<15} P {v['precision']:.4f} R {v['recall']:.4f} F1 {v['f1']:.4f} ({v['tp']}/{v['n_true']} reference)")
