"""Dev-split benchmark of `genolm chem` on the MoleculeNet sets in ../shared/data/molecules.

For each data set: featurise train and dev once, train every member of --arch (members are averaged into the
model), and report on dev: each member alone (RandomForest alone is the baseline), the default `trees`
model (rf+et) and the full --arch average, with wall-clock seconds. Test splits are never read.

    .venv/bin/python benchmarks/chem.py --arch ensemble --out docs/benchmarks/chem_results.json
    .venv/bin/python benchmarks/chem.py --sets esol,bace --arch trees
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genolm.chem.featurize import FeatureConfig, featurize, parse_smiles
from genolm.chem.metrics import compute_metrics
from genolm.chem.model import ChemModel, resolve_arch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "molecules"
SETS = {
    "tox21": ("classification", None),
    "esol": ("regression", ["logSolubility"]),
    "bace": ("classification", ["Class"]),
    "bbbp": ("classification", ["p_np"]),
}


def _features(mols, cfg, cache: Path | None, key: str):
    """Featurise, or load/save the matrix under ``cache`` (same FeatureConfig only: the key names it)."""
    if cache is None:
        return featurize(mols, cfg)
    path = cache / f"{key}.npy"
    if path.is_file():
        X = np.load(path)
        if X.shape[0] == len(mols):
            return X
    X = featurize(mols, cfg)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    return X


def run_set(name: str, arch: str, seed: int, budget: float, data: Path, cache: Path | None = None) -> dict:
    task, targets = SETS[name]
    tr = pd.read_csv(data / name / "train.csv")
    dv = pd.read_csv(data / name / "dev.csv")
    targets = targets or [c for c in tr.columns if c != "smiles"]
    t0 = time.monotonic()
    mols, _ = parse_smiles(tr["smiles"].tolist())
    vmols, _ = parse_smiles(dv["smiles"].tolist())
    keep = [m is not None for m in mols]
    mols = [m for m in mols if m is not None]
    Y = tr[targets].to_numpy(dtype=float)[keep]
    vY = dv[targets].to_numpy(dtype=float)
    cfg = FeatureConfig()
    X, vX = _features(mols, cfg, cache, f"{name}_train"), _features(vmols, cfg, cache, f"{name}_dev")
    feat_s = time.monotonic() - t0
    model = ChemModel(task, targets, resolve_arch(arch), cfg)
    model.fit(mols, Y, vmols, vY, seed=seed, time_budget=budget - feat_s, X=X, valid_X=vX)
    preds = model.predict_members(vmols, vX)
    key = "mean_roc_auc" if task == "classification" else "mean_rmse"

    def score(p):
        return round(compute_metrics(task, vY, p, targets)[key], 4)

    result = {"task": task, "metric": key, "n_train": len(mols), "n_dev": len(vmols),
              "featurise_s": round(feat_s, 1), "member_seconds": model.member_seconds,
              "dev": {m: score(p) for m, p in preds.items()}}
    if {"rf", "et"} <= set(preds):
        result["dev"]["trees (rf+et)"] = score(ChemModel.combine({k: preds[k] for k in ("rf", "et")}))
    result["dev"][f"{arch} ({'+'.join(model.member_names)})"] = score(model.combine(preds))
    if task == "regression":  # trivial baseline: the training mean
        result["dev"]["train mean"] = score(np.broadcast_to(np.nanmean(Y, axis=0), vY.shape))
    result["total_s"] = round(time.monotonic() - t0, 1)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="tox21,esol,bace,bbbp")
    ap.add_argument("--arch", default="ensemble")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-budget", type=float, default=1500.0, help="seconds per data set")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep feature matrices between runs")
    ap.add_argument("--out", type=Path, default=None, help="append results as JSON here")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    results = {}
    for name in args.sets.split(","):
        results[name] = run_set(name, args.arch, args.seed, args.time_budget, args.data, args.cache)
        print(name, json.dumps(results[name]), flush=True)
    if args.out:
        old = json.loads(args.out.read_text()) if args.out.is_file() else {}
        old.update({f"{k}/{args.arch}/seed{args.seed}": v for k, v in results.items()})
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(old, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
