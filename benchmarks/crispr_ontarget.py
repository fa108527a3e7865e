"""On-target efficiency: dev-split Spearman of `genolm crispr train` (default settings) per data set.

Each model is trained on that data set's own train split and early-stopped / mixed on its dev split, with the
default time budget; test splits are held out and not read here. Baseline measured in the same run: ridge
regression (scikit-learn, alpha picked on dev) on the position-specific one-hot sequence.

    python benchmarks/crispr_ontarget.py [--datasets kim,deephf,doench] [--time-budget 20m] [--out runs/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import pandas as pd

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "crispr")
SETS = {
    "kim": ("kim2019_deepspcas9", "target_context_30mer", "indel_freq_background_subtracted_pct"),
    "deephf": ("deephf_wt", "sgRNA_23mer", "efficiency"),
    "doench": ("doench2016_fc_res", "sequence_30mer", "score_drug_gene_rank"),
}


def ridge_baseline(train: pd.DataFrame, dev: pd.DataFrame, seq: str, target: str) -> float:
    from scipy.stats import spearmanr
    from sklearn.linear_model import Ridge

    from genolm.editing.guides import one_hot

    xtr = one_hot(train[seq].str.upper().tolist()).reshape(len(train), -1)
    xdv = one_hot(dev[seq].str.upper().tolist()).reshape(len(dev), -1)
    best = -1.0
    for alpha in (0.1, 1, 10, 100):
        pred = Ridge(alpha=alpha).fit(xtr, train[target]).predict(xdv)
        best = max(best, spearmanr(dev[target], pred).statistic)
    return float(best)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="kim,deephf,doench")
    ap.add_argument("--time-budget", default="20m")
    ap.add_argument("--out", default="runs/bench_crispr")
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args()

    from genolm.core.runs import parse_duration
    from genolm.editing.ontarget import train_ontarget

    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, load average {os.getloadavg()[0]:.1f}")
    rows = []
    for name in args.datasets.split(","):
        folder, seq, target = SETS[name]
        tr_path = os.path.join(args.data, folder, "train.csv")
        dv_path = os.path.join(args.data, folder, "dev.csv")
        t = time.perf_counter()
        base = ridge_baseline(pd.read_csv(tr_path), pd.read_csv(dv_path), seq, target)
        t_base = time.perf_counter() - t
        t = time.perf_counter()
        m = train_ontarget(
            tr_path,
            dv_path,
            seq,
            target,
            out=os.path.join(args.out, name),
            time_budget=parse_duration(args.time_budget),
        )
        t_model = time.perf_counter() - t
        members = m["members"]
        row = {
            "dataset": name,
            "n_train": m["n_train"],
            "n_dev": m["n_dev"],
            "dev_spearman": round(m["dev"]["spearman"], 4),
            "dev_pearson": round(m["dev"]["pearson"], 4),
            "cnn_ensemble": round(members["cnn_ensemble"]["spearman"], 4),
            "gbm": round(members.get("gbm", {}).get("spearman", np.nan), 4),
            "cnn_members": members_count(members),
            "cnn_weight": members["cnn_weight"],
            "ridge_onehot_baseline": round(base, 4),
            "train_s": round(t_model, 1),
            "baseline_s": round(t_base, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(
        "| data set | n train / dev | genolm dev Spearman (Pearson) | CNN ens. | GBM | ridge one-hot baseline "
        "| train time |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['n_train']:,} / {r['n_dev']:,} | **{r['dev_spearman']:.3f}** "
            f"({r['dev_pearson']:.3f}) | {r['cnn_ensemble']:.3f} ({r['cnn_members']} CNNs) | {r['gbm']:.3f} "
            f"| {r['ridge_onehot_baseline']:.3f} | {r['train_s'] / 60:.1f} min |"
        )


def members_count(members: dict) -> int:
    return sum(1 for k in members if k.startswith("cnn_") and k[4:].isdigit())


if __name__ == "__main__":
    main()
