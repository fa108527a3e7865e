"""The DNA LM commands end to end through the CLI, on small real data slices."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from genolm.cli.main import main
from genolm.genome.demo import demo_data_dir

DATA = Path(__file__).parent.parent / "data" / "core"
TRAIN, VALID, FASTA = str(DATA / "prom_train.csv"), str(DATA / "prom_valid.csv"), str(DATA / "prom_20.fa")
GENOME = str(demo_data_dir() / "ecoli_k12_mg1655_1-200000.fa.gz")
SMALL = ["--hidden", "32", "--layers", "2", "--heads", "4", "--conv-layers", "1"]


def run(args, capsys=None):
    code = main(args)
    return code


@pytest.fixture(scope="module")
def clf_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ft") / "run"
    assert (
        main(
            [
                "finetune",
                "--train",
                TRAIN,
                "--valid",
                VALID,
                "--out",
                str(out),
                "--max-steps",
                "40",
                "--eval-every",
                "20",
                "--seed",
                "3",
                *SMALL,
            ]
        )
        == 0
    )
    return out


def test_finetune_writes_run_directory(clf_run):
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "log.txt",
        "report.html",
        "history.jsonl",
        "predictions_valid.csv",
        "model/model.safetensors",
        "model/config.json",
        "model/genolm.json",
        "model/tokenizer.json",
    ):
        assert (clf_run / name).is_file(), name
    manifest = json.loads((clf_run / "manifest.json").read_text())
    assert manifest["seed"] == 3 and TRAIN in manifest["inputs"] and manifest["versions"]["torch"]
    m = json.loads((clf_run / "metrics.json").read_text())["valid"]
    assert m["n"] == 200 and set(m) >= {"accuracy", "mcc", "f1", "auroc"}
    html = (clf_run / "report.html").read_text()
    assert html.count("<img") >= 3 and "confusion" in html


def test_evaluate_predict_embed(clf_run, tmp_path):
    out = tmp_path / "m.json"
    assert main(["evaluate", "--model", str(clf_run), "--data", VALID, "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["n"] == 200 and set(m) >= {"n", "accuracy", "mcc", "f1", "auroc"}
    # same weights, same data -> same numbers as the fine-tuning run recorded
    assert m["mcc"] == pytest.approx(json.loads((clf_run / "metrics.json").read_text())["valid"]["mcc"])

    pred = tmp_path / "p.csv"
    assert main(["predict", "--model", str(clf_run), "--input", FASTA, "--out", str(pred)]) == 0
    df = pd.read_csv(pred)
    assert list(df.columns) == ["id", "prediction", "score"]
    assert df["id"].tolist() == [
        f"seq{i}_label{l}" for i, l in enumerate(x.split("label")[1] for x in df["id"])
    ]  # FASTA order kept
    assert df["score"].between(0, 1).all() and set(df["prediction"]) <= {0, 1}
    assert ((df["score"] > 0.5).astype(int) == df["prediction"]).all()

    csv_in = tmp_path / "in.csv"
    pd.DataFrame({"sequence": pd.read_csv(VALID)["sequence"][:7]}).to_csv(csv_in, index=False)
    assert main(["predict", "--model", str(clf_run), "--input", str(csv_in), "--out", str(pred)]) == 0
    assert pd.read_csv(pred)["id"].tolist() == list(range(7))

    emb = tmp_path / "e.parquet"
    assert main(["embed", "--model", str(clf_run), "--input", FASTA, "--out", str(emb), "--pooling", "mean"]) == 0
    e = pd.read_parquet(emb)
    assert e.shape == (20, 33) and e["id"].iloc[0] == "seq0_label" + e["id"].iloc[0].split("label")[1]


def test_same_seed_same_metrics(clf_run, tmp_path):
    out = tmp_path / "again"
    assert (
        main(
            [
                "finetune",
                "--train",
                TRAIN,
                "--valid",
                VALID,
                "--out",
                str(out),
                "--max-steps",
                "40",
                "--eval-every",
                "20",
                "--seed",
                "3",
                *SMALL,
            ]
        )
        == 0
    )
    a = json.loads((clf_run / "metrics.json").read_text())["valid"]
    b = json.loads((out / "metrics.json").read_text())["valid"]
    for k in ("accuracy", "mcc", "f1", "auroc"):
        assert a[k] == b[k]


def test_regression_task(tmp_path):
    df = pd.read_csv(TRAIN)
    df["label"] = df["sequence"].str.count("G|C") / 70.0  # GC content: learnable from sequence
    df[:400].to_csv(tmp_path / "tr.csv", index=False)
    df[400:].to_csv(tmp_path / "va.csv", index=False)
    out = tmp_path / "reg"
    assert (
        main(
            [
                "finetune",
                "--train",
                str(tmp_path / "tr.csv"),
                "--valid",
                str(tmp_path / "va.csv"),
                "--out",
                str(out),
                "--max-steps",
                "60",
                "--eval-every",
                "30",
                "--task",
                "regression",
                "--arch",
                "cnn",
                *SMALL,
            ]
        )
        == 0
    )
    m = json.loads((out / "metrics.json").read_text())["valid"]
    assert {"pearson", "spearman", "mse"} <= set(m) and m["spearman"] > 0.5
    pred = tmp_path / "p.csv"
    assert main(["predict", "--model", str(out), "--input", str(tmp_path / "va.csv"), "--out", str(pred)]) == 0
    p = pd.read_csv(pred)
    assert (p["prediction"] == p["score"]).all() and abs(p["prediction"].mean() - df["label"][400:].mean()) < 0.1


@pytest.mark.parametrize("objective,tokenizer", [("mlm", "base"), ("clm", "kmer:3"), ("mlm", "bpe:64")])
def test_pretrain_then_finetune(tmp_path, objective, tokenizer):
    out = tmp_path / "lm"
    assert (
        main(
            [
                "pretrain",
                "--genome",
                GENOME,
                "--out",
                str(out),
                "--objective",
                objective,
                "--tokenizer",
                tokenizer,
                "--seq-len",
                "64",
                "--max-steps",
                "6",
                "--eval-every",
                "3",
                "--batch-size",
                "8",
                *SMALL,
            ]
        )
        == 0
    )
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 6 and m["valid_perplexity"] > 1
    info = json.loads((out / "model" / "genolm.json").read_text())
    assert info["task"] == ("masked-lm" if objective == "mlm" else "causal-lm") and info["tokenizer"] == tokenizer
    ft = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
                "--train",
                TRAIN,
                "--valid",
                VALID,
                "--out",
                str(ft),
                "--model",
                str(out),
                "--max-steps",
                "4",
                "--eval-every",
                "2",
            ]
        )
        == 0
    )
    assert json.loads((ft / "metrics.json").read_text())["valid"]["n"] == 200


def test_pretraining_lowers_perplexity(tmp_path):
    """A masked LM trained briefly on E. coli predicts held-out bases better than uniform (perplexity < 4)."""
    out = tmp_path / "lm"
    assert (
        main(
            [
                "pretrain",
                "--genome",
                GENOME,
                "--out",
                str(out),
                "--seq-len",
                "64",
                "--max-steps",
                "150",
                "--eval-every",
                "75",
                "--batch-size",
                "16",
                "--arch",
                "cnn",
                "--lr",
                "3e-3",
                *SMALL,
            ]
        )
        == 0
    )
    hist = [json.loads(l) for l in (out / "history.jsonl").read_text().splitlines()]
    evals = [h["eval_perplexity"] for h in hist if "eval_perplexity" in h]
    assert evals[-1] < 4.0 and evals[-1] < evals[0]


def test_external_hf_folder_as_model(bert_dir, tmp_path):
    out = tmp_path / "bert_ft"
    assert (
        main(
            [
                "finetune",
                "--train",
                TRAIN,
                "--valid",
                VALID,
                "--out",
                str(out),
                "--model",
                bert_dir,
                "--max-steps",
                "4",
                "--eval-every",
                "2",
                "--lr",
                "1e-4",
            ]
        )
        == 0
    )
    cfg = json.loads((out / "model" / "config.json").read_text())
    assert cfg["architectures"] == ["BertForSequenceClassification"]
    emb = tmp_path / "e.parquet"
    assert main(["embed", "--model", bert_dir, "--input", FASTA, "--out", str(emb)]) == 0
    assert pd.read_parquet(emb).shape == (20, 33)


# ---- bad input: exit code 2, one line naming the file (and line), no output written -------------------


def _cli(args):
    return subprocess.run(
        [sys.executable, "-m", "genolm.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "GENOLM_QUIET": "1"},
    )


@pytest.mark.parametrize(
    "content,needle",
    [
        ("ACGT\n", "bad.fa:1: not a FASTA file"),
        (">s1\nACGT\nACXT\n", "bad.fa:3: non-nucleotide character 'X'"),
        ("", "bad.fa: empty"),
    ],
)
def test_bad_fasta_input(clf_run, tmp_path, content, needle):
    bad = tmp_path / "bad.fa"
    bad.write_text(content)
    out = tmp_path / "out.csv"
    r = _cli(["predict", "--model", str(clf_run), "--input", str(bad), "--out", str(out)])
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


def test_bad_table_and_options(tmp_path):
    nolabel = tmp_path / "nolabel.csv"
    nolabel.write_text("sequence\nACGT\n")
    r = _cli(["finetune", "--train", str(nolabel), "--valid", VALID, "--out", str(tmp_path / "o"), "--max-steps", "1"])
    assert r.returncode == 2 and "nolabel.csv: missing column(s) 'label'" in r.stderr
    assert not (tmp_path / "o" / "model").exists()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    r = _cli(["finetune", "--train", str(empty), "--valid", VALID, "--out", str(tmp_path / "o2")])
    assert r.returncode == 2 and "empty.csv: empty file" in r.stderr
    r = _cli(["finetune", "--train", TRAIN, "--valid", VALID, "--out", str(tmp_path / "o3"), "--arch", "lstm"])
    assert r.returncode == 2 and "unknown --arch 'lstm'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o3").exists()


def test_existing_output_survives_failed_predict(clf_run, tmp_path):
    out = tmp_path / "keep.csv"
    out.write_text("precious\n")
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGT\n>b\nAC!T\n")
    r = _cli(["predict", "--model", str(clf_run), "--input", str(bad), "--out", str(out)])
    assert r.returncode == 2 and out.read_text() == "precious\n"


@pytest.mark.slow
def test_data_parallel_training_with_torchrun(tmp_path):
    """The same command under torchrun: 2 CPU processes, gloo backend (DDP)."""
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "ddp"
    r = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            "-m",
            "genolm.cli.main",
            "-q",
            "finetune",
            "--train",
            TRAIN,
            "--valid",
            VALID,
            "--out",
            str(out),
            "--max-steps",
            "6",
            "--eval-every",
            "3",
            *SMALL,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())["valid"]
    assert m["world_size"] == 2 and m["steps"] == 6 and m["n"] == 200
    assert (out / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    """`genolm demo` on the bundled data with a tiny budget: all stages run and the report has every plot."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--minutes", "0.4"]) == 0
    html = (out / "report.html").read_text()
    assert html.count("<img") == 4 and "held-out" in html
    test = json.loads((out / "test_metrics.json").read_text())
    assert test["n"] == 1000 and 0 <= test["auroc"] <= 1
    assert (out / "pretrain" / "model" / "model.safetensors").is_file()
    assert json.loads((out / "promoter" / "model" / "genolm.json").read_text())["task"] == "classification"
