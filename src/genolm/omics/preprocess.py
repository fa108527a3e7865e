"""Expression preprocessing and dimensionality reduction, fitted on training samples only.

Preprocessing (in order): clip to [floor, ceiling] -> log2 -> keep the most variable genes ->
centre each sample (optional; removes per-array brightness differences between batches) ->
standardise each gene. Reduction: none, ``pca:K`` (scikit-learn) or ``autoencoder:K`` (torch).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genolm.io.errors import UsageError


@dataclass
class PreprocessConfig:
    log: str = "auto"  # auto | log2 | none. auto: log2 when values look unlogged (max > 100)
    floor: str = "auto"  # number, or auto when logging: the median training value (at least 1);
    # on arrays, values below the median are mostly noise (Golub: 127)
    ceiling: float | None = None
    top_genes: int = 2000  # keep the N most variable genes (0 = all)
    sample_center: bool = True  # subtract each sample's mean over the kept genes
    scale: bool = True  # standardise each gene with training mean/sd


class Preprocessor:
    """fit/transform over a samples x genes array (numpy)."""

    def __init__(self, config: PreprocessConfig):
        self.config = config
        self.use_log = False
        self.floor_value: float | None = None
        self.keep: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def _log(self, X: np.ndarray) -> np.ndarray:
        if self.floor_value is not None or self.config.ceiling is not None:
            X = np.clip(X, self.floor_value, self.config.ceiling)
        if self.use_log:
            X = np.log2(np.maximum(X, 1e-6))
        return X

    def fit(self, X: np.ndarray) -> "Preprocessor":
        c = self.config
        self.use_log = c.log == "log2" or (c.log == "auto" and float(np.max(X)) > 100)
        if c.floor == "auto":
            self.floor_value = max(1.0, float(np.median(X))) if self.use_log else None
        else:
            self.floor_value = float(c.floor)
        L = self._log(X)
        var = L.var(axis=0)
        if c.top_genes and c.top_genes < L.shape[1]:
            # stable sort so ties resolve by gene order: deterministic across runs
            keep = np.sort(np.argsort(-var, kind="stable")[: c.top_genes])
        else:
            keep = np.arange(L.shape[1])
        self.keep = keep
        L = self._center(L[:, keep])
        self.mean = L.mean(axis=0)
        sd = L.std(axis=0)
        self.std = np.where(sd > 1e-8, sd, 1.0)
        return self

    def _center(self, L: np.ndarray) -> np.ndarray:
        return L - L.mean(axis=1, keepdims=True) if self.config.sample_center else L

    def transform(self, X: np.ndarray) -> np.ndarray:
        L = self._center(self._log(X)[:, self.keep])
        if self.config.scale:
            L = (L - self.mean) / self.std
        return L

    def log_values(self, X: np.ndarray) -> np.ndarray:
        """Clipped/logged values of all genes (for marker statistics)."""
        return self._log(X)

    def state(self) -> dict:
        return {"config": asdict(self.config), "use_log": self.use_log, "floor_value": self.floor_value}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"keep": self.keep.astype(np.int64), "mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, state: dict, arrays: dict[str, np.ndarray]) -> "Preprocessor":
        p = cls(PreprocessConfig(**state["config"]))
        p.use_log, p.floor_value = state["use_log"], state["floor_value"]
        p.keep, p.mean, p.std = arrays["keep"], arrays["mean"], arrays["std"]
        return p


def parse_reduce(spec: str | None) -> tuple[str, int]:
    """'none' | 'pca:K' | 'autoencoder:K' -> (kind, K)."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return "none", 0
    m = re.fullmatch(r"\s*(pca|autoencoder|ae)\s*(?::\s*(\d+))?\s*", spec.lower())
    if not m:
        raise UsageError(f"unknown --reduce {spec!r}; use none, pca:K or autoencoder:K")
    kind = "autoencoder" if m.group(1) in ("autoencoder", "ae") else "pca"
    k = int(m.group(2) or (10 if kind == "pca" else 16))
    if k < 1:
        raise UsageError(f"--reduce {spec!r}: K must be at least 1")
    return kind, k


class AutoencoderReducer:
    """A small torch autoencoder (genes -> hidden -> K -> hidden -> genes); the K-dim code is the reduction."""

    def __init__(
        self, k: int, hidden: int = 256, epochs: int = 300, lr: float = 1e-3, seed: int = 0, weight_decay: float = 1e-4
    ):
        self.k, self.hidden, self.epochs, self.lr = k, hidden, epochs, lr
        self.seed, self.weight_decay = seed, weight_decay
        self.model = None
        self.n_in = 0
        self.final_loss = float("nan")

    def _build(self, n_in: int):
        import torch.nn as nn

        h = self.hidden
        encoder = nn.Sequential(nn.Linear(n_in, h), nn.GELU(), nn.Linear(h, self.k))
        decoder = nn.Sequential(nn.Linear(self.k, h), nn.GELU(), nn.Linear(h, n_in))
        return nn.ModuleDict({"encoder": encoder, "decoder": decoder})

    def fit(
        self,
        X: np.ndarray,
        time_budget: float | None = None,
        out_dir: str | Path | None = None,
        resume: bool = False,
        checkpoint_every: int = 0,
    ) -> "AutoencoderReducer":
        """Train through :func:`genolm.core.train.train` (``epochs`` passes; ``time_budget`` seconds at most).

        ``out_dir``/``checkpoint_every``/``resume``: checkpoints in ``out_dir/checkpoint`` (the final fit of
        a run; cross-validation folds train without them).
        """
        import torch

        threads = torch.get_num_threads()
        # a model this small gains nothing from threads, and on a shared CPU they spin-wait (50x slower)
        torch.set_num_threads(1)
        try:
            return self._fit(X, time_budget, out_dir, resume, checkpoint_every)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, X: np.ndarray, time_budget, out_dir, resume, checkpoint_every) -> "AutoencoderReducer":
        import torch

        from genolm.core.train import TrainConfig, train

        torch.manual_seed(self.seed)
        self.n_in = X.shape[1]
        self.model = self._build(self.n_in)
        # the optimiser and schedule this reducer always used: plain AdamW, constant learning rate, no clipping
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loader = _DenoisingBatches(torch.as_tensor(X, dtype=torch.float32), min(64, len(X)), self.seed)
        cfg = TrainConfig(
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=loader.batch,
            epochs=self.epochs,
            time_budget=time_budget,
            warmup=0.0,
            min_lr_ratio=1.0,
            grad_clip=0.0,
            eval_every=0,
            patience=None,
            seed=self.seed,
            checkpoint_every=checkpoint_every if out_dir else 0,
        )
        last = {}

        def step(model, batch):
            loss = torch.nn.functional.mse_loss(model["decoder"](model["encoder"](batch["noisy"])), batch["x"])
            last["loss"] = loss
            return loss

        train(
            self.model,
            loader,
            cfg,
            out_dir=out_dir,
            resume=resume,
            steps_per_epoch=len(loader),
            step_fn=step,
            optimizer=opt,
        )
        if "loss" in last:
            self.final_loss = float(last["loss"].detach())
        self.model.eval()
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model["encoder"](torch.as_tensor(X, dtype=torch.float32)).numpy().astype(np.float64)

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in self.model.state_dict().items()}, str(directory / "autoencoder.safetensors")
        )
        (directory / "autoencoder.json").write_text(
            json.dumps({"k": self.k, "hidden": self.hidden, "n_in": self.n_in, "epochs": self.epochs, "lr": self.lr})
        )

    @classmethod
    def load(cls, directory: Path) -> "AutoencoderReducer":
        from safetensors.torch import load_file

        cfg = json.loads((directory / "autoencoder.json").read_text())
        r = cls(cfg["k"], hidden=cfg["hidden"], epochs=cfg["epochs"], lr=cfg["lr"])
        r.n_in = cfg["n_in"]
        r.model = r._build(r.n_in)
        r.model.load_state_dict(load_file(str(directory / "autoencoder.safetensors")))
        r.model.eval()
        return r


class _DenoisingBatches:
    """Shuffled mini-batches ``{"x": clean, "noisy": x + 0.1 * N(0, 1)}`` drawn from one seeded generator.

    Re-iterating gives the next epoch; the draws (permutation, then each batch's noise) are those of the
    loop this reducer used before it trained through core.train, so the same seed gives the same code.
    """

    def __init__(self, x, batch: int, seed: int):
        import torch

        self.x, self.batch = x, batch
        self.g = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch)

    def __iter__(self):
        import torch

        order = torch.randperm(len(self.x), generator=self.g)
        for i in range(0, len(self.x), self.batch):
            xb = self.x[order[i : i + self.batch]]
            yield {"x": xb, "noisy": xb + 0.1 * torch.randn(xb.shape, generator=self.g)}
