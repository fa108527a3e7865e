"""Dev-split benchmark of `genolm chem` on the MoleculeNet sets in ../shared/data/molecules.

For each data set: featurise train and dev once, train every member of --arch (members are averaged into the
model), and report on dev: each member alone (RandomForest alone is the baseline), the previous default
`forests` (rf+et), the default `trees` (rf+et+svm) and
the full --arch average, with wall-clock seconds. With --cv K the same combinations are also scored by
K-fold cross-validation on the training split (out-of-fold predictions; folds stratified on the label for
single-task classification), which is what the defaults were chosen on: the dev sets are small (113-204
molecules). Test splits are never read.

    .venv/bin/python benchmarks/chem.py --arch ensemble --out docs/benchmarks/chem_results.json
    .venv/bin/python benchmarks/chem.py --sets esol,bace,bbbp --arch rf,et,svm --cv 5
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


def _combos(preds: dict, task: str) -> dict:
    """Each member alone, forests (rf+et), the default for the task, and every member together."""
    out = {m: p for m, p in preds.items()}
    if {"rf", "et"} <= set(preds):
        out["forests (rf+et)"] = ChemModel.combine({k: preds[k] for k in ("rf", "et")})
    default = resolve_arch("trees")
    if set(default) <= set(preds):
        out[f"trees default ({'+'.join(default)})"] = ChemModel.combine({k: preds[k] for k in default})
    if len(preds) > 1:
        out[f"all ({'+'.join(preds)})"] = ChemModel.combine(preds)
    return out


def cross_validate(task, targets, members, cfg, X, Y, k: int, seed: int, key: str) -> dict:
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "classification" and Y.shape[1] == 1:
        folds = StratifiedKFold(k, shuffle=True, random_state=seed).split(X, Y[:, 0])
    else:
        folds = KFold(k, shuffle=True, random_state=seed).split(X)
    oof = {m: np.full(Y.shape, np.nan) for m in members}
    for tr, te in folds:
        model = ChemModel(task, targets, members, cfg).fit([None] * len(tr), Y[tr], seed=seed, X=X[tr])
        for m, p in model.predict_members([None] * len(te), X[te]).items():
            oof[m][te] = p
    return {name: round(compute_metrics(task, Y, p, targets)[key], 4) for name, p in _combos(oof, task).items()}


def run_set(
    name: str,
    arch: str,
    seed: int,
    budget: float,
    data: Path,
    cache: Path | None = None,
    cv: int = 0,
    cv_data: str = "train",
) -> dict:
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
    members = resolve_arch(arch)
    model = ChemModel(task, targets, members, cfg)
    model.fit(mols, Y, vmols, vY, seed=seed, time_budget=budget - feat_s, X=X, valid_X=vX)
    preds = model.predict_members(vmols, vX)
    key = "mean_auroc" if task == "classification" else "mean_rmse"

    def score(p):
        return round(compute_metrics(task, vY, p, targets)[key], 4)

    result = {
        "task": task,
        "metric": key,
        "n_train": len(mols),
        "n_dev": len(vmols),
        "featurise_s": round(feat_s, 1),
        "member_seconds": model.member_seconds,
        "dev": {m: score(p) for m, p in _combos(preds, task).items()},
    }
    if task == "regression":  # trivial baseline: the training mean
        result["dev"]["train mean"] = score(np.broadcast_to(np.nanmean(Y, axis=0), vY.shape))
    if cv:
        t1 = time.monotonic()
        Xc, Yc = X, Y
        if cv_data == "train+dev":
            ok = ~np.isnan(vX).all(axis=1)
            Xc, Yc = np.vstack([X, vX[ok]]), np.vstack([Y, vY[ok]])
        result[f"cv{cv}_{cv_data}"] = cross_validate(task, targets, members, cfg, Xc, Yc, cv, seed, key)
        result["cv_s"] = round(time.monotonic() - t1, 1)
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
    ap.add_argument("--cv", type=int, default=0, help="also K-fold cross-validation on the training split")
    ap.add_argument("--cv-data", choices=["train", "train+dev"], default="train")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    results = {}
    for name in args.sets.split(","):
        results[name] = run_set(
            name, args.arch, args.seed, args.time_budget, args.data, args.cache, args.cv, args.cv_data
        )
        print(name, json.dumps(results[name]), flush=True)
    if args.out:
        old = json.loads(args.out.read_text()) if args.out.is_file() else {}
        old.update({f"{k}/{args.arch}/seed{args.seed}": v for k, v in results.items()})
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(old, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
