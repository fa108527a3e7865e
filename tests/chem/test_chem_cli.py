"""End-to-end tests of `genolm chem train / predict / evaluate` on small real MoleculeNet slices."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genolm.cli.main import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bbbp_run(tmp_path_factory, data_dir):
    """One real training run shared by the tests below (the default: RandomForest + ExtraTrees + MinMax-kernel
    SVM on 400 BBBP molecules)."""
    out = tmp_path_factory.mktemp("chem") / "bbbp_run"
    d = data_dir / "chem"
    rc = main(["--quiet", "chem", "train", "--train", str(d / "bbbp_train.csv"), "--valid", str(d / "bbbp_dev.csv"),
               "--targets", "p_np", "--task", "classification", "--out", str(out), "--seed", "1"])
    assert rc == 0
    return out


def test_train_writes_a_complete_run_directory(bbbp_run):
    for name in ["config.yaml", "manifest.json", "metrics.json", "log.txt", "report.html", "valid_predictions.csv",
                 "model/chem_model.json", "model/rf.joblib", "model/et.joblib",
                 "model/svm.joblib"]:
        assert (bbbp_run / name).is_file(), name
    metrics = json.loads((bbbp_run / "metrics.json").read_text())
    assert set(metrics["members_valid"]) == {"rf", "et", "svm"}
    # better than chance on real held-out (dev) molecules: BBBP is an easy set
    assert metrics["valid"]["mean_roc_auc"] > 0.75
    manifest = json.loads((bbbp_run / "manifest.json").read_text())
    assert manifest["seed"] == 1 and any(k.endswith("bbbp_train.csv") for k in manifest["inputs"])
    assert "<img src='data:image/png;base64," in (bbbp_run / "report.html").read_text()


def test_predict_keeps_order_and_flags_invalid_smiles(bbbp_run, tmp_path, capsys):
    inp = tmp_path / "in.csv"
    pd.DataFrame({"id": ["a", "b", "c", "d"],
                  "smiles": ["CCO", "this is not smiles", "c1ccccc1O", ""]}).to_csv(inp, index=False)
    out = tmp_path / "pred.csv"
    assert main(["chem", "predict", "--model", str(bbbp_run), "--input", str(inp), "--out", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == ["id", "smiles", "p_np", "error"]
    assert df["id"].tolist() == ["a", "b", "c", "d"]
    assert df.loc[1, "p_np"] == "" and "invalid SMILES" in df.loc[1, "error"]
    assert df.loc[3, "error"] == "empty SMILES"
    p = df.loc[[0, 2], "p_np"].astype(float)
    assert ((p >= 0) & (p <= 1)).all() and df.loc[0, "error"] == ""
    assert "2 invalid SMILES" in capsys.readouterr().out


def test_predict_matches_the_validation_predictions(bbbp_run, tmp_path, data_dir):
    out = tmp_path / "dev_pred.csv"
    assert main(["chem", "predict", "--model", str(bbbp_run / "model"), "--input",
                 str(data_dir / "chem" / "bbbp_dev.csv"), "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    valid = pd.read_csv(bbbp_run / "valid_predictions.csv")
    assert "p_np" in pred.columns and len(pred) == 120
    np.testing.assert_allclose(pred["p_np"].to_numpy(), valid["p_np_pred"].to_numpy(), atol=1e-5)


def test_evaluate_reports_roc_auc(bbbp_run, tmp_path, data_dir, capsys):
    out = tmp_path / "m.json"
    assert main(["chem", "evaluate", "--model", str(bbbp_run), "--input", str(data_dir / "chem" / "bbbp_dev.csv"),
                 "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    train_metrics = json.loads((bbbp_run / "metrics.json").read_text())
    assert m["mean_roc_auc"] == pytest.approx(train_metrics["valid"]["mean_roc_auc"], abs=1e-6)
    assert m["per_task"]["p_np"]["n"] == 120 and m["n_invalid"] == 0
    assert "mean_roc_auc" in capsys.readouterr().out


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def test_bad_inputs_exit_2_with_one_line(bbbp_run, tmp_path, data_dir, capsys):
    d = data_dir / "chem"
    out = tmp_path / "never"
    rc = main(["chem", "train", "--train", str(d / "bbbp_train.csv"), "--targets", "nope", "--out", str(out)])
    assert rc == 2 and "missing column(s) 'nope'" in _error_line(capsys)
    rc = main(["chem", "train", "--train", str(d / "bbbp_train.csv"), "--targets", "p_np", "--arch", "gnn",
               "--out", str(out)])
    assert rc == 2 and "unknown --arch 'gnn'" in _error_line(capsys)
    # regression values in a classification task: names file and line
    rc = main(["chem", "train", "--train", str(d / "esol_train.csv"), "--targets", "logSolubility",
               "--out", str(out)])
    line = _error_line(capsys)
    assert rc == 2 and "esol_train.csv:2:" in line and "must be 0 or 1" in line
    assert not out.exists()  # bad input leaves no run directory behind
    rc = main(["chem", "predict", "--model", str(tmp_path), "--input", str(d / "bbbp_dev.csv"),
               "--out", str(tmp_path / "p.csv")])
    assert rc == 2 and "not a genolm chem model" in _error_line(capsys)
    no_smiles = tmp_path / "x.csv"
    no_smiles.write_text("name\nfoo\n")
    rc = main(["chem", "predict", "--model", str(bbbp_run), "--input", str(no_smiles), "--out", str(tmp_path / "p.csv")])
    assert rc == 2 and "missing column 'smiles'" in _error_line(capsys)
    assert not (tmp_path / "p.csv").exists()
    rc = main(["chem", "evaluate", "--model", str(bbbp_run), "--input", str(d / "esol_dev.csv")])
    assert rc == 2 and "missing column(s) 'p_np'" in _error_line(capsys)
