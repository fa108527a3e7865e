"""A small SMILES Transformer encoder for multi-task property prediction (torch).

Pre-norm encoder (``nn.TransformerEncoder``, SDPA attention) over regex SMILES tokens with learned positions;
the ``<cls>`` state and the mean of all token states feed one linear head with an output per task.
Missing labels are masked out of the loss. Training augments each epoch with randomised SMILES of the
same molecules (different atom orders), which matters a lot on data sets of a few thousand molecules;
prediction averages the canonical SMILES and a few randomised ones.

Training runs through ``genolm.core.train.train`` (the one loop: budgets, warmup + cosine, early stopping on
the per-epoch validation score, checkpoints, resume) with this module's masked loss as its step function.

Saved HF-style: ``config.json`` + ``model.safetensors`` + ``tokenizer.json`` in one folder.
"""

from __future__ import annotations

import json
import logging
import math
import os
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
    patience: int = 12  # epochs without a better validation score before stopping
    augment: bool = True
    tta: int = 4  # randomised SMILES averaged at prediction time (plus the canonical one)
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
            layer = nn.TransformerEncoderLayer(
                c.d_model, c.n_heads, c.d_ff, c.dropout, batch_first=True, norm_first=True, activation="gelu"
            )
            self.encoder = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(c.d_model)
            self.head = nn.Sequential(
                nn.Dropout(c.dropout),
                nn.Linear(2 * c.d_model, c.d_model),
                nn.GELU(),
                nn.Dropout(c.dropout),
                nn.Linear(c.d_model, c.n_tasks),
            )

        def forward(self, ids, pad_mask):
            pos = torch.arange(ids.shape[1], device=ids.device)
            h = self.encoder(self.tok(ids) + self.pos(pos)[None], src_key_padding_mask=pad_mask)
            h = self.norm(h)
            keep = (~pad_mask).unsqueeze(-1).float()
            mean = (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            return self.head(torch.cat([h[:, 0], mean], dim=-1))

    return SmilesEncoder(cfg)


class EpochBatches:
    """The training data, one epoch per iteration: a shuffled order, randomised SMILES (``augment``) or the
    canonical ones, as dict batches for ``genolm.core.train.train``.

    Each epoch's shuffling and SMILES randomisation come from a numpy generator seeded from torch's RNG
    when the epoch starts, so the shared loop's resume (which restores that RNG state) replays the same
    batches."""

    def __init__(
        self,
        mols: list,
        canon: list[str],
        targets,
        mask,
        tokenizer: SmilesTokenizer,
        batch_size: int,
        augment: bool = True,
    ):
        self.mols, self.canon, self.targets, self.mask = mols, canon, targets, mask
        self.tokenizer, self.batch_size, self.augment = tokenizer, batch_size, augment

    def __len__(self) -> int:
        return math.ceil(len(self.mols) / self.batch_size)

    def __iter__(self):
        import torch

        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))
        order = rng.permutation(len(self.mols))
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            smi = [random_smiles(self.mols[i], rng) if self.augment else self.canon[i] for i in idx]
            ids, pad = self.tokenizer.batch(smi)
            yield {"ids": ids, "pad": pad, "targets": self.targets[idx], "mask": self.mask[idx]}


class SmilesTransformer:
    """fit / predict wrapper around the torch module; predictions are probabilities or values per task."""

    def __init__(self, config: TransformerConfig, tokenizer: SmilesTokenizer | None = None, module=None):
        self.config = config
        self.tokenizer = tokenizer
        self.module = module
        self.history: list[dict] = []

    # ---------------------------------------------------------------- training
    def fit(
        self,
        mols: list,
        Y: np.ndarray,
        valid_mols: list | None = None,
        valid_Y: np.ndarray | None = None,
        seed: int = 0,
        time_budget: float | None = None,
        score_fn=None,
        out_dir: str | os.PathLike | None = None,
        resume: bool = False,
        checkpoint_every: int = 0,
    ) -> "SmilesTransformer":
        """Train on RDKit molecules and a (n, n_tasks) label matrix with NaN for missing labels.

        The loop is ``genolm.core.train.train`` (budgets, warmup + cosine, clipping, early stopping,
        checkpoints in ``out_dir/checkpoint`` every ``checkpoint_every`` steps, ``resume``); this method
        supplies the data, the masked multi-task loss and the per-epoch validation score.
        ``score_fn(Y_true, Y_pred) -> float`` (higher is better) picks the best epoch on the validation set.
        """
        import torch

        from genolm.core.train import TrainConfig, train

        cfg = self.config
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
        pos_weight = None
        if cfg.task == "classification":  # weight positives per task so rare assays still get signal
            pos = np.nansum(Y, axis=0)
            neg = np.sum(~np.isnan(Y), axis=0) - pos
            pos_weight = torch.tensor(np.clip(neg / np.maximum(pos, 1), 1.0, 10.0) ** 0.5, dtype=torch.float32)
        self.module = _build(cfg)
        loader = EpochBatches(mols, canon, targets, mask, self.tokenizer, cfg.batch_size, cfg.augment)
        steps_per_epoch = len(loader)
        total = cfg.epochs * steps_per_epoch
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        warmup = max(1, min(200, total // 10))  # steps, as a fraction of the step budget below
        tcfg = TrainConfig(
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            batch_size=cfg.batch_size,
            max_steps=cfg.max_steps,
            epochs=cfg.epochs,
            time_budget=time_budget,
            warmup=warmup / max(total, 1),
            min_lr_ratio=0.05,
            eval_every=steps_per_epoch,
            patience=cfg.patience,
            grad_clip=1.0,
            seed=seed,
            checkpoint_every=checkpoint_every or 0,
            maximize=True,
            metric="valid_score",
        )
        state = {"step": 0, "loss": None}
        self.history = []

        def step_fn(module, batch):
            out = module(batch["ids"], batch["pad"])
            m, t = batch["mask"], batch["targets"]
            if cfg.task == "classification":
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    out.float(), t, reduction="none", pos_weight=pos_weight.to(out.device)
                )
            else:
                loss = torch.nn.functional.mse_loss(out.float(), t, reduction="none")
            loss = (loss * m).sum() / m.sum().clamp(min=1)
            state["step"] += 1
            state["loss"] = loss.detach()
            return loss

        def evaluate(module):
            # canonical SMILES only during training (cheap); TTA is used for final predictions
            score = float(score_fn(valid_Y, self.predict(valid_mols, tta=0)))
            step = state["step"]
            record = {
                "epoch": math.ceil(step / steps_per_epoch),
                "step": step,
                "loss": float(state["loss"]) if state["loss"] is not None else float("nan"),
                "valid_score": score,
            }
            self.history.append(record)
            log.info("transformer epoch %d step %d loss %.4f valid %.4f", record["epoch"], step, record["loss"], score)
            return {"valid_score": score}

        # the same AdamW as before the shared loop (weight decay on every parameter, default betas)
        optimizer = torch.optim.AdamW(self.module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        has_valid = valid_mols is not None and score_fn is not None
        result = train(
            self.module,
            loader,
            tcfg,
            evaluate=evaluate if has_valid else None,
            out_dir=out_dir,
            resume=resume,
            steps_per_epoch=steps_per_epoch,
            step_fn=step_fn,
            optimizer=optimizer,
        )
        if not has_valid:
            self.history = [
                {"epoch": math.ceil(h["step"] / steps_per_epoch), "step": h["step"], "loss": h["train_loss"]}
                for h in result.history
                if "train_loss" in h
            ]
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
        device = next(self.module.parameters()).device
        acc = np.zeros((len(ok), cfg.n_tasks))
        with torch.no_grad():
            for view in range(tta + 1):
                smi = [canonical_smiles(mols[i]) if view == 0 else random_smiles(mols[i], rng) for i in ok]
                preds = []
                for b in range(0, len(smi), 256):
                    ids, pad = self.tokenizer.batch(smi[b : b + 256])
                    preds.append(self.module(ids.to(device), pad.to(device)).float().cpu().numpy())
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
        atomic_write_text(
            d / "config.json", json.dumps({"model_type": "genolm-smiles-transformer", **asdict(self.config)}, indent=1)
        )
        with atomic_path(d / "model.safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}, str(tmp))
        self.tokenizer.save(d)
        atomic_write_text(d / "history.json", json.dumps(self.history, indent=1))

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> "SmilesTransformer":
        """Load ``config.json`` + ``model.safetensors`` + ``tokenizer.json`` (data only, never code)."""
        from safetensors.torch import load_file

        from genolm.io.errors import InputError

        d = Path(directory)
        try:
            data = json.loads((d / "config.json").read_text(encoding="utf-8"))
            data.pop("model_type", None)
            cfg = TransformerConfig(**data)
            module = _build(cfg)
            module.load_state_dict(load_file(str(d / "model.safetensors")))
            tokenizer = SmilesTokenizer.load(d)
        except FileNotFoundError as e:
            raise InputError("chem transformer member incomplete: file missing", e.filename or d) from None
        except Exception as e:  # corrupt JSON, a non-safetensors file, mismatched weights
            raise InputError(
                f"cannot load the chem transformer member ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''})",
                d,
            ) from None
        module.eval()
        return cls(cfg, tokenizer, module)
