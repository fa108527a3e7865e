"""Benchmarks for genolm lit ner / re / qa on the dev splits in ../shared/data (test splits are held out).

Each task prints its figure next to a baseline measured in the same run:
  ner: tagger (default: fine-tuned MiniLM; --arch crf) vs a dictionary (longest-match gazetteer of the training mentions) tagger
  re:  document-level classifier vs "every chemical-disease pair that shares a sentence"
  qa:  official 10-fold CV accuracy vs the majority class

    python benchmarks/lit_nlp.py ner --corpus NCBI-disease --out /tmp/bench_ner
    python benchmarks/lit_nlp.py re --out /tmp/bench_re
    python benchmarks/lit_nlp.py qa
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def bench_ner(args):
    from genolm.literature import formats as F
    from genolm.literature import ner as N

    d = SHARED / "ner" / args.corpus
    t0 = time.time()
    m = N.train_ner(
        d / "train.tsv",
        Path(args.out) / args.corpus,
        valid=d / "devel.tsv",
        overwrite=True,
        arch=args.arch,
        crf_iterations=args.crf_iterations,
        time_budget=args.time_budget,
    )
    secs = time.time() - t0
    train, dev = F.read_iob(d / "train.tsv"), F.read_iob(d / "devel.tsv")
    gaz = N.Gazetteer.from_sentences(train)
    base_tags = [[t if t else "O" for t in gaz.match(s.tokens)] for s in dev]
    base = N.entity_scores([s.tags for s in dev], base_tags)
    return {
        "task": "ner",
        "corpus": args.corpus,
        "arch": args.arch,
        "dev_f1": m["dev"]["f1"],
        "dev_precision": m["dev"]["precision"],
        "dev_recall": m["dev"]["recall"],
        "per_type": {k: v["f1"] for k, v in m["dev"]["per_type"].items()},
        "baseline_dictionary_dev_f1": base["f1"],
        "wall_seconds_train_and_eval": round(secs, 1),
    }


def bench_re(args):
    from genolm.literature import formats as F
    from genolm.literature import relations as R

    d = SHARED / "relations" / "CDR"
    t0 = time.time()
    m = R.train_re(d / "CDR_TrainingSet.PubTator.txt", d / "CDR_DevelopmentSet.PubTator.txt", Path(args.out) / "cdr")
    secs = time.time() - t0
    dev = F.read_pubtator(d / "CDR_DevelopmentSet.PubTator.txt")
    base = []
    for doc in dev:
        pairs, _ = R.candidate_pairs(doc, [("Chemical", "Disease")])
        base.append(
            [F.Relation("CID", a.id, b.id) for a, b in pairs if {x[2] for x in a.mentions} & {x[2] for x in b.mentions}]
        )
    b = R.relation_scores(dev, base)
    return {
        "task": "re",
        "corpus": "CDR",
        "dev_f1": m["dev"]["f1"],
        "dev_precision": m["dev"]["precision"],
        "dev_recall": m["dev"]["recall"],
        "baseline_same_sentence_dev_f1": b["f1"],
        "wall_seconds_train_and_eval": round(secs, 1),
    }


def bench_qa(args):
    from genolm.literature import qa as Q

    d = SHARED / "pubmedqa"
    t0 = time.time()
    s = Q.cross_validate(d / "pqal_trainval.json", d / "pqal_cv_folds.json", encoder=args.encoder, C=args.C)
    return {
        "task": "qa",
        "cv_accuracy_mean": s["accuracy_mean"],
        "cv_accuracy_std": s["accuracy_std"],
        "cv_macro_f1_mean": s["macro_f1_mean"],
        "baseline_majority_accuracy": s["pooled"]["majority_baseline_accuracy"],
        "encoder": args.encoder,
        "C": args.C,
        "wall_seconds": round(time.time() - t0, 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=["ner", "re", "qa"])
    ap.add_argument("--corpus", default="NCBI-disease")
    ap.add_argument("--arch", default="transformer")
    ap.add_argument("--crf-iterations", type=int, default=100)
    ap.add_argument("--time-budget", default="25m")
    ap.add_argument("--encoder", action="store_true", help="qa: add frozen MiniLM sentence embeddings")
    ap.add_argument("--C", type=float, default=0.3)
    ap.add_argument("--out", default="/tmp/genolm_bench_lit_nlp")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    res = {"ner": bench_ner, "re": bench_re, "qa": bench_qa}[args.task](args)
    res["machine"] = f"{platform.machine()}, 2-core CPU, shared/contended"
    print(json.dumps(res, indent=2))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.task}_{getattr(args, 'corpus', '')}.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
