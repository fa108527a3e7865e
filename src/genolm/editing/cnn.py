"""The guide CNN of the on-target ensemble and how one member trains (through :func:`genolm.core.train.train`).

:class:`GuideCNN` is an ordinary top-level ``nn.Module``: ``model(x)`` returns one score per row;
``model(x, labels=y)`` returns a :class:`CNNOutput` whose ``.loss`` is the MSE to ``y`` (the HF-style
contract the core training loop uses). :func:`train_member` keeps the member's original recipe: AdamW
(lr, weight decay, default betas) at a constant learning rate, no gradient clipping, one dev evaluation per
epoch, early stopping on dev Spearman with ``patience``, best weights restored.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from genolm.core.metrics import spearman

log = logging.getLogger("genolm.editing")

MIN_EPOCHS = 10  # a CNN member is only started when the budget left allows about this many epochs


@dataclass
class CNNOutput:
    loss: torch.Tensor | None
    scores: torch.Tensor


class GuideCNN(nn.Module):
    """Parallel convolutions of several widths over the (n, 4, L) one-hot sequence, then a small MLP."""

    def __init__(
        self,
        length: int,
        filters: int = 64,
        kernels: tuple[int, ...] = (3, 5, 7),
        hidden: int = 128,
        dropout: float = 0.3,
    ):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(4, filters, k, padding=k // 2) for k in kernels)
        width = filters * len(kernels)
        self.conv2 = nn.Conv1d(width, filters * 2, 3, padding=1)
        self.pool = nn.AvgPool1d(2)
        flat = filters * 2 * (length // 2)
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(flat, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 32),
            nn.ReLU(),
            nn.Linear(32, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        h = torch.relu(torch.cat([c(x) for c in self.convs], dim=1))
        h = torch.relu(self.conv2(h))
        h = self.pool(h).flatten(1)
        scores = self.head(h).squeeze(-1)
        if labels is None:
            return scores
        return CNNOutput(loss=nn.functional.mse_loss(scores.float(), labels.float()), scores=scores)


def build_cnn(cfg) -> GuideCNN:
    """A fresh member for an :class:`~genolm.editing.ontarget.OnTargetConfig`."""
    return GuideCNN(cfg.length, cfg.filters, tuple(cfg.kernels), cfg.hidden, cfg.dropout)


class ShuffledBatches:
    """Dict batches ``{"x", "labels"}`` in a fresh random order each pass, drawn from the member's own
    generator (seeded with the member seed, one permutation per epoch: the order the member always used).
    ``epochs_done`` fast-forwards the generator when a run resumes inside a later epoch."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, epochs_done: int = 0):
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs_done):
            torch.randperm(len(self.x), generator=self.generator)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        perm = torch.randperm(len(self.x), generator=self.generator)
        for i in range(0, len(perm), self.batch_size):
            idx = perm[i : i + self.batch_size]
            yield {"x": self.x[idx], "labels": self.y[idx]}


def _epochs_done(out_dir, resume: bool) -> int | None:
    """Full epochs recorded in the core loop's checkpoint (``out_dir/checkpoint/state.json``), None if none."""
    if not (resume and out_dir):
        return None
    state = Path(out_dir) / "checkpoint" / "state.json"
    if not state.is_file():
        return None
    import json

    return int(json.loads(state.read_text()).get("epoch", 0))


def predict_raw(model: nn.Module, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Scores of one member for a (n, 4, L) float32 array, on the model's device, returned as numpy."""
    device = next(model.parameters()).device
    xt = torch.from_numpy(x)
    with torch.no_grad():
        preds = [model(xt[i : i + chunk].to(device)).float().cpu().numpy() for i in range(0, len(xt), chunk)]
    return np.concatenate(preds) if preds else np.zeros(0, dtype=np.float32)


def train_member(
    cfg,
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_dev: np.ndarray,
    y_dev: np.ndarray,
    seed: int,
    time_left: float,
    n_left: int,
    out_dir: str | Path | None = None,
    resume: bool = False,
    checkpoint_every: int = 0,
) -> tuple[GuideCNN, float, list[dict]]:
    """Train one member; returns (model on CPU in eval mode, best dev Spearman, per-epoch history).

    Its time share is ``time_left / n_left``; once the first epoch has been timed the share grows so that
    every member that will still run gets >= MIN_EPOCHS epochs (on a slow or busy CPU, fewer well-trained
    members beat many undertrained ones).
    """
    from genolm.core.train import TrainConfig, train

    torch.manual_seed(seed)
    model = build_cnn(cfg)
    # Dropout draws from torch's global RNG as it stands after the weight init (the core loop reseeds it, so the
    # first step puts this state back; a resumed run gets its own saved RNG state from the checkpoint instead).
    after_init = torch.get_rng_state()
    epochs_done = _epochs_done(out_dir, resume)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader = ShuffledBatches(x_tr, y_tr, cfg.batch_size, seed, epochs_done or 0)
    steps = len(loader)
    share = {"s": time_left / n_left if math.isfinite(time_left) else None}
    # Constant lr (no warmup, min_lr_ratio 1), no clipping: the member's recipe before the shared loop. The time
    # share is checked at the end of each epoch (as before): a member whose share is spent finishes its epoch,
    # is evaluated, and stops (patience set to 0 for that evaluation), so a budget never cuts an epoch short.
    tcfg = TrainConfig(
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        batch_size=cfg.batch_size,
        epochs=cfg.max_epochs,
        time_budget=None,
        warmup=0.0,
        min_lr_ratio=1.0,
        grad_clip=0.0,
        eval_every=steps,
        patience=cfg.patience,
        seed=seed,
        checkpoint_every=checkpoint_every,
        metric="dev_spearman",
        maximize=True,
    )
    seen = {"loss": 0.0, "rows": 0, "evals": 0, "first": epochs_done is None}
    clock = {"start": time.monotonic(), "epoch": time.monotonic()}

    def step(m, batch):
        if seen["first"]:
            torch.set_rng_state(after_init)
            seen["first"] = False
        out = m(**batch)
        n = len(batch["labels"])
        seen["loss"] += float(out.loss.detach()) * n
        seen["rows"] += n
        return out.loss

    def evaluate(m) -> dict:
        rho = spearman(y_dev, predict_raw(m, x_dev))
        now = time.monotonic()
        rec = {
            "dev_spearman": rho,
            "train_mse": seen["loss"] / max(seen["rows"], 1),
            "seconds": round(now - clock["epoch"], 3),
        }
        seen.update(loss=0.0, rows=0, evals=seen["evals"] + 1)
        if seen["evals"] == 1 and share["s"] is not None:
            per_epoch = now - clock["start"]
            n_fit = max(1, min(n_left, int(time_left // (MIN_EPOCHS * max(per_epoch, 1e-9)))))
            share["s"] = time_left / n_fit
        clock["epoch"] = now
        log.info("cnn seed %d epoch %d train_mse %.4f dev_spearman %.4f", seed, seen["evals"], rec["train_mse"], rho)
        if share["s"] is not None and now - clock["start"] > share["s"]:
            log.info("cnn seed %d: time share (%.0fs) spent, stopping after this epoch", seed, share["s"])
            tcfg.patience = 0  # the loop reads patience right after this evaluation: stop here, keep the best
        return rec

    res = train(
        model,
        loader,
        tcfg,
        evaluate=evaluate,
        out_dir=out_dir,
        resume=epochs_done is not None,
        steps_per_epoch=steps,
        step_fn=step,
        optimizer=opt,
    )
    history = [
        {
            "member": seed,
            "epoch": i + 1,
            "train_mse": h["eval_train_mse"],
            "dev_spearman": h["eval_dev_spearman"],
            "seconds": h["eval_seconds"],
        }
        for i, h in enumerate(r for r in res.history if "eval_dev_spearman" in r)
    ]
    model = model.cpu().eval()
    best = res.best_metric if res.best_metric is not None else float("nan")
    return model, float(best), history
