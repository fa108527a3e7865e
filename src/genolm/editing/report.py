"""HTML reports of the CRISPR commands, built with :class:`genolm.core.report.Report`.

The figures specific to guide design (learning curves per CNN member, guides along the target) are
functions here returning matplotlib figures; page layout, tables and embedding are the core's.
"""

from __future__ import annotations

import math

from genolm.core.report import Report, pyplot, scatter_figure


def _cell(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return v


def _rows_table(report: Report, rows: list[dict], title: str, max_rows: int = 50) -> None:
    if not rows:
        report.heading(title)
        report.text("(none)")
        return
    cols = list(rows[0])
    report.table(cols, [[_cell(r.get(c)) for c in cols] for r in rows[:max_rows]], title=title)
    if len(rows) > max_rows:
        report.text(f"... {len(rows) - max_rows} more rows in the TSV")


def member_curves_figure(history: list[dict]):
    """Dev Spearman per epoch of each CNN member."""
    fig, ax = pyplot().subplots(figsize=(5, 3.5))
    for member in sorted({h["member"] for h in history}):
        hs = [h for h in history if h["member"] == member]
        ax.plot([h["epoch"] for h in hs], [h["dev_spearman"] for h in hs], label=f"cnn seed {member}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev Spearman")
    if history:
        ax.legend(fontsize=7)
    return fig


def guides_along_target_figure(rows: list[dict]):
    """On-target score of each guide at its cut site (blue + strand, orange - strand)."""
    fig, ax = pyplot().subplots(figsize=(8, 3))
    pos = [r["cut_site"] for r in rows]
    score = [r["ontarget_score"] if r["ontarget_score"] == r["ontarget_score"] else 0 for r in rows]
    colors = ["tab:blue" if r["strand"] == "+" else "tab:orange" for r in rows]
    ax.scatter(pos, score, c=colors, s=10)
    ax.set_xlabel("cut site (0-based; blue + strand, orange - strand)")
    ax.set_ylabel("on-target score")
    return fig


def ontarget_report(path, model, y_dev, metrics: dict) -> None:
    r = Report("CRISPR on-target model", f"{metrics['n_train']} train / {metrics['n_dev']} dev guides")
    r.metrics_table(metrics["dev"], title="Dev metrics (ensemble)")
    rows = [{"member": k, **d} for k, d in metrics["members"].items() if isinstance(d, dict)]
    cols = ["member"] + sorted({c for row in rows for c in row if c != "member"})
    r.table(cols, [[_cell(row.get(c)) for c in cols] for row in rows], title="Dev metrics per member")
    r.figure(
        scatter_figure(y_dev, model.dev_predictions, f"dev Spearman {metrics['dev']['spearman']:.3f}"),
        "Predicted vs measured (dev)",
    )
    r.figure(member_curves_figure(model.history), "Learning curves")
    r.write(path)


def design_report(path, rows: list[dict], summary: dict) -> None:
    r = Report("CRISPR guide design", f"{summary['target']} {summary['chrom']}:{summary['start'] + 1}-{summary['end']}")
    r.metrics_table(summary, title="Summary")
    good = [g for g in rows if g.get("ontarget_score") is not None]
    if good:
        r.figure(guides_along_target_figure(good), "Guides along the target")
    keep = [
        "rank",
        "guide_id",
        "chrom",
        "start",
        "end",
        "strand",
        "spacer",
        "pam",
        "cut_site",
        "ontarget_score",
        "gc",
        "specificity",
        "flags",
    ] + [k for k in (rows[0] if rows else {}) if k.startswith("off_")]
    _rows_table(r, [{k: g.get(k) for k in keep if k in g} for g in rows], "Ranked guides")
    r.write(path)


def offtarget_report(path, summary: list[dict]) -> None:
    r = Report("CRISPR off-target search")
    _rows_table(r, summary, "Per guide", 500)
    r.write(path)
