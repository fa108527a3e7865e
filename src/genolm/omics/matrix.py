"""Expression matrices in and out: CSV/TSV (samples x genes) or AnnData ``.h5ad``.

One row per sample, one column per gene (probe) id. A sample-id column (``sample_id``, ``id`` or the
one named by ``id_col``) and the label column are recognised; every other column must be numeric.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genolm.io.errors import InputError, UsageError
from genolm.io.tables import read_table

_ID_COLUMNS = ("sample_id", "sample", "id", "barcode", "cell")


@dataclass
class ExpressionMatrix:
    """Samples x genes values with sample ids, gene ids and (optionally) labels."""

    X: np.ndarray  # float64, shape (n_samples, n_genes)
    samples: list[str]
    genes: list[str]
    labels: list[str] | None = None
    id_col: str = "sample_id"
    path: str = ""
    obs: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    def align(self, genes: list[str]) -> np.ndarray:
        """Columns reordered to ``genes`` (a model's training genes); missing genes are an error."""
        index = {g: i for i, g in enumerate(self.genes)}
        missing = [g for g in genes if g not in index]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise InputError(
                f"{len(missing)} of the model's {len(genes)} genes are missing from the matrix: {shown}", self.path
            )
        return self.X[:, [index[g] for g in genes]]


def _is_h5ad(path: str) -> bool:
    return path.lower().endswith((".h5ad", ".h5ad.gz"))


def read_matrix(
    path: str | os.PathLike, label_col: str | None = None, id_col: str | None = None, require_label: bool = False
) -> ExpressionMatrix:
    """Read a CSV/TSV or h5ad expression matrix.

    ``label_col`` names the class column (CSV column or h5ad ``obs`` column); with ``require_label``
    it must exist and have no missing values. Non-numeric gene values are an error naming the line.
    """
    path = str(path)
    if not Path(path).is_file():
        raise InputError("no such file", path)
    if _is_h5ad(path):
        return _read_h5ad(path, label_col, require_label)
    df = read_table(path)
    return frame_to_matrix(df, label_col=label_col, id_col=id_col, require_label=require_label, path=path)


def frame_to_matrix(
    df: pd.DataFrame,
    label_col: str | None = None,
    id_col: str | None = None,
    require_label: bool = False,
    path: str = "",
) -> ExpressionMatrix:
    """A samples x genes DataFrame (as read from a CSV: optional id and label columns, numeric genes)
    -> :class:`ExpressionMatrix`. Errors name ``path`` and the file line (row + 2) of a bad value."""
    df = df.reset_index(drop=True)
    df.columns = [str(c) for c in df.columns]
    if require_label and label_col not in df.columns:
        raise InputError(
            f"missing label column {label_col!r}; found {', '.join(map(repr, df.columns[:8]))}", path or None
        )
    if id_col is not None and id_col not in df.columns:
        raise UsageError(f"no id column {id_col!r} in the matrix", path or None)
    id_col = id_col or next((c for c in df.columns if c.lower() in _ID_COLUMNS), None)
    labels = None
    if label_col is not None and label_col in df.columns:
        lab = df[label_col]
        if lab.isna().any():
            raise InputError(f"missing {label_col!r} value", path or None, int(lab.isna().to_numpy().argmax()) + 2)
        labels = lab.astype(str).tolist()
    samples = df[id_col].astype(str).tolist() if id_col else [str(i) for i in range(len(df))]
    gene_cols = [c for c in df.columns if c not in (id_col, label_col)]
    if not gene_cols:
        raise InputError("no gene columns in the matrix", path or None)
    values = df[gene_cols]
    numeric = values.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & values.notna()
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputError(
            f"non-numeric value {values.iat[row, col]!r} in gene column {gene_cols[col]!r}", path or None, int(row) + 2
        )
    X = numeric.to_numpy(dtype=np.float64)
    if np.isnan(X).any():
        row, col = np.argwhere(np.isnan(X))[0]
        raise InputError(f"missing value in gene column {gene_cols[col]!r}", path or None, int(row) + 2)
    return ExpressionMatrix(
        X=X, samples=samples, genes=gene_cols, labels=labels, id_col=id_col or "sample_id", path=path
    )


def _read_h5ad(path: str, label_col: str | None, require_label: bool) -> ExpressionMatrix:
    import anndata

    try:
        adata = anndata.read_h5ad(path)
    except Exception as e:  # h5py/anndata raise many types for a broken file
        raise InputError(f"cannot read h5ad: {e}", path) from None
    X = adata.X
    if hasattr(X, "toarray"):
        X = X.toarray()
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        raise InputError("matrix holds NaN or infinite values", path)
    labels = None
    if label_col is not None and label_col in adata.obs.columns:
        lab = adata.obs[label_col]
        if lab.isna().any():
            raise InputError(
                f"missing {label_col!r} value in obs for sample "
                f"{adata.obs_names[int(lab.isna().to_numpy().argmax())]!r}",
                path,
            )
        labels = lab.astype(str).tolist()
    elif require_label:
        raise InputError(
            f"missing label column {label_col!r} in obs; found {', '.join(map(repr, adata.obs.columns[:8]))}", path
        )
    return ExpressionMatrix(
        X=X,
        samples=[str(s) for s in adata.obs_names],
        genes=[str(g) for g in adata.var_names],
        labels=labels,
        id_col="sample_id",
        path=path,
        obs=adata.obs,
    )


def read_gene_names(path: str | os.PathLike | None) -> dict[str, str]:
    """A gene table -> {gene id: name}. Uses the first column as id and the second as name
    (e.g. Golub's ``gene_accession,gene_description``)."""
    if path is None:
        return {}
    df = read_table(path, dtype=str)
    if df.shape[1] < 2:
        raise InputError("gene table needs two columns: gene id, name", path)
    return dict(zip(df.iloc[:, 0].astype(str), df.iloc[:, 1].fillna("").astype(str)))
