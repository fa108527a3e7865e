"""``genolm.load``: one entry point for every model genolm saves."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from genolm.core.predictor import Predictor
from genolm.io.errors import InputError

# Most specific first: the DNA entry (config.json) matches any Hugging Face folder, so it comes last.
_DOMAINS = (
    "genolm.chem.predictors",
    "genolm.editing.predictors",
    "genolm.omics.predictors",
    "genolm.literature.predictors",
    "genolm.genome.predictors",
)


def _entries():
    for module in _DOMAINS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        yield from mod.PREDICTORS


def load(path: str | os.PathLike, *, trust_remote_code: bool = False) -> Predictor:
    """Load any genolm run directory or model folder and return a predictor for it.

    Works for every model type genolm trains: DNA classifiers, regressors and language models (and local
    Hugging Face DNA models), supervised variant-effect models, gene annotation models, CRISPR on-target
    models, chemistry property models, expression classifiers, knowledge-graph link predictors, and the
    literature NER / relation / QA / text-LM models.

    The predictor's ``.predict(inputs)`` takes plain Python inputs (a list of sequences, SMILES, guides,
    texts or node pairs, or a pandas DataFrame with the CLI's input columns) and returns a DataFrame
    with the same columns and values as the matching ``genolm ... predict`` command writes. ``.embed``
    exists where the model has embeddings; ``.save(path)`` copies the model folder.

    Loading never runs code from the folder: pickle files are refused (convert old folders with
    ``genolm convert``), and a folder that needs its own Python code loads only with
    ``trust_remote_code=True``.

    >>> import genolm
    >>> clf = genolm.load("runs/demo/promoter")                         # doctest: +SKIP
    >>> clf.predict(["TATAAAAGGCGCGCGCTATAAA" * 3])                      # doctest: +SKIP
      id prediction     score
    0  0          1  0.912...
    """
    p = Path(path)
    if not p.exists():
        raise InputError("model folder not found", p)
    if not p.is_dir():
        raise InputError("expected a run directory or model folder, got a file", p)
    from genolm.core.persist import check_no_pickles

    candidates = [p / "model", p] if (p / "model").is_dir() else [p]
    for folder in candidates:
        check_no_pickles(folder)
    for folder in candidates:
        for marker, loader in _entries():
            if (folder / marker).is_file():
                if trust_remote_code and getattr(loader, "__name__", "") == "load_dna":
                    from genolm.genome.predictors import DNASequencePredictor

                    return DNASequencePredictor(folder, trust_remote_code=True)
                return loader(folder)
    raise InputError("not a genolm model folder (no model file genolm knows in it or in its model/)", p)
