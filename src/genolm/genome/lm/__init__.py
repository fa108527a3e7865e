"""DNA language models end to end: pretrain, fine-tune, evaluate, predict, embed.

Each function is one CLI command (`genolm pretrain` ...) and writes the run directory described in
ARCHITECTURE.md. The heavy lifting lives in genolm.core (tokenizers, models, train loop, metrics).
"""

from __future__ import annotations

from genolm.genome.lm.finetune import finetune
from genolm.genome.lm.inference import (
    embed,
    embeddings_frame,
    encode_labels,
    evaluate,
    metrics_from_predictions,
    predict,
    predict_frame,
    predict_table,
    predictions_frame,
    write_predictions,
    write_report,
)
from genolm.genome.lm.pretrain import ModelShape, make_lm_batch, mask_tokens, pretrain

__all__ = [
    "ModelShape",
    "embed",
    "embeddings_frame",
    "encode_labels",
    "evaluate",
    "finetune",
    "make_lm_batch",
    "mask_tokens",
    "metrics_from_predictions",
    "predict",
    "predict_frame",
    "predict_table",
    "predictions_frame",
    "pretrain",
    "write_predictions",
    "write_report",
]
