"""`genolm motifs discover` outputs: motifs.meme, motifs.tsv, report.html (CWM logo beside its best match), metrics.

:func:`discover_run` reads an ``attributions.npz`` (``genolm explain``), runs :func:`genolm.interpret.modisco.discover`
and matches every pattern against a MEME database (default: the bundled JASPAR 2022 CORE vertebrates) before it
creates the run directory, so too few seqlets leave nothing behind.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genolm.interpret.modisco import DiscoveredMotif, discover
from genolm.io.errors import InputError

TSV_COLUMNS = ["motif", "n_seqlets", "best_match", "best_match_name", "q_value", "matches", "pattern"]


def attributions_path(path: str | Path) -> Path:
    """A run directory of ``genolm explain`` (its attributions.npz) or an .npz file."""
    p = Path(path)
    if p.is_dir():
        p = p / "attributions.npz"
    if not p.is_file():
        raise InputError("attributions not found (give an `genolm explain` run directory or its attributions.npz)", p)
    return p


def load_attributions(path: str | Path):
    from genolm.interpret.attributions import Attributions

    p = attributions_path(path)
    try:
        return Attributions.load(p)
    except InputError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"cannot read attributions ({e})", p) from None


def write_meme(path: str | Path, motifs: list[DiscoveredMotif]) -> None:
    """Discovered PWMs as MEME v4 text (``MOTIF pattern_0 positive``, nsites = number of seqlets)."""
    from genolm.io.atomic import atomic_write_text

    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "", "Background letter frequencies"]
    lines += ["A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for m in motifs:
        lines.append(f"MOTIF {m.name} {m.sign}")
        lines.append(f"letter-probability matrix: alength= 4 w= {len(m.pwm)} nsites= {m.n_seqlets} E= 0")
        for row in m.pwm:
            r = np.round(row / row.sum(), 6)
            r[np.argmax(r)] += 1 - r.sum()
            lines.append(" " + "  ".join(f"{v:.6f}" for v in np.clip(r, 0, 1)))
        lines.append("")
    atomic_write_text(path, "\n".join(lines))


def tsv_rows(motifs: list[DiscoveredMotif]) -> list[list[str]]:
    rows = []
    for m in motifs:
        b = m.best
        rows.append(
            [
                m.name,
                str(m.n_seqlets),
                b.id if b else "",
                b.name if b else "",
                f"{b.q_value:.3g}" if b else "",
                ";".join(x.label() for x in m.matches),
                m.consensus,
            ]
        )
    return rows


def write_tsv(path: str | Path, motifs: list[DiscoveredMotif]) -> None:
    from genolm.io.atomic import atomic_write_text

    lines = ["\t".join(TSV_COLUMNS)] + ["\t".join(r) for r in tsv_rows(motifs)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def information_matrix(pwm: np.ndarray) -> np.ndarray:
    """Probabilities scaled by each column's information content (bits), for a sequence logo."""
    p = np.clip(np.asarray(pwm, dtype=np.float64), 1e-9, 1)
    p = p / p.sum(1, keepdims=True)
    ic = 2 + (p * np.log2(p)).sum(1, keepdims=True)
    return p * ic


def logo_pair_figure(m: DiscoveredMotif, database):
    """The discovered CWM logo beside its best match's logo (information content, matched orientation)."""
    import logomaker
    import pandas as pd

    from genolm.core.report import pyplot

    plt = pyplot()
    b = m.best
    fig, axes = plt.subplots(1, 2 if b else 1, figsize=(10 if b else 5, 2.0), squeeze=False)
    ax = axes[0, 0]
    logomaker.Logo(pd.DataFrame(m.cwm, columns=list("ACGT")), ax=ax, show_spines=False)
    ax.set_title(f"{m.name} CWM ({m.sign}, {m.n_seqlets} seqlets)", fontsize=9)
    ax.set_ylabel("contribution")
    if b:
        target = database[b.index].probs
        if b.strand == "-":
            target = target[::-1, ::-1]
        ax = axes[0, 1]
        logomaker.Logo(pd.DataFrame(information_matrix(target), columns=list("ACGT")), ax=ax, show_spines=False)
        ax.set_ylim(0, 2)
        ax.set_title(
            f"{b.id} {b.name} ({'rev. compl.' if b.strand == '-' else 'forward'}, q={b.q_value:.2g})", fontsize=9
        )
        ax.set_ylabel("bits")
    fig.tight_layout()
    return fig


def discover_run(
    attributions: str | Path,
    out: str | Path,
    motif_file: str | Path | None = None,
    max_seqlets: int = 20000,
    window: int | None = None,
    min_seqlets: int = 50,
    top_matches: int = 3,
    seed: int = 0,
    overwrite: bool = False,
) -> dict:
    """The whole `genolm motifs discover` command; returns its metrics."""
    from genolm.core.report import Report
    from genolm.core.runs import RunDir, check_out_dir
    from genolm.interpret.motifscan import default_motif_file
    from genolm.io.meme import read_meme

    if top_matches < 1:
        raise InputError(f"--top-matches {top_matches}: need at least 1")
    if min_seqlets < 1 or max_seqlets < 1:
        raise InputError("--min-seqlets and --max-seqlets must be positive")
    check_out_dir(out, "motifs discover", overwrite)  # refuse a bad --out before the long part
    t0 = time.time()
    apath = attributions_path(attributions)
    motif_file = Path(motif_file) if motif_file else default_motif_file()
    database = read_meme(motif_file)
    attr = load_attributions(apath)
    motifs = discover(
        attr,
        max_seqlets=max_seqlets,
        window=window,
        min_seqlets=min_seqlets,
        seed=seed,
        database=database,
        top_matches=top_matches,
    )
    seconds = time.time() - t0
    n_seqlets = sum(m.n_seqlets for m in motifs)
    metrics = {
        "n_motifs": len(motifs),
        "n_positive_motifs": sum(m.sign == "positive" for m in motifs),
        "n_negative_motifs": sum(m.sign == "negative" for m in motifs),
        "n_seqlets": n_seqlets,
        "n_sequences": len(attr.one_hot),
        "method": str(getattr(attr, "method", "")),
        "target": str(getattr(attr, "target", "")),
        "seconds": round(seconds, 2),
    }
    config = {
        "attributions": str(apath),
        "motifs": str(motif_file),
        "max_seqlets": max_seqlets,
        "window": window,
        "min_seqlets": min_seqlets,
        "top_matches": top_matches,
    }
    with RunDir(out, command="motifs discover", config=config, inputs=[apath], seed=seed, overwrite=overwrite) as run:
        write_meme(run.path / "motifs.meme", motifs)
        write_tsv(run.path / "motifs.tsv", motifs)
        rep = Report(
            "Motifs discovered from attributions",
            f"{len(motifs)} motifs from {n_seqlets} seqlets in {len(attr.one_hot)} sequences "
            f"({metrics['method']} attributions of {metrics['target']}); matched against {motif_file.name}",
        )
        rep.metrics_table(metrics)
        rep.table(TSV_COLUMNS, tsv_rows(motifs), title="Motifs (best first: most seqlets)")
        rep.text(
            "CWM: mean contribution of the observed bases over a pattern's seqlets (modisco-lite), trimmed to the "
            "columns whose summed |CWM| reaches 30% of the maximum. Matches: memelite TOMTOM p-values of the "
            "pattern's base frequencies against every database motif (both orientations), Benjamini-Hochberg q-values "
            "over the database."
        )
        for m in motifs:
            rep.heading(f"{m.name}: {m.consensus}")
            caption = f"{m.name} ({m.sign}, {m.n_seqlets} seqlets)"
            if m.best:
                caption += f"; best match {m.best.id} {m.best.name}, q = {m.best.q_value:.3g}"
            rep.figure(logo_pair_figure(m, database), caption)
        rep.write(run.path / "report.html")
        run.write_metrics(metrics)
    return metrics
