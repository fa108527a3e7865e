"""`genolm discover`: are foreign (C. elegans) windows flagged among E. coli windows (1:20)?

1. A DNA language model pretrained on E. coli only (`genolm pretrain` on the masked genome, causal
   CNN, time-budgeted; or pass --model).
2. Inputs: 1,000 random 400-bp E. coli windows (unmasked part, seeded) + 50 random 400-bp windows of
   C. elegans loci (1:20), plus every 400-bp window centred on an annotated E. coli
   mobile_genetic_element (insertion sequences etc.) outside the masked block.
3. `genolm discover` on all of them; AUROC of anomaly_score (and of its two parts) for C. elegans vs
   E. coli, and for mobile elements vs the other E. coli windows. Baseline in the same run: |GC - mean|
   (GC-content deviation), the obvious compositional outlier score.

    python benchmarks/discover.py [--model RUN] [--time-budget 6m] [--out runs/bench_discover]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ECOLI = DATA / "ecoli_k12_mg1655" / "ecoli_k12_mg1655.masked.fna.gz"
ECOLI_GFF = DATA / "ecoli_k12_mg1655" / "ecoli_k12_mg1655.masked.gff3.gz"
CEL = DATA / "celegans_smallgenes" / "celegans_smallgenes.fa.gz"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--time-budget", default="6m")
    ap.add_argument("--out", default="runs/bench_discover")
    ap.add_argument("--window", type=int, default=400)
    ap.add_argument("--n-ecoli", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"machine": f"{os.cpu_count()}-core CPU ({platform.machine()}), shared/contended"}
    model = args.model
    if model is None:
        from genolm.genome.lm import ModelShape, pretrain

        model = str(out / "ecoli_lm")
        if not (Path(model) / "model").is_dir():
            m = pretrain(str(ECOLI), model, objective="clm", shape=ModelShape(arch="cnn", hidden=32, layers=4),
                         seq_len=256, time_budget=args.time_budget, batch_size=16, seed=args.seed)
            res["lm"] = {k: m[k] for k in ("steps", "seconds", "valid_perplexity")}
    from genolm.genome.discover import auroc, discover
    from genolm.io.fasta import normalize, read_fasta
    from genolm.io.gff import GffWarnings, read_gff

    rng = np.random.default_rng(args.seed)
    W = args.window
    name, eco = next(iter(read_fasta(str(ECOLI))))
    eco = normalize(eco)
    recs: list[tuple[str, str, str]] = []  # id, seq, group
    while sum(1 for r in recs if r[2] == "ecoli") < args.n_ecoli:
        a = int(rng.integers(0, len(eco) - W))
        w = eco[a:a + W]
        if "N" not in w:
            recs.append((f"ecoli:{a}-{a + W}", w, "ecoli"))
    cel = [(n, normalize(s)) for n, s in read_fasta(str(CEL)) if len(s) >= W]
    pick = rng.choice(len(cel), args.n_ecoli // 20, replace=False)
    for i in pick:
        n, s = cel[i]
        a = int(rng.integers(0, len(s) - W + 1))
        recs.append((f"celegans:{n}:{a}-{a + W}", s[a:a + W], "celegans"))
    for f in read_gff(str(ECOLI_GFF), {name: len(eco)}, GffWarnings()):
        if f.type == "mobile_genetic_element":
            c = (f.start - 1 + f.end) // 2
            w = eco[max(0, c - W // 2): max(0, c - W // 2) + W]
            if len(w) == W and "N" not in w:
                recs.append((f"mge:{f.attributes.get('mobile_element_type', f.id)}:{c}", w, "mge"))
    fa = out / "inputs.fa"
    with open(fa, "w") as fh:
        for i, s, _ in recs:
            fh.write(f">{i.replace(' ', '_')}\n{s}\n")
    r = discover(model, str(out / "discover"), input=str(fa), seed=args.seed)
    import pandas as pd

    df = pd.read_csv(out / "discover" / "results.tsv", sep="\t")
    groups = np.array([g for _, _, g in recs])
    gc = np.array([(s.count("G") + s.count("C")) / len(s) for _, s, _ in recs])
    gc_dev = np.abs(gc - gc[groups == "ecoli"].mean())
    sel = groups != "mge"
    y = (groups[sel] == "celegans").astype(int)
    res["celegans_vs_ecoli"] = {
        "n_ecoli": int((groups == "ecoli").sum()), "n_celegans": int(y.sum()),
        "auroc_anomaly_score": round(auroc(y, df.anomaly_score.values[sel]), 4),
        "auroc_perplexity": round(auroc(y, df.perplexity.values[sel]), 4),
        "auroc_embed_outlier": round(auroc(y, df.embed_outlier.values[sel]), 4),
        "baseline_auroc_gc_deviation": round(auroc(y, gc_dev[sel]), 4)}
    sel2 = groups != "celegans"
    y2 = (groups[sel2] == "mge").astype(int)
    res["mobile_elements_vs_other_ecoli"] = {
        "n_mge_windows": int(y2.sum()),
        "auroc_anomaly_score": round(auroc(y2, df.anomaly_score.values[sel2]), 4),
        "auroc_perplexity": round(auroc(y2, df.perplexity.values[sel2]), 4),
        "mean_anomaly_mge": round(float(df.anomaly_score.values[groups == "mge"].mean()), 4),
        "mean_anomaly_other_ecoli": round(float(df.anomaly_score.values[groups == "ecoli"].mean()), 4),
        "baseline_auroc_gc_deviation": round(auroc(y2, gc_dev[sel2]), 4)}
    res["clusters"] = r["clusters"]
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
