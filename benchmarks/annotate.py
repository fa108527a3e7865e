"""Genome annotation on dev splits: `genolm annotate train` then predict + evaluate through the CLI path.

E. coli (prokaryote scheme): trained on the masked genome minus its own dev block (the last 10% of the
unmasked sequence, NC_000913.3:3,690,000-4,100,000); the held-out N-masked block is never read.
Baseline in the same run: longest-ORF calling (>= 100 codons, both strands) on the same dev block.

C. elegans (eukaryote scheme): trained on 809 loci minus a seeded 10% dev split (81 loci); the 112
chromosome-X loci are held out and not present here. Baseline in the same run: the same decoder with
Markov chains + splice-site PWMs only (no network), a GENSCAN-like classical gene finder.

    python benchmarks/annotate.py [--which ecoli,celegans] [--time-budget 25m] [--out runs/bench_annotate]
                                  [--reuse [--refinish]]   # reuse finished training runs in --out
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
SETS = {
    "ecoli": (
        "ecoli_k12_mg1655/ecoli_k12_mg1655.masked.fna.gz",
        "ecoli_k12_mg1655/ecoli_k12_mg1655.masked.gff3.gz",
        "prokaryote",
    ),
    "celegans": (
        "celegans_smallgenes/celegans_smallgenes.fa.gz",
        "celegans_smallgenes/celegans_smallgenes.gff3.gz",
        "eukaryote",
    ),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--which", default="ecoli,celegans")
    ap.add_argument("--time-budget", default="25m")
    ap.add_argument("--out", default="runs/bench_annotate")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument(
        "--refinish",
        action="store_true",
        help="with --reuse: redo the post-training step (Markov chains, splice PWMs, decoder weights)",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from genolm.core.runs import parse_duration
    from genolm.genome import annotate as A
    from genolm.io.bed import Region, write_bed

    results = {
        "machine": f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), shared/contended",
        "time_budget": args.time_budget,
    }
    for which in args.which.split(","):
        fa, gff, scheme = SETS[which]
        fa, gff = str(DATA / fa), str(DATA / gff)
        run = Path(args.out) / which
        t0 = time.time()
        if args.reuse and (run / "model").is_dir():
            old = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
            if (
                args.refinish or "dev_decoder_grid" not in old
            ):  # a run from before the decoder grid: redo the post-training step
                A.refinish(str(run), fa, gff, seed=args.seed, train_info=old.get("train") or _train_info_from_log(run))
        else:
            A.train(fa, gff, str(run), scheme=scheme, time_budget=parse_duration(args.time_budget), seed=args.seed)
        train_wall = time.time() - t0
        seqs = A.read_genome(fa)
        _, dev = A.split_train_dev(seqs, 0.1, args.seed)
        bed = run / "dev_regions.bed"
        write_bed(bed, [Region(s.contig, s.start, s.end) for s in dev])
        t1 = time.time()
        pred = run / "dev_pred.gff3"
        A.predict(str(run), fa, str(pred), regions=str(bed))
        predict_s = time.time() - t1
        m = A.evaluate(str(pred), gff, regions=str(bed), out=str(run / "dev_eval.json"), genome=fa)
        lengths = {k: len(v) for k, v in seqs.items()}
        from genolm.io.gff import GffWarnings, read_gff

        truth = read_gff(gff, lengths, GffWarnings())
        regs = [Region(s.contig, s.start, s.end) for s in dev]
        if scheme == "prokaryote":
            genes = [(r.chrom, r.start, g) for r in regs for g in A.longest_orf_genes(seqs[r.chrom][r.start : r.end])]
            base = A.evaluate_features(A.genes_to_features(genes, scheme), truth, lengths, regs)
            base_name = "longest ORF (>= 100 codons)"
        else:
            annot = A.Annotator.load(str(run))
            genes = []
            for r in regs:
                s = seqs[r.chrom][r.start : r.end]
                uniform = np.full((len(s), len(annot.log_prior)), 1.0 / len(annot.log_prior))
                genes += [(r.chrom, r.start, g) for g in annot.decode(s, uniform, 0.0, 1.0, 1.0)]
            base = A.evaluate_features(A.genes_to_features(genes, scheme), truth, lengths, regs)
            base_name = "no network: codon Markov chains + splice PWMs in the same HMM"
        full = json.loads((run / "metrics.json").read_text())
        tm = full["train"]
        bases = sum(len(r) for r in regs)
        results[which] = {
            "dev_bases": bases,
            "dev_regions": len(regs),
            "train_steps": tm["steps"],
            "train_seconds": tm["seconds"],
            "train_wall_incl_dev_decode_s": round(train_wall, 1) if not args.reuse else None,
            "predict_seconds": round(predict_s, 1),
            "predict_kb_per_s": round(bases / 1e3 / predict_s, 2),
            "decoder_weights": full.get("decoder_weights"),
            "model": _summary(m),
            "network_only_decoder": full.get("dev_network_only"),
            "baseline": {"name": base_name, **_summary(base)},
        }
        print(json.dumps({which: results[which]}, indent=1), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2))


def _train_info_from_log(run: Path) -> dict:
    import re

    text = (run / "log.txt").read_text() if (run / "log.txt").is_file() else ""
    m = re.search(r"training stopped \((\w+)\) at step (\d+) after (\d+)s; best \w+=([\d.]+) at step (\d+)", text)
    if not m:
        return {}
    return {
        "steps": int(m.group(2)),
        "seconds": float(m.group(3)),
        "best_step": int(m.group(5)),
        "best_dev_argmax_cds_f1": float(m.group(4)),
        "stopped_because": m.group(1),
    }


def _summary(m: dict) -> dict:
    out = {f"base_{k}_f1": v["f1"] for k, v in m["base"].items()}
    out["base_CDS_precision"] = m["base"].get("CDS", {}).get("precision")
    out["base_CDS_recall"] = m["base"].get("CDS", {}).get("recall")
    for k in ("cds_exon", "exon", "intron", "gene"):
        out[f"{k}_precision"], out[f"{k}_recall"], out[f"{k}_f1"] = m[k]["precision"], m[k]["recall"], m[k]["f1"]
        out[f"{k}_n_true"] = m[k]["n_true"]
    return out


if __name__ == "__main__":
    main()
