"""Text LM: held-out perplexity (per BPE token) and bits per byte on ../shared/data/abstracts.

Trains with genolm's defaults (`genolm lit textlm train`, 25-minute budget unless --time-budget) and
compares, on the same held-out documents (5 % of ids by hash) and the same tokenizer, with a unigram
baseline (add-one smoothed token frequencies of the training split).

    .venv/bin/python benchmarks/textlm.py --out runs/bench_textlm [--time-budget 25m]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from pathlib import Path

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "abstracts" / "biomed_abstracts.jsonl.gz"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    ap.add_argument("--out", default="runs/bench_textlm")
    ap.add_argument("--time-budget", default="25m")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    from transformers import AutoTokenizer

    from genolm.core.runs import parse_duration
    from genolm.literature import textlm

    cfg = textlm.TextLMConfig(time_budget=parse_duration(args.time_budget), seed=args.seed, threads=args.threads)
    t0 = time.time()
    metrics = textlm.train_textlm(args.corpus, args.out, cfg)
    wall = time.time() - t0

    # unigram baseline with the same tokenizer and split
    docs = textlm.read_corpus(args.corpus)
    train = [t for k, t in docs if not textlm.is_heldout(k, cfg.valid_fraction)]
    valid = [t for k, t in docs if textlm.is_heldout(k, cfg.valid_fraction)]
    tok = AutoTokenizer.from_pretrained(str(Path(args.out) / "model"))
    eos = tok.eos_token_id
    counts = Counter()
    for ids in tok(train, add_special_tokens=False)["input_ids"]:
        counts.update(ids)
        counts[eos] += 1
    total, vocab = sum(counts.values()), len(tok)
    nll, n = 0.0, 0
    for ids in tok(valid, add_special_tokens=False)["input_ids"]:
        for t in (*ids, eos):
            nll -= math.log((counts[t] + 1) / (total + vocab))
            n += 1
    n_bytes = sum(len(t.encode("utf-8")) + 1 for t in valid)
    # the LM scores the first token of the held-out stream unconditioned like every window start; the
    # unigram scores every token, so token counts differ by the window starts only
    summary = {
        "time_budget_s": cfg.time_budget,
        "wall_s": round(wall, 1),
        "steps": metrics["steps"],
        "tokens_seen": metrics["tokens_seen"],
        "epochs": metrics["epochs"],
        "parameters": metrics["parameters"],
        "train_docs": metrics["train_docs"],
        "heldout_docs": metrics["heldout_docs"],
        "textlm": {
            "perplexity": round(metrics["heldout_perplexity"], 2),
            "bits_per_byte": round(metrics["heldout_bits_per_byte"], 4),
        },
        "unigram_baseline": {
            "perplexity": round(math.exp(nll / n), 2),
            "bits_per_byte": round(nll / math.log(2) / n_bytes, 4),
        },
        "uniform_baseline": {"perplexity": vocab},
    }
    Path(args.out, "benchmark.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
