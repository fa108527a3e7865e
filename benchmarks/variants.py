"""Variant scoring benchmarks (dev data only; held-out exons/loci are scored elsewhere).

Parts (``--part``):
- ``speed``: 100,000 random SNVs on the E. coli genome scored with a small genolm masked LM (CNN, hidden 32,
  random weights, 64-bp windows): genolm's batched scorer
  (one forward pass per site, all alleles read from it, batches of windows) vs the straightforward loop
  (one forward pass per allele, batch of 1). Prints variants/s and peak RSS of each; the naive loop is
  timed on a subset (``--naive-n``) and its rate extrapolated. The last line printed is ``ratio X``, the
  ratio of variants per CPU-second (process time; wall-clock is also printed, but on a shared machine it
  mostly measures other people's jobs).
- ``quality``: BRCA1 SGE dev (LOF vs FUNC/INT): supervised `variants train` with grouped CV by exon
  library (leave-exon-group-out), a substitution-type baseline in the same run, and the zero-shot llr
  AUROC of ``--lm``; Kircher MPRA dev: Spearman of the zero-shot llr (per element and pooled) and of a
  supervised model with CV grouped by element.

    OMP_NUM_THREADS=1 python benchmarks/variants.py --part speed
    OMP_NUM_THREADS=1 python benchmarks/variants.py --part quality --lm RUN_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

DATA = Path(os.environ.get("GENOLM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tiny_mlm(out: Path, window: int, hidden: int = 64, layers: int = 2) -> Path:
    """A small genolm MLM (random weights: speed does not depend on them)."""
    from genolm.core.loading import ModelInfo, save_model
    from genolm.core.models import GenolmConfig, GenolmForMaskedLM
    from genolm.core.tokenizers import build_dna_tokenizer

    torch.manual_seed(0)
    tok = build_dna_tokenizer("base")
    cfg = GenolmConfig(
        vocab_size=len(tok),
        arch="cnn",
        hidden_size=hidden,
        num_layers=layers,
        conv_layers=layers,
        conv_kernel=9,
        dropout=0.0,
        pad_token_id=tok.pad_token_id,
    )
    save_model(
        GenolmForMaskedLM(cfg).eval(), tok, ModelInfo(task="masked-lm", tokenizer="base", max_length=window + 2), out
    )
    return out


def random_snv_vcf(fasta: str, n: int, path: Path, seed: int = 0, contig_filter=None) -> Path:
    from genolm.io.fasta import read_fasta

    rng = np.random.default_rng(seed)
    name, seq = next(iter(read_fasta(fasta)))
    cand = rng.choice(np.arange(1000, len(seq) - 1000), size=min(len(seq) - 2000, 2 * n), replace=False)
    pos = np.sort([p for p in cand if seq[p - 1].upper() in "ACGT"][:n])  # masked (N) bases skipped
    with open(path, "w") as fh:
        fh.write(
            f"##fileformat=VCFv4.2\n##contig=<ID={name},length={len(seq)}>\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        )
        for p in pos:
            ref = seq[p - 1].upper()
            alt = "ACGT"[("ACGT".index(ref) + 1 + int(rng.integers(3))) % 4]
            fh.write(f"{name}\t{p}\t.\t{ref}\t{alt}\t.\t.\t.\n")
    return path


def naive_loop(model_dir: str, fasta: str, vcf: Path, n: int, window: int) -> tuple[float, int]:
    """The straightforward scorer: per allele, tokenise its window, mask, one forward pass of batch 1."""
    from genolm.core.loading import load_model
    from genolm.io.fasta import Reference

    model, tok, _ = load_model(model_dir, device="cpu")
    ref = Reference(fasta)
    done = 0
    t0 = time.perf_counter()
    with open(vcf) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            chrom, pos, _, r, a = line.split("\t")[:5]
            p0 = int(pos) - 1
            left = (window - 1) // 2
            seq = ref.fetch(chrom, p0 - left, p0 - left + window).upper()
            ids = tok(seq, return_tensors="pt")["input_ids"]
            ids[0, left + 1] = tok.mask_token_id
            with torch.inference_mode():
                lp = torch.log_softmax(model(input_ids=ids).logits[0, left + 1], -1)
            _ = float(lp[tok.convert_tokens_to_ids(a)] - lp[tok.convert_tokens_to_ids(r)])
            done += 1
            if done >= n:
                break
    return time.perf_counter() - t0, done


def part_speed(args) -> None:
    from genolm.genome.variants import score_vcf

    fasta = str(DATA / "ecoli_k12_mg1655" / "ecoli_k12_mg1655.masked.fna.gz")
    work = Path(tempfile.mkdtemp(prefix="genolm_varbench_"))
    model = args.model or str(tiny_mlm(work / "mlm", args.window, hidden=32, layers=2))
    vcf = random_snv_vcf(fasta, args.n, work / "snv.vcf", seed=args.seed)
    n = sum(1 for line in open(vcf) if not line.startswith("#"))
    print(
        f"machine: {os.cpu_count()} CPU(s) visible, torch threads {torch.get_num_threads()}; model {model}; "
        f"window {args.window}; {n} SNVs on E. coli K-12 MG1655"
    )
    rss0 = peak_rss_mb()
    c0 = time.process_time()
    s = score_vcf(model, fasta, str(vcf), str(work / "out.vcf.gz"), window=args.window, batch_size=args.batch_size)
    cpu_fast = time.process_time() - c0
    fast, fast_cpu = s.scored / s.seconds, s.scored / cpu_fast
    print(
        f"genolm batched scorer: {s.scored} variants in {s.seconds:.1f}s wall = {fast:.0f} variants/s "
        f"({cpu_fast:.1f}s CPU = {fast_cpu:.0f} variants/CPU-s; includes reading the genome and writing "
        f"the bgzip VCF + index); peak RSS {peak_rss_mb():.0f} MB (before: {rss0:.0f} MB)",
        flush=True,
    )
    c0 = time.process_time()
    secs, done = naive_loop(model, fasta, vcf, args.naive_n, args.window)
    cpu_slow = time.process_time() - c0
    slow, slow_cpu = done / secs, done / cpu_slow
    print(
        f"one-forward-pass-per-allele loop: {done} variants in {secs:.1f}s wall = {slow:.0f} variants/s "
        f"({cpu_slow:.1f}s CPU = {slow_cpu:.0f} variants/CPU-s; timed on the first {done} of {n}); "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )
    print(f"wall-clock ratio {fast / slow:.1f} (noisy on a shared machine)")
    # CPU time is the fair measure on a machine shared with other jobs
    print(f"ratio {fast_cpu / slow_cpu:.1f}")


def _auroc(y, x):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, x))


def part_quality(args) -> dict:
    from scipy.stats import spearmanr

    from genolm.genome.variants import read_allele_values, score_vcf
    from genolm.genome.variants import train_variant_model

    work = Path(tempfile.mkdtemp(prefix="genolm_varqual_"))
    res: dict = {}
    b = DATA / "brca1_sge_findlay2018"
    fa, vcf = str(b / "GRCh37_chr17_BRCA1_Npadded.fa.gz"), str(b / "brca1_sge_dev.vcf.gz")
    truth = read_allele_values(vcf, "LOF")
    cadd = read_allele_values(vcf, "CADD")
    keys = list(truth)
    y = np.array([truth[k] for k in keys])
    res["brca1_dev_cadd_auroc_reference"] = _auroc(y, [cadd[k] for k in keys])
    t0 = time.perf_counter()
    m = train_variant_model(
        fa,
        vcf,
        "LOF",
        str(work / "sup"),
        model=args.lm if args.lm_feature else None,
        group_field="EXON",
        folds=7,
        seed=args.seed,
    )
    res["brca1_dev_supervised_grouped_cv_auroc"] = m["cv"]["auroc"]
    res["brca1_dev_baseline_grouped_cv_auroc"] = m["baseline_cv"]["auroc"]
    res["brca1_train_seconds"] = round(time.perf_counter() - t0, 1)
    print(
        f"BRCA1 dev, supervised (leave-exon-group-out CV, 7 exon libraries): AUROC {m['cv']['auroc']:.3f}; "
        f"substitution-type baseline {m['baseline_cv']['auroc']:.3f}; CADD on the same SNVs "
        f"{res['brca1_dev_cadd_auroc_reference']:.3f}; train {res['brca1_train_seconds']}s",
        flush=True,
    )
    # bootstrap intervals of the out-of-fold AUROC (over variants, and over exon libraries), and of genolm - CADD
    import pandas as pd

    df = pd.read_csv(work / "sup" / "predictions_cv.csv")
    yy0, ss0 = df["label"].to_numpy(), df["cv_score"].to_numpy()
    cc0 = np.array([cadd[(str(r.chrom), int(r.pos), r.ref, r.alt)] for r in df.itertuples()])
    gg0 = df["group"].astype(str).to_numpy()
    rng = np.random.default_rng(args.seed)
    by_var, by_exon, diff = [], [], []
    exons = sorted(set(gg0))
    for _ in range(2000):
        i = rng.integers(0, len(yy0), len(yy0))
        by_var.append(_auroc(yy0[i], ss0[i]))
        i = np.concatenate([np.nonzero(gg0 == e)[0] for e in rng.choice(exons, len(exons))])
        by_exon.append(_auroc(yy0[i], ss0[i]))
        diff.append(by_exon[-1] - _auroc(yy0[i], cc0[i]))
    res["brca1_dev_supervised_auroc_ci95_variants"] = [float(v) for v in np.percentile(by_var, [2.5, 97.5])]
    res["brca1_dev_supervised_auroc_ci95_exons"] = [float(v) for v in np.percentile(by_exon, [2.5, 97.5])]
    res["brca1_dev_supervised_minus_cadd_ci95_exons"] = [float(v) for v in np.percentile(diff, [2.5, 97.5])]
    print(
        f"BRCA1 dev, supervised AUROC 95% bootstrap interval: over variants "
        f"{res['brca1_dev_supervised_auroc_ci95_variants']}, over exon libraries "
        f"{res['brca1_dev_supervised_auroc_ci95_exons']}; genolm - CADD over exon libraries "
        f"{res['brca1_dev_supervised_minus_cadd_ci95_exons']}",
        flush=True,
    )
    # the supervised model's members, each alone (same features and folds)
    from sklearn.model_selection import LeaveOneGroupOut

    from genolm.genome.variants import ReferenceCache
    from genolm.genome.variants import load_labelled_alleles
    from genolm.genome.variants.supervised import ALL_FEATURES, Ensemble, allele_features, feature_views

    rc = ReferenceCache(fa)
    alleles, yy, groups, _ = load_labelled_alleles(vcf, "LOF", rc, "EXON")
    X = allele_features(rc, alleles)
    groups = np.array(groups)
    window, gene, motif = feature_views(ALL_FEATURES)
    for name, members in (
        ("logistic_window", [("linear", window)]),
        ("logistic_motif", [("linear", motif)]),
        ("logistic_gene_model", [("linear", gene)]),
        ("boosting_gene_model", [("trees", gene)]),
        ("logistic_window_plus_gene_model", [("linear", window + gene)]),
        ("logistic_window_and_gene_model", [("linear", window), ("linear", gene)]),
        ("without_motif_member", [("linear", window), ("linear", gene), ("trees", gene)]),
    ):
        oof = np.zeros(len(yy))
        for tr, te in LeaveOneGroupOut().split(X, yy, groups):
            est = Ensemble(True, args.seed, [window, gene, motif])
            est.members = members
            oof[te] = est.fit(X[tr], yy[tr]).predict(X[te])
        res[f"brca1_dev_{name}_auroc"] = _auroc(yy, oof)
        print(f"BRCA1 dev, {name} alone: AUROC {_auroc(yy, oof):.3f}", flush=True)
    if args.lm:
        s = score_vcf(args.lm, fa, vcf, str(work / "llr.vcf.gz"))
        sc = read_allele_values(str(work / "llr.vcf.gz"), "GENOLM_SCORE")
        res["brca1_dev_zero_shot_llr_auroc"] = _auroc(y, [-sc[k] for k in keys])
        print(
            f"BRCA1 dev, zero-shot llr ({args.lm}): AUROC {res['brca1_dev_zero_shot_llr_auroc']:.3f} "
            f"(score = -llr; {s.seconds:.0f}s)",
            flush=True,
        )
    k = DATA / "cagi5_satmut_mpra_kircher2019"
    kfa, ksnv = str(k / "elements_dev.GRCh37.fa"), str(k / "kircher2019_dev.snv.vcf.gz")
    eff = read_allele_values(ksnv, "EFFECT")
    kk = list(eff)
    e = np.array([eff[x] for x in kk])
    chroms = np.array([x[0] for x in kk])

    def zero_shot(name: str, model: str, method: str | None) -> None:
        t1 = time.perf_counter()
        score_vcf(model, kfa, ksnv, str(work / f"mpra_{name}.vcf.gz"), method=method)
        sc = read_allele_values(str(work / f"mpra_{name}.vcf.gz"), "GENOLM_SCORE")
        x = np.array([sc.get(q, np.nan) for q in kk])
        per = [spearmanr(e[chroms == c], x[chroms == c])[0] for c in sorted(set(chroms))]
        res[f"mpra_dev_zero_shot_{name}_spearman_pooled"] = float(spearmanr(e, x)[0])
        res[f"mpra_dev_zero_shot_{name}_spearman_mean_per_element"] = float(np.nanmean(per))
        print(
            f"MPRA dev, zero-shot {name} vs EFFECT: Spearman pooled {float(spearmanr(e, x)[0]):.3f}, mean per "
            f"element {float(np.nanmean(per)):.3f} ({time.perf_counter() - t1:.0f}s)",
            flush=True,
        )

    if args.lm:
        zero_shot("llr", args.lm, None)
    zero_shot("motif", "jaspar", "motif")  # JASPAR 2022 site change, no model
    m2 = train_variant_model(kfa, ksnv, "EFFECT", str(work / "mpra_sup"), group_field="LOCUS", folds=5, seed=args.seed)
    pred = {}
    df = pd.read_csv(work / "mpra_sup" / "predictions_cv.csv")
    for r in df.itertuples():
        pred[(str(r.chrom), int(r.pos), r.ref, r.alt)] = (r.cv_score, r.baseline_cv_score)
    x = np.array([pred.get(q, (np.nan, np.nan))[0] for q in kk])
    xb = np.array([pred.get(q, (np.nan, np.nan))[1] for q in kk])
    per = [spearmanr(e[chroms == c], x[chroms == c])[0] for c in sorted(set(chroms))]
    perb = [spearmanr(e[chroms == c], xb[chroms == c])[0] for c in sorted(set(chroms))]
    res["mpra_dev_supervised_grouped_cv_spearman_pooled"] = m2["cv"]["spearman"]
    res["mpra_dev_supervised_grouped_cv_spearman_mean_per_element"] = float(np.nanmean(per))
    res["mpra_dev_baseline_grouped_cv_spearman_mean_per_element"] = float(np.nanmean(perb))
    print(
        f"MPRA dev, supervised (CV grouped by locus): Spearman pooled {m2['cv']['spearman']:.3f}, mean per element "
        f"{np.nanmean(per):.3f}; substitution-type baseline pooled {m2['baseline_cv']['spearman']:.3f}, "
        f"per element {np.nanmean(perb):.3f}",
        flush=True,
    )
    print(json.dumps(res, indent=2))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["speed", "quality", "all"], default="speed")
    ap.add_argument("--n", type=int, default=100_000, help="SNVs for the speed part")
    ap.add_argument("--naive-n", type=int, default=2000, help="alleles timed in the naive loop")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--model", default=None, help="MLM for the speed part (default: a small random genolm MLM)")
    ap.add_argument("--lm", default=None, help="pretrained genolm LM run dir for zero-shot llr (quality part)")
    ap.add_argument("--lm-feature", action="store_true", help="also give the LM's llr to the supervised model")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.part in ("quality", "all"):
        part_quality(args)
    if args.part in ("speed", "all"):
        part_speed(args)


if __name__ == "__main__":
    main()
