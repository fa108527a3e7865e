"""Benchmark: model-guided design of promoters from GUE prom_core/notata non-promoters, judged by an oracle.

1. Split notata ``train.csv.gz`` in two halves (seeded): half A trains the predictor (a CNN), half B an
   independent oracle (another architecture and seed: a second model trained on different data). Each model
   keeps 10% of its half for validation; ``--time-budget`` each.
2. Seeds: ``--n`` label-0 sequences drawn (seeded) from ``--seeds`` (default: notata ``dev.csv.gz``; pass a
   held-out split by path to evaluate on it).
3. Designs with ``--max-edits`` K toward the promoter class (``1``): directed evolution and gradient
   (Ledidi-style), and two baselines with the same K: random K-edit mutants, and the top-ISM edits (the best
   substitution at each of the K positions with the largest ISM gain of the predictor).
4. Reported: the fraction the oracle calls promoters (P >= 0.5) per method, the predictor's own fraction,
   mean edits, edits per (oracle) success, and the ratio to the random baseline.

    OMP_NUM_THREADS=2 python benchmarks/design.py --json design.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: small enough that directed evolution's ~200k predictor calls take a couple of minutes on 2 CPU cores
PREDICTOR_ARGS = ["--arch", "cnn", "--hidden", "64", "--layers", "3", "--seed", "0"]
#: another architecture, seed and half of the data
ORACLE_ARGS = ["--arch", "hybrid", "--hidden", "64", "--layers", "2", "--conv-layers", "2", "--seed", "1"]
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "gue_prom_core" / "notata"


def _cli(args: list[str]) -> None:
    from genolm.cli.main import main

    code = main(["-q", *args])
    if code != 0:
        raise SystemExit(f"genolm {' '.join(args)} exited {code}")


def train_models(train: Path, work: Path, budget: str, seed: int) -> tuple[Path, Path]:
    import pandas as pd

    df = pd.read_csv(train)
    perm = np.random.default_rng(seed).permutation(len(df))
    half = len(df) // 2
    out = []
    for name, rows, arch in (("A", perm[:half], PREDICTOR_ARGS), ("B", perm[half:], ORACLE_ARGS)):
        part = df.iloc[rows].reset_index(drop=True)
        n_val = len(part) // 10
        part.iloc[n_val:].to_csv(work / f"half{name}_train.csv", index=False)
        part.iloc[:n_val].to_csv(work / f"half{name}_valid.csv", index=False)
        run = work / f"model_{name}"
        t = time.time()
        _cli(
            [
                "finetune",
                "--train",
                str(work / f"half{name}_train.csv"),
                "--valid",
                str(work / f"half{name}_valid.csv"),
                "--out",
                str(run),
                "--time-budget",
                budget,
                *arch,
            ]
        )
        mcc = json.loads((run / "metrics.json").read_text()).get("valid", {}).get("mcc")
        print(
            f"model {name} ({arch[1]}, {len(part) - n_val} training rows): validation mcc {mcc}, {time.time() - t:.0f}s",
            flush=True,
        )
        out.append(run)
    return out[0], out[1]


def random_mutants(seqs: list[str], k: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for s in seqs:
        c = list(s)
        for p in rng.choice(len(s), size=min(k, len(s)), replace=False):
            c[p] = rng.choice([b for b in "ACGT" if b != c[p]])
        out.append("".join(c))
    return out


def top_ism(sm, seqs: list[str], target: int, k: int, batch_size: int) -> list[str]:
    """The best substitution at each of the k positions whose best ISM gain is largest (all applied at once)."""
    from genolm.interpret.attributions import ism_batched

    deltas = ism_batched(sm, seqs, target, batch_size=batch_size)
    out = []
    for s, d in zip(seqs, deltas):
        d = d[:, : len(s)].copy()
        codes = ["ACGT".find(b) for b in s]
        for p, c in enumerate(codes):
            if c >= 0:
                d[c, p] = -np.inf
        gain, base = d.max(0), d.argmax(0)
        pos = np.argsort(-gain, kind="stable")[:k]
        c = list(s)
        for p in pos:
            c[p] = "ACGT"[base[p]]
        out.append("".join(c))
    return out


def summarise(name, designs, seeds, pred, oracle, t_pred, t_orc, seconds) -> dict:
    p = pred.predict_objective(designs, t_pred)
    o = oracle.predict_objective(designs, t_orc)
    edits = np.array([sum(a != b for a, b in zip(s, d)) for s, d in zip(seeds, designs)])
    ok = o >= 0.5
    return {
        "method": name,
        "predictor_success": float(np.mean(p >= 0.5)),
        "oracle_success": float(np.mean(ok)),
        "predictor_mean": float(p.mean()),
        "oracle_mean": float(o.mean()),
        "mean_edits": float(edits.mean()),
        "edits_per_oracle_success": float(edits.sum() / ok.sum()) if ok.any() else float("nan"),
        "seconds": round(seconds, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder with train.csv.gz (and dev.csv.gz)")
    ap.add_argument("--seeds", default=None, help="table the seeds come from (label 0 rows; default DATA/dev.csv.gz)")
    ap.add_argument("--n", type=int, default=100, help="number of seeds")
    ap.add_argument("--max-edits", type=int, default=10)
    ap.add_argument("--time-budget", default="3m", help="training budget of each model")
    ap.add_argument("--population", type=int, default=1, help="evolve beam width")
    ap.add_argument("--steps", type=int, default=150, help="gradient optimisation steps")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: OMP_NUM_THREADS)")
    ap.add_argument("--models", default=None, help="reuse a folder with model_A/ and model_B/ from an earlier run")
    ap.add_argument("--work", default=None, help="keep the trained models and designs here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    import pandas as pd

    from genolm.api import load
    from genolm.design.constraints import build_constraints
    from genolm.design.designer import design_metrics, run_design
    from genolm.design.evolve import Objective

    data = Path(args.data)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="genolm_design_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if args.models:
        pred_dir, orc_dir = Path(args.models) / "model_A", Path(args.models) / "model_B"
    else:
        pred_dir, orc_dir = train_models(data / "train.csv.gz", work, args.time_budget, args.seed)
    train_s = time.time() - t0
    pred = load(pred_dir).sequence_model("cpu")
    orc = load(orc_dir).sequence_model("cpu")
    tp, to = pred.target_index("1"), orc.target_index("1")

    seeds_path = Path(args.seeds) if args.seeds else data / "dev.csv.gz"
    df = pd.read_csv(seeds_path)
    neg = df[df["label"].astype(str) == "0"].reset_index(drop=True)
    pick = np.sort(np.random.default_rng(args.seed).choice(len(neg), size=min(args.n, len(neg)), replace=False))
    seqs = neg["sequence"].str.upper().iloc[pick].tolist()
    ids = [f"{seeds_path.name}:{int(i) + 2}" for i in pick]
    k = args.max_edits
    goal = Objective("maximize")
    cons = build_constraints(ids, seqs, k)

    rows = [summarise("seeds (no edit)", seqs, seqs, pred, orc, tp, to, 0.0)]
    results = {}
    for method in ("evolve", "gradient"):
        t = time.time()
        res = run_design(
            pred,
            ids,
            seqs,
            goal,
            tp,
            method,
            cons,
            oracle=orc,
            oracle_target="1",
            rounds=args.steps if method == "gradient" else None,
            population=args.population,
            seed=args.seed,
            batch_size=512,
        )
        secs = time.time() - t
        results[method] = design_metrics(pred, goal, res, orc)
        rows.append(summarise(method, res["designs"], seqs, pred, orc, tp, to, secs))
        print(f"{method}: {secs:.0f}s", flush=True)
    t = time.time()
    rows.append(
        summarise(
            f"random {k}-edit mutants", random_mutants(seqs, k, args.seed), seqs, pred, orc, tp, to, time.time() - t
        )
    )
    t = time.time()
    ism_designs = top_ism(pred, seqs, tp, k, 512)
    rows.append(summarise(f"top-ISM {k} edits", ism_designs, seqs, pred, orc, tp, to, time.time() - t))

    base = rows[3]["oracle_success"]
    print(f"\n{len(seqs)} seeds from {seeds_path} (label 0), --max-edits {k}; predictor {pred_dir}, oracle {orc_dir}")
    print(
        f"{'method':<24} {'oracle P>=0.5':>13} {'predictor P>=0.5':>16} {'mean edits':>10} {'edits/success':>13} {'s':>6}"
    )
    for r in rows:
        print(
            f"{r['method']:<24} {r['oracle_success']:>13.2f} {r['predictor_success']:>16.2f} {r['mean_edits']:>10.1f} "
            f"{r['edits_per_oracle_success']:>13.1f} {r['seconds']:>6.0f}"
        )
    ratios = {r["method"]: (r["oracle_success"] / base if base > 0 else float("inf")) for r in rows[1:3]}
    for name, ratio in ratios.items():
        print(f"{name}: oracle success {ratio:.1f}x random mutants")
    out = {
        "data": str(data),
        "seeds": str(seeds_path),
        "n": len(seqs),
        "max_edits": k,
        "population": args.population,
        "predictor": str(pred_dir),
        "oracle": str(orc_dir),
        "train_seconds": round(train_s, 1),
        "rows": rows,
        "ratio_vs_random": ratios,
        "design_metrics": results,
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
