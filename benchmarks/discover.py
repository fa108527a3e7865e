"""`genolm discover`: are foreign (C. elegans) windows flagged among E. coli windows (1:20)?

1. A DNA language model pretrained on E. coli only (`genolm pretrain` on the masked genome, causal
   CNN, time-budgeted; or pass --model).
2. Inputs: 1,000 random 400-bp E. coli windows (unmasked part, seeded) + 50 random 400-bp windows of
   C. elegans loci (1:20), plus every 400-bp window centred on an annotated E. coli
   mobile_genetic_element (insertion sequences etc.) outside the masked block.
3. `genolm discover` on all of them; AUROC of anomaly_score (and of its two parts) for C. elegans vs
   E. coli, and for mobile elements vs the other E. coli windows. Baselines in the same run: |GC - mean|
   (GC-content deviation), the robust Mahalanobis distance of the 16 dinucleotide frequencies (label-free
   compositional outlier scores that need no model), and the previous anomaly rule (mean robust z of
   log-perplexity and the log mean distance to the 10 nearest neighbours in the embedding PCA space).

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
            m = pretrain(
                str(ECOLI),
                model,
                objective="clm",
                shape=ModelShape(arch="cnn", hidden=32, layers=4),
                seq_len=256,
                time_budget=args.time_budget,
                batch_size=16,
                seed=args.seed,
            )
            res["lm"] = {k: m[k] for k in ("steps", "seconds", "valid_perplexity")}
    res["model"] = model
    if "lm" not in res and (Path(model) / "metrics.json").is_file():
        m = json.loads((Path(model) / "metrics.json").read_text())
        res["lm"] = {k: m.get(k) for k in ("steps", "seconds", "valid_perplexity")}
    from genolm.genome.discover import auroc, discover, knn_outlier, robust_distance, robust_z
    from genolm.io.fasta import normalize, read_fasta
    from genolm.io.gff import GffWarnings, read_gff

    rng = np.random.default_rng(args.seed)
    W = args.window
    name, eco = next(iter(read_fasta(str(ECOLI))))
    eco = normalize(eco)
    recs: list[tuple[str, str, str]] = []  # id, seq, group
    while sum(1 for r in recs if r[2] == "ecoli") < args.n_ecoli:
        a = int(rng.integers(0, len(eco) - W))
        w = eco[a : a + W]
        if "N" not in w:
            recs.append((f"ecoli:{a}-{a + W}", w, "ecoli"))
    cel = [(n, normalize(s)) for n, s in read_fasta(str(CEL)) if len(s) >= W]
    pick = rng.choice(len(cel), args.n_ecoli // 20, replace=False)
    for i in pick:
        n, s = cel[i]
        a = int(rng.integers(0, len(s) - W + 1))
        recs.append((f"celegans:{n}:{a}-{a + W}", s[a : a + W], "celegans"))
    for f in read_gff(str(ECOLI_GFF), {name: len(eco)}, GffWarnings()):
        if f.type == "mobile_genetic_element":
            c = (f.start - 1 + f.end) // 2
            w = eco[max(0, c - W // 2) : max(0, c - W // 2) + W]
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
    dinuc = [a + b for a in "ACGT" for b in "ACGT"]
    freq = np.array(
        [[sum(s[i : i + 2] == d for i in range(len(s) - 1)) / (len(s) - 1) for d in dinuc[:15]] for _, s, _ in recs]
    )  # 15 of 16: the frequencies sum to 1
    dinuc_dist = robust_distance(freq, n_components=15, seed=args.seed)
    # the previous rule, recomputed from the same run's embeddings and perplexities
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    emb = np.load(out / "discover" / "embeddings.npy")
    zp = PCA(n_components=min(20, emb.shape[1], len(emb) - 1), random_state=args.seed).fit_transform(
        StandardScaler().fit_transform(emb)
    )
    knn = knn_outlier(zp)
    old_rule = 0.5 * (robust_z(np.log(df.perplexity.values)) + robust_z(np.log(knn + 1e-9)))
    scores = {
        "anomaly_score": df.anomaly_score.values,
        "excess_nll": df.excess_nll.values,
        "embed_outlier (robust Mahalanobis)": df.embed_outlier.values,
        "perplexity": df.perplexity.values,
        "knn10_distance (previous embedding score)": knn,
        "previous_rule (z logppl + z log knn10)": old_rule,
        "baseline_gc_deviation": gc_dev,
        "baseline_dinucleotide_robust_distance": dinuc_dist,
    }
    sel = groups != "mge"
    y = (groups[sel] == "celegans").astype(int)
    res["celegans_vs_ecoli"] = {"n_ecoli": int((groups == "ecoli").sum()), "n_celegans": int(y.sum())}
    res["celegans_vs_ecoli"].update({f"auroc {k}": round(auroc(y, v[sel]), 4) for k, v in scores.items()})
    sel2 = groups != "celegans"
    y2 = (groups[sel2] == "mge").astype(int)
    res["mobile_elements_vs_other_ecoli"] = {
        "n_mge_windows": int(y2.sum()),
        "mean_anomaly_mge": round(float(df.anomaly_score.values[groups == "mge"].mean()), 4),
        "mean_anomaly_other_ecoli": round(float(df.anomaly_score.values[groups == "ecoli"].mean()), 4),
        "mean_anomaly_celegans": round(float(df.anomaly_score.values[groups == "celegans"].mean()), 4),
        "mge_in_top_5pct_of_ecoli+mge": int(
            (df.anomaly_score.values[groups == "mge"] >= np.quantile(df.anomaly_score.values[sel2], 0.95)).sum()
        ),
    }
    res["mobile_elements_vs_other_ecoli"].update(
        {f"auroc {k}": round(auroc(y2, v[sel2]), 4) for k, v in scores.items()}
    )
    res["clusters"] = r["clusters"]
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
