"""report.html for a chem training run, built with ``genolm.core.report.Report``: the per-target metrics
table (the model and each member), ROC curves or predicted-vs-true plots, and the transformer's learning
curve. The chem-specific figures are functions returning matplotlib figures."""

from __future__ import annotations

import html
import json
import math

import numpy as np

from genolm.chem.metrics import MAIN_KEY, task_pairs
from genolm.core.report import Report, pyplot, roc_pr_figure, scatter_figure


def roc_figure(Y: np.ndarray, P: np.ndarray, targets: list[str]):
    """One ROC curve per target with both classes among its labelled rows, AUROC in the legend."""
    from sklearn.metrics import roc_curve

    from genolm.core.metrics import auroc

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for j, t in enumerate(targets):
        y, p = task_pairs(Y, P, j)
        if len(np.unique(y)) == 2:
            fpr, tpr, _ = roc_curve(y, p)
            ax.plot(fpr, tpr, lw=1, label=f"{t} ({auroc(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.5)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="validation ROC (AUROC)")
    ax.legend(fontsize=6)
    return fig


def transformer_curve_figure(history: list[dict]):
    """The transformer's training loss and validation score (AUROC or -RMSE) by epoch."""
    plt = pyplot()
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ep, [h["loss"] for h in history], label="train loss (last batch)")
    ax.set(xlabel="epoch", ylabel="loss", title="transformer training")
    if any("valid_score" in h for h in history):
        ax2 = ax.twinx()
        ax2.plot(ep, [h.get("valid_score", np.nan) for h in history], color="C1", label="valid score")
        ax2.set_ylabel("validation score (AUROC or -RMSE)")
    return fig


def write_report(path, metrics: dict, Y, P, targets, task, history=None, config=None) -> None:
    Y, P = np.asarray(Y, dtype=float), np.asarray(P, dtype=float)
    key = MAIN_KEY[task].removeprefix("mean_")
    members = metrics.get("members_valid", {})
    report = Report(
        "genolm chem train",
        f"task: {task}; {metrics.get('n_train')} train / {metrics.get('n_valid')} valid molecules; "
        f"{metrics.get('train_seconds')} s",
    )
    rows = [
        [t, metrics["valid"]["per_task"][t][key], *(members[m]["per_task"][t][key] for m in members)] for t in targets
    ]
    rows.append(["mean", metrics["valid"][f"mean_{key}"], *(members[m][f"mean_{key}"] for m in members)])
    report.table(
        ["target", "model", *members],
        rows,
        title=f"validation {key} per target: the model (mean of members) and each member",
    )
    if task == "classification":
        report.figure(roc_figure(Y, P, targets), "validation ROC per target")
        if len(targets) == 1:
            y, p = task_pairs(Y, P, 0)
            if len(np.unique(y)) == 2:
                report.figure(roc_pr_figure(y, p, targets[0]), "ROC and precision-recall (AUPRC as in metrics.json)")
    else:
        for j, t in enumerate(targets):
            y, p = task_pairs(Y, P, j)
            if len(y):
                rmse = metrics["valid"]["per_task"][t]["rmse"]
                title = f"validation {t}" + ("" if math.isnan(rmse) else f" (RMSE {rmse:.3f})")
                report.figure(scatter_figure(y, p, title=title), f"predicted vs measured {t}")
    if history:
        report.figure(transformer_curve_figure(history), "SMILES Transformer learning curve")
    report.heading("config")
    report.html("<pre>" + html.escape(json.dumps(config or {}, indent=1, default=str)) + "</pre>")
    report.write(path)
