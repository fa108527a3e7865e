"""genolm.load entries for genome models: DNA classifiers/regressors/LMs, variant models, annotation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genolm.core.predictor import Predictor
from genolm.io.errors import InputError


class DNASequencePredictor(Predictor):
    """A genolm (or local Hugging Face) DNA model: classifier, regressor or language model.

    ``predict`` returns `genolm predict`'s table (id, prediction, score / score_<label>);
    ``embed`` returns `genolm embed`'s table (id, e0..eD-1). Inputs: a list of sequences, a DataFrame
    with a ``sequence`` column (and optionally ``id``), or a path to a FASTA/CSV file.
    """

    kind = "dna"

    def __init__(self, path: Path, trust_remote_code: bool = False):
        from genolm.core.loading import ModelInfo, check_no_remote_code, read_config

        super().__init__(path)
        check_no_remote_code(path, trust_remote_code)
        self.trust_remote_code = trust_remote_code
        self.info = ModelInfo.load(path)
        self.config = read_config(path)
        self._nets: dict[str, Any] = {}

    @property
    def task(self) -> str:
        return self.info.task if self.info else "masked-lm"

    def _net(self, task: str | None):
        key = task or "saved"
        if key not in self._nets:
            from genolm.core.loading import load_model

            self._nets[key] = load_model(self.path, task=task, trust_remote_code=self.trust_remote_code)
        return self._nets[key]

    def _ids_seqs(self, inputs) -> tuple[list[str], list[str]]:
        from genolm.io.tables import check_sequences, read_sequences

        if isinstance(inputs, (str, Path)) and Path(inputs).is_file():
            return read_sequences(inputs)
        if isinstance(inputs, pd.DataFrame) and "id" in inputs.columns:
            ids = inputs["id"].astype(str).tolist()
        else:
            ids = None
        seqs = check_sequences(self._column(inputs), "<input>", first_line=0)
        return ids or [str(i) for i in range(len(seqs))], seqs

    def predict(self, inputs, batch_size: int = 256) -> pd.DataFrame:
        from genolm.genome.lm import predict_frame

        ids, seqs = self._ids_seqs(inputs)
        net, tok, info = self._net(None)
        return predict_frame(net, tok, info, ids, seqs, batch_size)

    def embed(self, inputs, pooling: str = "mean", batch_size: int = 128) -> pd.DataFrame:
        from genolm.genome.lm import embeddings_frame

        ids, seqs = self._ids_seqs(inputs)
        net, tok, info = self._net("base")
        return embeddings_frame(net, tok, info, ids, seqs, pooling, batch_size)

    def sequence_model(self, device=None):
        """The classifier/regressor as a function of one-hot DNA (explain, motifs, design)."""
        from genolm.core.seqmodel import HFSequenceModel

        net, tok, info = self._net(None)
        arch = getattr(net.config, "arch", None) or getattr(net.config, "model_type", "")
        task = info.task if info is not None else self.task
        return HFSequenceModel(net, tok, info, description=f"{arch} {task} model from {self.path}", device=device)


def load_dna(path: Path) -> DNASequencePredictor:
    return DNASequencePredictor(path)


def predictors() -> list:
    """genolm.load entries of the genome domain, most specific marker first (any HF folder has config.json)."""
    from genolm.genome.annotate.predictors import ANNOTATE_PREDICTORS
    from genolm.genome.variants.predictors import VARIANT_PREDICTORS

    return [*VARIANT_PREDICTORS, *ANNOTATE_PREDICTORS, ("genolm.json", load_dna), ("config.json", load_dna)]


def __getattr__(name: str):  # PREDICTORS imports the subpackages only when genolm.load asks for it
    if name == "PREDICTORS":
        return predictors()
    raise AttributeError(name)


__all__ = ["DNASequencePredictor", "InputError", "load_dna", "np", "predictors"]
