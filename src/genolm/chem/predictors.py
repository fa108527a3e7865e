"""``genolm.load`` entry for chem models (a ``chem train`` run directory or its ``model/`` folder).

>>> import genolm
>>> model = genolm.load("runs/bbbp")                          # doctest: +SKIP
>>> model.predict(["CCO", "c1ccccc1O"])                        # doctest: +SKIP
  smiles      p_np error
0    CCO  0.93...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from genolm.chem.model import MARKER, ChemModel
from genolm.core.predictor import Predictor


class ChemPredictor(Predictor):
    """A multi-task molecular property model. ``predict`` returns `genolm chem predict`'s table: the input's
    columns that are not target names, one column per target (probability of 1 or the value), ``error``."""

    kind = "chem"
    input_columns = ("smiles",)

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.model = ChemModel.load(self.path)

    @property
    def targets(self) -> list[str]:
        return list(self.model.targets)

    def predict(self, inputs: Any, smiles_col: str | None = None) -> pd.DataFrame:
        """``inputs``: a list of SMILES (or one SMILES), a DataFrame with a SMILES column (the training
        ``--smiles-col``, else ``smiles``), or a path to a CSV/TSV table."""
        from genolm.chem.api import predict

        if not isinstance(inputs, (pd.DataFrame, str, Path)):
            inputs = pd.DataFrame({smiles_col or self.model.smiles_col: self._column(inputs)})
        return predict(self.model, inputs, smiles_col=smiles_col)


def load_chem(model_dir: Path) -> ChemPredictor:
    return ChemPredictor(model_dir)


PREDICTORS = [(MARKER, load_chem)]
