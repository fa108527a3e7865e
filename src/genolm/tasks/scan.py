"""Top-level `genolm scan` (sliding classifier -> bedGraph + peaks) and `genolm discover` (novel elements)."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, task


@task("scan")
def scan(
    model: str = Opt(..., "--model", metavar="DIR", help="A fine-tuned sequence classifier (run dir or model folder)."),
    genome: str = Opt(..., "--input", "--genome", metavar="FASTA", help="Genome FASTA to scan (.gz ok)."),
    out: str = Opt(..., "--out", metavar="BEDGRAPH", help="Output bedGraph (max over strands of P(positive))."),
    regions: Optional[str] = Opt(None, metavar="BED", help="BED file: scan these regions only."),
    window: Optional[int] = Opt(
        None, metavar="BASES", help="Window length (default: the model's training length when known, else 200)."
    ),
    stride: Optional[int] = Opt(None, metavar="BASES", help="Step between windows (>= 1; default: window/2)."),
    peaks: Optional[str] = Opt(
        None, metavar="BED", path="out", help="Also write merged peak calls (BED6 with score, strand)."
    ),
    threshold: float = Opt(0.9, metavar="P", help="Probability for a window to count towards a peak."),
    positive_label: Optional[str] = Opt(None, metavar="LABEL", help="Label scored (default '1', else the last)."),
    batch_size: int = Opt(512, metavar="N"),
):
    """Slide a classifier along both strands: bedGraph track and merged peak BED."""
    from genolm.genome.scan import scan as scan_genome

    r = scan_genome(
        model,
        genome,
        out,
        regions=regions,
        window=window,
        stride=stride,
        peaks=peaks,
        threshold=threshold,
        positive_label=positive_label,
        batch_size=batch_size,
    )
    echo(
        f"scanned {r['bases']:,} bases ({r['windows']:,} windows, both strands) in {r['seconds']:.1f}s "
        f"= {r['mb_per_min']:.2f} Mb/min; {r['peaks']} peaks at P >= {threshold} -> {out}"
        + (f", {peaks}" if peaks else "")
    )


@task("discover")
def discover(
    model: str = Opt(
        ..., "--model", metavar="DIR", help="A DNA language model (masked or causal), e.g. from `genolm pretrain`."
    ),
    out: str = Opt(..., "--out", metavar="DIR", help="Run directory to write (results.tsv, report.html...)."),
    input: Optional[str] = Opt(
        None, "--input", metavar="FASTA|CSV", help="Sequences: FASTA, or CSV/TSV with a 'sequence' column."
    ),
    genome: Optional[str] = Opt(None, metavar="FASTA", help="Or tile windows along this genome."),
    window: int = Opt(500, metavar="BASES", help="Window length with --genome."),
    stride: Optional[int] = Opt(
        None, metavar="BASES", help="Step between windows with --genome (>= 1; default: window)."
    ),
    map: str = Opt("pca", "--map", metavar="METHOD", help="2-D map: pca or umap."),
    cluster: str = Opt("auto", metavar="METHOD", help="auto (k-means, k by silhouette), kmeans or hdbscan."),
    mask_rounds: int = Opt(6, metavar="N", help="Masked LMs: passes for the pseudo-perplexity."),
    seed: int = Opt(0, metavar="N"),
    batch_size: int = Opt(64, metavar="N"),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind in --out."),
):
    """Embeddings, 2-D map, clusters and anomaly scores (embedding outlier + LM perplexity)."""
    from genolm.genome.discover import discover as discover_elements

    r = discover_elements(
        model,
        out,
        input=input,
        genome=genome,
        window=window,
        stride=stride,
        map_method=map,
        cluster=cluster,
        mask_rounds=mask_rounds,
        seed=seed,
        batch_size=batch_size,
        overwrite=overwrite,
    )
    c = r["clusters"]
    echo(
        f"{r['n']} sequences; {c.get('method')} clusters"
        + (f" (k={c['k']} by silhouette)" if "k" in c else "")
        + f"; results in {out}/results.tsv"
    )
