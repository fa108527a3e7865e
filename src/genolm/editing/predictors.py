"""genolm.load entries for CRISPR models: the on-target efficiency ensemble (`genolm crispr train`).

>>> import genolm
>>> m = genolm.load("runs/kim")                                         # doctest: +SKIP
>>> m.predict(["AAAAGCGCGCGCGCGCGCGCGCGCTGGAAA"])                       # doctest: +SKIP
                         sequence     score
0  AAAAGCGCGCGCGCGCGCGCGCGCTGGAAA  12.34...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from genolm.core.predictor import Predictor
from genolm.core.seqmodel import SequenceModel, decode_one_hot, pick_device
from genolm.editing.features import handcrafted_features
from genolm.editing.ontarget import MARKER, MODEL_TYPE, OnTargetModel, predict_frame
from genolm.io.errors import InputError

#: DataFrame columns tried for the guide sequence when no ``sequence_col`` is given (after the training one)
GUIDE_COLUMNS = ("sequence", "guide", "spacer", "sgRNA", "target_context_30mer", "sgRNA_23mer", "protospacer")


class OnTargetPredictor(Predictor):
    """A trained on-target model. ``predict`` returns what ``genolm crispr predict`` writes: the input rows
    (order kept) + ``score`` on the training target's scale, + ``error`` when some rows are not valid guides."""

    kind = "crispr-ontarget"

    def __init__(self, path: Path):
        super().__init__(path)
        self.model = OnTargetModel.load(path)
        meta = {}
        if (self.path / MARKER).is_file():
            try:
                meta = json.loads((self.path / MARKER).read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise InputError(f"corrupt {MARKER} ({e})", self.path / MARKER) from None
        self.sequence_col = meta.get("sequence_col") or "sequence"
        self.input_columns = tuple(dict.fromkeys((self.sequence_col, *GUIDE_COLUMNS)))

    @property
    def input_length(self) -> int:
        return self.model.config.length

    def predict(self, inputs: Any, sequence_col: str | None = None) -> pd.DataFrame:
        """``inputs``: a list of sequences (or one string), or a DataFrame with the sequence column
        (``sequence_col``; else the training column, ``sequence``, ``guide``...). A list gives a
        ``sequence`` column, a DataFrame keeps all its columns, like the CLI's input table."""
        if isinstance(inputs, pd.DataFrame):
            col = sequence_col or next((c for c in self.input_columns if c in inputs.columns), None)
            if col is None:
                raise InputError(
                    f"the DataFrame has none of the sequence columns {list(self.input_columns)} "
                    f"(columns: {list(inputs.columns)}); pass sequence_col="
                )
            df = inputs.reset_index(drop=True)
        else:
            col = sequence_col or "sequence"
            df = pd.DataFrame({col: self._column(inputs)})
        return predict_frame(self.model, df, col, "<input>", first_line=1)

    def sequence_model(self, device=None):
        """The ensemble as a function of one-hot guides: ``score`` is the exact ensemble prediction; gradients
        flow through the CNN members (the GBM member is piecewise constant, so its gradient is zero; its
        output is added from the decoded sequence, and DeepLIFT's completeness check reports that gap)."""
        return OnTargetSequenceModel(self.model, f"CRISPR on-target ensemble from {self.path}", device)


class OnTargetSequenceModel(SequenceModel):
    task = "regression"
    outputs = ["score"]

    def __init__(self, model: OnTargetModel, description: str, device=None):
        import torch

        self.model, self.description = model, description
        self.length = model.config.length
        self.device = pick_device(device)
        for m in model.cnns:
            m.to(self.device).eval()
        if not model.cnns:
            self.gradient_note = "this on-target model has no CNN member (a GBM on handcrafted features only)"
        self._torch = torch

    def score(self, seqs, batch_size: int = 256):
        seqs = list(seqs)
        for s in seqs:
            self.check_length(len(s), "guide")
        return self.model.predict(seqs).reshape(-1, 1)

    def _forward(self, x):
        torch = self._torch
        cfg = self.model.config
        x = x.to(self.device, torch.float32)
        cnn = torch.stack([m(x).float().reshape(-1) for m in self.model.cnns]).mean(0)
        m0, s0 = cfg.member_stats[0]
        z = (cnn - m0) / s0
        if self.model.gbm is not None:
            seqs = decode_one_hot(x)
            g = self.model.gbm.predict(handcrafted_features(seqs, cfg.spacer_offset))
            m1, s1 = cfg.member_stats[1]
            zg = torch.as_tensor((g - m1) / s1, dtype=torch.float32, device=self.device)
            z = cfg.cnn_weight * z + (1 - cfg.cnn_weight) * zg
        return (cfg.y_mean + cfg.y_std * z).reshape(-1, 1)


def load_ontarget(model_dir: Path) -> OnTargetPredictor:
    return OnTargetPredictor(model_dir)


def _is_old_ontarget(model_dir: Path) -> bool:
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE
    except (OSError, ValueError, AttributeError):
        return False


def load_old_ontarget(model_dir: Path) -> Predictor:
    """Folders saved before the marker file existed (``config.json`` + ``cnn.safetensors``; a GBM stored in the
    old code-running format is refused with the "retrain or convert" message)."""
    if not _is_old_ontarget(model_dir):
        raise InputError(
            f"not a genolm CRISPR on-target model (cnn.safetensors, but config.json model_type is not {MODEL_TYPE!r})",
            model_dir,
        )
    return OnTargetPredictor(model_dir)


PREDICTORS = [(MARKER, load_ontarget), ("cnn.safetensors", load_old_ontarget)]
