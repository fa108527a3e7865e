"""Batched inference shared by every domain: predictions, embeddings, LM log-probabilities.

Sequences are sorted by length inside the call so each batch pads as little as possible; results
come back in input order.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from genolm.core.data import collate, tokenize_batch
from genolm.core.progress import progress


def _device(model) -> torch.device:
    return next(model.parameters()).device


def batched(
    model,
    tokenizer,
    seqs: Sequence[str],
    fn: Callable[[object, dict], torch.Tensor],
    batch_size: int = 128,
    max_length: int | None = None,
    desc: str = "predict",
) -> np.ndarray:
    """Run ``fn(model, batch) -> (b, ...)`` over ``seqs`` in length-sorted batches; input order kept."""
    if len(seqs) == 0:
        return np.zeros((0,))
    ids = tokenize_batch(tokenizer, seqs, max_length)
    order = np.argsort([len(x) for x in ids], kind="stable")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    dev = _device(model)
    outs: list[np.ndarray] = [None] * len(seqs)  # type: ignore
    model.eval()
    use_amp = dev.type == "cuda" and torch.cuda.is_bf16_supported()
    with torch.inference_mode(), progress(total=len(seqs), desc=desc, unit="seq") as bar:
        for i in range(0, len(seqs), batch_size):
            idx = order[i : i + batch_size]
            batch = collate([{"input_ids": ids[j]} for j in idx], pad)
            if bool(batch["attention_mask"].all()):
                batch.pop("attention_mask")
            batch = {k: v.to(dev) for k, v in batch.items()}
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                res = fn(model, batch).float().cpu().numpy()
            for j, r in zip(idx, res):
                outs[j] = r
            bar.update(len(idx))
    return np.stack(outs)


def _logits(model, batch):
    return model(**batch).logits


def predict_logits(model, tokenizer, seqs, batch_size: int = 128, max_length: int | None = None) -> np.ndarray:
    return batched(model, tokenizer, seqs, _logits, batch_size, max_length)


def hidden_states(model, batch):
    """Last hidden state for genolm models and any HF model (base or with a head)."""
    out = model(**batch, output_hidden_states=True)
    h = getattr(out, "last_hidden_state", None)
    if h is None:
        h = out.hidden_states[-1]
    return h


def embed(
    model, tokenizer, seqs, pooling: str = "mean", batch_size: int = 128, max_length: int | None = None
) -> np.ndarray:
    """One vector per sequence: mean over real tokens (specials excluded), the CLS token, or max."""
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id

    def fn(m, batch):
        h = hidden_states(m, batch).float()
        ids = batch["input_ids"]
        keep = batch.get("attention_mask", torch.ones_like(ids)).bool()
        if pooling == "cls":
            return h[:, 0]
        for special in (cls_id, sep_id):
            if special is not None:
                keep = keep & (ids != special)
        k = keep[..., None].to(h.dtype)
        if pooling == "max":
            return h.masked_fill(k == 0, float("-inf")).max(1).values
        return (h * k).sum(1) / k.sum(1).clamp(min=1)

    if pooling not in ("mean", "cls", "max"):
        from genolm.io.errors import UsageError

        raise UsageError(f"unknown pooling {pooling!r}; use mean, cls or max")
    return batched(model, tokenizer, seqs, fn, batch_size, max_length, desc="embed")
