"""A small causal language model of biomedical abstracts (GPT-2 architecture, byte-level BPE).

``train_textlm`` trains a byte-level BPE tokenizer (Hugging Face ``tokenizers``) and a few-layer
``GPT2LMHeadModel`` from scratch under a time budget, then saves both with ``save_pretrained`` into
``<out>/model``. Held-out documents (a fixed hash split of the ids, ``valid_fraction``) give perplexity
per token and bits per UTF-8 byte (comparable across tokenizers).

``TextLM`` loads a saved model (a run directory, a model folder or any local causal-LM folder) and
generates text, token by token, so that :mod:`genolm.serve.llm_server` can stream it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from genolm.io.errors import InputError, UsageError

log = logging.getLogger("genolm.literature.textlm")

EOS = "<|endoftext|>"
MARKER = "genolm_textlm.json"


@dataclass
class TextLMConfig:
    vocab_size: int = 4096
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 192
    block_size: int = 128
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100  # capped at a tenth of --max-steps
    valid_fraction: float = 0.05
    time_budget: float | None = 25 * 60  # seconds; the default run ends within 30 minutes on 2 CPUs
    max_steps: int | None = None
    epochs: float | None = None
    eval_every: int = 200
    seed: int = 0
    threads: int | None = None
    checkpoint_every: int = 0  # steps between resumable checkpoints (0 = none)


def is_heldout(key: str, fraction: float) -> bool:
    """Deterministic document-level split: a hash of the id, independent of file order."""
    h = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16)
    return (h % 10_000) < fraction * 10_000


def read_corpus(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(id, text) from JSONL (``id``/``pmid``, ``title``, ``text``), PubTator, or plain text (one doc per
    non-empty line). Bad lines raise InputError naming file and line."""
    from genolm.literature.formats import read_lines
    from genolm.literature.kg import is_pubtator, read_jsonl, read_pubtator

    path = str(path)
    if not Path(path).is_file():
        raise InputError("no such file", path)
    first = next((line for _, line in read_lines(path) if line.strip()), None)
    if first is None:
        raise InputError("empty corpus file", path)
    if first.lstrip().startswith("{"):
        return [(d.key, d.text) for d in read_jsonl(path)]
    if is_pubtator(path):
        return [(d.key, d.text) for d in read_pubtator(path)]
    return [(f"line{n}", line.strip()) for n, line in read_lines(path) if line.strip()]


def _train_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS)
    tok.model_max_length = 10**6
    return tok


def _encode_stream(tok, texts: list[str]):
    import numpy as np

    ids = tok(texts, add_special_tokens=False)["input_ids"]
    eos = tok.eos_token_id
    flat = np.fromiter((t for seq in ids for t in (*seq, eos)), dtype=np.int64)
    return flat


def evaluate_lm(model, tok, texts: list[str], block_size: int, batch_size: int = 16) -> dict:
    """Perplexity per token and bits per UTF-8 byte over ``texts`` (non-overlapping windows)."""
    import torch

    stream = _encode_stream(tok, texts)
    n_bytes = sum(len(t.encode("utf-8")) + 1 for t in texts)  # +1: the separator the EOS token stands for
    total_nll, total_tok = 0.0, 0
    model.eval()
    windows = [stream[i : i + block_size + 1] for i in range(0, len(stream) - 1, block_size)]
    with torch.inference_mode():
        for b in range(0, len(windows), batch_size):
            chunk = windows[b : b + batch_size]
            width = max(len(w) for w in chunk)
            x = torch.full((len(chunk), width), tok.eos_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.bool)
            for i, w in enumerate(chunk):
                x[i, : len(w)] = torch.as_tensor(w)
                mask[i, : len(w)] = True
            logits = model(input_ids=x[:, :-1]).logits
            nll = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1), reduction="none"
            ).view(len(chunk), -1)
            m = mask[:, 1:]
            total_nll += float(nll[m].sum())
            total_tok += int(m.sum())
    model.train()
    if total_tok == 0:
        return {"perplexity": float("nan"), "bits_per_byte": float("nan"), "tokens": 0}
    return {
        "perplexity": math.exp(total_nll / total_tok),
        "loss": total_nll / total_tok,
        "bits_per_byte": total_nll / math.log(2) / n_bytes,
        "tokens": total_tok,
        "bytes": n_bytes,
    }


class RandomWindows:
    """``n_batches`` batches of ``batch_size`` random windows of the token stream per pass (drawn from torch's
    global RNG, so :func:`genolm.core.train.train` replays them exactly on ``resume``)."""

    def __init__(self, stream, block_size: int, batch_size: int, n_batches: int):
        self.stream, self.block_size, self.batch_size, self.n = stream, block_size, batch_size, n_batches

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        import torch

        stream, L = self.stream, self.block_size
        width = min(L, len(stream))  # labels = inputs; the model shifts them
        for _ in range(self.n):
            starts = (
                torch.randint(0, len(stream) - L, (self.batch_size,))
                if len(stream) > L
                else torch.zeros(self.batch_size, dtype=torch.long)
            )
            batch = torch.stack([stream[s : s + width] for s in starts.tolist()])
            yield {"input_ids": batch, "labels": batch}


def train_textlm(
    corpus: str | os.PathLike,
    out: str | os.PathLike,
    config: TextLMConfig | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    **overrides,
) -> dict:
    """Train tokenizer + GPT-2-style LM on ``corpus``; writes a run directory; returns the metrics.

    ``overrides`` are :class:`TextLMConfig` fields (``time_budget`` in seconds or "25m", ``seed``,
    ``max_steps``...). Training runs in :func:`genolm.core.train.train` (warmup + cosine to a tenth of the
    learning rate); ``resume`` continues a killed run from its checkpoint (``checkpoint_every`` steps).
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from genolm.core.runs import RunDir, parse_duration, set_seed
    from genolm.core.train import TrainConfig, train

    cfg = config or TextLMConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise UsageError(f"unknown text LM option {k!r}")
        setattr(cfg, k, v)
    if isinstance(cfg.time_budget, str):
        cfg.time_budget = parse_duration(cfg.time_budget)
    _quiet_transformers()
    if cfg.n_embd % cfg.n_head:
        raise UsageError(f"n_embd ({cfg.n_embd}) must be divisible by n_head ({cfg.n_head})")
    if cfg.time_budget is None and cfg.max_steps is None and cfg.epochs is None:
        raise UsageError("give at least one of --time-budget, --max-steps or --epochs")
    docs = read_corpus(corpus)
    train_docs = [t for k, t in docs if not is_heldout(k, cfg.valid_fraction)]
    valid = [t for k, t in docs if is_heldout(k, cfg.valid_fraction)]
    if not train_docs:
        raise InputError("no training documents left after the held-out split", corpus)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = RunDir(
        out,
        command="lit textlm train",
        config={"corpus": str(corpus), **asdict(cfg)},
        inputs=[corpus],
        seed=cfg.seed,
        overwrite=overwrite,
        resume=resume,
    )
    with run:
        set_seed(cfg.seed)
        t_start = time.time()
        tok = _train_tokenizer(train_docs, cfg.vocab_size)
        stream = torch.as_tensor(_encode_stream(tok, train_docs))
        n_windows = max(1, (len(stream) - 1) // cfg.block_size)
        log.info(
            "corpus: %d train docs (%d tokens), %d held-out docs; vocab %d",
            len(train_docs),
            len(stream),
            len(valid),
            len(tok),
        )
        mconf = GPT2Config(
            vocab_size=len(tok),
            n_positions=cfg.block_size,
            n_embd=cfg.n_embd,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            bos_token_id=tok.eos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.eos_token_id,
        )
        torch.manual_seed(cfg.seed)
        model = GPT2LMHeadModel(mconf)
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr,
            betas=(0.9, 0.95),
        )
        steps_per_epoch = max(1, n_windows // cfg.batch_size)
        max_steps = cfg.max_steps
        if cfg.epochs is not None:
            e_steps = max(1, int(cfg.epochs * steps_per_epoch))
            max_steps = e_steps if max_steps is None else min(max_steps, e_steps)
        # the time budget covers tokenizer training and encoding too; training gets what is left
        budget = cfg.time_budget
        train_budget = max(1.0, budget - (time.time() - t_start)) if budget else None
        # warm-up ends after `warmup_steps` (at most a tenth of max_steps) or 5 % of the budget, whichever first
        warmup_steps = min(cfg.warmup_steps, max(1, max_steps // 10)) if max_steps else cfg.warmup_steps
        warmup = min(0.05, warmup_steps / max_steps) if max_steps else 0.05
        tc = TrainConfig(
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            batch_size=cfg.batch_size,
            max_steps=max_steps,
            time_budget=train_budget,
            warmup=warmup,
            min_lr_ratio=0.1,
            eval_every=0,
            patience=None,
            grad_clip=1.0,
            seed=cfg.seed,
            checkpoint_every=cfg.checkpoint_every or 0,
        )
        loader = RandomWindows(stream, cfg.block_size, cfg.batch_size, steps_per_epoch)
        res = train(model, loader, tc, out_dir=run.path, resume=resume, steps_per_epoch=steps_per_epoch, optimizer=opt)
        step = res.steps
        tokens_seen = step * cfg.batch_size * min(cfg.block_size, len(stream))
        curve = [
            {"step": h["step"], "loss": float(h["train_loss"]), "lr": h["lr"], "seconds": h["elapsed"]}
            for h in res.history
            if "train_loss" in h
        ]
        metrics = {
            "steps": step,
            "tokens_seen": tokens_seen,
            "epochs": round(tokens_seen / max(1, len(stream)), 3),
            "train_seconds": round(res.seconds, 1),
            "train_docs": len(train_docs),
            "heldout_docs": len(valid),
            "train_tokens": int(len(stream)),
            "vocab_size": len(tok),
            "parameters": sum(p.numel() for p in model.parameters()),
            "final_train_loss": curve[-1]["loss"] if curve else None,
        }
        model = model.cpu()
        if valid:
            ev = evaluate_lm(model, tok, valid, cfg.block_size, cfg.batch_size)
            metrics.update({f"heldout_{k}": v for k, v in ev.items()})
        model.eval()
        model.generation_config.pad_token_id = tok.eos_token_id
        run.model_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(run.model_dir, safe_serialization=True)
        tok.save_pretrained(run.model_dir)
        (run.model_dir / MARKER).write_text(
            json.dumps({"block_size": cfg.block_size, "valid_fraction": cfg.valid_fraction})
        )
        run.write_json("curve.json", curve)
        run.write_json("history.json", res.history)
        lm = TextLM(run.model_dir)
        samples = [
            {"prompt": p, "text": lm.generate(p, max_new_tokens=40, seed=cfg.seed)}
            for p in ("BRCA1 mutations", "The patients were treated with")
        ]
        run.write_json("samples.json", samples)
        metrics["total_seconds"] = round(time.time() - t_start, 1)
        run.write_metrics(metrics)
        _write_report(run.path / "report.html", metrics, res.history, samples)
        log.info("textlm: %d steps, held-out perplexity %.2f", step, metrics.get("heldout_perplexity", float("nan")))
    return metrics


def _write_report(path: Path, metrics: dict, history: list[dict], samples: list[dict]) -> None:
    from genolm.core.report import Report, loss_curve_figure

    r = Report("Text LM training")
    r.metrics_table(metrics)
    if any("train_loss" in h for h in history):
        r.figure(loss_curve_figure(history), "training loss (nats/token)")
    r.heading("Samples")
    for s in samples:
        r.text(s["text"])
    r.write(path)


def _quiet_transformers() -> None:
    from genolm.core.loading import quiet_transformers

    quiet_transformers()


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A text LM run directory -> its model/; a (causal-LM) Hugging Face folder -> itself."""
    from genolm.core.loading import find_model_dir

    return find_model_dir(path, "config.json", what="genolm run directory or Hugging Face model")


class TextLM:
    """A causal LM for generation and embeddings; thread-safe (one generation at a time)."""

    def __init__(self, path: str | os.PathLike):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        _quiet_transformers()

        self.path = resolve_model_dir(path)
        from genolm.core.loading import check_no_remote_code

        check_no_remote_code(self.path, trust_remote_code=False)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
            self.model = AutoModelForCausalLM.from_pretrained(
                str(self.path), use_safetensors=True if any(self.path.glob("*.safetensors")) else None
            ).eval()
        except (OSError, ValueError) as e:
            raise UsageError(f"--model {path}: cannot load a causal language model: {e}") from None
        if self.tokenizer.eos_token_id is None:
            raise UsageError(f"--model {path}: the tokenizer has no end-of-text token")
        self.max_positions = int(
            getattr(self.model.config, "n_positions", None)
            or getattr(self.model.config, "max_position_embeddings", 1024)
        )
        self.lock = threading.Lock()
        self._torch = torch

    @property
    def name(self) -> str:
        return self.path.parent.name if self.path.name == "model" else self.path.name

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(
        self,
        prompt: str,
        max_new_tokens: int = 64,
        temperature: float = 0.8,
        top_k: int = 50,
        top_p: float = 1.0,
        seed: int | None = 0,
        stop: list[str] | None = None,
        info: dict | None = None,
    ) -> Iterator[str]:
        """Yield text pieces as they are generated; ends at EOS, a stop string, or the token limit.

        ``info`` (a dict you pass) receives prompt_tokens, completion_tokens and finish_reason ("stop" or
        "length"); ``self.last`` holds the same for the latest call."""
        torch = self._torch
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"] or [self.tokenizer.eos_token_id]
        keep = max(1, self.max_positions - max(1, max_new_tokens))
        ids = ids[-keep:]
        self.last = info if info is not None else {}
        self.last.update({"prompt_tokens": len(ids), "completion_tokens": 0, "finish_reason": "length"})
        last = self.last
        gen = torch.Generator().manual_seed(seed if seed is not None else int(time.time()))
        out_ids: list[int] = []
        text_so_far = ""
        stop = [s for s in (stop or []) if s]
        from genolm.literature.search import single_thread

        # The lock is held for one forward pass at a time, never across a ``yield``: a streaming client that
        # stops reading (or drops) suspends only its own generator, and other requests keep being served.
        past = None
        inp = torch.tensor([ids])
        for _ in range(max_new_tokens):
            if len(ids) + len(out_ids) >= self.max_positions:
                break
            with self.lock, torch.inference_mode(), single_thread():
                res = self.model(input_ids=inp, past_key_values=past, use_cache=True)
                past = res.past_key_values
            logits = res.logits[0, -1].float()
            if temperature <= 0:
                nxt = int(torch.argmax(logits))
            else:
                logits = logits / temperature
                if top_k and top_k > 0:
                    kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = torch.softmax(logits, -1)
                if 0 < top_p < 1:
                    sp, si = torch.sort(probs, descending=True)
                    cut = torch.cumsum(sp, 0) - sp > top_p
                    sp[cut] = 0
                    probs = torch.zeros_like(probs).scatter(0, si, sp)
                    probs /= probs.sum()
                nxt = int(torch.multinomial(probs, 1, generator=gen))
            if nxt == self.tokenizer.eos_token_id:
                last["finish_reason"] = "stop"
                break
            out_ids.append(nxt)
            inp = torch.tensor([[nxt]])  # before any `continue`: the next pass reads this token
            last["completion_tokens"] = len(out_ids)
            text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
            if text.endswith("\ufffd"):
                continue  # an incomplete UTF-8 sequence: wait for the next byte token
            hit = min((text.find(s) for s in stop if s in text), default=-1)
            if hit >= 0:
                if hit > len(text_so_far):
                    yield text[len(text_so_far) : hit]
                last["finish_reason"] = "stop"
                return
            if len(text) > len(text_so_far):
                yield text[len(text_so_far) :]
                text_so_far = text

    def generate(self, prompt: str, max_new_tokens: int = 64, **kw) -> str:
        """Prompt + continuation."""
        return prompt + "".join(self.stream(prompt, max_new_tokens=max_new_tokens, **kw))

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Mean-pooled, L2-normalised last hidden states (one vector per text)."""
        torch = self._torch
        out = []
        from genolm.literature.search import single_thread

        with self.lock, torch.inference_mode(), single_thread():
            for t in texts:
                ids = self.tokenizer(t, add_special_tokens=False)["input_ids"][: self.max_positions] or [
                    self.tokenizer.eos_token_id
                ]
                h = self.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0]
                v = torch.nn.functional.normalize(h.mean(0), dim=-1)
                out.append([float(x) for x in v])
        return out


def generate_with(
    lm: TextLM, prompt: str, max_new_tokens: int = 64, temperature: float = 0.8, top_k: int = 50, seed: int = 0
) -> str:
    """What ``genolm lit generate`` prints (the same code path as the ``genolm.load`` predictor)."""
    if not prompt:
        raise UsageError("--prompt is empty")
    return lm.generate(prompt, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed)


def generate(
    model: str | os.PathLike,
    prompt: str,
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    top_k: int = 50,
    seed: int = 0,
) -> str:
    if not prompt:
        raise UsageError("--prompt is empty")
    return generate_with(
        TextLM(model), prompt, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed
    )
