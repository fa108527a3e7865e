"""`genolm demo`: the main job on bundled data, end to end, in a few minutes on 2 CPU cores.

1. pretrain a small masked DNA LM on 200 kb of the E. coli genome;
2. fine-tune it as a core-promoter classifier on a GUE prom_core_all slice;
3. evaluate on 1,000 held-out GUE rows;
4. write report.html (loss curves, ROC/PR, confusion matrix, metrics).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from genolm.core.report import Report, confusion_figure, loss_curve_figure, roc_pr_figure


def demo_data_dir() -> Path:
    return Path(str(resources.files("genolm") / "data" / "demo"))


def _history(run_dir: Path) -> list[dict]:
    p = run_dir / "history.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.is_file() else []


def run_demo(out: str, minutes: float = 7.0, seed: int = 0) -> dict:
    from genolm.core.loading import load_model
    from genolm.genome.lm import ModelShape, encode_labels, predict_table, evaluate, finetune, pretrain
    from genolm.io.tables import read_labelled

    data = demo_data_dir()
    out_p = Path(out)
    out_p.mkdir(parents=True, exist_ok=True)
    shape = ModelShape(arch="cnn", hidden=128, layers=6)
    budget = minutes * 60
    pre = pretrain(
        str(data / "ecoli_k12_mg1655_1-200000.fa.gz"),
        str(out_p / "pretrain"),
        objective="mlm",
        shape=shape,
        seq_len=128,
        time_budget=0.3 * budget,
        seed=seed,
        batch_size=32,
        eval_every=100,
    )
    fin = finetune(
        str(data / "gue_prom_core_all.train.csv.gz"),
        str(data / "gue_prom_core_all.valid.csv.gz"),
        str(out_p / "promoter"),
        model=str(out_p / "pretrain"),
        time_budget=0.6 * budget,
        seed=seed,
        lr=1e-3,
        batch_size=64,
        patience=6,
    )
    test_csv = str(data / "gue_prom_core_all.test.csv.gz")
    test = evaluate(str(out_p / "promoter"), test_csv, str(out_p / "test_metrics.json"))

    net, tok, info = load_model(str(out_p / "promoter"))
    seqs, labels = read_labelled(test_csv)
    scores = predict_table(net, tok, info, seqs)
    y = np.asarray(encode_labels(labels, info.label_names))

    rep = Report(
        "genolm demo: DNA LM pretraining and promoter classification",
        "Pretrain on E. coli K-12 (200 kb), fine-tune on GUE prom_core_all (6,000 rows), "
        "evaluate on 1,000 held-out GUE dev rows.",
    )
    rows = [
        ["pretrain (MLM, E. coli)", "validation perplexity", pre.get("valid_perplexity")],
        ["pretrain", "masked-token accuracy", pre.get("valid_token_accuracy")],
        ["fine-tune", "validation MCC", fin["valid"]["mcc"]],
    ]
    rows += [["held-out test", k, v] for k, v in test.items()]
    rep.table(["stage", "metric", "value"], rows, title="Metrics")
    rep.figure(loss_curve_figure(_history(out_p / "pretrain")), "pretraining loss (masked LM)")
    rep.figure(loss_curve_figure(_history(out_p / "promoter")), "fine-tuning loss")
    rep.figure(roc_pr_figure(y, scores[:, 1], "(held-out)"), "ROC and precision-recall on held-out rows")
    rep.figure(confusion_figure(y, scores.argmax(1), [str(n) for n in info.label_names]), "confusion matrix (held-out)")
    rep.write(out_p / "report.html")
    return {"pretrain": pre, "finetune": fin["valid"], "test": test, "report": str(out_p / "report.html")}
