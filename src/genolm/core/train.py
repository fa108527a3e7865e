"""One training loop for every genolm model (any HF-style model returning ``.loss``).

Budgets, not guesses: stop at ``max_steps``, after ``epochs`` or when ``time_budget`` seconds have
passed, whichever comes first. The learning rate follows warmup + cosine decay over the fraction of
the budget used, so a time-budgeted run still anneals. Evaluation every ``eval_every`` steps keeps the
best weights (early stopping after ``patience`` evaluations without improvement). Checkpoints
(``checkpoint/`` in the run directory) let a killed run continue with ``resume=True``.

Runs unchanged on CPU, one GPU (bf16 autocast) or many processes under ``torchrun`` /
``accelerate launch`` (DDP; gloo on CPU): `accelerate` does the wrapping.

Every torch model in genolm trains here; this is the only place ``.backward`` is called. A model whose
loss is not ``model(**batch).loss`` (a CRF tagger, an adversarial or contrastive objective) passes a
``step_fn(model, batch) -> loss tensor``; the loop keeps budgets, schedules, clipping, checkpoints and
early stopping the same for all of them. Resuming a killed run restores weights, optimizer, RNG state and
the position in the data, so a step-budgeted run resumed from a checkpoint ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch

from genolm.core.progress import progress

log = logging.getLogger("genolm.train")


@dataclass
class TrainConfig:
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    max_steps: int | None = None
    epochs: float | None = None
    time_budget: float | None = None  # seconds
    warmup: float = 0.05  # fraction of the budget
    warmup_steps: int | None = None  # a fixed number of warmup steps instead (overrides ``warmup``)
    min_lr_ratio: float = 0.05
    schedule: str = "cosine"  # decay after warmup: cosine | linear | constant
    eval_every: int = 200
    patience: int | None = 5
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int | str = 500  # steps (0 = never), or a duration such as "10m" (see parse_checkpoint_every)
    maximize: bool = True  # direction of the selection metric
    metric: str = "loss"  # key of the evaluation dict used for model selection


@dataclass
class TrainResult:
    steps: int
    seconds: float
    best_metric: float | None
    best_step: int | None
    history: list[dict] = field(default_factory=list)
    stopped_because: str = ""


def _progress_fraction(cfg: TrainConfig, step: int, elapsed: float, steps_per_epoch: int | None) -> float:
    fr = 0.0
    if cfg.max_steps:
        fr = max(fr, step / cfg.max_steps)
    if cfg.epochs and steps_per_epoch:
        fr = max(fr, step / (cfg.epochs * steps_per_epoch))
    if cfg.time_budget:
        fr = max(fr, elapsed / cfg.time_budget)
    return min(fr, 1.0)


def _lr_factor(cfg: TrainConfig, frac: float, step: int = 0) -> float:
    if cfg.warmup_steps:
        # step-counted warmup multiplies the decay (the BERT-style linear schedule)
        warm = min(1.0, (step + 1) / cfg.warmup_steps)
        t = frac
    else:
        if frac < cfg.warmup:
            return max(frac / cfg.warmup, 0.01)
        warm, t = 1.0, (frac - cfg.warmup) / max(1e-9, 1 - cfg.warmup)
    t = min(t, 1.0)
    if cfg.schedule == "constant":
        decay = 1.0
    elif cfg.schedule == "linear":
        decay = 1.0 - t
    else:
        decay = 0.5 * (1 + math.cos(math.pi * t))
    return warm * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * decay)


def parse_checkpoint_every(value: int | str | None) -> tuple[int, float | None]:
    """``--checkpoint-every``: ``500`` (steps), ``"500"``, or a duration (``"10m"``, ``"90s"``) -> (steps, minutes)."""
    if value is None or value == "":
        return 0, None
    if isinstance(value, int):
        return value, None
    text = str(value).strip()
    if text.isdigit():
        return int(text), None
    from genolm.core.runs import parse_duration

    seconds = parse_duration(text)
    return 0, (seconds or 0) / 60


def _adamw(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in n or "embeddings" in n else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.98),
    )


def _batch_items(batch: dict) -> int:
    """Throughput unit: tokens when the batch has ``input_ids``, else rows of its first tensor."""
    if isinstance(batch.get("input_ids"), torch.Tensor):
        return int(batch["input_ids"].numel())
    for v in batch.values():
        if isinstance(v, torch.Tensor):
            return int(v.shape[0]) if v.ndim else 1
    return 0


def _replay_epochs(loader, n: int) -> None:
    """Advance a loader's own random state by ``n`` epochs without loading the data when possible."""
    from torch.utils.data import DataLoader

    for _ in range(n):
        if isinstance(loader, DataLoader) and loader.num_workers == 0:
            iter(loader)  # draws the per-iterator base seed, as each real epoch did
            for _ in loader.batch_sampler or ():  # the shuffle order draws, without collating any data
                pass
        else:
            for _ in loader:
                pass


def make_accelerator():
    """An `accelerate.Accelerator`: bf16 autocast on a GPU that supports it, fp32 on CPU, DDP when launched so."""
    from accelerate import Accelerator

    mp = "no"
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        mp = "bf16"
    return Accelerator(mixed_precision=mp, cpu=not torch.cuda.is_available())


def train(
    model: torch.nn.Module,
    train_loader: Iterable[dict],
    cfg: TrainConfig,
    evaluate: Callable[[torch.nn.Module], dict] | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    steps_per_epoch: int | None = None,
    tokens_in_batch: Callable[[dict], int] | None = None,
    accelerator=None,
    step_fn: Callable[[torch.nn.Module, dict], torch.Tensor] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> TrainResult:
    """Train ``model`` in place; on return it holds the best weights seen by ``evaluate`` (if given).

    ``train_loader`` yields dict batches (``input_ids``, ``attention_mask``, ``labels``...) and is
    re-iterated for each epoch (an endless iterable works with a step or time budget).
    ``step_fn(model, batch)`` returns the loss when it is not ``model(**batch).loss``. ``optimizer``
    replaces the default AdamW (e.g. an Opacus DP optimizer); its learning rate still follows the schedule.
    """
    if not (cfg.max_steps or cfg.epochs or cfg.time_budget):
        raise ValueError("give a training budget: max_steps, epochs or time_budget")
    acc = accelerator or make_accelerator()
    ckpt_steps, ckpt_minutes = parse_checkpoint_every(cfg.checkpoint_every)
    torch.manual_seed(cfg.seed)
    opt = optimizer or _adamw(model, cfg)
    model, opt = acc.prepare(model, opt)
    loss_of = step_fn or (lambda m, b: m(**b).loss)
    ckpt_dir = Path(out_dir) / "checkpoint" if out_dir else None

    step, epoch, elapsed_before = 0, 0, 0.0
    history: list[dict] = []
    best_metric, best_step, best_state, bad_evals = None, None, None, 0
    rng_epoch_start = torch.get_rng_state()  # RNG state when the current epoch's iterator was created
    skip_batches, rng_now = 0, None
    if resume:
        if ckpt_dir and (ckpt_dir / "state.json").is_file():
            state = json.loads((ckpt_dir / "state.json").read_text())
            acc.unwrap_model(model).load_state_dict(
                torch.load(ckpt_dir / "model.pt", map_location="cpu", weights_only=True)
            )
            opt.load_state_dict(torch.load(ckpt_dir / "optimizer.pt", map_location="cpu", weights_only=True))
            step, epoch, elapsed_before = state["step"], state["epoch"], state["elapsed"]
            history, best_metric, best_step = state["history"], state["best_metric"], state["best_step"]
            bad_evals = state.get("bad_evals", 0)
            steps_per_epoch = steps_per_epoch or state.get("steps_per_epoch")
            skip_batches = state.get("step_in_epoch", 0)
            rngs = (
                torch.load(ckpt_dir / "rng.pt", map_location="cpu", weights_only=True)
                if (ckpt_dir / "rng.pt").is_file()
                else None
            )
            if rngs is not None:
                rng_epoch_start, rng_now = rngs["epoch_start"], rngs["now"]
            if (ckpt_dir / "best.pt").is_file():
                best_state = torch.load(ckpt_dir / "best.pt", map_location="cpu", weights_only=True)
            log.info("resumed from %s at step %d", ckpt_dir, step)
        else:
            log.warning(
                "--resume: no checkpoint in %s, nothing to resume; training from the start",
                ckpt_dir or "(no run directory)",
            )

    def run_eval() -> bool:
        """Evaluate, keep the best weights; True when patience is exhausted."""
        nonlocal best_metric, best_step, best_state, bad_evals
        if evaluate is None:
            return False
        model.eval()
        with torch.no_grad():
            metrics = evaluate(acc.unwrap_model(model))
        model.train()
        m = metrics[cfg.metric]
        rec = {
            "step": step,
            "epoch": epoch,
            "elapsed": round(elapsed(), 2),
            **{f"eval_{k}": v for k, v in metrics.items()},
        }
        history.append(rec)
        log.info(
            "eval step %d: %s",
            step,
            ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float))),
        )
        better = best_metric is None or (m > best_metric if cfg.maximize else m < best_metric)
        if better and not (isinstance(m, float) and math.isnan(m)):
            best_metric, best_step, bad_evals = m, step, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in acc.unwrap_model(model).state_dict().items()})
        else:
            bad_evals += 1
        return cfg.patience is not None and bad_evals >= cfg.patience

    def save_checkpoint():
        if ckpt_dir is None or not acc.is_main_process:
            return
        tmp = ckpt_dir.with_name("checkpoint.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        torch.save(acc.unwrap_model(model).state_dict(), tmp / "model.pt")
        torch.save(opt.state_dict(), tmp / "optimizer.pt")
        torch.save({"epoch_start": rng_epoch_start, "now": torch.get_rng_state()}, tmp / "rng.pt")
        if best_state is not None:
            torch.save(best_state, tmp / "best.pt")
        (tmp / "state.json").write_text(
            json.dumps(
                {
                    "step": step,
                    "epoch": epoch,
                    "elapsed": elapsed(),
                    "history": history,
                    "best_metric": best_metric,
                    "best_step": best_step,
                    "bad_evals": bad_evals,
                    "step_in_epoch": step_in_epoch,
                    "steps_per_epoch": steps_per_epoch,
                }
            )
        )
        if ckpt_dir.exists():
            import shutil

            shutil.rmtree(ckpt_dir)
        os.replace(tmp, ckpt_dir)

    t0 = time.perf_counter()

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t0

    model.train()
    stop_reason = ""
    step_in_epoch = 0
    last_ckpt_time = time.perf_counter()
    loss_sum, loss_n, tok_count, t_last = 0.0, 0, 0, time.perf_counter()
    bar = progress(
        total=cfg.max_steps or (int(cfg.epochs * steps_per_epoch) if cfg.epochs and steps_per_epoch else None),
        desc="train",
        unit="step",
        initial=step,
    )
    if skip_batches and epoch:
        _replay_epochs(train_loader, epoch)  # loaders with their own generator: advance it past whole epochs
    while not stop_reason:
        if skip_batches:
            torch.set_rng_state(rng_epoch_start)  # replay the interrupted epoch's data order
        else:
            rng_epoch_start = torch.get_rng_state()
        step_in_epoch = 0
        for batch in train_loader:
            if skip_batches:
                skip_batches -= 1
                step_in_epoch += 1
                if not skip_batches and rng_now is not None:
                    torch.set_rng_state(rng_now)
                continue
            batch = {k: v.to(acc.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            frac = _progress_fraction(cfg, step, elapsed(), steps_per_epoch)
            for g in opt.param_groups:
                g["lr"] = cfg.lr * _lr_factor(cfg, frac, step)
            with acc.autocast():
                loss = loss_of(model, batch)
            acc.backward(loss)
            if cfg.grad_clip:
                acc.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            step_in_epoch += 1
            loss_sum += float(loss.detach())
            loss_n += 1
            tok_count += tokens_in_batch(batch) if tokens_in_batch else _batch_items(batch)
            bar.update(1)
            if step % 20 == 0:
                now = time.perf_counter()
                rec = {
                    "step": step,
                    "epoch": epoch,
                    "elapsed": round(elapsed(), 2),
                    "train_loss": loss_sum / loss_n,
                    "lr": opt.param_groups[0]["lr"],
                    "tokens_per_s": tok_count / max(now - t_last, 1e-9),
                }
                history.append(rec)
                bar.set_postfix(loss=f"{rec['train_loss']:.3f}", tok_s=f"{rec['tokens_per_s']:.0f}")
                loss_sum, loss_n, tok_count, t_last = 0.0, 0, 0, now
            done = _progress_fraction(cfg, step, elapsed(), steps_per_epoch) >= 1.0
            # all processes must agree to stop (time differs slightly between ranks)
            if acc.num_processes > 1:
                flag = acc.reduce(torch.tensor([float(done)], device=acc.device), "max")
                done = bool(flag.item() > 0)
            if cfg.eval_every and step % cfg.eval_every == 0 and not done:
                if run_eval():
                    stop_reason = "early stopping"
            if (ckpt_steps and step % ckpt_steps == 0) or (
                ckpt_minutes and time.perf_counter() - last_ckpt_time >= 60 * ckpt_minutes
            ):
                save_checkpoint()
                last_ckpt_time = time.perf_counter()
            if done and not stop_reason:
                stop_reason = "budget"
            if stop_reason:
                break
        else:
            epoch += 1
            if steps_per_epoch is None:
                steps_per_epoch = step
    bar.close()
    if evaluate is not None and (
        not history or history[-1].get("step") != step or "eval_" + cfg.metric not in history[-1]
    ):
        run_eval()
    if best_state is not None:
        acc.unwrap_model(model).load_state_dict(best_state)
    if ckpt_dir and ckpt_dir.exists() and acc.is_main_process:
        import shutil

        shutil.rmtree(ckpt_dir)  # finished: the run directory's model/ is the result
    acc.wait_for_everyone()
    res = TrainResult(
        steps=step,
        seconds=round(elapsed(), 2),
        best_metric=best_metric,
        best_step=best_step,
        history=history,
        stopped_because=stop_reason,
    )
    log.info(
        "training stopped (%s) at step %d after %.0fs; best %s=%s at step %s",
        stop_reason,
        step,
        res.seconds,
        cfg.metric,
        best_metric,
        best_step,
    )
    return res
