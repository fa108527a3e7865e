"""Fine-tuning (or training from scratch) a DNA sequence classifier/regressor: `genolm finetune`."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from genolm.core import metrics as M
from genolm.core.data import TokenizedSequences, collate
from genolm.core.loading import ModelInfo, load_model, quiet_transformers, save_model
from genolm.core.models import GenolmForSequenceClassification
from genolm.core.runs import RunDir, set_seed, staging_path
from genolm.core.tokenizers import build_dna_tokenizer
from genolm.core.train import TrainConfig, make_accelerator, train
from genolm.io.errors import InputError, UsageError
from genolm.io.tables import read_labelled

from genolm.genome.lm.inference import (
    encode_labels,
    metrics_from_predictions,
    predict_table,
    write_prediction_table,
    write_report,
)
from genolm.genome.lm.pretrain import ModelShape, budget_of, write_history

log = logging.getLogger("genolm")


# ---------------------------------------------------------------------------------------------------
# fine-tuning


def _internal_split(seqs, labels, fraction: float, seed: int, path):
    """Hold out a seeded ``fraction`` of the training rows for validation (no --valid given)."""
    n = len(seqs)
    n_valid = max(1, int(round(n * fraction)))
    if n - n_valid < 2:
        raise InputError(f"too few rows ({n}) to hold out a validation split; give --valid", path)
    order = np.random.default_rng(seed).permutation(n)
    va, tr = set(order[:n_valid].tolist()), order[n_valid:]
    log.info("no --valid given: holding out %d of %d training rows (seed %d) for validation", n_valid, n, seed)
    keep = sorted(tr.tolist())
    hold = sorted(va)
    return ([seqs[i] for i in keep], [labels[i] for i in keep], [seqs[i] for i in hold], [labels[i] for i in hold])


def _infer_task(labels: Sequence, task: str | None) -> str:
    if task:
        if task not in ("classification", "regression"):
            raise UsageError(f"unknown --task {task!r}; use classification or regression")
        return task
    vals = list(labels)
    ints = (
        all(float(v).is_integer() for v in vals) if all(isinstance(v, (int, float, np.number)) for v in vals) else True
    )
    return "classification" if ints and len(set(vals)) <= 50 else "regression"


def _label_names(train_labels, valid_labels) -> list:
    names = sorted(
        {str(v) for v in train_labels} | {str(v) for v in valid_labels},
        key=lambda s: (0, float(s)) if _is_number(s) else (1, s),
    )
    return names


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _seq_evaluator(valid_seqs, y_valid, task, tokenizer, info: ModelInfo, batch_size=256):
    ds = TokenizedSequences(tokenizer, valid_seqs, y_valid, max_length=info.max_length)
    pad = tokenizer.pad_token_id

    def evaluate(model):
        dev = next(model.parameters()).device
        outs, losses = [], []
        for i in range(0, len(ds), batch_size):
            b = collate([ds[j] for j in range(i, min(i + batch_size, len(ds)))], pad)
            if bool(b["attention_mask"].all()):
                b.pop("attention_mask")
            b = {k: v.to(dev) for k, v in b.items()}
            o = model(**b)
            losses.append(float(o.loss) * len(b["labels"]))
            outs.append(o.logits.float().cpu())
        logits = torch.cat(outs)
        loss = sum(losses) / len(ds)
        if task == "classification":
            m = M.classification_metrics(y_valid, torch.softmax(logits, -1).numpy())
        else:
            m = M.regression_metrics(y_valid, logits.squeeze(-1).numpy())
            m["neg_mse"] = -m["mse"]
        m["loss"] = loss
        return m

    return evaluate


def finetune(
    train_csv: str,
    valid_csv: str | None,
    out: str,
    model: str | None = None,
    task: str | None = None,
    tokenizer: str = "base",
    shape: ModelShape | None = None,
    epochs: float | None = None,
    max_steps: int | None = None,
    time_budget: str | float | None = None,
    seed: int = 0,
    batch_size: int = 64,
    lr: float | None = None,
    patience: int = 6,
    eval_every: int | None = None,
    label_column: str = "label",
    metric: str | None = None,
    resume: bool = False,
    weight_decay: float = 0.05,
    overwrite: bool = False,
    checkpoint_every: int | str = 500,
    sequence_column: str = "sequence",
    trust_remote_code: bool = False,
    valid_fraction: float = 0.1,
) -> dict:
    """Fine-tune ``model`` (a genolm run/model folder, any local HF folder or ``hf:`` hub id) or train from
    scratch on a `sequence,label` table; early-stops on the validation set (without ``valid_csv``, a
    seeded ``valid_fraction`` of the training rows is held out)."""
    shape = shape or ModelShape(pooling="bins", dropout=0.3)  # best dev MCC on GUE prom_core_all
    shape.check()
    budget = budget_of(max_steps, epochs, time_budget, default_time="20m")
    quiet_transformers()
    acc = make_accelerator()
    set_seed(seed)
    tr_seqs, tr_labels = read_labelled(train_csv, label_column, sequence_column)
    if valid_csv:
        va_seqs, va_labels = read_labelled(valid_csv, label_column, sequence_column)
    else:
        tr_seqs, tr_labels, va_seqs, va_labels = _internal_split(tr_seqs, tr_labels, valid_fraction, seed, train_csv)
    task = _infer_task(tr_labels, task)
    info = ModelInfo(task=task, tokenizer=tokenizer, source=str(model or "scratch"))
    if task == "classification":
        info.label_names = _label_names(tr_labels, va_labels)
        y_tr, y_va = encode_labels(tr_labels, info.label_names), encode_labels(va_labels, info.label_names)
        num_labels = len(info.label_names)
        present = sorted({str(v) for v in tr_labels})
        if num_labels < 2 or len(present) < 2:
            raise InputError(
                f"column {label_column!r}: classification needs at least two label values in the "
                f"training table, found only {present}",
                train_csv,
            )
    else:
        y = np.asarray(tr_labels, dtype=float)
        info.target_mean, info.target_std = float(y.mean()), float(y.std() or 1.0)
        y_tr = [float((v - info.target_mean) / info.target_std) for v in tr_labels]
        y_va = [float((v - info.target_mean) / info.target_std) for v in va_labels]
        num_labels = 1
    longest = max(len(s) for s in tr_seqs + va_seqs)
    info.extra["window"] = longest  # training sequence length: the natural window for `genolm scan`
    if model:
        net, tok, base_info = load_model(
            model, task=task, num_labels=num_labels, device="cpu", trust_remote_code=trust_remote_code
        )
        info.tokenizer = base_info.tokenizer if base_info and base_info.tokenizer else "from model"
        net.train()
        lr = lr or 3e-4
    else:
        tok = build_dna_tokenizer(tokenizer, tr_seqs[:20000] if tokenizer.startswith("bpe") else None)
        cfg = shape.config(
            len(tok),
            tok.pad_token_id,
            num_labels=num_labels,
            problem_type="regression" if task == "regression" else "single_label_classification",
        )
        if task == "classification":
            cfg.id2label = {i: str(n) for i, n in enumerate(info.label_names)}
            cfg.label2id = {str(n): i for i, n in enumerate(info.label_names)}
        net = GenolmForSequenceClassification(cfg)
        lr = lr or 1e-3
    info.max_length = getattr(tok, "model_max_length", None)
    if not info.max_length or info.max_length > 100_000:
        info.max_length = None
    metric = metric or ("mcc" if task == "classification" else "neg_mse")
    config = {
        "command": "finetune",
        "train": train_csv,
        "valid": valid_csv,
        "model": model,
        "task": task,
        "tokenizer": tokenizer,
        **({} if model else asdict(shape)),
        **budget,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "patience": patience,
        "label_column": label_column,
        "selection_metric": metric,
        "weight_decay": weight_decay,
    }
    run = (
        RunDir(out, "finetune", config, inputs=[train_csv, valid_csv], seed=seed, overwrite=overwrite, resume=resume)
        if acc.is_main_process
        else None
    )
    ds = TokenizedSequences(tok, tr_seqs, y_tr, max_length=info.max_length)
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        generator=g,
        drop_last=len(ds) > batch_size,
        collate_fn=lambda b: collate(b, tok.pad_token_id),
    )
    loader = acc.prepare_data_loader(loader) if acc.num_processes > 1 else loader
    steps_per_epoch = len(loader)
    if eval_every is None:
        eval_every = max(25, min(500, steps_per_epoch // 2))
    tcfg = TrainConfig(
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        eval_every=eval_every,
        patience=patience,
        metric=metric,
        maximize=True,
        weight_decay=weight_decay,
        checkpoint_every=checkpoint_every,
        **budget,
    )
    log.info(
        "fine-tuning %s on %d sequences (<= %d bp), %d validation; %.2fM parameters; %d process(es) on %s",
        task,
        len(ds),
        longest,
        len(va_seqs),
        sum(p.numel() for p in net.parameters()) / 1e6,
        acc.num_processes,
        acc.device,
    )
    res = train(
        net,
        loader,
        tcfg,
        evaluate=_seq_evaluator(va_seqs, y_va, task, tok, info),
        out_dir=run.path if run else staging_path(out),
        resume=resume,
        steps_per_epoch=steps_per_epoch,
        accelerator=acc,
    )
    net = acc.unwrap_model(net)
    if run is None:
        return {}
    save_model(net, tok, info, run.model_dir)
    # final validation metrics and predictions from the kept (best) weights
    scores = predict_table(net, tok, info, va_seqs)
    metrics = metrics_from_predictions(info, va_labels, scores)
    metrics.update(
        {
            "steps": res.steps,
            "seconds": res.seconds,
            "best_step": res.best_step,
            "world_size": acc.num_processes,
            "device": str(acc.device),
            "stopped_because": res.stopped_because,
            "parameters": sum(p.numel() for p in net.parameters()),
        }
    )
    run.write_metrics({"valid": metrics})
    write_history(run, res.history)
    write_prediction_table(run.path / "predictions_valid.csv", [str(i) for i in range(len(va_seqs))], scores, info)
    write_report(
        run.path / "report.html",
        f"genolm finetune ({task})",
        metrics,
        res.history,
        info,
        va_labels,
        scores,
        subtitle=f"train {train_csv}; valid {valid_csv}",
    )
    run.finish(steps=res.steps)
    return {"valid": metrics}
