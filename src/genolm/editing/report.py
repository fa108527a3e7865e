"""Self-contained HTML reports (matplotlib PNGs embedded as base64) for the CRISPR commands."""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from genolm.io.atomic import atomic_write_text


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "<img src='data:image/png;base64," + base64.b64encode(buf.getvalue()).decode() + "'/>"


def _figure(w=5, h=3.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(w, h))


def _table(rows: list[dict], max_rows: int = 50) -> str:
    if not rows:
        return "<p>(none)</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>"
                   for r in rows[:max_rows])
    more = f"<p>... {len(rows) - max_rows} more rows in the TSV</p>" if len(rows) > max_rows else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.4g}"
    return "" if v is None else str(v)


def page(title: str, sections: list[tuple[str, str]]) -> str:
    style = ("body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;"
             "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}th{background:#eee}")
    body = "".join(f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def ontarget_report(path, model, y_dev, metrics: dict) -> None:
    fig, ax = _figure()
    ax.scatter(y_dev, model.dev_predictions, s=4, alpha=0.4)
    ax.set_xlabel("measured (dev)")
    ax.set_ylabel("predicted")
    ax.set_title(f"dev Spearman {metrics['dev']['spearman']:.3f}")
    scatter = _png(fig)
    fig, ax = _figure()
    for member in sorted({h["member"] for h in model.history}):
        hs = [h for h in model.history if h["member"] == member]
        ax.plot([h["epoch"] for h in hs], [h["dev_spearman"] for h in hs], label=f"cnn seed {member}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev Spearman")
    ax.legend(fontsize=7)
    curves = _png(fig)
    rows = [{"member": k, **{m: v for m, v in d.items()}} for k, d in metrics["members"].items()
            if isinstance(d, dict)]
    atomic_write_text(path, page("CRISPR on-target model", [
        ("Dev metrics", _table(rows)), ("Predicted vs measured", scatter), ("Learning curves", curves)]))


def design_report(path, rows: list[dict], summary: dict) -> None:
    good = [r for r in rows if r.get("ontarget_score") is not None]
    sections = [("Summary", _table([summary]))]
    if good:
        fig, ax = _figure(8, 3)
        pos = [r["cut_site"] for r in good]
        score = [r["ontarget_score"] if r["ontarget_score"] == r["ontarget_score"] else 0 for r in good]
        colors = ["tab:blue" if r["strand"] == "+" else "tab:orange" for r in good]
        ax.scatter(pos, score, c=colors, s=10)
        ax.set_xlabel("cut site (0-based; blue + strand, orange - strand)")
        ax.set_ylabel("on-target score")
        sections.append(("Guides along the target", _png(fig)))
    keep = ["rank", "guide_id", "chrom", "start", "end", "strand", "spacer", "pam", "cut_site", "ontarget_score",
            "gc", "specificity", "flags"] + [k for k in (rows[0] if rows else {}) if k.startswith("off_")]
    sections.append(("Ranked guides", _table([{k: r.get(k) for k in keep if k in r} for r in rows])))
    atomic_write_text(path, page("CRISPR guide design", sections))


def offtarget_report(path, summary: list[dict]) -> None:
    atomic_write_text(path, page("CRISPR off-target search", [("Per guide", _table(summary, 500))]))
