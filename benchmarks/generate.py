"""Benchmark: DNA generators (causal LM sampling, GAN) trained within a time budget on GUE prom_core/all promoters.

For each generator: train on the training promoters (label 1 of --train-file) within --time-budget, sample --n
sequences of 70 nt, and evaluate them against held-out promoters (label 1 of --heldout-file) with
genolm.design.evaluate: 6-mer Jensen-Shannon divergence vs that of dinucleotide-shuffled training promoters
(the baseline, same number of sequences), memorisation (nearest training sequence >= 90% identity; < 5%
required), and the fraction an oracle calls promoters (a CNN classifier fine-tuned by `genolm finetune` on the
training split's promoters and non-promoters; the generators never see it) for generated vs shuffled sequences.

    python benchmarks/generate.py --generator lm --json results.json
    python benchmarks/generate.py --generator both --heldout-file ../shared/data/gue_prom_core/all/test.csv.gz

Training and sampling go through the real CLI (`genolm pretrain --objective clm`, `genolm generate`,
`genolm finetune`, `genolm gan train/sample`); both generators' samples are then scored by the same
genolm.design.evaluate.evaluate_and_report that `genolm generate --heldout` uses (report.html + metrics.json
in WORK/lm_report, WORK/gan_report). Finished runs (and samples drawn with the same options) in --work are
reused with --reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

CLI = "import sys; from genolm.cli.main import main; sys.exit(main(sys.argv[1:]))"


def genolm(*args, check=True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", CLI, "-q", *[str(a) for a in args]]
    print("$ genolm " + " ".join(str(a) for a in args), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.stdout.strip():
        print(r.stdout.strip(), flush=True)
    if check and r.returncode != 0:
        sys.exit(f"genolm {args[0]} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r


def promoters(path: str) -> list[str]:
    d = pd.read_csv(path)
    return d[d["label"].astype(str) == "1"]["sequence"].str.upper().tolist()


def write_fasta(seqs, path: Path, prefix: str) -> Path:
    path.write_text("".join(f">{prefix}{i}\n{s}\n" for i, s in enumerate(seqs)))
    return path


def done(run: Path) -> bool:
    return (run / "metrics.json").is_file()


def evaluate_fasta(fa: Path, train, held, oracle_dir: Path, seed: int, report_dir: Path, title: str) -> dict:
    from genolm.api import load
    from genolm.core.report import Report
    from genolm.design.evaluate import evaluate_and_report
    from genolm.io.fasta import read_fasta

    seqs = [s for _, s in read_fasta(str(fa))]
    sm = load(oracle_dir).sequence_model()
    rep = Report(title, subtitle=str(fa))
    m = evaluate_and_report(rep, seqs, train, held, oracle=sm, oracle_target="1", seed=seed)
    report_dir.mkdir(parents=True, exist_ok=True)
    rep.write(report_dir / "report.html")
    (report_dir / "metrics.json").write_text(json.dumps(m, indent=2))
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/gue_prom_core/all", help="folder with train.csv.gz, dev.csv.gz")
    ap.add_argument("--train-file", default=None, help="training table (default DATA/train.csv.gz); label 1 used")
    ap.add_argument("--heldout-file", default=None, help="held-out table (default DATA/dev.csv.gz); label 1 used")
    ap.add_argument("--generator", choices=["lm", "gan", "both"], default="both")
    ap.add_argument("--n", type=int, default=1000, help="sequences sampled per generator")
    ap.add_argument("--length", type=int, default=70)
    ap.add_argument("--time-budget", default="8m", help="training budget per generator")
    ap.add_argument("--oracle", default=None, help="an existing oracle classifier run (default: train one)")
    ap.add_argument(
        "--oracle-steps", type=int, default=600, help="optimizer steps of the oracle classifier (steps, not a wall-clock"
        " budget, so a busy machine does not weaken it)",
    )  # fmt: skip
    ap.add_argument("--seq-len", type=int, default=64, help="LM training window (<= 66 for 70-nt promoters)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--work", default="runs/bench_generate", help="working folder for the runs")
    ap.add_argument("--reuse", action="store_true", help="reuse finished runs found in --work")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results here")
    a = ap.parse_args(argv)

    t_start = time.time()
    train_file = a.train_file or os.path.join(a.data, "train.csv.gz")
    held_file = a.heldout_file or os.path.join(a.data, "dev.csv.gz")
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    train, held = promoters(train_file), promoters(held_file)
    train_fa = write_fasta(train, work / "train_promoters.fa", "train_")
    print(f"{len(train)} training promoters ({train_file}), {len(held)} held-out promoters ({held_file})")

    oracle = Path(a.oracle) if a.oracle else work / "oracle"
    if not a.oracle and not (a.reuse and done(oracle)):
        genolm(
            "finetune", "--train", train_file, "--out", oracle, "--arch", "cnn", "--hidden", 64, "--layers", 4,
            "--max-steps", a.oracle_steps, "--eval-every", 300, "--seed", a.seed, "--overwrite",
        )  # fmt: skip
    oracle_metrics = json.loads((oracle / "metrics.json").read_text()) if done(oracle) else {}

    results: dict = {"train_file": train_file, "heldout_file": held_file, "n": a.n, "oracle": str(oracle)}
    flat = oracle_metrics.get("valid", oracle_metrics)
    results["oracle_validation"] = {k: v for k, v in flat.items() if isinstance(v, (int, float))}
    gens = ["lm", "gan"] if a.generator == "both" else [a.generator]
    for g in gens:
        t0 = time.time()
        if g == "lm":
            lm = work / "lm"
            if not (a.reuse and done(lm)):
                genolm(
                    "pretrain", "--genome", train_fa, "--out", lm, "--objective", "clm", "--seq-len", a.seq_len,
                    "--time-budget", a.time_budget, "--seed", a.seed, "--eval-every", 500, "--overwrite",
                )  # fmt: skip
            train_info = json.loads((lm / "metrics.json").read_text())
            fa, args = work / "lm.fa", ["--n", a.n, "--length", a.length, "--temperature", a.temperature]
            args += ["--seed", a.seed]
            stamp = work / "lm.fa.json"  # the sampling options of lm.fa: reused only when they match
            same = stamp.is_file() and json.loads(stamp.read_text()) == [str(x) for x in args]
            if not (a.reuse and same and fa.is_file()):
                t1 = time.time()
                genolm("generate", "--model", lm, "--out", fa, *args)
                stamp.write_text(json.dumps([str(x) for x in args]))
                (work / "lm.fa.seconds").write_text(f"{time.time() - t1:.1f}")
            m = evaluate_fasta(fa, train, held, oracle, a.seed, work / "lm_report", "LM sampling")
            sec = work / "lm.fa.seconds"
            m["seconds_sampling"] = float(sec.read_text()) if sec.is_file() else None
        else:
            if genolm("gan", "--help", check=False).returncode != 0:
                print("`genolm gan` is not available: GAN skipped")
                results["gan"] = {"skipped": "genolm gan not available"}
                continue
            gan = work / "gan"
            if not (a.reuse and done(gan)):
                genolm(
                    "gan", "train", "--input", train_fa, "--out", gan, "--time-budget", a.time_budget,
                    "--seed", a.seed, "--overwrite",
                )  # fmt: skip
            train_info = json.loads((gan / "metrics.json").read_text()) if done(gan) else {}
            genolm("gan", "sample", "--model", gan, "--n", a.n, "--out", work / "gan.fa", "--seed", a.seed)
            m = evaluate_fasta(work / "gan.fa", train, held, oracle, a.seed, work / "gan_report", "GAN sampling")
        m["train_steps"] = train_info.get("steps")
        m["train_seconds"] = train_info.get("seconds")
        m["pass_js"] = m["js_6mer_generated"] < m["js_6mer_shuffled_baseline"]
        m["pass_memorisation"] = m["memorised_fraction"] < 0.05
        m["pass_oracle"] = m["oracle_positive_fraction_generated"] > m["oracle_positive_fraction_shuffled"]
        m["seconds_total"] = round(time.time() - t0, 1)
        results[g] = m

    cols = [
        ("js_6mer_generated", "JS6 gen"),
        ("js_6mer_shuffled_baseline", "JS6 shuf"),
        ("memorised_fraction", "memorised"),
        ("oracle_positive_fraction_generated", "oracle+ gen"),
        ("oracle_positive_fraction_shuffled", "oracle+ shuf"),
        ("oracle_positive_fraction_heldout", "oracle+ held"),
        ("gc_generated_mean", "GC gen"),
        ("gc_heldout_mean", "GC held"),
    ]
    print()
    print("generator " + " ".join(f"{h:>12}" for _, h in cols) + "  pass(js,mem,oracle)")
    for g in gens:
        m = results.get(g, {})
        if "skipped" in m:
            print(f"{g:<9} skipped: {m['skipped']}")
            continue
        vals = " ".join(f"{m[k]:>12.4f}" if isinstance(m.get(k), float) else f"{'-':>12}" for k, _ in cols)
        print(f"{g:<9} {vals}  {m['pass_js']},{m['pass_memorisation']},{m['pass_oracle']}")
    results["seconds"] = round(time.time() - t_start, 1)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
        print(f"results -> {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
