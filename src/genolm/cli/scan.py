"""Top-level `genolm scan` (sliding classifier -> bedGraph + peaks) and `genolm discover` (novel elements)."""
from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def scan(
        model: str = typer.Option(..., help="A fine-tuned sequence classifier (run dir or model folder)."),
        genome: str = typer.Option(..., help="Genome FASTA (.gz ok)."),
        out: str = typer.Option(..., help="Output bedGraph (max over strands of P(positive))."),
        regions: Optional[str] = typer.Option(None, help="BED file: scan these regions only."),
        window: Optional[int] = typer.Option(None, help="Window length (default: the model's training length "
                                                        "when known, else 200)."),
        stride: Optional[int] = typer.Option(None, help="Step between windows (default: window/2)."),
        peaks: Optional[str] = typer.Option(None, help="Also write merged peak calls (BED6 with score, strand)."),
        threshold: float = typer.Option(0.9, help="Probability for a window to count towards a peak."),
        positive_label: Optional[str] = typer.Option(None, help="Label scored (default '1', else the last)."),
        batch_size: int = typer.Option(512),
    ):
        """Slide a classifier along both strands: bedGraph track and merged peak BED."""
        from genolm.genome.scan import scan as _scan

        r = _scan(model, genome, out, regions=regions, window=window, stride=stride, peaks=peaks,
                  threshold=threshold, positive_label=positive_label, batch_size=batch_size)
        typer.echo(f"scanned {r['bases']:,} bases ({r['windows']:,} windows, both strands) in {r['seconds']:.1f}s "
                   f"= {r['mb_per_min']:.2f} Mb/min; {r['peaks']} peaks at P >= {threshold} -> {out}"
                   + (f", {peaks}" if peaks else ""))

    @app.command()
    def discover(
        model: str = typer.Option(..., help="A DNA language model (masked or causal), e.g. from `genolm pretrain`."),
        out: str = typer.Option(..., help="Run directory to write (results.tsv, report.html...)."),
        input: Optional[str] = typer.Option(None, help="Sequences: FASTA, or CSV/TSV with a 'sequence' column."),
        genome: Optional[str] = typer.Option(None, help="Or tile windows along this genome."),
        window: int = typer.Option(500, help="Window length with --genome."),
        stride: Optional[int] = typer.Option(None, help="Step between windows with --genome (default: window)."),
        map: str = typer.Option("pca", "--map", help="2-D map: pca or umap."),
        cluster: str = typer.Option("auto", help="auto (k-means, k by silhouette), kmeans or hdbscan."),
        mask_rounds: int = typer.Option(6, help="Masked LMs: passes for the pseudo-perplexity."),
        seed: int = typer.Option(0),
        batch_size: int = typer.Option(64),
    ):
        """Embeddings, 2-D map, clusters and anomaly scores (embedding outlier + LM perplexity)."""
        from genolm.genome.discover import discover as _discover

        r = _discover(model, out, input=input, genome=genome, window=window, stride=stride, map_method=map,
                      cluster=cluster, mask_rounds=mask_rounds, seed=seed, batch_size=batch_size)
        c = r["clusters"]
        typer.echo(f"{r['n']} sequences; {c.get('method')} clusters"
                   + (f" (k={c['k']} by silhouette)" if "k" in c else "") + f"; results in {out}/results.tsv")
