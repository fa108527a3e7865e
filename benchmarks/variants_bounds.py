"""How far can *local sequence annotation* take a BRCA1 LOF classifier? (issue 3, dev exons only)

An upper-bound experiment, not a genolm model: it reads the paper's true consequence (`CONSEQ`) and the
true amino-acid change (`HGVS_P`) from the dev VCF's INFO - information genolm's sequence-only model has
to infer from the reference and REF/ALT - and fits the same kind of model (logistic regression) with
the same leave-one-exon-library-out folds. If even perfect local annotation stays near the target, the
remaining gap is information a reference-only model does not see (conservation, structure).

    python benchmarks/variants_bounds.py

Prints pooled out-of-fold AUROC and AUROC within missense variants, with CADD (a table column) beside them,
then genolm's own features alone and with the oracle columns added.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brca1_sge_findlay2018"
AA = "ARNDCQEGHILKMFPSTWYV"


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import LeaveOneGroupOut

    from genolm.genome.variants.features import BLOSUM62, KYTE_DOOLITTLE
    from genolm.io.vcf import VcfReader

    info = [rec.info() for rec in VcfReader(str(DATA / "brca1_sge_dev.vcf.gz"))]
    y = np.array([float(m["LOF"]) for m in info])
    groups = np.array([m["EXON"] for m in info])
    cadd = np.array([float(m["CADD"]) for m in info])
    conseq = sorted({m["CONSEQ"] for m in info})
    rows = []
    for m in info:
        f = np.zeros(len(conseq) + 43)
        f[conseq.index(m["CONSEQ"])] = 1
        hit = re.match(r"p\.([A-Z])(\d+)([A-Z])$", urllib.parse.unquote(m["HGVS_P"]))
        if m["CONSEQ"] == "Missense" and hit:
            a, b = hit.group(1), hit.group(3)
            f[len(conseq) + AA.index(a)] = 1
            f[len(conseq) + 20 + AA.index(b)] = 1
            f[-3:] = BLOSUM62[(a, b)], KYTE_DOOLITTLE[a], KYTE_DOOLITTLE[b] - KYTE_DOOLITTLE[a]
        rows.append(f)
    X = np.array(rows)
    mis = np.array([m["CONSEQ"] == "Missense" for m in info])
    k = len(conseq)
    print(f"{len(y)} dev SNVs, {int(y.sum())} LOF, {len(set(groups))} exon libraries (leave-one-out folds)")
    print(f"{'features (true annotation, not genolm inputs)':58s} {'AUROC':>7s} {'missense':>9s}")
    for name, cols in (
        ("consequence class only", slice(0, k)),
        ("consequence + ref/alt amino acid", slice(0, k + 40)),
        ("consequence + amino acids + BLOSUM62/hydropathy", slice(0, k + 43)),
    ):
        best = None
        for C in (0.03, 0.1, 0.3):
            oof = np.zeros(len(y))
            for tr, te in LeaveOneGroupOut().split(X, y, groups):
                est = LogisticRegression(C=C, max_iter=3000).fit(X[tr][:, cols], y[tr])
                oof[te] = est.predict_proba(X[te][:, cols])[:, 1]
            r = (roc_auc_score(y, oof), roc_auc_score(y[mis], oof[mis]), C)
            best = r if best is None or r[0] > best[0] else best
        print(f"{name + f' (best C={best[2]})':58s} {best[0]:7.3f} {best[1]:9.3f}")
    print(f"{'CADD (table column)':58s} {roc_auc_score(y, cadd):7.3f} {roc_auc_score(y[mis], cadd[mis]):9.3f}")

    # genolm's own sequence features (window + motif + gene model) with and without the oracle columns, in one
    # class-balanced logistic regression (the linear member of `variants train`, on all columns)
    from genolm.genome.variants import ReferenceCache
    from genolm.genome.variants import allele_features, load_labelled_alleles
    from genolm.genome.variants.supervised import Ensemble

    rc = ReferenceCache(str(DATA / "GRCh37_chr17_BRCA1_Npadded.fa.gz"))
    alleles, y2, _, _ = load_labelled_alleles(str(DATA / "brca1_sge_dev.vcf.gz"), "LOF", rc)
    assert np.array_equal(y2, y), "one allele per record expected"
    G = allele_features(rc, alleles)
    for name, Z in (
        ("genolm features (one regression)", G),
        ("genolm features + true consequence", np.hstack([G, X[:, :k]])),
        ("genolm features + true consequence + amino acids", np.hstack([G, X])),
    ):
        oof = np.zeros(len(y))
        for tr, te in LeaveOneGroupOut().split(Z, y, groups):
            oof[te] = Ensemble(True, 0).fit(Z[tr], y[tr]).predict(Z[te])
        print(f"{name:58s} {roc_auc_score(y, oof):7.3f} {roc_auc_score(y[mis], oof[mis]):9.3f}")


if __name__ == "__main__":
    main()
