"""report.html for omics and KG runs: matplotlib PNGs embedded as base64 in one self-contained page.

(Kept inside the domain until a shared ``genolm.core.report`` exists.)
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from genolm.io.atomic import atomic_write_text


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="t", float_format=lambda v: f"{v:.4g}")


def write_page(path: str | Path, title: str, sections: list[tuple[str, str]]) -> None:
    body = "\n".join(f"<h2>{html.escape(h)}</h2>\n{content}" for h, content in sections)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table.t{{border-collapse:collapse;font-size:13px}} table.t td,table.t th{{padding:3px 8px;border-bottom:1px solid #ddd}}
pre{{background:#f6f6f6;padding:8px;font-size:12px}} img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>
{body}
</body></html>"""
    atomic_write_text(path, page)


def expression_report(path, clf, data, markers: pd.DataFrame, metrics: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    Z = clf.pre.transform(data.X)
    y = np.asarray(data.labels)
    if clf.reduce_kind == "autoencoder":
        emb, what = clf.reducer.transform(Z)[:, :2], f"autoencoder code (first 2 of {clf.reduce_k} dims)"
        if emb.shape[1] < 2:
            emb = np.column_stack([emb[:, 0], np.zeros(len(emb))])
    else:
        pca = PCA(n_components=2, random_state=0).fit(Z)
        emb = pca.transform(Z)
        ev = pca.explained_variance_ratio_
        what = f"PCA of preprocessed training samples (PC1 {ev[0]:.0%}, PC2 {ev[1]:.0%} of variance)"
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for c in clf.classes:
        m = y == c
        ax.scatter(emb[m, 0], emb[m, 1], label=f"{c} (n={m.sum()})", s=28, alpha=0.8)
    ax.set_xlabel("dim 1")
    ax.set_ylabel("dim 2")
    ax.legend()
    ax.set_title(what, fontsize=9)
    sections = [("Samples map", _png(fig))]

    top = markers.head(20)
    if len(top):
        L = clf.pre.log_values(data.X)
        gi = [data.genes.index(g) for g in top["gene"]]
        H = L[:, gi]
        H = (H - H.mean(axis=0)) / np.where(H.std(axis=0) > 0, H.std(axis=0), 1)
        order = np.argsort(y, kind="stable")
        fig, ax = plt.subplots(figsize=(8, 0.28 * len(gi) + 1.5))
        ax.imshow(H[order].T, aspect="auto", cmap="RdBu_r", vmin=-2.5, vmax=2.5)
        ax.set_yticks(range(len(gi)))
        ax.set_yticklabels([f"{g} {n[:40]}" for g, n in zip(top["gene"], top["name"])], fontsize=7)
        ax.set_xticks([])
        ax.set_xlabel(" | ".join(f"{c}: {int((y == c).sum())}" for c in sorted(set(y))) + " (samples, sorted by class)")
        sections.append(("Top marker genes (z-scored log expression)", _png(fig)))
    summary = {k: metrics[k] for k in ("n_samples", "n_genes", "classes") if k in metrics}
    for part in ("cv", "train", "valid"):
        if part in metrics:
            summary[part] = {k: metrics[part][k] for k in ("accuracy", "balanced_accuracy", "roc_auc", "errors")
                             if k in metrics[part]}
    sections.insert(0, ("Metrics", f"<pre>{html.escape(json.dumps(summary, indent=1))}</pre>"))
    sections.append(("Marker genes (full list in genes.csv)", _table(markers)))
    write_page(path, "genolm omics train", sections)


def kg_report(path, metrics: dict, curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
              importances: dict[str, pd.DataFrame]) -> None:
    """ROC curves per target relation on the validation edges, and the strongest features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    sections = [("Metrics", f"<pre>{html.escape(json.dumps(metrics, indent=1, default=str))}</pre>")]
    if curves:
        fig, ax = plt.subplots(figsize=(5, 4.5))
        for rel, (y, s, _, _) in curves.items():
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=rel)
        ax.plot([0, 1], [0, 1], "k--", lw=0.7)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend()
        ax.set_title("validation edges vs type-constrained random negatives", fontsize=9)
        sections.append(("ROC (validation)", _png(fig)))
    for rel, df in importances.items():
        sections.append((f"{rel}: most useful features", _table(df.head(15))))
    write_page(path, "genolm kg train", sections)
