"""`genolm variants explain`: REF vs ALT attributions in a window centred on each variant of a VCF.

For every record (SNVs and indels; each ALT of a multi-allelic record separately) the REF window is
``window`` reference bases centred on the REF allele and the ALT window is the same left flank, the ALT
allele, and the right flank, cut or extended to ``window`` bases (so fixed-length models take it). Both are
attributed with the same method (:func:`genolm.interpret.attributions.attribute`).

The delta track is laid out on the REF window: left-flank positions pair 1:1, the REF allele's bases pair with
the ALT allele's first bases (a deleted base has ALT score 0), right-flank positions pair after shifting by the
length change; inserted bases beyond the REF allele have no REF coordinate and are left out of the delta and
of the ALT bedGraph. ``delta = ALT - REF``; the "top lost" position is where the observed base's attribution
drops most (the motif a variant breaks), "top gained" where it rises most. Positions are VCF-style 1-based in
the TSV and 0-based half-open in the bedGraphs (one track per variant).

REF must match the reference and CHROM must be one of its contigs: otherwise an :class:`InputError` names the
VCF file and line. Symbolic/unknown ALT alleles (``<DEL>``, ``*``, ``.``) are skipped and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.io.errors import InputError

_ALT = re.compile(r"^[ACGTNacgtn]+$")


@dataclass
class VariantWindow:
    chrom: str
    pos: int  # VCF 1-based
    vid: str
    ref: str
    alt: str
    start: int  # 0-based start of the window on the reference
    offset: int  # 0-based offset of the allele in the window
    ref_seq: str
    alt_seq: str

    def alt_to_ref(self) -> np.ndarray:
        """For each ALT-window index, its REF-window index (-1 = inserted base)."""
        w, off, r, a = len(self.alt_seq), self.offset, len(self.ref), len(self.alt)
        idx = np.arange(w)
        out = np.where(idx < off, idx, -1)
        allele = (idx >= off) & (idx < off + a)
        out = np.where(allele & (idx - off < r), idx, out)
        right = idx >= off + a
        out = np.where(right, idx - a + r, out)
        out[(out >= len(self.ref_seq))] = -1
        return out


def variant_windows(reference, vcf: str | Path, window: int) -> tuple[list[VariantWindow], int]:
    """The REF/ALT windows of every record (REF checked against ``reference``), and how many ALTs were skipped."""
    from genolm.io.vcf import VcfReader

    out: list[VariantWindow] = []
    skipped = 0
    for rec in VcfReader(vcf):
        chrom, pos, ref = rec.chrom, rec.pos, rec.ref.upper()
        if chrom not in reference:
            shown = ", ".join(reference.contigs[:5]) + ("..." if len(reference.contigs) > 5 else "")
            raise InputError(
                f"CHROM {chrom!r} is not in the reference {reference.path} (it has {shown})", vcf, rec.line
            )
        p0 = pos - 1
        actual = reference.fetch(chrom, p0, p0 + len(ref)).upper()
        if actual != ref:
            raise InputError(
                f"REF {ref} does not match the reference {reference.path} at {chrom}:{pos} (it reads {actual}); "
                "is the VCF on another assembly?",
                vcf,
                rec.line,
            )
        if len(ref) > window:
            skipped += len(rec.alts)
            continue
        s = p0 - (window - len(ref)) // 2
        off = p0 - s
        ref_seq = reference.fetch(chrom, s, s + window).upper()
        for alt in rec.alts:
            if not _ALT.match(alt) or len(alt) > window - off:
                skipped += 1
                continue
            alt = alt.upper()
            rest = window - off - len(alt)
            alt_seq = ref_seq[:off] + alt + reference.fetch(chrom, p0 + len(ref), p0 + len(ref) + rest).upper()
            vid = rec.id if rec.id not in (".", "") else f"{chrom}:{pos}:{ref}>{alt}"
            if len(rec.alts) > 1 and rec.id not in (".", ""):
                vid = f"{rec.id}:{alt}"
            out.append(VariantWindow(chrom, pos, vid, ref, alt, s, off, ref_seq, alt_seq))
    return out, skipped


def explain_variants(
    sm,
    reference: str | Path,
    vcf: str | Path,
    out: str | Path,
    model_path: str = "",
    window: int | None = None,
    target: str | None = None,
    method: str = "ism",
    baseline: str = "shuffle",
    n_baselines: int = 8,
    steps: int = 32,
    top: int = 10,
    batch_size: int = 64,
    seed: int = 0,
    overwrite: bool = False,
) -> dict:
    """Attribute REF and ALT windows of every variant; write the run directory; return the metrics."""
    from genolm.core.runs import RunDir, set_seed
    from genolm.interpret.attributions import METHODS, attribute
    from genolm.io.fasta import Reference, check_readable

    if method not in METHODS:
        raise InputError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    if method != "ism" and not sm.differentiable:
        raise InputError(f"{sm.description} has no gradient path ({sm.gradient_note}); use --method ism")
    w = int(window or sm.length or 100)
    if sm.length is not None and w != sm.length:
        raise InputError(f"--window {w}: {sm.description} takes {sm.length}-nt sequences (use --window {sm.length})")
    if w < 3:
        raise InputError(f"--window {w} is too small (>= 3)")
    t = sm.target_index(target)
    check_readable(reference)
    check_readable(vcf)
    ref = Reference(reference)
    wins, skipped = variant_windows(ref, vcf, w)
    if not wins:
        raise InputError("no SNV or indel records to explain", vcf)
    set_seed(seed)
    seqs = [x for v in wins for x in (v.ref_seq, v.alt_seq)]
    ids = [f"{v.vid}|{k}" for v in wins for k in ("ref", "alt")]
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
    )
    obj = sm.predict_objective(seqs, t, batch_size=max(batch_size, 64))
    pb = att.per_base()
    rows, deltas = [], []
    for k, v in enumerate(wins):
        r, a = pb[2 * k], pb[2 * k + 1]
        on_ref = np.zeros_like(r)
        m = v.alt_to_ref()
        keep = m >= 0
        on_ref[m[keep]] = a[keep]
        d = on_ref - r
        deltas.append((r, on_ref, d))
        lost, gained = int(np.argmin(d)), int(np.argmax(d))
        rows.append(
            dict(
                chrom=v.chrom,
                pos=v.pos,
                id=v.vid,
                ref=v.ref,
                alt=v.alt,
                score_ref=float(obj[2 * k]),
                score_alt=float(obj[2 * k + 1]),
                delta=float(obj[2 * k + 1] - obj[2 * k]),
                attribution_ref_sum=float(r.sum()),
                attribution_alt_sum=float(a.sum()),
                top_lost_position=v.start + lost + 1,
                top_lost_base=v.ref_seq[lost],
                top_lost=float(d[lost]),
                top_gained_position=v.start + gained + 1,
                top_gained=float(d[gained]),
            )
        )
    config = dict(
        model=str(model_path),
        reference=str(reference),
        vcf=str(vcf),
        window=w,
        target=sm.outputs[t],
        method=method,
        baseline=baseline,
        n_baselines=n_baselines,
        steps=steps,
        seed=seed,
    )
    metrics = {
        "n_variants": len(wins),
        "skipped_alleles": skipped,
        "method": method,
        "method_used": att.method,
        "target": att.target,
        "explained": att.stats.get("explained", ""),
        "window": w,
        "seconds": round(att.stats["seconds"], 4),
        "mean_abs_delta": float(np.mean([abs(x["delta"]) for x in rows])),
    }
    with RunDir(
        out, command="variants-explain", config=config, inputs=[str(vcf)], seed=seed, overwrite=overwrite
    ) as run:
        att.save(run.path / "attributions.npz")
        _write_tsv(run.path / "variants.tsv", rows)
        _write_tracks(run.path, wins, deltas, att.method)
        _report(run.path / "report.html", sm, att, wins, rows, deltas, metrics, top)
        run.write_metrics(metrics)
    return metrics


_COLS = [
    "chrom",
    "pos",
    "id",
    "ref",
    "alt",
    "score_ref",
    "score_alt",
    "delta",
    "attribution_ref_sum",
    "attribution_alt_sum",
    "top_lost_position",
    "top_lost_base",
    "top_lost",
    "top_gained_position",
    "top_gained",
]


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _write_tsv(path: Path, rows: list[dict]) -> None:
    from genolm.io.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\t".join(_COLS) + "\n")
        for r in rows:
            fh.write("\t".join(_fmt(r[c]) for c in _COLS) + "\n")


def _write_tracks(run_path: Path, wins, deltas, method: str) -> None:
    from genolm.io.atomic import atomic_open
    from genolm.io.bed import bedgraph_lines

    for name, which in (("ref", 0), ("alt", 1)):
        with atomic_open(run_path / f"{name}_attributions.bedgraph", "w", encoding="utf-8") as fh:
            for v, tr in zip(wins, deltas):
                vals = tr[which]
                starts = v.start + np.arange(len(vals))
                ok = starts >= 0
                fh.write(
                    f'track type=bedGraph name="{v.vid} {name.upper()}" description="{method} per-base attribution, '
                    f'{name.upper()} allele window (0-based BED coordinates)"\n'
                )
                fh.writelines(bedgraph_lines(v.chrom, starts[ok], starts[ok] + 1, vals[ok], digits=6))


def _report(path: Path, sm, att, wins, rows, deltas, metrics, top) -> None:
    from genolm.core.report import Report
    from genolm.interpret.logos import best_window, stacked_logos

    rep = Report("genolm variants explain", f"{sm.description}: {metrics['explained']}")
    rep.text(
        f"{metrics['n_variants']} variant alleles, {metrics['window']}-nt windows centred on each, {att.method} "
        "attributions of the REF and ALT windows (scores: contribution of the observed base). score_ref/score_alt "
        "are the model's objective (class probability or value)."
    )
    if metrics["skipped_alleles"]:
        rep.text(f"{metrics['skipped_alleles']} symbolic or over-long ALT alleles were skipped.")
    if att.notes:
        rep.heading("Notes")
        for n in att.notes:
            rep.text(n)
    rep.metrics_table(metrics)
    order = sorted(range(len(rows)), key=lambda k: -abs(rows[k]["delta"]))[: max(top, 0)]
    rep.table(
        ["variant", "score REF", "score ALT", "delta", "top lost position"],
        [
            [rows[k]["id"], rows[k]["score_ref"], rows[k]["score_alt"], rows[k]["delta"], rows[k]["top_lost_position"]]
            for k in order
        ],
        title=f"Top {len(order)} variants by |delta|",
    )
    for k in order:
        v = wins[k]
        ref_m = att.scores[2 * k, :, : len(v.ref_seq)]
        alt_m = att.scores[2 * k + 1, :, : len(v.alt_seq)]
        s, e = best_window(np.abs(deltas[k][2]) + 1e-9, 60)
        s = max(0, min(s, v.offset - 10))
        e = min(len(v.ref_seq), max(e, v.offset + len(v.ref) + 10))
        marks = [v.start + v.offset + 1 + j for j in range(max(len(v.ref), len(v.alt)))]
        fig = stacked_logos(
            [
                (f"REF {v.ref} (objective {rows[k]['score_ref']:.3g})", ref_m[:, s:e]),
                (f"ALT {v.alt} (objective {rows[k]['score_alt']:.3g})", alt_m[:, s:e]),
            ],
            start=v.start + s + 1,
            marks=marks[: e - s],
            xlabel=f"{v.chrom} position (1-based); variant shaded",
        )
        rep.figure(fig, f"{v.vid}: REF over ALT attributions ({att.method})")
    rep.write(path)
