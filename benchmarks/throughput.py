"""Training and inference throughput: genolm's Transformer vs Hugging Face BERT of the same size.

Same layers, width, heads, intermediate size, sequence length, batch and vocabulary; same device and
threads; fp32 on CPU (bf16 autocast on GPU for both). Timed in one run, interleaved (A B A B ...) so
machine-load drift hits both equally. Prints tokens/s per case and, as the last line, the geometric
mean of the four genolm/HF ratios (MLM train, MLM inference, classification train, classification
inference): `ratio X`.

    python benchmarks/throughput.py [--layers 4 --hidden 256 --heads 4 --seq-len 256 --batch 16 --repeats 5]
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import torch


def build(kind: str, task: str, a):
    if kind == "genolm":
        from genolm.core.models import GenolmConfig, GenolmForMaskedLM, GenolmForSequenceClassification

        cfg = GenolmConfig(
            vocab_size=a.vocab,
            arch="transformer",
            hidden_size=a.hidden,
            num_layers=a.layers,
            num_heads=a.heads,
            intermediate_size=4 * a.hidden,
            num_labels=2,
            dropout=0.1,
        )
        return (GenolmForMaskedLM if task == "mlm" else GenolmForSequenceClassification)(cfg)
    from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification

    cfg = BertConfig(
        vocab_size=a.vocab,
        hidden_size=a.hidden,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        intermediate_size=4 * a.hidden,
        max_position_embeddings=max(512, a.seq_len),
        num_labels=2,
        attn_implementation="sdpa",
    )
    return (BertForMaskedLM if task == "mlm" else BertForSequenceClassification)(cfg)


def batch_for(task: str, a, gen):
    ids = torch.randint(5, a.vocab, (a.batch, a.seq_len), generator=gen)
    mask = torch.ones_like(ids)
    if task == "mlm":
        labels = torch.full_like(ids, -100)
        sel = torch.rand(ids.shape, generator=gen) < 0.15
        labels[sel] = ids[sel]
        ids = ids.masked_fill(sel, 4)
    else:
        labels = torch.randint(0, 2, (a.batch,), generator=gen)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def time_steps(model, batch, train: bool, steps: int, device, clock=time.perf_counter) -> float:
    batch = {k: v.to(device) for k, v in batch.items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if train else None
    model.train(train)
    use_amp = device.type == "cuda"
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = clock()
    for _ in range(steps):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            if train:
                model(**batch).loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            else:
                with torch.inference_mode():
                    model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return clock() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--vocab", type=int, default=10)
    p.add_argument("--steps", type=int, default=3, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=5, help="interleaved timed blocks per model")
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu = process CPU time (steadier on a shared machine; CPU only)",
    )
    a = p.parse_args()
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"device={device} threads={torch.get_num_threads()} clock={a.clock} torch={torch.__version__} "
        f"cpu={platform.processor() or platform.machine()}"
    )
    print(f"config: layers={a.layers} hidden={a.hidden} heads={a.heads} seq_len={a.seq_len} batch={a.batch}")
    tokens = a.batch * a.seq_len * a.steps
    ratios = []
    for task in ("mlm", "cls"):
        gen = torch.Generator().manual_seed(0)
        batch = batch_for(task, a, gen)
        torch.manual_seed(0)
        models = {k: build(k, task, a).to(device) for k in ("genolm", "hf")}
        n_params = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
        for train in (True, False):
            for m in models.values():  # warm-up
                time_steps(m, batch, train, 1, device)
            best = {"genolm": math.inf, "hf": math.inf}
            for _ in range(a.repeats):
                for k, m in models.items():
                    best[k] = min(best[k], time_steps(m, batch, train, a.steps, device, clock))
            tps = {k: tokens / v for k, v in best.items()}
            r = tps["genolm"] / tps["hf"]
            ratios.append(r)
            mode = "train" if train else "infer"
            print(
                f"{task:>3} {mode}: genolm {tps['genolm']:,.0f} tok/s ({n_params['genolm'] / 1e6:.2f}M params) | "
                f"HF Bert {tps['hf']:,.0f} tok/s ({n_params['hf'] / 1e6:.2f}M params) | ratio {r:.2f}"
            )
    g = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"ratio {g:.2f}")


if __name__ == "__main__":
    main()
