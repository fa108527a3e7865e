"""report.html for a chem training run: metrics tables and plots (ROC curves or predicted-vs-true, the
transformer's learning curve) as base64 PNGs in one self-contained page."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "<img src='data:image/png;base64," + base64.b64encode(buf.getvalue()).decode() + "'/>"


def _plots(Y, P, targets, task, history) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    if task == "classification":
        from sklearn.metrics import roc_curve

        fig, ax = plt.subplots(figsize=(5, 5))
        for j, t in enumerate(targets):
            rows = ~np.isnan(Y[:, j]) & ~np.isnan(P[:, j])
            if len(np.unique(Y[rows, j])) == 2:
                fpr, tpr, _ = roc_curve(Y[rows, j], P[rows, j])
                ax.plot(fpr, tpr, lw=1, label=t)
        ax.plot([0, 1], [0, 1], "k--", lw=0.5)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="validation ROC")
        ax.legend(fontsize=6)
        out.append(_png(fig))
    else:
        for j, t in enumerate(targets):
            rows = ~np.isnan(Y[:, j]) & ~np.isnan(P[:, j])
            fig, ax = plt.subplots(figsize=(5, 5))
            ax.scatter(Y[rows, j], P[rows, j], s=8, alpha=0.7)
            lo, hi = np.nanmin(Y[rows, j]), np.nanmax(Y[rows, j])
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.5)
            ax.set(xlabel=f"true {t}", ylabel=f"predicted {t}", title="validation")
            out.append(_png(fig))
    if history:
        ep = [h["epoch"] for h in history]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(ep, [h["loss"] for h in history], label="train loss (last batch)")
        ax.set(xlabel="epoch", ylabel="loss", title="transformer training")
        if any("valid_score" in h for h in history):
            ax2 = ax.twinx()
            ax2.plot(ep, [h.get("valid_score", np.nan) for h in history], color="C1", label="valid score")
            ax2.set_ylabel("validation score (AUC or -RMSE)")
        out.append(_png(fig))
    return out


def write_report(path, metrics: dict, Y, P, targets, task, history=None, config=None) -> None:
    from genolm.io.atomic import atomic_write_text

    key = "roc_auc" if task == "classification" else "rmse"
    members = metrics.get("members_valid", {})
    rows = []
    for t in targets:
        cells = "".join(f"<td>{_fmt(members[m]['per_task'][t][key])}</td>" for m in members)
        rows.append(f"<tr><td>{html.escape(t)}</td><td><b>{_fmt(metrics['valid']['per_task'][t][key])}</b></td>"
                    f"{cells}</tr>")
    mean_key = "mean_roc_auc" if task == "classification" else "mean_rmse"
    rows.append("<tr><td><i>mean</i></td><td><b>" + _fmt(metrics["valid"][mean_key]) + "</b></td>"
                + "".join(f"<td>{_fmt(members[m][mean_key])}</td>" for m in members) + "</tr>")
    header = "".join(f"<th>{html.escape(m)}</th>" for m in members)
    body = (f"<h1>genolm chem train</h1><p>task: {task}; validation {key} per target for the model (mean of "
            f"members) and each member; {metrics.get('n_train')} train / {metrics.get('n_valid')} valid molecules; "
            f"{metrics.get('train_seconds')} s.</p>"
            f"<table border=1 cellpadding=3><tr><th>target</th><th>model</th>{header}</tr>{''.join(rows)}</table>"
            + "".join(_plots(np.asarray(Y), np.asarray(P), targets, task, history))
            + "<h2>config</h2><pre>" + html.escape(json.dumps(config or {}, indent=1, default=str)) + "</pre>")
    atomic_write_text(Path(path), f"<!doctype html><html><head><meta charset='utf-8'><title>genolm chem</title>"
                                  f"</head><body style='font-family:sans-serif'>{body}</body></html>")


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"
