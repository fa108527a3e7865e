"""`genolm motifs discover` (tfmodisco-lite + TOMTOM against JASPAR) and `genolm motifs scan` (FIMO-style)."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Opt, echo, group, task

group("motifs", help="Motifs: discover them from attributions, or scan sequences for known ones.")

MOTIFS_HELP = "MEME v4 motif file (default: the bundled JASPAR 2022 CORE vertebrates non-redundant, 841 motifs)."


@task("motifs.discover")
def discover(
    attributions: str = Opt(
        ...,
        "--attributions",
        metavar="DIR|NPZ",
        help="A `genolm explain` run directory (its attributions.npz) or an attributions .npz file.",
    ),
    out: str = Opt(
        ..., "--out", metavar="DIR", help="Run directory: motifs.meme, motifs.tsv, report.html, metrics.json."
    ),
    motifs: Optional[str] = Opt(None, "--motifs", metavar="MEME", help=MOTIFS_HELP),
    max_seqlets: int = Opt(
        20000, "--max-seqlets", metavar="N", help="At most N seqlets per sign (positive/negative) are clustered."
    ),
    window: Optional[int] = Opt(
        None,
        "--window",
        metavar="W",
        help="Seqlet core width (modisco's sliding window), in bases (default: 21, or 15 for sequences under 150 nt).",
    ),
    min_seqlets: int = Opt(50, "--min-seqlets", metavar="K", help="A sign is clustered only with more than K seqlets."),
    top_matches: int = Opt(
        3, "--top-matches", metavar="N", help="Database matches listed per motif (TOMTOM p-value order)."
    ),
    seed: int = Opt(0, "--seed", metavar="N", help="Seed for the order in which sequences are read."),
    overwrite: bool = Opt(False, "--overwrite", help="Replace an existing run of another kind in --out."),
):
    """Seqlets and motifs from attributions (tfmodisco-lite), each matched against JASPAR with q-values."""
    from genolm.interpret.motifs_report import discover_run

    m = discover_run(
        attributions,
        out,
        motif_file=motifs,
        max_seqlets=max_seqlets,
        window=window,
        min_seqlets=min_seqlets,
        top_matches=top_matches,
        seed=seed,
        overwrite=overwrite,
    )
    echo(
        f"{m['n_motifs']} motifs ({m['n_positive_motifs']} positive, {m['n_negative_motifs']} negative) from "
        f"{m['n_seqlets']} seqlets in {m['seconds']:.1f}s -> {out}/motifs.tsv, motifs.meme, report.html"
    )


@task("motifs.scan")
def scan(
    input: str = Opt(
        ..., "--input", metavar="FASTA|CSV", help="Sequences: FASTA, or CSV/TSV with a 'sequence' column."
    ),
    motifs: Optional[str] = Opt(None, "--motifs", metavar="MEME", help=MOTIFS_HELP),
    threshold: float = Opt(
        1e-4, "--threshold", metavar="P", help="Report windows with p-value <= P (FIMO's --thresh)."
    ),
    background: str = Opt(
        "uniform",
        "--background",
        metavar="KIND",
        help="uniform, or input (base frequencies of the input, both strands).",
    ),
    out: Optional[str] = Opt(
        None, "--out", metavar="TSV|BED", help="Output: FIMO-style TSV, or BED6 when it ends in .bed (default: stdout)."
    ),
):
    """FIMO-style scan: known motifs in sequences, both strands, with p- and q-values."""
    from genolm.interpret.motifscan import scan_run

    r = scan_run(input, out, motif_file=motifs, threshold=threshold, background=background)
    echo(
        f"{r['hits']} hits at p <= {threshold:g} of {r['motifs']} motifs in {r['sequences']} sequences "
        f"({r['bases']:,} bases, both strands) in {r['seconds']:.1f}s" + (f" -> {out}" if out else ""),
        err=out is None,
    )
