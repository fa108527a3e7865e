"""Motif recovery: does `explain` + `motifs discover` find the motif a classifier was trained to see?

1. Synthetic task on real sequence: background = random windows of the E. coli K-12 genome (both strands, no N);
   positives get a site sampled from a JASPAR PWM (--motif, default CTCF MA0139.1) on a random strand at a random
   position, negatives are other windows left as they are. A CNN is trained with `genolm finetune` (train split,
   early stopping on a valid split); the positives of a separate dev split are explained with every attribution
   method. Figures: AUPRC of per-base scores (the observed base's contribution, and its absolute value) for
   implanted vs background positions, per method (baseline: the fraction of implanted positions, what a random
   score gets), then `genolm motifs discover` on the best method's attributions: is the implanted motif the best
   JASPAR match (TOMTOM q < 0.05) of one of the top two discovered motifs?
2. GUE TF binding (--gue, default gue_tf_human/0): train on train.csv.gz, explain the positives of dev.csv.gz
   (or --gue-eval PATH, e.g. a held-out test split), discover, list the known motifs that come out.

    OMP_NUM_THREADS=2 python benchmarks/motif_recovery.py --task synthetic --json runs/motif_synthetic.json
    OMP_NUM_THREADS=2 python benchmarks/motif_recovery.py --task gue --json runs/motif_gue.json

A synthetic held-out split written by an earlier run (columns sequence,label,site_start) can be passed with --dev.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
METHODS = ("saliency", "ig", "deeplift_shap", "ism")


def genome_windows(path: Path, n: int, length: int, rng) -> list[str]:
    from genolm.io.fasta import read_fasta
    from genolm.sequence import reverse_complement

    seq = "".join(s for _, s in read_fasta(path)).upper()
    out: list[str] = []
    while len(out) < n:
        at = int(rng.integers(0, len(seq) - length))
        w = seq[at : at + length]
        if set(w) <= set("ACGT"):
            out.append(w if rng.random() < 0.5 else reverse_complement(w))
    return out


def implant(windows: list[str], probs: np.ndarray, rng) -> tuple[list[str], list[int], list[int]]:
    """Half positives (a PWM sample on a random strand at a random position), half untouched: (seqs, labels, starts)."""
    from genolm.sequence import reverse_complement

    p = probs / probs.sum(1, keepdims=True)
    w = len(p)
    seqs, labels, starts = [], [], []
    for i, s in enumerate(windows):
        if i % 2 == 0:
            site = "".join("ACGT"[rng.choice(4, p=row)] for row in p)
            if rng.random() < 0.5:
                site = reverse_complement(site)
            at = int(rng.integers(0, len(s) - w + 1))
            seqs.append(s[:at] + site + s[at + w :])
            labels.append(1)
            starts.append(at)
        else:
            seqs.append(s)
            labels.append(0)
            starts.append(-1)
    return seqs, labels, starts


def finetune(train: Path, valid: Path | None, out: Path, args) -> dict:
    from genolm.cli.main import main

    argv = ["finetune", "--train", str(train), "--out", str(out), "--arch", "cnn", "--overwrite"]
    argv += ["--hidden", str(args.hidden), "--layers", str(args.layers), "--time-budget", args.time_budget]
    argv += ["--pooling", args.pooling, "--lr", str(args.lr), "--seed", str(args.seed)]
    argv += ["--valid", str(valid)] if valid else []
    t0 = time.time()
    if main(argv) != 0:
        raise SystemExit("finetune failed")
    m = json.loads((out / "metrics.json").read_text())
    return {"seconds": round(time.time() - t0, 1), **{k: v for k, v in m.items() if isinstance(v, (int, float))}}


def discover(npz: Path, out: Path, args, min_seqlets: int) -> tuple[list[dict], dict]:
    """`genolm motifs discover` in its own process (modisco compiles its kernels in forked children)."""
    exe = Path(sys.executable).with_name("genolm")
    cmd = [str(exe), "-q", "motifs", "discover", "--attributions", str(npz), "--out", str(out), "--overwrite"]
    cmd += ["--min-seqlets", str(min_seqlets), "--seed", str(args.seed)]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return [], {"error": r.stderr.strip().splitlines()[-1] if r.stderr else f"exit {r.returncode}"}
    import pandas as pd

    tsv = pd.read_csv(out / "motifs.tsv", sep="\t", keep_default_na=False)
    m = json.loads((out / "metrics.json").read_text())
    m["wall_seconds"] = round(time.time() - t0, 1)
    return tsv.to_dict("records"), m


def explain_all(sm, seqs, methods, args) -> dict:
    from genolm.interpret.attributions import attribute

    res = {}
    for method in methods:
        t0 = time.time()
        a = attribute(
            sm, seqs, method=method, n_baselines=args.n_baselines, steps=args.steps, batch_size=64, seed=args.seed
        )
        res[method] = (a, time.time() - t0)
        print(f"  {method}: {len(seqs)} sequences in {time.time() - t0:.1f}s (used {a.method})", flush=True)
    return res


def synthetic(args, work: Path) -> dict:
    import pandas as pd
    import torch

    from genolm.api import load
    from genolm.core.metrics import auprc
    from genolm.interpret.motifscan import default_motif_file
    from genolm.io.meme import read_meme

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    motifs = {m.name.split()[0]: m for m in read_meme(default_motif_file())}
    if args.motif not in motifs:
        raise SystemExit(f"--motif {args.motif}: not in the bundled JASPAR file")
    mot = motifs[args.motif]
    w = len(mot.probs)
    n_valid = max(200, args.n_train // 8)
    wins = genome_windows(Path(args.genome), args.n_train + n_valid + args.n_dev, args.length, rng)
    splits = {}
    for name, part in (
        ("train", wins[: args.n_train]),
        ("valid", wins[args.n_train : args.n_train + n_valid]),
        ("dev", wins[args.n_train + n_valid :]),
    ):
        s, y, st = implant(part, mot.probs, rng)
        splits[name] = pd.DataFrame({"sequence": s, "label": y, "site_start": st})
        splits[name].to_csv(work / f"{name}.csv", index=False)
    dev = pd.read_csv(args.dev) if args.dev else splits["dev"]
    print(
        f"synthetic: {args.motif} ({mot.name}, {w} nt) in {args.length}-nt E. coli windows; "
        f"{args.n_train} train, {n_valid} valid, {len(dev)} dev ({args.dev or 'generated'})",
        flush=True,
    )
    fit = finetune(work / "train.csv", work / "valid.csv", work / "clf", args)
    print(f"  trained in {fit['seconds']}s", flush=True)
    sm = load(work / "clf").sequence_model("cpu")
    pos = dev[dev.label == 1].head(args.n_explain)
    seqs = pos.sequence.tolist()
    prob = sm.predict_objective(seqs, sm.target_index(None))
    allp = sm.predict_objective(dev.sequence.tolist(), sm.target_index(None))
    acc = float(np.mean((allp >= 0.5) == (dev.label.to_numpy() == 1)))
    truth = np.zeros((len(seqs), args.length), dtype=int)
    for r, at in enumerate(pos.site_start):
        truth[r, at : at + w] = 1
    per_method = {}
    for method, (a, secs) in explain_all(sm, seqs, args.methods, args).items():
        s = a.scores.sum(1)[:, : args.length]
        per_method[method] = {
            "method_used": a.method,
            "auprc": auprc(truth.ravel(), s.ravel()),
            "auprc_abs": auprc(truth.ravel(), np.abs(s).ravel()),
            "seconds": round(secs, 1),
        }
        a.save(work / f"attr_{method}.npz")
        print(f"  {method}: AUPRC {per_method[method]['auprc']:.3f} (|score| {per_method[method]['auprc_abs']:.3f})")
    best = max(per_method, key=lambda k: per_method[k]["auprc"])
    rows, dm = discover(work / f"attr_{best}.npz", work / "motifs", args, args.min_seqlets)
    top2 = rows[:2]
    recovered = any(r["best_match"] == args.motif and float(r["q_value"] or 1) < 0.05 for r in top2)
    res = {
        "motif": args.motif,
        "motif_name": mot.name,
        "length": args.length,
        "n_train": args.n_train,
        "n_dev": int(len(dev)),
        "n_explained": len(seqs),
        "dev_accuracy": acc,
        "dev_mean_p_positive_on_positives": float(np.mean(prob)),
        "train": fit,
        "auprc_baseline_prevalence": float(truth.mean()),
        "methods": per_method,
        "best_method": best,
        "discover": dm,
        "top_motifs": top2 if rows else [],
        "recovered_in_top2_q05": bool(recovered),
    }
    print(
        f"  dev accuracy {acc:.3f}; best method {best}: AUPRC {per_method[best]['auprc']:.3f} "
        f"(prevalence baseline {truth.mean():.3f})"
    )
    for r in top2:
        print(
            f"  {r['motif']} ({r['n_seqlets']} seqlets) {r['pattern']}: {r['best_match']} {r['best_match_name']} "
            f"q={r['q_value']}"
        )
    print(f"recovered {args.motif} among the top two discovered motifs (q < 0.05): {recovered}")
    return res


def gue(args, work: Path) -> dict:
    import pandas as pd
    import torch

    from genolm.api import load

    torch.set_num_threads(args.threads)
    d = Path(args.gue)
    train = pd.read_csv(d / "train.csv.gz")
    if args.gue_n_train and len(train) > args.gue_n_train:
        train = train.sample(args.gue_n_train, random_state=args.seed)
    train.to_csv(work / "gue_train.csv", index=False)
    eval_path = Path(args.gue_eval) if args.gue_eval else d / "dev.csv.gz"
    ev = pd.read_csv(eval_path)
    print(f"GUE {d.name}: {len(train)} train, explaining positives of {eval_path} ({len(ev)} rows)", flush=True)
    if args.reuse and (work / "gue_clf" / "metrics.json").is_file():
        fit = {"reused": str(work / "gue_clf")}
    else:
        fit = finetune(work / "gue_train.csv", None, work / "gue_clf", args)
    sm = load(work / "gue_clf").sequence_model("cpu")
    t = sm.target_index(None)
    p = sm.predict_objective(ev.sequence.tolist(), t)
    y = ev.label.astype(str).to_numpy() == str(sm.outputs[t])
    from genolm.core.metrics import auprc

    if args.gue_explain == "train":  # what the model learnt: its training positives (more seqlets)
        tr = train[train.label.astype(str) == str(sm.outputs[t])]
        pos = tr.sample(min(len(tr), args.n_explain), random_state=args.seed)
    else:
        pos = ev[y].head(args.n_explain)
    res_m = explain_all(sm, pos.sequence.tolist(), [args.gue_method], args)
    a, secs = res_m[args.gue_method]
    a.save(work / "gue_attr.npz")
    rows, dm = discover(work / "gue_attr.npz", work / "gue_motifs", args, args.gue_min_seqlets)
    res = {
        "data": str(d),
        "eval": str(eval_path),
        "n_train": len(train),
        "train": fit,
        "eval_accuracy": float(np.mean((p >= 0.5) == y)),
        "eval_auprc": auprc(y.astype(int), p),
        "method": args.gue_method,
        "method_used": a.method,
        "n_explained": len(pos),
        "explained_split": args.gue_explain,
        "explain_seconds": round(secs, 1),
        "discover": dm,
        "motifs": [
            {k: r[k] for k in ("motif", "n_seqlets", "best_match", "best_match_name", "q_value", "matches", "pattern")}
            for r in rows
        ],
    }
    print(f"  eval accuracy {res['eval_accuracy']:.3f}, AUPRC {res['eval_auprc']:.3f}; {len(rows)} motifs")
    for r in rows:
        print(f"  {r['motif']} ({r['n_seqlets']} seqlets) {r['pattern']}: {r['matches']}")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="both", choices=["synthetic", "gue", "both"])
    ap.add_argument("--genome", default=str(DATA / "ecoli_k12_mg1655" / "ecoli_k12_mg1655.masked.fna.gz"))
    ap.add_argument("--data", dest="genome", help="alias of --genome")
    ap.add_argument("--motif", default="MA0139.1", help="JASPAR id to implant (bundled JASPAR 2022)")
    ap.add_argument("--length", type=int, default=120)
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--n-dev", type=int, default=400)
    ap.add_argument("--dev", help="a synthetic held-out CSV (sequence,label,site_start) to explain instead")
    ap.add_argument("--n-explain", type=int, default=200, help="positives explained")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--n-baselines", type=int, default=4)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--min-seqlets", type=int, default=50)
    ap.add_argument("--gue", default=str(DATA / "gue_tf_human" / "0"))
    ap.add_argument("--gue-eval", help="CSV to explain (default: GUE dev.csv.gz); e.g. a held-out test split")
    ap.add_argument("--gue-n-train", type=int, default=0, help="subsample the GUE training set (0 = all)")
    ap.add_argument("--gue-method", default="deeplift_shap")
    ap.add_argument("--gue-explain", default="eval", choices=["eval", "train"], help="whose positives to explain")
    ap.add_argument("--reuse", action="store_true", help="reuse a trained GUE model in --work")
    ap.add_argument("--gue-min-seqlets", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--pooling", default="max")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--time-budget", default="3m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="runs/bench_motifs")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, no GPU", "threads": args.threads}
    t0 = time.time()
    if args.task in ("synthetic", "both"):
        out["synthetic"] = synthetic(args, work)
    if args.task in ("gue", "both"):
        out["gue"] = gue(args, work)
    out["seconds"] = round(time.time() - t0, 1)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
