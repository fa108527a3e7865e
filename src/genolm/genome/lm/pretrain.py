"""DNA language-model pretraining: model shapes, masking, genome windows, `genolm pretrain`."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from genolm.core.data import GenomeWindows, collate, tokenize_batch
from genolm.core.loading import ModelInfo, quiet_transformers, save_model
from genolm.core.models import ARCHS, GenolmConfig, GenolmForCausalLM, GenolmForMaskedLM
from genolm.core.report import Report, loss_curve_figure
from genolm.core.runs import RunDir, parse_duration, set_seed, staging_path
from genolm.core.tokenizers import build_dna_tokenizer
from genolm.core.train import TrainConfig, make_accelerator, train
from genolm.io.atomic import atomic_write_text
from genolm.io.errors import InputError, UsageError
from genolm.io.fasta import normalize, read_fasta

log = logging.getLogger("genolm")


@dataclass
class ModelShape:
    """Backbone hyper-parameters for a model trained from scratch."""

    arch: str = "cnn"  # best dev MCC per CPU-second on GUE prom_core_all (docs/benchmarks.md)
    hidden: int = 128
    layers: int = 6
    heads: int = 4
    conv_layers: int = 2
    kernel: int = 9
    dropout: float = 0.1
    pooling: str = "mean"  # mean | max | cls | bins (position-aware)

    def check(self) -> None:
        if self.arch not in ARCHS:
            raise UsageError(f"unknown --arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.pooling not in ("mean", "max", "cls", "bins"):
            raise UsageError(f"unknown --pooling {self.pooling!r}; use mean, max, cls or bins")
        if self.hidden % self.heads:
            raise UsageError(f"--hidden {self.hidden} must be divisible by --heads {self.heads}")

    def config(self, vocab_size: int, pad_id: int, **kw) -> GenolmConfig:
        self.check()
        return GenolmConfig(
            vocab_size=vocab_size,
            arch=self.arch,
            hidden_size=self.hidden,
            num_layers=self.layers,
            num_heads=self.heads,
            conv_layers=self.conv_layers,
            conv_kernel=self.kernel,
            dropout=self.dropout,
            pad_token_id=pad_id,
            pooling=self.pooling,
            **kw,
        )


def budget_of(max_steps, epochs, time_budget, default_time: str | None = None) -> dict:
    tb = parse_duration(time_budget)
    if not (max_steps or epochs or tb):
        tb = parse_duration(default_time) if default_time else None
    if max_steps is not None and max_steps <= 0:
        raise UsageError("--max-steps must be positive")
    return {"max_steps": max_steps, "epochs": epochs, "time_budget": tb}


# ---------------------------------------------------------------------------------------------------
# masking for MLM (deterministic given a torch.Generator)


def mask_tokens(
    ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    tokenizer,
    prob: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: ``prob`` of real tokens are targets; of those 80% [MASK], 10% random, 10% kept."""
    labels = ids.clone()
    special = torch.zeros_like(ids, dtype=torch.bool)
    for t in tokenizer.all_special_ids:
        special |= ids == t
    if attention_mask is not None:
        special |= attention_mask == 0
    r = torch.rand(ids.shape, generator=generator)
    target = (r < prob) & ~special
    labels[~target] = -100
    ids = ids.clone()
    r2 = torch.rand(ids.shape, generator=generator)
    ids[target & (r2 < 0.8)] = tokenizer.mask_token_id
    rand = target & (r2 >= 0.8) & (r2 < 0.9)
    n_special = len(tokenizer.all_special_ids)
    ids[rand] = torch.randint(n_special, len(tokenizer), ids.shape, generator=generator)[rand]
    return ids, labels


class _LMBatches:
    """Endless tokenised (and, for MLM, masked) batches of genome windows."""

    def __init__(
        self,
        windows: GenomeWindows,
        tokenizer,
        batch_size: int,
        objective: str,
        mask_prob: float,
        seed: int,
        max_length: int,
    ):
        self.windows, self.tok, self.bs = windows, tokenizer, batch_size
        self.objective, self.mask_prob, self.max_length = objective, mask_prob, max_length
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self):
        it = iter(self.windows)
        while True:
            seqs = [next(it) for _ in range(self.bs)]
            yield make_lm_batch(seqs, self.tok, self.objective, self.mask_prob, self.gen, self.max_length)


def make_lm_batch(seqs, tokenizer, objective, mask_prob, generator, max_length):
    batch = collate([{"input_ids": x} for x in tokenize_batch(tokenizer, seqs, max_length)], tokenizer.pad_token_id)
    if bool(batch["attention_mask"].all()):
        batch.pop("attention_mask")
    if objective == "mlm":
        batch["input_ids"], batch["labels"] = mask_tokens(
            batch["input_ids"], batch.get("attention_mask"), tokenizer, mask_prob, generator
        )
    else:
        batch["labels"] = batch["input_ids"].clone()
    return batch


def _lm_evaluator(valid_seqs, tokenizer, objective, mask_prob, max_length, batch_size=64):
    gen_seed = 1234

    def evaluate(model):
        g = torch.Generator().manual_seed(gen_seed)  # same masks every evaluation
        dev = next(model.parameters()).device
        tot, n, correct = 0.0, 0, 0
        for i in range(0, len(valid_seqs), batch_size):
            b = make_lm_batch(valid_seqs[i : i + batch_size], tokenizer, objective, mask_prob, g, max_length)
            b = {k: v.to(dev) for k, v in b.items()}
            labels = b.pop("labels")
            out = model(**b)
            logits = out.logits
            if objective == "clm":
                logits, labels = logits[:, :-1], labels[:, 1:]
                if "attention_mask" in b:
                    labels = labels.masked_fill(b["attention_mask"][:, 1:] == 0, -100)
            sel = labels != -100
            lp = torch.log_softmax(logits[sel].float(), -1)
            tot += float(-lp.gather(1, labels[sel][:, None]).sum())
            correct += int((lp.argmax(-1) == labels[sel]).sum())
            n += int(sel.sum())
        loss = tot / max(n, 1)
        return {"loss": loss, "perplexity": math.exp(min(loss, 50)), "token_accuracy": correct / max(n, 1)}

    return evaluate


def _split_genome(path: str, valid_fraction: float) -> tuple[dict, dict]:
    """Hold out the last ``valid_fraction`` of every contig's *unmasked* bases for validation (N blocks, e.g.
    a held-out test region, are not counted), so no validation window is ever trained on."""
    train, valid = {}, {}
    for name, seq in read_fasta(path):
        seq = normalize(seq)
        real = np.flatnonzero(np.frombuffer(seq.encode(), dtype=np.uint8) != ord("N"))
        if len(real) == 0:
            continue
        cut = int(real[min(len(real) - 1, int(len(real) * (1 - valid_fraction)))])
        train[name], valid[name] = seq[:cut], seq[cut:]
    return train, valid


def pretrain(
    genome: str,
    out: str,
    objective: str = "mlm",
    tokenizer: str = "base",
    shape: ModelShape | None = None,
    seq_len: int = 256,
    max_steps: int | None = None,
    time_budget: str | float | None = None,
    seed: int = 0,
    batch_size: int = 32,
    lr: float = 1e-3,
    mask_prob: float = 0.15,
    eval_every: int = 200,
    resume: bool = False,
    valid_fraction: float = 0.05,
    overwrite: bool = False,
    checkpoint_every: int | str = 500,
) -> dict:
    """Pretrain a DNA LM on random windows of ``genome`` (both strands; windows with N runs skipped)."""
    shape = shape or ModelShape()
    shape.check()
    if objective not in ("mlm", "clm"):
        raise UsageError(f"unknown --objective {objective!r}; use mlm or clm")
    if seq_len < 8:
        raise UsageError("--seq-len must be at least 8")
    budget = budget_of(max_steps, None, time_budget, default_time="10m")
    quiet_transformers()
    acc = make_accelerator()
    set_seed(seed)
    config = {
        "command": "pretrain",
        "genome": genome,
        "objective": objective,
        "tokenizer": tokenizer,
        **asdict(shape),
        "seq_len": seq_len,
        **budget,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "mask_prob": mask_prob,
        "eval_every": eval_every,
        "valid_fraction": valid_fraction,
    }
    train_part, valid_part = _split_genome(genome, valid_fraction)
    windows = GenomeWindows(train_part, seq_len, seed=seed, rank=acc.process_index)
    try:
        valid_windows = GenomeWindows(valid_part, seq_len, seed=seed + 1).sample(256, seed + 1)
    except InputError:  # genome too small or too fragmented for a separate validation stretch
        log.warning("no N-free validation stretch of %d bases; validating on training windows", seq_len)
        valid_windows = windows.sample(256, seed + 1)
    tok = build_dna_tokenizer(tokenizer, windows.sample(2000, seed + 2) if tokenizer.startswith("bpe") else None)
    max_length = seq_len + 2
    run = (
        RunDir(out, "pretrain", config, inputs=[genome], seed=seed, overwrite=overwrite, resume=resume)
        if acc.is_main_process
        else None
    )
    cls = GenolmForMaskedLM if objective == "mlm" else GenolmForCausalLM
    model = cls(shape.config(len(tok), tok.pad_token_id, causal=objective == "clm"))
    log.info(
        "pretraining %s %s (%.2fM parameters) on %d genome positions",
        shape.arch,
        objective,
        sum(p.numel() for p in model.parameters()) / 1e6,
        windows.n_positions,
    )
    cfg = TrainConfig(
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        eval_every=eval_every,
        patience=None,
        maximize=False,
        metric="loss",
        checkpoint_every=checkpoint_every,
        **budget,
    )
    loader = _LMBatches(windows, tok, batch_size, objective, mask_prob, seed + acc.process_index, max_length)
    res = train(
        model,
        loader,
        cfg,
        evaluate=_lm_evaluator(valid_windows, tok, objective, mask_prob, max_length),
        out_dir=run.path if run else staging_path(out),
        resume=resume,
        accelerator=acc,
    )
    final = res.history[-1] if res.history else {}
    metrics = {
        "objective": objective,
        "steps": res.steps,
        "seconds": res.seconds,
        "valid_loss": final.get("eval_loss"),
        "valid_perplexity": final.get("eval_perplexity"),
        "valid_token_accuracy": final.get("eval_token_accuracy"),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if run is not None:
        info = ModelInfo(
            task="masked-lm" if objective == "mlm" else "causal-lm",
            tokenizer=tokenizer,
            max_length=max_length,
            source="genolm pretrain",
        )
        save_model(acc.unwrap_model(model), tok, info, run.model_dir)
        run.write_metrics(metrics)
        write_history(run, res.history)
        rep = Report(f"genolm pretrain ({objective}, {shape.arch})", subtitle=str(genome))
        rep.metrics_table(metrics)
        rep.figure(loss_curve_figure(res.history), "training and validation loss")
        rep.write(run.path / "report.html")
        run.finish(steps=res.steps)
    return metrics


def write_history(run: RunDir, history: list[dict]) -> None:
    import json

    atomic_write_text(run.path / "history.jsonl", "".join(json.dumps(h) + "\n" for h in history))
