"""On-target model: trains on a real Kim 2019 slice, beats chance on dev, reloads, keeps order, rejects bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from conftest import run_cli

SEQ, TARGET = "target_context_30mer", "indel_freq_background_subtracted_pct"


@pytest.mark.slow
def test_train_writes_run_dir_and_beats_chance(trained):
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "report.html",
        "log.txt",
        "dev_predictions.csv",
        "model/config.json",
        "model/cnn.safetensors",
        "model/gbm.skops",
        "model/genolm_ontarget.json",
    ):
        assert (trained / name).is_file(), name
    assert not list(trained.rglob("*.joblib")) and not (trained / "checkpoint").exists()
    assert not (trained / "members").exists()
    m = json.loads((trained / "metrics.json").read_text())
    assert m["n_train"] == 1500 and m["n_dev"] == 300
    # 1,500 real training guides: far better than chance on 300 dev guides (chance ~0 +- 0.06)
    assert m["dev"]["spearman"] > 0.35
    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["seed"] == 3


@pytest.mark.slow
def test_predict_reloads_and_keeps_order(trained, edata, tmp_path, capsys):
    dev = pd.read_csv(edata / "kim_dev.csv")
    inp = tmp_path / "in.csv"
    rows = dev[[SEQ]].iloc[::-1].reset_index(drop=True)  # reversed order, sequence column only
    rows.loc[1, SEQ] = "ACGT"  # wrong length
    rows.loc[2, SEQ] = rows.loc[2, SEQ][:10] + "X" + rows.loc[2, SEQ][11:]
    rows.to_csv(inp, index=False)
    out = tmp_path / "pred.csv"
    code, stdout, err = run_cli(
        ["crispr", "predict", "--model", trained, "--input", inp, "--sequence-col", SEQ, "--out", out], capsys
    )
    assert code == 0, err
    pred = pd.read_csv(out, keep_default_na=False)
    assert pred[SEQ].tolist() == rows[SEQ].tolist()
    assert pred.loc[1, "score"] == "" and "length 4" in pred.loc[1, "error"]
    assert pred.loc[2, "score"] == "" and "non-ACGT character 'X'" in pred.loc[2, "error"]
    # the reloaded model reproduces the scores written at training time
    saved = pd.read_csv(trained / "dev_predictions.csv").set_index(SEQ)["score"]
    ok = pred[pred["error"] == ""]
    np.testing.assert_allclose(
        ok["score"].astype(float).to_numpy(), saved.loc[ok[SEQ]].to_numpy(), rtol=1e-4, atol=1e-4
    )


@pytest.mark.slow
def test_evaluate_matches_scipy(trained, edata, tmp_path, capsys):
    out = tmp_path / "m.json"
    code, stdout, _ = run_cli(
        [
            "crispr",
            "evaluate",
            "--model",
            trained,
            "--input",
            edata / "kim_dev.csv",
            "--sequence-col",
            SEQ,
            "--target-col",
            TARGET,
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0 and stdout.startswith("spearman ")
    m = json.loads(out.read_text())
    saved = pd.read_csv(trained / "dev_predictions.csv")
    assert m["spearman"] == pytest.approx(spearmanr(saved["target"], saved["score"]).statistic, abs=1e-4)


@pytest.mark.slow
def test_same_seed_same_metrics(edata, tmp_path):
    from genolm.editing.ontarget import train_ontarget

    kw = dict(sequence_col="sequence", target_col="efficiency", seed=1, epochs=2, n_cnn=1, threads=1)
    dev = pd.read_csv(edata / "deephf_dev.csv").rename(columns={"sgRNA_23mer": "sequence"})
    tr, dv = tmp_path / "tr.csv", tmp_path / "dv.csv"
    dev.iloc[:220].to_csv(tr, index=False)
    dev.iloc[220:].to_csv(dv, index=False)
    a = train_ontarget(str(tr), str(dv), out=str(tmp_path / "a"), **kw)
    b = train_ontarget(str(tr), str(dv), out=str(tmp_path / "b"), **kw)
    assert a["dev"] == b["dev"]


def test_train_bad_input(edata, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    df = pd.read_csv(edata / "kim_dev.csv").head(20)
    df.loc[4, SEQ] = df.loc[4, SEQ][:-1]
    df.to_csv(bad, index=False)
    code, _, err = run_cli(
        [
            "crispr",
            "train",
            "--train",
            bad,
            "--valid",
            edata / "kim_dev.csv",
            "--sequence-col",
            SEQ,
            "--target-col",
            TARGET,
            "--out",
            tmp_path / "r",
        ],
        capsys,
    )
    assert code == 2 and f"{bad}:6:" in err and "length 29" in err
    code, _, err = run_cli(
        [
            "crispr",
            "train",
            "--train",
            edata / "kim_dev.csv",
            "--valid",
            edata / "kim_dev.csv",
            "--sequence-col",
            "nope",
            "--target-col",
            TARGET,
            "--out",
            tmp_path / "r",
        ],
        capsys,
    )
    assert code == 2 and "missing column(s) 'nope'" in err and len(err.strip().splitlines()) == 1


def test_predict_needs_a_model(edata, tmp_path, capsys):
    code, _, err = run_cli(
        [
            "crispr",
            "predict",
            "--model",
            tmp_path,
            "--input",
            edata / "kim_dev.csv",
            "--sequence-col",
            SEQ,
            "--out",
            tmp_path / "p.csv",
        ],
        capsys,
    )
    assert code == 2 and "not a CRISPR on-target model folder" in err and str(tmp_path) in err


def test_features_shape_and_gc():
    from genolm.editing.features import handcrafted_features, melting_temp

    seqs = ["AAAAGCGCGCGCGCGCGCGCGCGCTGGAAA", "TTTTATATATATATATATATATATAGGTTT"]
    f = handcrafted_features(seqs, 4)
    assert f.shape[0] == 2 and np.isfinite(f).all()
    assert melting_temp("GCGCGCGCGCGCGCGCGCGC") > melting_temp("ATATATATATATATATATAT")
