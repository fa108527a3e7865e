"""Attribution throughput: sequences/s per method (saliency, ig, deeplift_shap, ism) for a 6-layer model, and
batched ISM vs one forward pass per mutant. Last line: `ratio N` (batched ISM speed-up).

    OMP_NUM_THREADS=1 python benchmarks/explain.py --n 32 --threads 1 --json /tmp/explain_bench.json

Without --model, a 6-layer CNN promoter classifier is trained for a short budget on --data train.csv.gz;
sequences are taken from --eval (default: --data dev.csv.gz; pass a held-out split by path).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a genolm sequence model (default: train a 6-layer CNN)")
    ap.add_argument("--data", default="../shared/data/gue_prom_core/all", help="folder with train.csv.gz, dev.csv.gz")
    ap.add_argument("--eval", help="CSV of sequences to explain (default: DATA/dev.csv.gz)")
    ap.add_argument("--n", type=int, default=32, help="sequences per method")
    ap.add_argument("--n-naive", type=int, default=2, help="sequences for one-forward-per-mutant ISM")
    ap.add_argument("--train-n", type=int, default=3000, help="training sequences for the quick model")
    ap.add_argument("--max-steps", type=int, default=150, help="training steps for the quick model")
    ap.add_argument("--hidden", type=int, default=32, help="width of the quick 6-layer CNN")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    os.environ.setdefault("GENOLM_QUIET", "1")
    import numpy as np
    import pandas as pd
    import torch

    torch.set_num_threads(a.threads)
    from genolm.api import load
    from genolm.cli.main import main as cli
    from genolm.interpret.attributions import attribute, ism_batched, ism_one_by_one

    data = Path(a.data)
    tmp = Path(tempfile.mkdtemp(prefix="explain_bench_"))
    model = a.model
    if model is None:
        tr = pd.read_csv(data / "train.csv.gz").sample(a.train_n, random_state=0)
        dv = pd.read_csv(data / "dev.csv.gz").sample(500, random_state=0)
        tr.to_csv(tmp / "train.csv", index=False)
        dv.to_csv(tmp / "dev.csv", index=False)
        model = str(tmp / "cnn6")
        t0 = time.perf_counter()
        code = cli(["-q", "finetune", "--train", str(tmp / "train.csv"), "--valid", str(tmp / "dev.csv"), "--out", model,
                    "--arch", "cnn", "--hidden", str(a.hidden), "--layers", "6", "--max-steps", str(a.max_steps), "--seed", "0"])  # fmt: skip
        assert code == 0
        print(f"trained 6-layer CNN (width {a.hidden}) in {time.perf_counter() - t0:.0f}s -> {model}")
    sm = load(model).sequence_model(a.device)
    ev = pd.read_csv(a.eval or data / "dev.csv.gz")
    seqs = ev.sequence.astype(str).str.upper().tolist()[: a.n]
    res = {"model": sm.description, "n": len(seqs), "length": len(seqs[0]), "threads": a.threads, "methods": {}}
    for m in ("saliency", "ig", "deeplift_shap", "ism"):
        t0 = time.perf_counter()
        att = attribute(sm, seqs, method=m, n_baselines=8, steps=32, batch_size=64)
        dt = time.perf_counter() - t0
        res["methods"][m] = {"seconds": dt, "sequences_per_second": len(seqs) / dt, "method_used": att.method}
        print(f"{m:14s} {len(seqs) / dt:9.2f} seq/s  ({dt:.1f}s; used {att.method})")
    few = seqs[: a.n_naive]
    t0 = time.perf_counter()
    batched = ism_batched(sm, few, 1, batch_size=256)
    tb = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = np.stack([ism_one_by_one(sm, s, 1) for s in few])
    tn = time.perf_counter() - t0
    diff = float(np.abs(batched - naive).max())
    ratio = tn / tb
    res["ism"] = {"n": len(few), "batched_seconds": tb, "one_by_one_seconds": tn, "max_abs_diff": diff, "ratio": ratio}
    print(f"ISM on {len(few)} sequences: batched {tb:.2f}s, one forward per mutant {tn:.2f}s, max |diff| {diff:.2g}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    print(f"ratio {ratio:.1f}")


if __name__ == "__main__":
    main()
