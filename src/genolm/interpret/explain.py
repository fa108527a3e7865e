"""`genolm explain`: attributions for every sequence of a FASTA/CSV, written as a run directory.

``attributions.npz`` (:class:`~genolm.interpret.attributions.Attributions`, input order), ``attributions.bedgraph``
(when every id reads as a genomic region), ``report.html`` (method, target, notes, logos of the top sequences by
the explained value), ``metrics.json`` and ``explain.json``.

Genomic ids: ``chr1:1001-1070`` is read as genolm's :func:`genolm.sequence.parse_region` reads it, 1-based and
closed (samtools faidx names; the sequence starts at 0-based position 1000). A name whose span is one base
shorter than that, ``chr1:1000-1070`` for a 70-nt sequence, is the 0-based half-open name ``bedtools getfasta``
writes and is read so. ``name::chr1:1000-1070`` (bedtools ``-name``) and a trailing ``(+)``/``(-)`` strand
(bedtools ``-s``; minus-strand scores are laid back onto the forward strand) are understood. The bedGraph carries
the per-base scores (summed over the 4 bases: the contribution of the observed base) at 0-based half-open BED
coordinates.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from genolm.io.errors import InputError

_REGION_ID = re.compile(r"^(?:.*::)?([^\s:]+):([\d,]+)-([\d,]+)(?:\(([+-])\))?$")


def genomic_position(name: str, length: int) -> tuple[str, int, str] | None:
    """(chrom, 0-based start, strand) of a sequence named after its region, or None (see the module docstring)."""
    m = _REGION_ID.match(name.strip())
    if not m:
        return None
    chrom, a, b = m.group(1), int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
    strand = m.group(4) or "+"
    if b - a + 1 == length and a >= 1:  # 1-based closed (samtools, genolm.sequence.parse_region)
        return chrom, a - 1, strand
    if b - a == length:  # 0-based half-open (bedtools getfasta)
        return chrom, a, strand
    return None


def bedgraph_tracks(
    ids: list[str], per_base: list[np.ndarray]
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] | None:
    """(chrom, starts, ends, values) blocks, sorted, when every id is a region of its sequence's length."""
    blocks = []
    for name, v in zip(ids, per_base):
        pos = genomic_position(name, len(v))
        if pos is None:
            return None
        chrom, start, strand = pos
        vals = v[::-1] if strand == "-" else v
        starts = start + np.arange(len(v))
        blocks.append((chrom, starts, starts + 1, np.asarray(vals, dtype=float)))
    blocks.sort(key=lambda b: (b[0], int(b[1][0]) if len(b[1]) else 0))
    return blocks


def write_bedgraph_tracks(path: str | Path, blocks, name: str, description: str) -> int:
    """bedGraph (6 significant digits) of (chrom, starts, ends, values) blocks, written atomically."""
    from genolm.io.atomic import atomic_open
    from genolm.io.bed import bedgraph_lines

    n = 0
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(f'track type=bedGraph name="{name}" description="{description}"\n')
        for chrom, starts, ends, values in blocks:
            for line in bedgraph_lines(chrom, starts, ends, values, digits=6):
                fh.write(line)
                n += 1
    return n


def read_inputs(path: str | Path, sm) -> tuple[list[str], list[str]]:
    """(ids, sequences) of a FASTA or CSV/TSV (``sequence`` column, optional ``id``), checked against the model."""
    from genolm.io.tables import read_sequences

    ids, seqs = read_sequences(path)
    if not seqs:
        raise InputError("no sequences in the input", path)
    for k, (i, s) in enumerate(zip(ids, seqs)):
        if not s:
            raise InputError(f"sequence {k + 1} ({i}) is empty", path)
        if sm.length is not None and len(s) != sm.length:
            raise InputError(
                f"sequence {k + 1} ({i}) is {len(s)} nt but {sm.description} takes {sm.length}-nt sequences", path
            )
    return [str(i) for i in ids], seqs


def explain(
    sm,
    input: str | Path,
    out: str | Path,
    model_path: str = "",
    target: str | None = None,
    method: str = "ig",
    baseline: str = "shuffle",
    n_baselines: int = 8,
    steps: int = 32,
    top: int = 5,
    batch_size: int = 64,
    seed: int = 0,
    overwrite: bool = False,
    tolerance: float = 0.05,
) -> dict:
    """Attribute every input sequence of ``sm`` and write the run directory; returns the metrics."""
    from genolm.core.runs import RunDir, set_seed
    from genolm.interpret.attributions import BASELINES, METHODS, attribute

    if method not in METHODS:
        raise InputError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    if baseline not in BASELINES:
        raise InputError(f"unknown --baseline {baseline!r}; choose shuffle or zeros")
    if method != "ism" and not sm.differentiable:
        raise InputError(f"{sm.description} has no gradient path ({sm.gradient_note}); use --method ism")
    t = sm.target_index(target)  # unknown target -> InputError before anything is written
    ids, seqs = read_inputs(input, sm)
    config = dict(
        model=str(model_path),
        input=str(input),
        target=sm.outputs[t],
        method=method,
        baseline=baseline,
        n_baselines=n_baselines,
        steps=steps,
        top=top,
        batch_size=batch_size,
        seed=seed,
        tolerance=tolerance,
        device=str(sm.device),
    )
    set_seed(seed)
    att = attribute(
        sm,
        seqs,
        target=t,
        method=method,
        baseline=baseline,
        n_baselines=n_baselines,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        ids=ids,
        tolerance=tolerance,
    )
    n_iupac = int(sum(1 for s in seqs for b in s if b not in "ACGT"))
    metrics = {
        "n": len(seqs),
        "method": method,
        "method_used": att.method,
        "target": att.target,
        "explained": att.stats.get("explained", ""),
        "baseline": baseline if att.method in ("ig", "deeplift_shap") else None,
        "seconds": round(att.stats["seconds"], 4),
        "sequences_per_second": round(att.stats["sequences_per_second"], 3),
        "non_acgt_bases": n_iupac,
        "device": str(sm.device),
    }
    comp = att.stats.get("completeness")
    if comp:
        metrics.update({f"completeness_{k}": v for k, v in comp.items() if k != "method"})
    with RunDir(out, command="explain", config=config, inputs=[str(input)], seed=seed, overwrite=overwrite) as run:
        att.save(run.path / "attributions.npz")
        blocks = bedgraph_tracks(att.ids, att.per_base())
        metrics["bedgraph"] = blocks is not None
        if blocks is not None:
            write_bedgraph_tracks(
                run.path / "attributions.bedgraph",
                blocks,
                f"genolm {att.method} {att.target}",
                f"per-base {att.method} attribution of {metrics['explained']} (0-based BED coordinates)",
            )
        _report(run.path / "report.html", att, metrics, sm, model_path, top, n_iupac)
        run.write_json(
            "explain.json",
            {
                "model": str(model_path),
                "model_description": sm.description,
                "method": method,
                "method_used": att.method,
                "target": att.target,
                "explained": metrics["explained"],
                "baseline": baseline,
                "n_baselines": n_baselines,
                "steps": steps,
                "notes": att.notes,
            },
        )
        run.write_metrics(metrics)
    return metrics


def _report(path: Path, att, metrics: dict, sm, model_path: str, top: int, n_iupac: int) -> None:
    from genolm.core.report import Report
    from genolm.interpret.logos import top_logos

    rep = Report("genolm explain", f"{sm.description}: {metrics['explained']}")
    rep.heading("Method")
    used = att.method if att.method == metrics["method"] else f"{att.method} (requested {metrics['method']})"
    rep.text(
        f"Method: {used}. Explained: {metrics['explained']} (classifiers: log-odds of the target class from the "
        "logits; regressors: the predicted value). Scores are the contribution of the observed base at each "
        "position (hypothetical contributions for all 4 bases are in attributions.npz)."
    )
    if n_iupac:
        rep.text(
            f"{n_iupac} non-ACGT bases (N or IUPAC codes) in the input are encoded as all-zero columns: they get "
            "no score and ISM does not mutate them."
        )
    if att.notes:
        rep.heading("Notes")
        rep.html("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in att.notes) + "</ul>")
    rep.metrics_table({k: v for k, v in metrics.items() if v is not None})
    if top > 0:
        rep.heading(f"Top {min(top, len(att))} sequences by {metrics['explained']}")
        for fig, cap in top_logos(att, top):
            rep.figure(fig, cap)
    rep.write(path)


def _esc(text: str) -> str:
    import html

    return html.escape(text)
