"""The object :func:`genolm.load` returns: one interface over every kind of genolm model.

A domain implements a :class:`Predictor` subclass for each model type it saves and lists it in its
``predictors.py`` as ``PREDICTORS = [(marker_file, loader)]``; ``genolm.load`` finds the model folder (a
run directory or its ``model/``), picks the first entry whose marker file is in it and calls the loader.

``predict(inputs)`` takes plain Python inputs (a list of sequences / SMILES / guides / texts / node pairs,
or a DataFrame with the CLI's input columns) and returns a DataFrame with the same columns and values as
the matching ``genolm ... predict`` command writes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from genolm.io.errors import InputError

Loader = Callable[[Path], "Predictor"]


class Predictor:
    """Base class: a loaded model folder with ``predict``, optional ``embed``, and ``save``."""

    kind: str = "model"
    #: columns a DataFrame input may use for the main input, in order of preference
    input_columns: Sequence[str] = ("sequence",)

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def predict(self, inputs: Any) -> pd.DataFrame:
        raise NotImplementedError

    def embed(self, inputs: Any) -> np.ndarray:
        raise NotImplementedError(f"{self.kind} models do not produce embeddings")

    def sequence_model(self, device=None):
        """This model as a :class:`genolm.core.seqmodel.SequenceModel` (a function of one-hot DNA), for
        ``genolm explain`` / ``motifs`` / ``design``. Models that do not score DNA sequences refuse."""
        raise InputError(
            f"{self.kind} models do not score DNA sequences, so they cannot be explained or designed against "
            "(explain/design take a DNA classifier or regressor, or a CRISPR on-target model)"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Copy the model folder to ``path`` (atomically; an existing folder there is replaced)."""
        from genolm.io.atomic import atomic_path

        path = Path(path)
        if path.resolve() == self.path.resolve():
            return path
        with atomic_path(path) as tmp:
            shutil.copytree(self.path, tmp)
        return path

    def __repr__(self) -> str:
        return f"<genolm {self.kind} predictor from {self.path}>"

    # helpers for subclasses -------------------------------------------------------------------
    def _column(self, inputs: Any, columns: Sequence[str] | None = None) -> list:
        """A list of inputs from a list / tuple / Series / single string, or the first known DataFrame column."""
        cols = list(columns or self.input_columns)
        if isinstance(inputs, str):
            return [inputs]
        if isinstance(inputs, pd.DataFrame):
            for c in cols:
                if c in inputs.columns:
                    return inputs[c].tolist()
            raise InputError(f"the DataFrame has none of the input columns {cols} (columns: {list(inputs.columns)})")
        if isinstance(inputs, pd.Series):
            return inputs.tolist()
        try:
            return list(inputs)
        except TypeError:
            raise InputError(f"{self.kind} predict takes a list or a DataFrame, got {type(inputs).__name__}") from None
