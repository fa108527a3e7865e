"""`genolm scan` throughput and a sanity check that its peaks mean something, on E. coli.

1. A promoter classifier: `genolm finetune` on GUE prom_core_all (train split, early stopping on dev;
   test split held out), small CNN, time-budgeted (or pass --model).
2. Throughput (Mb of sequence per minute, both strands scanned) on the same machine in one run:
   batched + reuse (`genolm.genome.scan.Scanner`: the region is encoded once, windows are strided
   views, batches of 512) vs the naive loop (tokenise each window string, one forward pass per window).
3. Enrichment: on the unmasked part of E. coli (the held-out N block is skipped), the fraction of peak
   centres within 300 bp upstream of annotated gene starts (strand-aware) vs the fraction of scanned
   bases that lie in such upstream regions (= what peaks placed at random would give).

With ``--ecoli-promoters`` the classifier is instead a *bacterial* promoter-region model learned from the
E. coli annotation of one part of the genome (positives: 100-bp windows 20-150 bp upstream of gene starts
that follow an intergenic gap of >= 80 bp, i.e. likely transcription-unit starts, on the gene's strand;
negatives: random windows of either strand away from every gene start), and scanning/enrichment use only the
other part (``--train-end``: genes and windows before it train the model, the scan starts there), so the
enrichment is measured on sequence the model never saw.

    python benchmarks/scan.py [--model RUN] [--time-budget 8m] [--out runs/bench_scan] [--bases 4100000]
    python benchmarks/scan.py --ecoli-promoters --time-budget 6m --out runs/bench_scan_ecoli
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
            m["+"][max(0, f.start - 1 - flank) : f.start - 1] = True
        elif f.strand == "-":
            m["-"][f.end : min(L, f.end + flank)] = True
    return m


def gene_starts(L: int, gff: Path) -> list[tuple[int, str, int]]:
    """(0-based start coordinate on the gene's strand, strand, intergenic gap upstream) of annotated genes."""
    from genolm.io.gff import GffWarnings, read_gff

    genes = [
        (f.start - 1, f.end, f.strand)
        for f in read_gff(gff, {"NC_000913.3": L}, GffWarnings())
        if f.type in ("gene", "pseudogene") and f.strand in "+-"
    ]
    genes.sort()
    out = []
    for i, (s, e, strand) in enumerate(genes):
        if strand == "+":
            prev_end = max([g[1] for g in genes[max(0, i - 20) : i]], default=0)
            out.append((s, "+", s - prev_end))
        else:
            nxt = min([g[0] for g in genes[i + 1 : i + 21]], default=L)
            out.append((e - 1, "-", nxt - e))
    return out


def build_promoter_sets(
    genome: str, gff: Path, train_end: int, out: Path, window: int = 100, seed: int = 0, min_gap: int = 80
) -> dict:
    """Training/validation CSVs of E. coli promoter-region windows (see the module docstring)."""
    import gzip
    import random

    from genolm.io.fasta import reverse_complement

    rng = random.Random(seed)
    L = len(genome)
    starts = gene_starts(L, gff)
    near = np.zeros(L, bool)
    for c, strand, _ in starts:
        near[max(0, c - 400) : c + 400] = True
    rows = []
    for c, strand, gap in starts:
        if gap < min_gap:
            continue
        for _ in range(3):  # three jittered windows per start
            off = rng.randint(40, 150)  # window centre this far upstream of the start
            if strand == "+":
                lo = c - off - window // 2
                seq = genome[lo : lo + window]
            else:
                lo = c + off - window // 2
                seq = reverse_complement(genome[lo : lo + window])
            if lo > 0 and lo + window < train_end and "N" not in seq:
                rows.append((lo, seq, 1))
    n_pos = len(rows)
    while len(rows) < 4 * n_pos:
        lo = rng.randrange(0, train_end - window)
        if near[lo : lo + window].any():
            continue
        seq = genome[lo : lo + window]
        if "N" in seq:
            continue
        rows.append((lo, seq if rng.random() < 0.5 else reverse_complement(seq), 0))
    # validation = the last 15% of the training part (by position), so windows do not overlap across sets
    cut = int(train_end * 0.85)
    paths = {}
    for name, keep in (("train", lambda lo: lo + window < cut - 500), ("dev", lambda lo: lo >= cut)):
        paths[name] = out / f"ecoli_promoters_{name}.csv.gz"
        with gzip.open(paths[name], "wt") as fh:
            fh.write("sequence,label\n")
            for lo, seq, lab in rows:
                if keep(lo):
                    fh.write(f"{seq},{lab}\n")
    return {
        "positives": n_pos,
        "negatives": len(rows) - n_pos,
        "train_csv": str(paths["train"]),
        "dev_csv": str(paths["dev"]),
    }


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
    ap.add_argument(
        "--ecoli-promoters",
        action="store_true",
        help="train a bacterial promoter-region model on [0, --train-end) and scan from --train-end",
    )
    ap.add_argument("--train-end", type=int, default=2_000_000)
    args = ap.parse_args()
    if args.ecoli_promoters and args.window == 70:
        args.window, args.stride = 100, 50
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = args.model
    res: dict = {"machine": f"{os.cpu_count()}-core CPU ({platform.machine()}), shared/contended"}
    from genolm.io.fasta import normalize, read_fasta

    name, genome = next(iter(read_fasta(str(GENOME))))
    genome = normalize(genome)
    scan_from = 0
    if args.ecoli_promoters:
        from genolm.genome.lm import ModelShape, finetune

        scan_from = args.train_end
        model = model or str(out / "ecoli_promoter")
        if not (Path(model) / "model").is_dir():
            sets = build_promoter_sets(genome, GFF, args.train_end, out, window=args.window)
            res["promoter_sets"] = sets
            m = finetune(
                sets["train_csv"],
                sets["dev_csv"],
                model,
                shape=ModelShape(arch="cnn", hidden=64, layers=4, kernel=9, dropout=0.2),
                time_budget=args.time_budget,
                batch_size=64,
                seed=0,
            )
            res["promoter_model_dev"] = {k: m["valid"][k] for k in ("mcc", "auroc", "accuracy") if k in m["valid"]}
    elif model is None:
        from genolm.genome.lm import ModelShape, finetune

        model = str(out / "promoter")
        if not (Path(model) / "model").is_dir():
            m = finetune(
                str(DATA / "gue_prom_core/all/train.csv.gz"),
                str(DATA / "gue_prom_core/all/dev.csv.gz"),
                model,
                shape=ModelShape(arch="cnn", hidden=32, layers=4, kernel=9, dropout=0.1),
                time_budget=args.time_budget,
                batch_size=64,
                seed=0,
            )
            res["promoter_model_dev"] = {k: m["valid"][k] for k in ("mcc", "auroc", "accuracy") if k in m["valid"]}
    from genolm.genome.scan import Scanner, call_peaks, scan_naive

    sc = Scanner.load(model, window=args.window, stride=args.stride)
    res["window"], res["stride"], res["scanned"] = sc.window, sc.stride, [scan_from, args.bases]
    seq = genome[scan_from : args.bases]
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
    starts = starts + scan_from
    res["throughput"] = {
        "naive_mb_per_min": round(args.naive_bases / 1e6 / t_naive * 60, 4),
        "batched_mb_per_min_same_slice": round(args.naive_bases / 1e6 / t_batched_small * 60, 4),
        "batched_mb_per_min_full": round(len(seq) / 1e6 / t_batched * 60, 4),
        "speedup_same_slice": round(t_naive / t_batched_small, 1),
        "naive_bases": args.naive_bases,
        "batched_bases": len(seq),
        "max_abs_diff_naive_vs_batched": agree,
    }
    peaks = call_peaks(name, 0, starts, sc.window, plus, "+", args.threshold) + call_peaks(
        name, 0, starts, sc.window, minus, "-", args.threshold
    )
    up = upstream_masks(len(genome), GFF)
    scanned = np.zeros(len(genome), bool)
    scanned[scan_from : scan_from + len(seq)] = True
    scanned &= np.frombuffer(genome.encode(), np.uint8) != ord("N")
    any_up = (up["+"] | up["-"]) & scanned
    centres = np.array([(p.start + p.end) // 2 for p in peaks], dtype=int)
    strands = np.array([p.strand for p in peaks])
    obs_any = float(np.mean(any_up[centres])) if len(peaks) else float("nan")
    chance_any = float(any_up.sum() / scanned.sum())
    same = np.array([up[s][c] for s, c in zip(strands, centres)], bool)
    chance_same = float(0.5 * ((up["+"] & scanned).sum() + (up["-"] & scanned).sum()) / scanned.sum())
    res["enrichment"] = {
        "threshold": args.threshold,
        "peaks": len(peaks),
        "scanned_bases": int(scanned.sum()),
        "fraction_peaks_upstream_any_strand": round(obs_any, 4),
        "chance_any_strand": round(chance_any, 4),
        "enrichment_any_strand": round(obs_any / chance_any, 3) if len(peaks) else None,
        "fraction_peaks_upstream_same_strand": round(float(same.mean()), 4) if len(peaks) else None,
        "chance_same_strand": round(chance_same, 4),
        "enrichment_same_strand": round(float(same.mean()) / chance_same, 3) if len(peaks) else None,
    }
    # baseline in the same run: AT content of each window (promoters are AT-rich), thresholded so that as many
    # windows pass as model windows passed on either strand; peaks called the same way (strand-agnostic)
    codes = np.frombuffer(seq.encode(), np.uint8)
    at = np.isin(codes, np.frombuffer(b"AT", np.uint8)).astype(np.float64)
    csum = np.concatenate([[0.0], np.cumsum(at)])
    rel = starts - scan_from
    at_frac = (csum[np.minimum(rel + sc.window, len(seq))] - csum[rel]) / sc.window
    n_pass = int(np.nansum(plus >= args.threshold) + np.nansum(minus >= args.threshold))
    if n_pass:
        thr = float(np.sort(at_frac)[::-1][min(n_pass, len(at_frac)) - 1])
        at_peaks = call_peaks(name, 0, starts, sc.window, at_frac, "+", thr)
        at_centres = np.array([(p.start + p.end) // 2 for p in at_peaks], dtype=int)
        obs_at = float(np.mean(any_up[at_centres])) if len(at_peaks) else float("nan")
        res["baseline_at_content"] = {
            "windows_passing": n_pass,
            "at_threshold": round(thr, 3),
            "peaks": len(at_peaks),
            "fraction_peaks_upstream_any_strand": round(obs_at, 4),
            "enrichment_any_strand": round(obs_at / chance_any, 3),
        }
    # threshold-free view: mean window probability inside vs outside upstream regions
    centre_w = np.clip(starts + sc.window // 2, 0, len(genome) - 1)
    best = np.fmax(plus, minus)
    ok = np.isfinite(best)
    inside = any_up[centre_w] & ok
    res["mean_prob_upstream_vs_elsewhere"] = [
        round(float(best[inside].mean()), 4),
        round(float(best[ok & ~inside].mean()), 4),
    ]
    from sklearn.metrics import roc_auc_score

    res["auroc_window_upstream"] = round(float(roc_auc_score(inside[ok], best[ok])), 4)
    res["auroc_window_upstream_at_content_baseline"] = round(float(roc_auc_score(inside[ok], at_frac[ok])), 4)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
