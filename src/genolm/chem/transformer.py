"""A small SMILES Transformer encoder for multi-task property prediction (torch).

Pre-norm encoder (``nn.TransformerEncoder``, SDPA attention) over regex SMILES tokens with learned positions;
the ``<cls>`` state and the mean of all token states feed one linear head with an output per task.
Missing labels are masked out of the loss. Training augments each epoch with randomised SMILES of the
same molecules (different atom orders), which matters a lot on data sets of a few thousand molecules;
prediction averages the canonical SMILES and a few randomised ones.

Saved HF-style: ``config.json`` + ``model.safetensors`` + ``tokenizer.json`` in one folder.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genolm.chem.featurize import canonical_smiles, random_smiles
from genolm.chem.tokenizer import SmilesTokenizer

log = logging.getLogger("genolm.chem")


@dataclass
class TransformerConfig:
    n_tasks: int = 1
    task: str = "classification"
    vocab_size: int = 64
    max_length: int = 128
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 256
    dropout: float = 0.1
    # training
    lr: float = 5e-4
    weight_decay: float = 0.01
    batch_size: int = 64
    epochs: int = 60
    max_steps: int | None = None
    patience: int = 12           # epochs without a better validation score before stopping
    augment: bool = True
    tta: int = 4                 # randomised SMILES averaged at prediction time (plus the canonical one)
    # target scaling for regression (filled in by training)
    y_mean: list = field(default_factory=list)
    y_std: list = field(default_factory=list)


def _build(cfg: TransformerConfig):
    import torch
    from torch import nn

    class SmilesEncoder(nn.Module):
        def __init__(self, c: TransformerConfig):
            super().__init__()
            self.tok = nn.Embedding(c.vocab_size, c.d_model, padding_idx=0)
            self.pos = nn.Embedding(c.max_length, c.d_model)
            layer = nn.TransformerEncoderLayer(c.d_model, c.n_heads, c.d_ff, c.dropout, batch_first=True,
                                               norm_first=True, activation="gelu")
            self.encoder = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(c.d_model)
            self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(2 * c.d_model, c.d_model), nn.GELU(),
                                      nn.Dropout(c.dropout), nn.Linear(c.d_model, c.n_tasks))

        def forward(self, ids, pad_mask):
            pos = torch.arange(ids.shape[1], device=ids.device)
            h = self.encoder(self.tok(ids) + self.pos(pos)[None], src_key_padding_mask=pad_mask)
            h = self.norm(h)
            keep = (~pad_mask).unsqueeze(-1).float()
            mean = (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            return self.head(torch.cat([h[:, 0], mean], dim=-1))

    return SmilesEncoder(cfg)


class SmilesTransformer:
    """fit / predict wrapper around the torch module; predictions are probabilities or values per task."""

    def __init__(self, config: TransformerConfig, tokenizer: SmilesTokenizer | None = None, module=None):
        self.config = config
        self.tokenizer = tokenizer
        self.module = module
        self.history: list[dict] = []

    # ---------------------------------------------------------------- training
    def fit(self, mols: list, Y: np.ndarray, valid_mols: list | None = None, valid_Y: np.ndarray | None = None,
            seed: int = 0, time_budget: float | None = None, score_fn=None) -> "SmilesTransformer":
        """Train on RDKit molecules and a (n, n_tasks) label matrix with NaN for missing labels.

        ``score_fn(Y_true, Y_pred) -> float`` (higher is better) picks the best epoch on the validation set.
        """
        import torch

        cfg = self.config
        started = time.monotonic()
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        canon = [canonical_smiles(m) for m in mols]
        self.tokenizer = SmilesTokenizer.fit(canon, max_length=cfg.max_length)
        cfg.vocab_size = len(self.tokenizer)
        Y = np.asarray(Y, dtype=np.float64)
        if cfg.task == "regression":
            cfg.y_mean = np.nanmean(Y, axis=0).tolist()
            cfg.y_std = np.where(np.nanstd(Y, axis=0) > 0, np.nanstd(Y, axis=0), 1.0).tolist()
            Yt = (Y - np.array(cfg.y_mean)) / np.array(cfg.y_std)
        else:
            Yt = Y
        mask = torch.tensor(~np.isnan(Yt), dtype=torch.bool)
        targets = torch.tensor(np.nan_to_num(Yt), dtype=torch.float32)
        if cfg.task == "classification":  # weight positives per task so rare assays still get signal
            pos = np.nansum(Y, axis=0)
            neg = np.sum(~np.isnan(Y), axis=0) - pos
            pos_weight = torch.tensor(np.clip(neg / np.maximum(pos, 1), 1.0, 10.0) ** 0.5, dtype=torch.float32)
        self.module = _build(cfg)
        opt = torch.optim.AdamW(self.module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = math.ceil(len(mols) / cfg.batch_size)
        total = cfg.epochs * steps_per_epoch
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        warmup = max(1, min(200, total // 10))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))))
        best, best_state, bad, step = -math.inf, None, 0, 0
        from genolm.core.progress import progress

        bar = progress(total=total, desc="transformer", unit="step")
        stop = False
        for epoch in range(cfg.epochs):
            self.module.train()
            order = rng.permutation(len(mols))
            for b in range(steps_per_epoch):
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                smi = [random_smiles(mols[i], rng) if cfg.augment else canon[i] for i in idx]
                ids, pad = self.tokenizer.batch(smi)
                out = self.module(ids, pad)
                m = mask[idx]
                t = targets[idx]
                if cfg.task == "classification":
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(out, t, reduction="none",
                                                                                pos_weight=pos_weight)
                else:
                    loss = torch.nn.functional.mse_loss(out, t, reduction="none")
                loss = (loss * m).sum() / m.sum().clamp(min=1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.module.parameters(), 1.0)
                opt.step()
                sched.step()
                step += 1
                bar.update(1)
                if (cfg.max_steps and step >= cfg.max_steps) or (
                        time_budget is not None and time.monotonic() - started > time_budget):
                    stop = True
                    break
            record = {"epoch": epoch + 1, "step": step, "loss": float(loss.detach())}
            if valid_mols is not None and score_fn is not None:
                # canonical SMILES only during training (cheap); TTA is used for final predictions
                score = float(score_fn(valid_Y, self.predict(valid_mols, tta=0)))
                record["valid_score"] = score
                if score > best:
                    best, bad = score, 0
                    best_state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
                else:
                    bad += 1
            self.history.append(record)
            log.info("transformer epoch %d step %d loss %.4f valid %s", epoch + 1, step, record["loss"],
                     record.get("valid_score"))
            if stop or bad >= cfg.patience:
                break
        bar.close()
        if best_state is not None:
            self.module.load_state_dict(best_state)
        self.module.eval()
        return self

    # ---------------------------------------------------------------- prediction
    def predict(self, mols: list, tta: int | None = None, seed: int = 0) -> np.ndarray:
        """(n, n_tasks) probabilities or values; rows for None molecules are NaN."""
        import torch

        cfg = self.config
        tta = cfg.tta if tta is None else tta
        rng = np.random.default_rng(seed)
        ok = [i for i, m in enumerate(mols) if m is not None]
        out = np.full((len(mols), cfg.n_tasks), np.nan)
        if not ok:
            return out
        was_training = self.module.training
        self.module.eval()
        acc = np.zeros((len(ok), cfg.n_tasks))
        with torch.no_grad():
            for view in range(tta + 1):
                smi = [canonical_smiles(mols[i]) if view == 0 else random_smiles(mols[i], rng) for i in ok]
                preds = []
                for b in range(0, len(smi), 256):
                    ids, pad = self.tokenizer.batch(smi[b:b + 256])
                    preds.append(self.module(ids, pad).float().numpy())
                p = np.concatenate(preds)
                acc += 1 / (1 + np.exp(-p)) if cfg.task == "classification" else p
        acc /= tta + 1
        if cfg.task == "regression":
            acc = acc * np.array(cfg.y_std) + np.array(cfg.y_mean)
        out[ok] = acc
        if was_training:
            self.module.train()
        return out

    # ---------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | os.PathLike) -> None:
        from safetensors.torch import save_file

        from genolm.io.atomic import atomic_path, atomic_write_text

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(d / "config.json", json.dumps({"model_type": "genolm-smiles-transformer",
                                                         **asdict(self.config)}, indent=1))
        with atomic_path(d / "model.safetensors") as tmp:
            save_file({k: v.contiguous() for k, v in self.module.state_dict().items()}, str(tmp))
        self.tokenizer.save(d)
        atomic_write_text(d / "history.json", json.dumps(self.history, indent=1))

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> "SmilesTransformer":
        from safetensors.torch import load_file

        d = Path(directory)
        data = json.loads((d / "config.json").read_text(encoding="utf-8"))
        data.pop("model_type", None)
        cfg = TransformerConfig(**data)
        module = _build(cfg)
        module.load_state_dict(load_file(str(d / "model.safetensors")))
        module.eval()
        return cls(cfg, SmilesTokenizer.load(d), module)
