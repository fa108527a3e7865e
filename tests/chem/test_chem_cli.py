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
    rc = main(
        [
            "--quiet",
            "chem",
            "train",
            "--train",
            str(d / "bbbp_train.csv"),
            "--valid",
            str(d / "bbbp_dev.csv"),
            "--targets",
            "p_np",
            "--task",
            "classification",
            "--out",
            str(out),
            "--seed",
            "1",
        ]
    )
    assert rc == 0
    return out


def test_train_writes_a_complete_run_directory(bbbp_run):
    for name in [
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "log.txt",
        "report.html",
        "valid_predictions.csv",
        "model/chem_model.json",
        "model/rf.skops",
        "model/et.skops",
        "model/svm.skops",
    ]:
        assert (bbbp_run / name).is_file(), name
    metrics = json.loads((bbbp_run / "metrics.json").read_text())
    assert set(metrics["members_valid"]) == {"rf", "et", "svm"}
    # better than chance on real held-out (dev) molecules: BBBP is an easy set
    assert metrics["valid"]["mean_auroc"] > 0.75
    manifest = json.loads((bbbp_run / "manifest.json").read_text())
    assert manifest["seed"] == 1 and any(k.endswith("bbbp_train.csv") for k in manifest["inputs"])
    report = (bbbp_run / "report.html").read_text()
    assert "src='data:image/png;base64," in report and "validation auroc per target" in report
    assert not list(bbbp_run.rglob("*.joblib"))  # no pickles in the model folder


def test_predict_keeps_order_and_flags_invalid_smiles(bbbp_run, tmp_path, capsys):
    inp = tmp_path / "in.csv"
    pd.DataFrame({"id": ["a", "b", "c", "d"], "smiles": ["CCO", "this is not smiles", "c1ccccc1O", ""]}).to_csv(
        inp, index=False
    )
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
    assert (
        main(
            [
                "chem",
                "predict",
                "--model",
                str(bbbp_run / "model"),
                "--input",
                str(data_dir / "chem" / "bbbp_dev.csv"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    pred = pd.read_csv(out)
    valid = pd.read_csv(bbbp_run / "valid_predictions.csv")
    assert "p_np" in pred.columns and len(pred) == 120
    np.testing.assert_allclose(pred["p_np"].to_numpy(), valid["p_np_pred"].to_numpy(), atol=1e-5)


def test_evaluate_reports_auroc(bbbp_run, tmp_path, data_dir, capsys):
    out = tmp_path / "m.json"
    assert (
        main(
            [
                "chem",
                "evaluate",
                "--model",
                str(bbbp_run),
                "--input",
                str(data_dir / "chem" / "bbbp_dev.csv"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    m = json.loads(out.read_text())
    train_metrics = json.loads((bbbp_run / "metrics.json").read_text())
    assert m["mean_auroc"] == pytest.approx(train_metrics["valid"]["mean_auroc"], abs=1e-6)
    assert m["per_task"]["p_np"]["n"] == 120 and m["n_invalid"] == 0
    assert "mean_auroc" in capsys.readouterr().out


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def test_bad_inputs_exit_2_with_one_line(bbbp_run, tmp_path, data_dir, capsys):
    d = data_dir / "chem"
    out = tmp_path / "never"
    rc = main(["chem", "train", "--train", str(d / "bbbp_train.csv"), "--targets", "nope", "--out", str(out)])
    assert rc == 2 and "missing column(s) 'nope'" in _error_line(capsys)
    rc = main(
        ["chem", "train", "--train", str(d / "bbbp_train.csv"), "--targets", "p_np", "--arch", "gnn", "--out", str(out)]
    )
    assert rc == 2 and "unknown --arch 'gnn'" in _error_line(capsys)
    # regression values in a classification task: names file and line
    rc = main(["chem", "train", "--train", str(d / "esol_train.csv"), "--targets", "logSolubility", "--out", str(out)])
    line = _error_line(capsys)
    assert rc == 2 and "esol_train.csv:2:" in line and "must be 0 or 1" in line
    assert not out.exists()  # bad input leaves no run directory behind
    rc = main(
        [
            "chem",
            "predict",
            "--model",
            str(tmp_path),
            "--input",
            str(d / "bbbp_dev.csv"),
            "--out",
            str(tmp_path / "p.csv"),
        ]
    )
    assert rc == 2 and "not a genolm chem model" in _error_line(capsys)
    no_smiles = tmp_path / "x.csv"
    no_smiles.write_text("name\nfoo\n")
    rc = main(
        ["chem", "predict", "--model", str(bbbp_run), "--input", str(no_smiles), "--out", str(tmp_path / "p.csv")]
    )
    assert rc == 2 and "missing column 'smiles'" in _error_line(capsys)
    assert not (tmp_path / "p.csv").exists()
    rc = main(["chem", "evaluate", "--model", str(bbbp_run), "--input", str(d / "esol_dev.csv")])
    assert rc == 2 and "missing column(s) 'p_np'" in _error_line(capsys)


def test_genolm_load_predict_gives_the_cli_values(bbbp_run, tmp_path, data_dir):
    """The Python predictor (genolm.load's chem entry) returns exactly the table `chem predict` writes."""
    from genolm.chem.predictors import PREDICTORS
    from genolm.core.loading import find_model_dir

    dev = data_dir / "chem" / "bbbp_dev.csv"
    out = tmp_path / "cli.csv"
    assert main(["chem", "predict", "--model", str(bbbp_run), "--input", str(dev), "--out", str(out)]) == 0
    cli = pd.read_csv(out, float_precision="round_trip", keep_default_na=False, na_values=[""])
    marker, loader = PREDICTORS[0]
    predictor = loader(find_model_dir(bbbp_run, marker=marker))
    api = predictor.predict(pd.read_csv(dev))
    assert list(api.columns) == list(cli.columns) == ["smiles", "p_np", "error"]
    assert api["smiles"].tolist() == cli["smiles"].tolist()
    np.testing.assert_array_equal(api["p_np"].to_numpy(), cli["p_np"].to_numpy())  # identical, not close
    assert (api["error"] == "").all() and cli["error"].isna().all()
    # a plain list of SMILES gives the same numbers; an invalid one gets NaN and the reason
    smiles = pd.read_csv(dev)["smiles"].head(5).tolist()
    listed = predictor.predict(smiles + ["not a smiles"])
    np.testing.assert_array_equal(listed["p_np"].to_numpy()[:5], cli["p_np"].to_numpy()[:5])
    assert np.isnan(listed["p_np"].iloc[5]) and "invalid SMILES" in listed["error"].iloc[5]
    import genolm

    if hasattr(genolm, "load"):  # the top-level entry point walks chem's PREDICTORS
        np.testing.assert_array_equal(
            genolm.load(bbbp_run).predict(smiles)["p_np"].to_numpy(), cli["p_np"].to_numpy()[:5]
        )


def test_single_class_labels_are_refused_before_any_run_directory(tmp_path, data_dir, capsys):
    d = data_dir / "chem"
    one = tmp_path / "one_class.csv"
    df = pd.read_csv(d / "bbbp_train.csv")
    df.assign(p_np=1).to_csv(one, index=False)
    out = tmp_path / "run"
    rc = main(["chem", "train", "--train", str(one), "--targets", "p_np", "--out", str(out)])
    line = _error_line(capsys)
    assert rc == 2 and "one_class.csv" in line and "'p_np'" in line and "only label 1" in line
    assert not out.exists() and not list(tmp_path.glob(".run*"))  # nothing written, not even a staging dir
    # multi-task: the one bad column is named, in the validation-free internal split too
    tox = pd.read_csv(d / "tox21_train.csv")
    tox["SR-p53"] = tox["SR-p53"].where(tox["SR-p53"].isna(), 0)
    tox.to_csv(tmp_path / "tox.csv", index=False)
    rc = main(["chem", "train", "--train", str(tmp_path / "tox.csv"), "--targets", "NR-AR,SR-p53", "--out", str(out)])
    line = _error_line(capsys)
    assert rc == 2 and "tox.csv" in line and "'SR-p53'" in line and "'NR-AR'" not in line
    assert not out.exists()


class _Payload:
    """Unpickling this creates a marker file: what a malicious model file could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_model_folders_that_could_run_code_are_refused(bbbp_run, tmp_path, data_dir, capsys):
    import pickle
    import shutil

    dev = str(data_dir / "chem" / "bbbp_dev.csv")
    # a folder from an earlier version: the member saved as a pickle (.joblib) instead of .skops
    old = tmp_path / "old"
    shutil.copytree(bbbp_run / "model", old)
    (old / "rf.skops").rename(old / "rf.joblib")
    rc = main(["chem", "predict", "--model", str(old), "--input", dev, "--out", str(tmp_path / "p.csv")])
    line = _error_line(capsys)
    assert rc == 2 and "rf.joblib" in line and "genolm convert" in line
    # every file that is not JSON replaced by a pickle that would create a marker when loaded
    evil = tmp_path / "evil"
    shutil.copytree(bbbp_run / "model", evil)
    marker = tmp_path / "MARKER"
    replaced = [p for p in evil.rglob("*") if p.is_file() and p.suffix not in (".json", ".safetensors")]
    assert replaced
    for p in replaced:
        p.write_bytes(pickle.dumps(_Payload(marker)))
    for cmd in (["predict", "--out", str(tmp_path / "p.csv")], ["evaluate"]):
        rc = main(["chem", cmd[0], "--model", str(evil), "--input", dev, *cmd[1:]])
        assert rc == 2 and ".skops" in _error_line(capsys)
    assert not marker.exists() and not (tmp_path / "p.csv").exists()
    # a corrupt chem_model.json is one line too
    (evil / "chem_model.json").write_text("{not json")
    rc = main(["chem", "predict", "--model", str(evil), "--input", dev, "--out", str(tmp_path / "p.csv")])
    assert rc == 2 and "corrupt chem_model.json" in _error_line(capsys)
