"""Training of the NER taggers: the transformer through :func:`genolm.core.train.train`, the CRF with CRFsuite."""

from __future__ import annotations

import logging
import os
import random
import warnings
from dataclasses import asdict
from typing import Sequence

from genolm.io.errors import InputError, UsageError
from genolm.literature import formats as F
from genolm.literature import textmodels as T
from genolm.literature.ner.config import NERConfig
from genolm.literature.ner.encoding import collate
from genolm.literature.ner.predict import entity_scores, report
from genolm.literature.ner.transformer import NERModel

log = logging.getLogger("genolm.literature.ner")


class WindowBatches:
    """Length-bucketed, shuffled batches of training windows; a new order each pass, drawn from torch's RNG
    (so :func:`genolm.core.train.train` can replay an interrupted epoch on ``resume``)."""

    def __init__(self, ids: list[list[int]], labels: list[list[int]], batch_size: int, pad_id: int):
        self.ids, self.labels, self.batch_size, self.pad_id = ids, labels, batch_size, pad_id
        self.lengths = [len(x) for x in ids]

    def __len__(self) -> int:
        return (len(self.ids) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        import torch

        rng = random.Random(int(torch.randint(0, 2**31 - 1, (1,)).item()))
        for bidx in T.length_batches(self.lengths, self.batch_size, True, rng):
            ids, mask, lab = collate([self.ids[i] for i in bidx], self.pad_id, [self.labels[i] for i in bidx])
            yield {"input_ids": ids, "attention_mask": mask, "labels": lab}


def _resolve_args(out, legacy_out, valid):
    if legacy_out is not None:  # the old order train(train, valid, out)
        warnings.warn(
            "train_ner(train, valid, out) is deprecated: call train_ner(train, out, valid=...)",
            DeprecationWarning,
            stacklevel=3,
        )
        return legacy_out, out
    return out, valid


def train_ner(
    train: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    legacy_out: str | os.PathLike | None = None,
    *,
    valid: str | os.PathLike | None = None,
    config: NERConfig | None = None,
    overwrite: bool = False,
    resume: bool = False,
    **overrides,
) -> dict:
    """Train a NER model on IOB files; writes a run directory at ``out``; returns the metrics dict.

    ``valid`` (an IOB file) picks the best evaluation (by entity F1) and is scored at the end.
    ``overrides`` are :class:`NERConfig` fields (``arch``, ``time_budget``, ``seed``, ``max_steps``...).
    ``resume`` continues a killed transformer run from its last checkpoint (``checkpoint_every`` steps).
    """
    from genolm.core.runs import RunDir, parse_duration, set_seed

    out, valid = _resolve_args(out, legacy_out, valid)
    cfg = config or NERConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise UsageError(f"unknown NER option {k!r}")
        setattr(cfg, k, v)
    budget = parse_duration(cfg.time_budget) if cfg.time_budget not in (None, "", "0", 0) else None
    train_files = [train] if isinstance(train, (str, os.PathLike)) else list(train)
    if not train_files:
        raise UsageError("give at least one --train file")
    train_sents = [s for f in train_files for s in F.read_iob(f)]
    valid_sents = F.read_iob(valid) if valid else []
    labels = ["O"] + sorted({t for s in train_sents + valid_sents for t in s.tags if t != "O"})
    if len(labels) < 2:
        raise InputError("the training file has no entity tags (only O)", train_files[0])
    if cfg.arch not in ("transformer", "crf"):
        raise UsageError(f"unknown --arch {cfg.arch!r}: use transformer or crf")
    backbone = T.resolve_model_path(cfg.model) if cfg.arch == "transformer" else None

    run = RunDir(
        out,
        command="lit ner train",
        config={
            **asdict(cfg),
            "backbone": str(backbone),
            "train": [str(f) for f in train_files],
            "valid": str(valid) if valid else None,
            "labels": labels,
        },
        inputs=[*train_files, valid],
        seed=cfg.seed,
        overwrite=overwrite,
        resume=resume,
    )
    with run:
        set_seed(cfg.seed)
        if cfg.arch == "crf":
            from genolm.literature.ner.crf import train_crf

            ner, info = train_crf(cfg, train_sents, labels, run.model_dir)
            metrics = {"train_sentences": len(train_sents), **info}
            return _finish_training(run, ner, valid_sents, metrics, [])
        ner, metrics, history = _train_transformer(cfg, backbone, train_sents, valid_sents, labels, budget, run, resume)
        return _finish_training(run, ner, valid_sents, metrics, history)


def _train_transformer(cfg: NERConfig, backbone, train_sents, valid_sents, labels, budget, run, resume):
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    from genolm.core.train import TrainConfig, train

    T.torch_setup(cfg.threads)
    tok = AutoTokenizer.from_pretrained(backbone)
    hf_cfg = AutoConfig.from_pretrained(
        backbone,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={t: i for i, t in enumerate(labels)},
    )
    model = AutoModelForTokenClassification.from_pretrained(backbone, config=hf_cfg, ignore_mismatched_sizes=True)
    ner = NERModel(model, tok, labels, cfg.max_length)

    # encode training sentences (long ones are cut into windows so every word is trained on)
    idx = {t: i for i, t in enumerate(labels)}
    ex_ids, ex_lab = [], []
    for s in train_sents:
        li = [idx[t] for t in s.tags]
        for a, ids, first in ner.encode_sentence(s.tokens):
            lab = [-100] * len(ids)
            for k, pos in enumerate(first):
                if pos >= 0:
                    lab[pos] = li[a + k]
            ex_ids.append(ids)
            ex_lab.append(lab)
    loader = WindowBatches(ex_ids, ex_lab, cfg.batch_size, tok.pad_token_id)
    n_per_epoch = len(loader)
    max_steps = T.plan_steps(n_per_epoch, cfg.epochs, cfg.max_steps)
    # the same AdamW as before the shared trainer: default betas, no decay on biases and norms
    no_decay = ("bias", "LayerNorm.weight", "layer_norm", "norm")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not any(x in n for x in no_decay)],
            "weight_decay": cfg.weight_decay,
        },
        {"params": [p for n, p in model.named_parameters() if any(x in n for x in no_decay)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=cfg.lr)
    tc = TrainConfig(
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        batch_size=cfg.batch_size,
        max_steps=max_steps,
        time_budget=budget,
        warmup=0.06,
        min_lr_ratio=0.0,
        grad_clip=1.0,
        seed=cfg.seed,
        schedule="linear",
        warmup_steps=max(1, int(0.06 * min(max_steps, 2000))),
        eval_every=cfg.eval_every or n_per_epoch,
        patience=None,
        metric="f1",
        maximize=True,
        checkpoint_every=cfg.checkpoint_every or 0,
    )
    log.info(
        "NER: %d training windows, %d labels, up to %d steps, budget %s",
        len(ex_ids),
        len(labels),
        max_steps,
        f"{budget:.0f}s" if budget else "none",
    )

    def evaluate(m) -> dict:
        pred = ner.predict_tokens([s.tokens for s in valid_sents])
        sc = entity_scores([s.tags for s in valid_sents], pred)
        return {"f1": sc["f1"], "precision": sc["precision"], "recall": sc["recall"]}

    res = train(
        model,
        loader,
        tc,
        evaluate=evaluate if valid_sents else None,
        out_dir=run.path,
        resume=resume,
        steps_per_epoch=n_per_epoch,
        optimizer=opt,
    )
    ner.save(run.model_dir, asdict(cfg))
    metrics: dict = {
        "train_sentences": len(train_sents),
        "train_windows": len(ex_ids),
        "steps": res.steps,
        "epochs": round(res.steps / n_per_epoch, 2),
        "train_seconds": round(res.seconds, 1),
        "best_step": res.best_step or res.steps,
        "stopped_because": res.stopped_because,
    }
    return ner, metrics, res.history


def _finish_training(run, ner, valid_sents, metrics: dict, history: list) -> dict:
    if valid_sents:
        pred = ner.predict_tokens([s.tokens for s in valid_sents])
        metrics["dev"] = entity_scores([s.tags for s in valid_sents], pred)
        F.write_iob(run.path / "dev_predictions.tsv", [(s.tokens, p) for s, p in zip(valid_sents, pred)])
    run.write_metrics(metrics)
    run.write_json("history.json", history)
    report(run.path / "report.html", "NER training", metrics, history)
    return metrics
