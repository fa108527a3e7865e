"""Dev MCC of `genolm finetune` on every GUE set in ../shared/data (prom_core, prom_300_tata, TF human/mouse).

Each set: train on train.csv.gz, early-stop/select on dev.csv.gz, report the dev MCC of the kept weights.
Optionally starts every set from a pretrained model (--model) to measure whether pretraining helps.
Writes a JSON file and prints a markdown table (dataset, n_train, dev MCC, steps, seconds).

    python benchmarks/gue.py --time-budget 3m [--model runs/ecoli_lm] [--sets prom_core/all,tf_human/0] --out bench/gue.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def all_sets(root: Path) -> list[str]:
    out = []
    for d in sorted(root.glob("gue_*")):
        if (d / "train.csv.gz").is_file():
            out.append(d.name.removeprefix("gue_"))
        for sub in sorted(p for p in d.iterdir() if p.is_dir() and (p / "train.csv.gz").is_file()):
            out.append(f"{d.name.removeprefix('gue_')}/{sub.name}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED))
    p.add_argument("--sets", default="", help="comma-separated, e.g. prom_core/all,tf_human/0 (default: all)")
    p.add_argument("--time-budget", default="3m")
    p.add_argument("--model", default=None, help="start from this pretrained model (default: from scratch)")
    p.add_argument("--arch", default="cnn")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/gue.json")
    p.add_argument("--runs", default="bench/gue_runs")
    a = p.parse_args()
    from genolm.genome.lm import ModelShape, finetune

    root = Path(a.data)
    sets = a.sets.split(",") if a.sets else all_sets(root)
    results = json.loads(Path(a.out).read_text()) if Path(a.out).is_file() else {}
    tag = "pretrained" if a.model else "scratch"
    for s in sets:
        d = root / f"gue_{s}"
        t = time.time()
        m = finetune(
            str(d / "train.csv.gz"),
            str(d / "dev.csv.gz"),
            f"{a.runs}/{tag}/{s.replace('/', '_')}",
            model=a.model,
            shape=ModelShape(arch=a.arch, layers=a.layers),
            time_budget=a.time_budget,
            seed=a.seed,
        )["valid"]
        results.setdefault(s, {})[tag] = {
            "dev_mcc": m["mcc"],
            "dev_auroc": m["auroc"],
            "steps": m["steps"],
            "seconds": round(time.time() - t, 1),
            "time_budget": a.time_budget,
        }
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(results, indent=2))
        print(f"{s}: {tag} dev MCC {m['mcc']:.4f} ({m['steps']} steps)", flush=True)
    print("| set | " + " | ".join(["dev MCC scratch", "dev MCC pretrained"]) + " |")
    print("|---|---|---|")
    for s, r in results.items():
        cells = [f"{r[k]['dev_mcc']:.3f} ({r[k]['steps']} steps)" if k in r else "-" for k in ("scratch", "pretrained")]
        print(f"| {s} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    os.environ.setdefault("GENOLM_QUIET", "1")
    main()
