"""genolm.chem: molecular property prediction from SMILES (multi-task, missing labels).

>>> from genolm import chem
>>> chem.train("train.csv", "runs/tox21", valid="dev.csv", targets="NR-AR,SR-p53", task="classification")  # doctest: +SKIP
>>> chem.predict("runs/tox21", "new.csv", out="scores.csv")                                              # doctest: +SKIP
>>> chem.evaluate("runs/tox21", "labelled.csv")                                                          # doctest: +SKIP

``genolm.load("runs/tox21").predict(["CCO"])`` gives the same table as ``chem.predict`` (see predictors.py).
"""

from genolm.chem.api import evaluate, predict, train
from genolm.chem.model import ChemModel

__all__ = ["train", "predict", "evaluate", "ChemModel"]
