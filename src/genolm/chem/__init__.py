"""genolm.chem: molecular property prediction from SMILES (multi-task, missing labels).

>>> from genolm import chem
>>> chem.train("train.csv", "runs/tox21", targets="NR-AR,SR-p53", task="classification", valid_csv="dev.csv")
>>> chem.predict("runs/tox21", "new.csv", out="scores.csv")
>>> chem.evaluate("runs/tox21", "labelled.csv")
"""
from genolm.chem.api import evaluate, predict, train
from genolm.chem.model import ChemModel

__all__ = ["train", "predict", "evaluate", "ChemModel"]
