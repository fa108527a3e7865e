"""Scores against measured effects: join a scored VCF and a truth VCF by CHROM/POS/REF/ALT."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from genolm.io.errors import InputError
from genolm.io.vcf import VcfReader, VcfRecord


def allele_values(rec: VcfRecord, field: str, number: str | None) -> list:
    """Per-ALT values of INFO ``field`` (floats where numeric; None where missing or not finite)."""
    info = rec.info()
    raw = info.get(field)
    alts = rec.alts or ["."]
    if raw is None or raw is True:
        return [None] * len(alts)
    parts = str(raw).split(",")
    if number == "A" or (number is None and len(parts) == len(alts) and len(alts) > 1):
        vals = parts + [None] * (len(alts) - len(parts))
    else:
        vals = [parts[0]] * len(alts)
    out = []
    for v in vals:
        try:
            x = float(v) if v not in (None, ".", "") else None
            out.append(x if x is None or math.isfinite(x) else None)
        except ValueError:
            out.append(v)
    return out


def read_allele_values(path: str, field: str, require: bool = True) -> dict[tuple, object]:
    """{(CHROM, POS, REF, ALT): value of INFO ``field``} for every allele that has one."""
    reader = VcfReader(path)
    if require and field not in reader.header.ids("INFO"):
        seen = sorted(reader.header.ids("INFO"))
        raise InputError(
            f"INFO field {field!r} is not declared in the header (declared: {', '.join(seen[:12]) or 'none'})", path
        )
    number = reader.header.info_number(field)
    out = {}
    for rec in reader:
        for alt, v in zip(rec.alts or ["."], allele_values(rec, field, number)):
            if v is not None:
                out[(rec.chrom, rec.pos, rec.ref.upper(), alt.upper())] = v
    return out


def evaluate_scores(
    scores: str,
    truth: str,
    label: str,
    out: str,
    score_field: str = "GENOLM_SCORE",
    negate: bool = False,
    by_chrom: bool = False,
) -> dict:
    """Join scored and truth VCFs by CHROM/POS/REF/ALT; AUROC/AUPRC (binary) or Spearman/Pearson."""
    from genolm.core import metrics as M
    from genolm.core.report import roc_pr_figure, scatter_figure
    from genolm.io.atomic import atomic_path, atomic_write_text

    s = read_allele_values(scores, score_field)
    t = read_allele_values(truth, label)
    keys = [k for k in t if k in s and isinstance(s[k], float)]
    if not keys:
        raise InputError(
            f"no allele of {truth} has both a {label} label and a {score_field} score (joined by CHROM, POS, REF, ALT)",
            scores,
        )
    bad = [t[k] for k in keys if not isinstance(t[k], float)]
    if bad:
        raise InputError(f"label {label!r} must be numeric (0/1 or a value); got {bad[0]!r}", truth)
    y = np.array([t[k] for k in keys], dtype=float)
    x = np.array([s[k] for k in keys], dtype=float) * (-1 if negate else 1)
    binary = set(np.unique(y).tolist()) <= {0.0, 1.0}

    def metrics_for(yy, xx) -> dict:
        if binary:
            return {"n": int(len(yy)), "positives": int(yy.sum()), "auroc": M.auroc(yy, xx), "auprc": M.auprc(yy, xx)}
        m = M.regression_metrics(yy, xx)
        return {"n": m["n"], "spearman": m["spearman"], "pearson": m["pearson"]}

    res = {
        "label": label,
        "score_field": score_field,
        "negated": negate,
        "type": "binary" if binary else "continuous",
        "truth_alleles": len(t),
        "joined": len(keys),
        **metrics_for(y, x),
    }
    if by_chrom:
        chroms = np.array([k[0] for k in keys])
        res["by_chrom"] = {c: metrics_for(y[chroms == c], x[chroms == c]) for c in sorted(set(chroms))}
        vals = [v.get("auroc", v.get("spearman")) for v in res["by_chrom"].values()]
        vals = [v for v in vals if v is not None and not math.isnan(v)]
        res["mean_by_chrom"] = float(np.mean(vals)) if vals else float("nan")
    atomic_write_text(out, json.dumps(res, indent=2))
    fig = (
        roc_pr_figure(y.astype(int), x, score_field)
        if binary and len(set(y.tolist())) == 2
        else scatter_figure(y, x, f"{score_field} vs {label}")
    )
    png = Path(out).with_suffix(".png")
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    res["plot"] = str(png)
    return res
