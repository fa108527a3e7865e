"""DNA language models end to end: pretrain, fine-tune, evaluate, predict, embed.

Each function is one CLI command (`genolm pretrain` ...) and writes the run directory described in
ARCHITECTURE.md. The heavy lifting lives in genolm.core (tokenizers, models, train loop, metrics).
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from genolm.core import metrics as M
from genolm.core.data import GenomeWindows, TokenizedSequences, collate, tokenize_batch
from genolm.core.infer import embed as embed_seqs
from genolm.core.infer import predict_logits
from genolm.core.loading import ModelInfo, load_model, quiet_transformers, save_model
from genolm.core.models import ARCHS, GenolmConfig, GenolmForCausalLM, GenolmForMaskedLM, \
    GenolmForSequenceClassification
from genolm.core.report import Report, confusion_figure, loss_curve_figure, roc_pr_figure, scatter_figure
from genolm.core.runs import RunDir, parse_duration, set_seed, staging_path
from genolm.core.tokenizers import build_dna_tokenizer
from genolm.core.train import TrainConfig, make_accelerator, train
from genolm.io.atomic import atomic_path, atomic_write_text
from genolm.io.errors import InputError, UsageError
from genolm.io.fasta import normalize, read_fasta
from genolm.io.tables import read_labelled, read_sequences

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
        return GenolmConfig(vocab_size=vocab_size, arch=self.arch, hidden_size=self.hidden, num_layers=self.layers,
                            num_heads=self.heads, conv_layers=self.conv_layers, conv_kernel=self.kernel,
                            dropout=self.dropout, pad_token_id=pad_id, pooling=self.pooling, **kw)


def _budget(max_steps, epochs, time_budget, default_time: str | None = None) -> dict:
    tb = parse_duration(time_budget)
    if not (max_steps or epochs or tb):
        tb = parse_duration(default_time) if default_time else None
    if max_steps is not None and max_steps <= 0:
        raise UsageError("--max-steps must be positive")
    return {"max_steps": max_steps, "epochs": epochs, "time_budget": tb}


# ---------------------------------------------------------------------------------------------------
# masking for MLM (deterministic given a torch.Generator)

def mask_tokens(ids: torch.Tensor, attention_mask: torch.Tensor | None, tokenizer, prob: float,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
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

    def __init__(self, windows: GenomeWindows, tokenizer, batch_size: int, objective: str, mask_prob: float,
                 seed: int, max_length: int):
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
        batch["input_ids"], batch["labels"] = mask_tokens(batch["input_ids"], batch.get("attention_mask"),
                                                          tokenizer, mask_prob, generator)
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
            b = make_lm_batch(valid_seqs[i:i + batch_size], tokenizer, objective, mask_prob, g, max_length)
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


def pretrain(genome: str, out: str, objective: str = "mlm", tokenizer: str = "base", shape: ModelShape | None = None,
             seq_len: int = 256, max_steps: int | None = None, time_budget: str | float | None = None,
             seed: int = 0, batch_size: int = 32, lr: float = 1e-3, mask_prob: float = 0.15,
             eval_every: int = 200, resume: bool = False, valid_fraction: float = 0.05, overwrite: bool = False,
             checkpoint_every: int | str = 500) -> dict:
    """Pretrain a DNA LM on random windows of ``genome`` (both strands; windows with N runs skipped)."""
    shape = shape or ModelShape()
    shape.check()
    if objective not in ("mlm", "clm"):
        raise UsageError(f"unknown --objective {objective!r}; use mlm or clm")
    if seq_len < 8:
        raise UsageError("--seq-len must be at least 8")
    budget = _budget(max_steps, None, time_budget, default_time="10m")
    quiet_transformers()
    acc = make_accelerator()
    set_seed(seed)
    config = {"command": "pretrain", "genome": genome, "objective": objective, "tokenizer": tokenizer,
              **asdict(shape), "seq_len": seq_len, **budget, "seed": seed, "batch_size": batch_size, "lr": lr,
              "mask_prob": mask_prob, "eval_every": eval_every, "valid_fraction": valid_fraction}
    train_part, valid_part = _split_genome(genome, valid_fraction)
    windows = GenomeWindows(train_part, seq_len, seed=seed, rank=acc.process_index)
    try:
        valid_windows = GenomeWindows(valid_part, seq_len, seed=seed + 1).sample(256, seed + 1)
    except InputError:  # genome too small or too fragmented for a separate validation stretch
        log.warning("no N-free validation stretch of %d bases; validating on training windows", seq_len)
        valid_windows = windows.sample(256, seed + 1)
    tok = build_dna_tokenizer(tokenizer, windows.sample(2000, seed + 2) if tokenizer.startswith("bpe") else None)
    max_length = seq_len + 2
    run = RunDir(out, "pretrain", config, inputs=[genome], seed=seed, overwrite=overwrite,
                 resume=resume) if acc.is_main_process else None
    cls = GenolmForMaskedLM if objective == "mlm" else GenolmForCausalLM
    model = cls(shape.config(len(tok), tok.pad_token_id, causal=objective == "clm"))
    log.info("pretraining %s %s (%.2fM parameters) on %d genome positions", shape.arch, objective,
             sum(p.numel() for p in model.parameters()) / 1e6, windows.n_positions)
    cfg = TrainConfig(lr=lr, batch_size=batch_size, seed=seed, eval_every=eval_every, patience=None, maximize=False,
                      metric="loss", checkpoint_every=checkpoint_every, **budget)
    loader = _LMBatches(windows, tok, batch_size, objective, mask_prob, seed + acc.process_index, max_length)
    res = train(model, loader, cfg, evaluate=_lm_evaluator(valid_windows, tok, objective, mask_prob, max_length),
                out_dir=run.path if run else staging_path(out), resume=resume, accelerator=acc)
    final = res.history[-1] if res.history else {}
    metrics = {"objective": objective, "steps": res.steps, "seconds": res.seconds,
               "valid_loss": final.get("eval_loss"), "valid_perplexity": final.get("eval_perplexity"),
               "valid_token_accuracy": final.get("eval_token_accuracy"),
               "parameters": sum(p.numel() for p in model.parameters())}
    if run is not None:
        info = ModelInfo(task="masked-lm" if objective == "mlm" else "causal-lm", tokenizer=tokenizer,
                         max_length=max_length, source="genolm pretrain")
        save_model(acc.unwrap_model(model), tok, info, run.model_dir)
        run.write_metrics(metrics)
        _write_history(run, res.history)
        rep = Report(f"genolm pretrain ({objective}, {shape.arch})", subtitle=str(genome))
        rep.metrics_table(metrics)
        rep.figure(loss_curve_figure(res.history), "training and validation loss")
        rep.write(run.path / "report.html")
        run.finish(steps=res.steps)
    return metrics


def _write_history(run: RunDir, history: list[dict]) -> None:
    import json

    atomic_write_text(run.path / "history.jsonl", "".join(json.dumps(h) + "\n" for h in history))


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
    ints = all(float(v).is_integer() for v in vals) if all(isinstance(v, (int, float, np.number)) for v in vals) else True
    return "classification" if ints and len(set(vals)) <= 50 else "regression"


def encode_labels(labels, label_names: list) -> list[int]:
    index = {str(n): i for i, n in enumerate(label_names)}
    return [index[str(v)] for v in labels]


def _label_names(train_labels, valid_labels) -> list:
    names = sorted({str(v) for v in train_labels} | {str(v) for v in valid_labels},
                   key=lambda s: (0, float(s)) if _is_number(s) else (1, s))
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


def finetune(train_csv: str, valid_csv: str | None, out: str, model: str | None = None, task: str | None = None,
             tokenizer: str = "base", shape: ModelShape | None = None, epochs: float | None = None,
             max_steps: int | None = None, time_budget: str | float | None = None, seed: int = 0,
             batch_size: int = 64, lr: float | None = None, patience: int = 6, eval_every: int | None = None,
             label_column: str = "label", metric: str | None = None, resume: bool = False,
             weight_decay: float = 0.05, overwrite: bool = False, checkpoint_every: int | str = 500,
             sequence_column: str = "sequence", trust_remote_code: bool = False,
             valid_fraction: float = 0.1) -> dict:
    """Fine-tune ``model`` (a genolm run/model folder, any local HF folder or ``hf:`` hub id) or train from
    scratch on a `sequence,label` table; early-stops on the validation set (without ``valid_csv``, a
    seeded ``valid_fraction`` of the training rows is held out)."""
    shape = shape or ModelShape(pooling="bins", dropout=0.3)  # best dev MCC on GUE prom_core_all
    shape.check()
    budget = _budget(max_steps, epochs, time_budget, default_time="20m")
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
            raise InputError(f"column {label_column!r}: classification needs at least two label values in the "
                             f"training table, found only {present}", train_csv)
    else:
        y = np.asarray(tr_labels, dtype=float)
        info.target_mean, info.target_std = float(y.mean()), float(y.std() or 1.0)
        y_tr = [float((v - info.target_mean) / info.target_std) for v in tr_labels]
        y_va = [float((v - info.target_mean) / info.target_std) for v in va_labels]
        num_labels = 1
    longest = max(len(s) for s in tr_seqs + va_seqs)
    info.extra["window"] = longest  # training sequence length: the natural window for `genolm scan`
    if model:
        net, tok, base_info = load_model(model, task=task, num_labels=num_labels, device="cpu",
                                         trust_remote_code=trust_remote_code)
        info.tokenizer = base_info.tokenizer if base_info and base_info.tokenizer else "from model"
        net.train()
        lr = lr or 3e-4
    else:
        tok = build_dna_tokenizer(tokenizer, tr_seqs[:20000] if tokenizer.startswith("bpe") else None)
        cfg = shape.config(len(tok), tok.pad_token_id, num_labels=num_labels,
                           problem_type="regression" if task == "regression" else "single_label_classification")
        if task == "classification":
            cfg.id2label = {i: str(n) for i, n in enumerate(info.label_names)}
            cfg.label2id = {str(n): i for i, n in enumerate(info.label_names)}
        net = GenolmForSequenceClassification(cfg)
        lr = lr or 1e-3
    info.max_length = getattr(tok, "model_max_length", None)
    if not info.max_length or info.max_length > 100_000:
        info.max_length = None
    metric = metric or ("mcc" if task == "classification" else "neg_mse")
    config = {"command": "finetune", "train": train_csv, "valid": valid_csv, "model": model, "task": task,
              "tokenizer": tokenizer, **({} if model else asdict(shape)), **budget, "seed": seed,
              "batch_size": batch_size, "lr": lr, "patience": patience, "label_column": label_column,
              "selection_metric": metric, "weight_decay": weight_decay}
    run = RunDir(out, "finetune", config, inputs=[train_csv, valid_csv], seed=seed, overwrite=overwrite,
                 resume=resume) if acc.is_main_process else None
    ds = TokenizedSequences(tok, tr_seqs, y_tr, max_length=info.max_length)
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, generator=g, drop_last=len(ds) > batch_size,
                        collate_fn=lambda b: collate(b, tok.pad_token_id))
    loader = acc.prepare_data_loader(loader) if acc.num_processes > 1 else loader
    steps_per_epoch = len(loader)
    if eval_every is None:
        eval_every = max(25, min(500, steps_per_epoch // 2))
    tcfg = TrainConfig(lr=lr, batch_size=batch_size, seed=seed, eval_every=eval_every, patience=patience,
                       metric=metric, maximize=True, weight_decay=weight_decay, checkpoint_every=checkpoint_every,
                       **budget)
    log.info("fine-tuning %s on %d sequences (<= %d bp), %d validation; %.2fM parameters; %d process(es) on %s",
             task, len(ds), longest, len(va_seqs), sum(p.numel() for p in net.parameters()) / 1e6,
             acc.num_processes, acc.device)
    res = train(net, loader, tcfg, evaluate=_seq_evaluator(va_seqs, y_va, task, tok, info),
                out_dir=run.path if run else staging_path(out),
                resume=resume, steps_per_epoch=steps_per_epoch, accelerator=acc)
    net = acc.unwrap_model(net)
    if run is None:
        return {}
    save_model(net, tok, info, run.model_dir)
    # final validation metrics and predictions from the kept (best) weights
    scores = predict_table(net, tok, info, va_seqs)
    metrics = _metrics_from_predictions(info, va_labels, scores)
    metrics.update({"steps": res.steps, "seconds": res.seconds, "best_step": res.best_step,
                    "world_size": acc.num_processes, "device": str(acc.device),
                    "stopped_because": res.stopped_because,
                    "parameters": sum(p.numel() for p in net.parameters())})
    run.write_metrics({"valid": metrics})
    _write_history(run, res.history)
    _write_predictions(run.path / "predictions_valid.csv", [str(i) for i in range(len(va_seqs))], scores, info)
    write_report(run.path / "report.html", f"genolm finetune ({task})", metrics, res.history, info, va_labels,
                 scores, subtitle=f"train {train_csv}; valid {valid_csv}")
    run.finish(steps=res.steps)
    return {"valid": metrics}


# ---------------------------------------------------------------------------------------------------
# evaluation / prediction / embedding

def predict_table(model, tok, info: ModelInfo, seqs: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """(n, n_classes) probabilities, or (n,) values on the original regression scale."""
    logits = predict_logits(model, tok, seqs, batch_size, info.max_length)
    if info.task == "classification":
        return torch.softmax(torch.from_numpy(logits), -1).numpy()
    if info.task == "regression":
        return logits.reshape(len(seqs), -1)[:, 0] * info.target_std + info.target_mean
    raise InputError(f"model was trained for {info.task!r}, not classification or regression; fine-tune it first")


def _metrics_from_predictions(info: ModelInfo, labels, scores) -> dict:
    if info.task == "classification":
        unknown = sorted({str(v) for v in labels} - set(map(str, info.label_names)))
        if unknown:
            raise InputError(f"labels {unknown[:5]} were not seen in training (model labels: {info.label_names})")
        return M.classification_metrics(encode_labels(labels, info.label_names), scores)
    return M.regression_metrics(np.asarray(labels, dtype=float), scores)


def predictions_frame(ids, scores, info: ModelInfo):
    """The `genolm predict` table: id, prediction, score (binary/regression) or score_<label> per class."""
    import pandas as pd

    df = pd.DataFrame({"id": list(ids)})
    if info.task == "classification":
        names = [str(n) for n in info.label_names]
        df["prediction"] = [names[i] for i in scores.argmax(1)]
        if len(names) == 2:
            df["score"] = scores[:, 1]
        else:
            for i, n in enumerate(names):
                df[f"score_{n}"] = scores[:, i]
    else:
        df["prediction"] = scores
        df["score"] = scores
    return df


def predict_frame(net, tok, info: ModelInfo, ids, seqs, batch_size: int = 256):
    return predictions_frame(ids, predict_table(net, tok, info, seqs, batch_size), info)


def _write_predictions(path, ids, scores, info: ModelInfo) -> None:
    write_predictions(path, predictions_frame(ids, scores, info))


def write_predictions(path, df) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def write_report(path, title, metrics, history, info, labels, scores, subtitle=""):
    rep = Report(title, subtitle)
    rep.metrics_table({k: v for k, v in metrics.items() if not isinstance(v, (list, dict))})
    if history:
        rep.figure(loss_curve_figure(history), "loss curves (validation loss at each evaluation)")
    if info.task == "classification":
        y = np.asarray(encode_labels(labels, info.label_names))
        if len(info.label_names) == 2 and len(set(y.tolist())) == 2:
            rep.figure(roc_pr_figure(y, scores[:, 1]), "ROC and precision-recall curves (validation)")
        rep.figure(confusion_figure(y, scores.argmax(1), [str(n) for n in info.label_names]), "confusion matrix")
    else:
        rep.figure(scatter_figure(np.asarray(labels, float), scores), "predicted vs measured")
    rep.write(path)


def evaluate(model: str, data: str, out: str, label_column: str = "label", batch_size: int = 256,
             report: str | None = None, sequence_column: str = "sequence", trust_remote_code: bool = False) -> dict:
    net, tok, info = load_model(model, trust_remote_code=trust_remote_code)
    seqs, labels = read_labelled(data, label_column, sequence_column)
    scores = predict_table(net, tok, info, seqs, batch_size)
    metrics = _metrics_from_predictions(info, labels, scores)
    import json

    atomic_write_text(out, json.dumps(metrics, indent=2))
    if report:
        write_report(report, "genolm evaluate", metrics, [], info, labels, scores, subtitle=f"{model} on {data}")
    return metrics


def predict(model: str, input: str, out: str, batch_size: int = 256, sequence_column: str = "sequence",
            trust_remote_code: bool = False) -> int:
    net, tok, info = load_model(model, trust_remote_code=trust_remote_code)
    ids, seqs = read_sequences(input, column=sequence_column)
    write_predictions(out, predict_frame(net, tok, info, ids, seqs, batch_size))
    return len(ids)


def embeddings_frame(net, tok, info: ModelInfo, ids, seqs, pooling: str = "mean", batch_size: int = 128):
    """id + one float32 column per dimension (`genolm embed`'s Parquet table)."""
    import pandas as pd

    vecs = embed_seqs(net, tok, seqs, pooling=pooling, batch_size=batch_size, max_length=info.max_length)
    df = pd.DataFrame(vecs.astype(np.float32), columns=[f"e{i}" for i in range(vecs.shape[1])])
    df.insert(0, "id", list(ids))
    return df


def embed(model: str, input: str, out: str, pooling: str = "mean", batch_size: int = 128,
          sequence_column: str = "sequence", trust_remote_code: bool = False) -> tuple[int, int]:
    net, tok, info = load_model(model, task="base", trust_remote_code=trust_remote_code)
    ids, seqs = read_sequences(input, column=sequence_column)
    df = embeddings_frame(net, tok, info, ids, seqs, pooling, batch_size)
    vecs = df.iloc[:, 1:].to_numpy()
    with atomic_path(out) as tmp:
        df.to_parquet(tmp, index=False)
    return vecs.shape
