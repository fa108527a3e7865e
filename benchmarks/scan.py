"""`genolm scan` throughput and a sanity check that its peaks mean something, on E. coli.

1. A promoter classifier: `genolm finetune` on GUE prom_core_all (train split, early stopping on dev;
   test split held out), small CNN, time-budgeted (or pass --model).
2. Throughput (Mb of sequence per minute, both strands scanned) on the same machine in one run:
   batched + reuse (`genolm.genome.scan.Scanner`: the region is encoded once, windows are strided
   views, batches of 512) vs the naive loop (tokenise each window string, one forward pass per window).
3. Enrichment: on the unmasked part of E. coli (the held-out N block is skipped), the fraction of peak
   centres within 300 bp upstream of annotated gene starts (strand-aware) vs the fraction of scanned
   bases that lie in such upstream regions (= what peaks placed at random would give).

    python benchmarks/scan.py [--model RUN] [--time-budget 8m] [--out runs/bench_scan] [--bases 4100000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GENOME = DATA / "ecoli_k12_mg1655" / "ecoli_k12_mg1655.masked.fna.gz"
GFF = DATA / "ecoli_k12_mg1655" / "ecoli_k12_mg1655.masked.gff3.gz"


def upstream_masks(L: int, gff: Path, flank: int = 300) -> dict[str, np.ndarray]:
    from genolm.io.gff import GffWarnings, read_gff

    m = {"+": np.zeros(L, bool), "-": np.zeros(L, bool)}
    for f in read_gff(gff, {"NC_000913.3": L}, GffWarnings()):
        if f.type != "gene":
            continue
        if f.strand == "+":
            m["+"][max(0, f.start - 1 - flank): f.start - 1] = True
        elif f.strand == "-":
            m["-"][f.end: min(L, f.end + flank)] = True
    return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--time-budget", default="8m")
    ap.add_argument("--out", default="runs/bench_scan")
    ap.add_argument("--bases", type=int, default=4_100_000, help="scan NC_000913.3[0:bases] (4.1 Mb = all unmasked)")
    ap.add_argument("--naive-bases", type=int, default=20_000)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--window", type=int, default=70, help="the GUE prom_core sequences are 70 bp")
    ap.add_argument("--stride", type=int, default=35)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = args.model
    res: dict = {"machine": f"{os.cpu_count()}-core CPU ({platform.machine()}), shared/contended"}
    if model is None:
        from genolm.genome.lm import ModelShape, finetune

        model = str(out / "promoter")
        if not (Path(model) / "model").is_dir():
            m = finetune(str(DATA / "gue_prom_core/all/train.csv.gz"), str(DATA / "gue_prom_core/all/dev.csv.gz"),
                         model, shape=ModelShape(arch="cnn", hidden=32, layers=4, kernel=9, dropout=0.1),
                         time_budget=args.time_budget, batch_size=64, seed=0)
            res["promoter_model_dev"] = {k: m["valid"][k] for k in ("mcc", "auroc", "accuracy") if k in m["valid"]}
    from genolm.genome.scan import Scanner, call_peaks, scan_naive
    from genolm.io.fasta import normalize, read_fasta

    name, genome = next(iter(read_fasta(str(GENOME))))
    genome = normalize(genome)
    sc = Scanner.load(model, window=args.window, stride=args.stride)
    res["window"], res["stride"] = sc.window, sc.stride
    seq = genome[: args.bases]
    # naive loop on a small slice (it is slow), batched on the whole slice
    t0 = time.perf_counter()
    naive = scan_naive(sc.model, sc.tokenizer, seq[: args.naive_bases], sc.window, sc.stride, sc.positive)
    t_naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    starts_small, p_small, m_small = sc.scan_sequence(seq[: args.naive_bases])
    t_batched_small = time.perf_counter() - t0
    agree = float(np.max(np.abs(naive - np.stack([p_small, m_small], 1).reshape(-1))))
    t0 = time.perf_counter()
    starts, plus, minus = sc.scan_sequence(seq)
    t_batched = time.perf_counter() - t0
    res["throughput"] = {
        "naive_mb_per_min": round(args.naive_bases / 1e6 / t_naive * 60, 4),
        "batched_mb_per_min_same_slice": round(args.naive_bases / 1e6 / t_batched_small * 60, 4),
        "batched_mb_per_min_full": round(len(seq) / 1e6 / t_batched * 60, 4),
        "speedup_same_slice": round(t_naive / t_batched_small, 1),
        "naive_bases": args.naive_bases, "batched_bases": len(seq),
        "max_abs_diff_naive_vs_batched": agree}
    peaks = call_peaks(name, 0, starts, sc.window, plus, "+", args.threshold) + \
        call_peaks(name, 0, starts, sc.window, minus, "-", args.threshold)
    up = upstream_masks(len(genome), GFF)
    scanned = np.zeros(len(genome), bool)
    scanned[: len(seq)] = True
    scanned &= np.frombuffer(genome.encode(), np.uint8) != ord("N")
    any_up = (up["+"] | up["-"]) & scanned
    centres = np.array([(p.start + p.end) // 2 for p in peaks], dtype=int)
    strands = np.array([p.strand for p in peaks])
    obs_any = float(np.mean(any_up[centres])) if len(peaks) else float("nan")
    chance_any = float(any_up.sum() / scanned.sum())
    same = np.array([up[s][c] for s, c in zip(strands, centres)], bool)
    chance_same = float(0.5 * ((up["+"] & scanned).sum() + (up["-"] & scanned).sum()) / scanned.sum())
    res["enrichment"] = {
        "threshold": args.threshold, "peaks": len(peaks), "scanned_bases": int(scanned.sum()),
        "fraction_peaks_upstream_any_strand": round(obs_any, 4), "chance_any_strand": round(chance_any, 4),
        "enrichment_any_strand": round(obs_any / chance_any, 3) if len(peaks) else None,
        "fraction_peaks_upstream_same_strand": round(float(same.mean()), 4) if len(peaks) else None,
        "chance_same_strand": round(chance_same, 4),
        "enrichment_same_strand": round(float(same.mean()) / chance_same, 3) if len(peaks) else None}
    # threshold-free view: mean window probability inside vs outside upstream regions
    centre_w = np.clip(starts + sc.window // 2, 0, len(genome) - 1)
    best = np.fmax(plus, minus)
    ok = np.isfinite(best)
    inside = any_up[centre_w] & ok
    res["mean_prob_upstream_vs_elsewhere"] = [round(float(best[inside].mean()), 4),
                                              round(float(best[ok & ~inside].mean()), 4)]
    from sklearn.metrics import roc_auc_score

    res["auroc_window_upstream"] = round(float(roc_auc_score(inside[ok], best[ok])), 4)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
