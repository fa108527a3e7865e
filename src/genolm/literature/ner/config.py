"""Options of NER training (the CLI's flags map onto these fields)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class NERConfig:
    arch: str = "transformer"  # "transformer" (fine-tune --model; default) or "crf" (CRFsuite, minutes)
    model: str | None = None  # backbone: None = packaged MiniLM, or a local HF folder / run dir
    max_length: int = 128  # word pieces per window
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.01
    epochs: float | None = 20  # upper bound; the time budget usually ends training first
    max_steps: int | None = None
    time_budget: str | float | None = "25m"
    eval_every: int | None = None  # steps between dev evaluations (default: once per epoch)
    checkpoint_every: int = 0  # steps between resumable checkpoints (0 = none)
    seed: int = 0
    threads: int | None = None
    crf_c1: float = 0.05
    crf_c2: float = 0.01
    crf_iterations: int = 100
    crf_folds: int = 4
    crf_word_types: bool = True  # character n-gram word-type model as extra CRF features
