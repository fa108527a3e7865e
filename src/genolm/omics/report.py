"""report.html for omics and link-prediction runs, built with :class:`genolm.core.report.Report`.

The domain keeps only its own figures (sample map, marker heatmap, ROC overlay of the target metaedges),
as functions returning matplotlib figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genolm.core.report import Report, pyplot


def _rows(df: pd.DataFrame) -> list[list]:
    return df.astype(object).where(df.notna(), "").to_numpy().tolist()


def sample_map_figure(clf, data):
    """Training samples on the first two PCA components of the preprocessed values (or the autoencoder code)."""
    from sklearn.decomposition import PCA

    plt = pyplot()
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
    return fig


def marker_heatmap_figure(clf, data, top: pd.DataFrame):
    """z-scored log expression of the ``top`` marker genes, samples sorted by class."""
    plt = pyplot()
    y = np.asarray(data.labels)
    L = clf.pre.log_values(data.X)
    gi = [data.genes.index(g) for g in top["gene"]]
    H = L[:, gi]
    H = (H - H.mean(axis=0)) / np.where(H.std(axis=0) > 0, H.std(axis=0), 1)
    order = np.argsort(y, kind="stable")
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(gi) + 1.5))
    ax.imshow(H[order].T, aspect="auto", cmap="RdBu_r", vmin=-2.5, vmax=2.5)
    ax.set_yticks(range(len(gi)))
    ax.set_yticklabels([f"{g} {str(n)[:40]}" for g, n in zip(top["gene"], top["name"])], fontsize=7)
    ax.set_xticks([])
    ax.set_xlabel(" | ".join(f"{c}: {int((y == c).sum())}" for c in sorted(set(y))) + " (samples, sorted by class)")
    return fig


def expression_report(path, clf, data, markers: pd.DataFrame, metrics: dict) -> None:
    r = Report(
        "genolm omics train",
        f"{metrics.get('n_samples')} samples, {metrics.get('n_genes')} genes, classifier {clf.classifier_name}",
    )
    r.metrics_table({k: v for k, v in metrics.get("classes", {}).items()}, title="Classes")
    for part in ("cv", "train", "valid"):
        if part in metrics:
            r.metrics_table(
                {
                    k: metrics[part][k]
                    for k in ("n", "accuracy", "balanced_accuracy", "mcc", "auroc", "auprc", "errors")
                    if k in metrics[part]
                },
                title=f"Metrics ({part})",
            )
    r.heading("Samples map")
    r.figure(sample_map_figure(clf, data), "training samples")
    top = markers.head(20)
    if len(top):
        r.heading("Top marker genes (z-scored log expression)")
        r.figure(marker_heatmap_figure(clf, data, top), "top 20 markers")
    r.table(list(markers.columns), _rows(markers), title="Marker genes (full list in genes.csv)")
    r.write(path)


def roc_overlay_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]]):
    """One ROC curve per target metaedge on the validation edges (AUROC from genolm.core.metrics)."""
    from sklearn.metrics import roc_curve

    from genolm.core.metrics import auroc

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for rel, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{rel} (AUROC {auroc(y, s):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.7)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend()
    ax.set_title("validation edges vs type-constrained random negatives", fontsize=9)
    return fig


def kg_report(
    path, metrics: dict, curves: dict[str, tuple[np.ndarray, np.ndarray]], importances: dict[str, pd.DataFrame]
) -> None:
    """ROC curves per target relation on the validation edges, and the strongest features."""
    from genolm.core.report import roc_pr_figure

    r = Report(
        "genolm linkpred train", f"{len(metrics.get('targets', {}))} target metaedges, {metrics.get('seconds', '?')} s"
    )
    rows = []
    for t, e in metrics.get("targets", {}).items():
        v, b = e.get("valid", {}), e.get("valid_baseline_degree_product", {})
        rows.append(
            [
                t,
                e.get("train_positives"),
                e.get("metapaths"),
                e.get("features"),
                v.get("positives", ""),
                v.get("auroc", ""),
                v.get("auprc", ""),
                b.get("auroc", ""),
                b.get("auprc", ""),
            ]
        )
    r.table(
        [
            "target",
            "train edges",
            "metapaths",
            "features",
            "valid edges",
            "valid auroc",
            "valid auprc",
            "degree-product auroc",
            "degree-product auprc",
        ],
        rows,
        title="Metrics",
    )
    if curves:
        r.heading("ROC (validation)")
        r.figure(roc_overlay_figure(curves), "validation edges vs type-constrained random negatives")
        for rel, (y, s) in curves.items():
            r.figure(roc_pr_figure(y, s, rel), f"{rel}: ROC and precision-recall (validation)")
    for rel, df in importances.items():
        r.table(list(df.columns), _rows(df.head(15)), title=f"{rel}: most useful features")
    r.write(path)
