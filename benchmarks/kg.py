"""Hetionet v1.0 subset: dev AUROC of `genolm kg train` for CtD, DaG and CbG.

Dev edges (edges_dev.tsv) against uniform type-constrained random negatives (same source and target
kinds, not a train or dev edge), 5 negatives per positive. The held-out test edges are not used.

    .venv/bin/python benchmarks/kg.py [--data ../shared/data/knowledge_graph/hetionet_v1_subset]
                                      [--combiners hgb,logistic] [--out runs/bench_kg]

Baseline in the same run: preferential attachment (product of the two ends' training degrees in
the target metaedge), reported by train_kg on the same negatives.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/knowledge_graph/hetionet_v1_subset")
    )
    ap.add_argument("--combiners", default="hgb,logistic")
    ap.add_argument("--targets", default="CtD,DaG,CbG")
    ap.add_argument("--out", default="runs/bench_kg")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from genolm.omics import train_kg

    d = Path(args.data)
    results = {}
    for comb in args.combiners.split(","):
        t = time.time()
        m = train_kg(
            d / "nodes.tsv",
            d / "edges_train.tsv",
            args.targets.split(","),
            Path(args.out) / comb,
            valid=d / "edges_dev.tsv",
            combiner=comb,
            seed=args.seed,
        )
        results[comb] = (m, time.time() - t)
        print(
            json.dumps(
                {
                    "combiner": comb,
                    "seconds": round(time.time() - t),
                    **{k: v["valid"] for k, v in m["targets"].items()},
                }
            ),
            flush=True,
        )
    print("\n| model | " + " | ".join(f"{t} AUROC (AUPRC)" for t in args.targets.split(",")) + " | train wall s |")
    print("|---|" + "---|" * (len(args.targets.split(",")) + 1))
    first = next(iter(results.values()))[0]
    print(
        "| baseline: degree product | "
        + " | ".join(
            f"{first['targets'][t]['valid_baseline_degree_product']['auroc']:.3f} "
            f"({first['targets'][t]['valid_baseline_degree_product']['auprc']:.3f})"
            for t in args.targets.split(",")
        )
        + " | |"
    )
    for comb, (m, secs) in results.items():
        print(
            f"| metapath+degree features, {comb} combiner | "
            + " | ".join(
                f"{m['targets'][t]['valid']['auroc']:.3f} ({m['targets'][t]['valid']['auprc']:.3f})"
                for t in args.targets.split(",")
            )
            + f" | {secs:.0f} |"
        )


if __name__ == "__main__":
    main()
