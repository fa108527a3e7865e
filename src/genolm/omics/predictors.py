"""``genolm.load`` entries for omics models: expression classifiers and knowledge-graph link predictors.

>>> import genolm
>>> clf = genolm.load("runs/golub")                                  # doctest: +SKIP
>>> clf.predict(expression_dataframe)                                 # doctest: +SKIP
  sample_id prediction  prob_ALL  prob_AML
0         1        ALL  0.93...
>>> kg = genolm.load("runs/kg")                                       # doctest: +SKIP
>>> kg.predict([("Compound::DB00091", "Disease::DOID:1612")], metaedge="CtD")   # doctest: +SKIP
>>> kg.rank("multiple sclerosis", "CtD", top=10)                      # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genolm.core.predictor import Predictor
from genolm.io.errors import InputError, UsageError
from genolm.omics import expression, linkpred


class ExpressionPredictor(Predictor):
    """An expression classifier. ``predict`` returns `genolm omics predict`'s table: the sample id column,
    ``prediction`` and ``prob_<class>`` per class (rounded to 6 decimals), in input order."""

    kind = "expression classifier"

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self.model = expression.ExpressionClassifier.load(self.path)

    @property
    def classes(self) -> list[str]:
        return list(self.model.classes)

    @property
    def genes(self) -> list[str]:
        return list(self.model.genes)

    def _matrix(self, inputs: Any, id_col: str | None):
        from genolm.omics.matrix import frame_to_matrix, read_matrix

        label_col = expression.label_col_of(self.model)
        if isinstance(inputs, (str, os.PathLike)):
            return read_matrix(inputs, label_col=label_col, id_col=id_col)
        if hasattr(inputs, "obs_names") and hasattr(inputs, "var_names"):  # an AnnData object
            X = inputs.X.toarray() if hasattr(inputs.X, "toarray") else np.asarray(inputs.X)
            inputs = pd.DataFrame(X, columns=[str(g) for g in inputs.var_names]).assign(
                sample_id=[str(s) for s in inputs.obs_names]
            )
            inputs = inputs[["sample_id", *inputs.columns[:-1]]]
        if not isinstance(inputs, pd.DataFrame):
            raise InputError(
                f"{self.kind} predict takes a DataFrame (samples x genes, like the CSV `genolm omics "
                f"predict` reads), an AnnData object or a file path, got {type(inputs).__name__}"
            )
        return frame_to_matrix(inputs, label_col=label_col, id_col=id_col)

    def predict(self, inputs: Any, id_col: str | None = None) -> pd.DataFrame:
        """``inputs``: a samples x genes DataFrame (gene columns by name, any order; an optional sample-id
        column and the training label column are recognised as in the CSV), an AnnData, or a CSV/h5ad path."""
        return expression.prediction_frame(self.model, self._matrix(inputs, id_col))

    def embed(self, inputs: Any, id_col: str | None = None) -> np.ndarray:
        """The classifier's input features per sample: the reduction (PCA / autoencoder code) or the
        preprocessed kept genes."""
        data = self._matrix(inputs, id_col)
        return self.model.features(data.align(self.model.genes))


class LinkPredictorPredictor(Predictor):
    """A knowledge-graph link predictor. ``predict`` scores node pairs and returns `genolm linkpred score`'s
    table (the input columns + ``score`` + ``reason``); ``rank`` is `genolm linkpred predict --node`."""

    kind = "link predictor"

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self.model = linkpred.LinkPredictor(self.path)

    @property
    def targets(self) -> list[str]:
        return self.model.targets

    def _metaedge_for(self, source: str, target: str) -> str:
        g = self.model.graph
        kinds = tuple(g.kind_of[g.index[x]] if x in g.index else None for x in (source, target))
        fits = [m for m in self.targets if (g.metaedges[m].source_kind, g.metaedges[m].target_kind) == kinds]
        if len(fits) != 1:
            raise UsageError(
                f"cannot tell the metaedge of ({source!r}, {target!r}); pass metaedge= (one of "
                f"{', '.join(self.targets)}) or give (source, metaedge, target) triples"
            )
        return fits[0]

    def predict(self, inputs: Any, metaedge: str | None = None) -> pd.DataFrame:
        """``inputs``: (source, target) pairs (with ``metaedge=``, or inferred when one trained metaedge joins
        the two nodes' kinds), (source, metaedge, target) triples, a DataFrame with those columns, or a TSV
        path. Input order and extra DataFrame columns are kept."""
        if isinstance(inputs, (str, os.PathLike)):
            return linkpred.score_pairs(self.model, inputs)
        if isinstance(inputs, pd.DataFrame):
            df = inputs.copy()
            if "metaedge" not in df.columns:
                if not {"source", "target"} <= set(df.columns):
                    raise InputError(f"the DataFrame needs source and target columns (columns: {list(df.columns)})")
                df.insert(
                    list(df.columns).index("source") + 1,
                    "metaedge",
                    [metaedge or self._metaedge_for(s, t) for s, t in zip(df["source"], df["target"])],
                )
            missing = [c for c in ("source", "metaedge", "target") if c not in df.columns]
            if missing:
                raise InputError(f"the DataFrame lacks column(s) {missing} (columns: {list(df.columns)})")
        else:
            rows = []
            for item in self._column(inputs):
                item = tuple(item) if not isinstance(item, str) else (item,)
                if len(item) == 3:
                    rows.append(item)
                elif len(item) == 2:
                    rows.append((item[0], metaedge or self._metaedge_for(str(item[0]), str(item[1])), item[1]))
                else:
                    raise InputError(f"a pair is (source, target) or (source, metaedge, target), got {item!r}")
            df = pd.DataFrame(rows, columns=["source", "metaedge", "target"])
        for col in ("source", "metaedge", "target"):
            df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
        return linkpred.score_frame(self.model, df)

    def rank(self, node: str, metaedge: str, top: int = 20, novel_only: bool = False) -> pd.DataFrame:
        """The ``top`` partners of ``node`` for ``metaedge`` (what `genolm linkpred predict --node` prints)."""
        return linkpred.predict_links(self.model, node, metaedge, top=top, novel_only=novel_only)


def load_expression(model_dir: Path) -> ExpressionPredictor:
    return ExpressionPredictor(model_dir)


def load_linkpred(model_dir: Path) -> LinkPredictorPredictor:
    return LinkPredictorPredictor(model_dir)


PREDICTORS = [(expression.MARKER, load_expression), (linkpred.MARKER, load_linkpred)]
