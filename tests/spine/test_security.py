"""Loading a model folder never runs code from it: pickles are refused, remote code needs an explicit flag."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

import genolm
from genolm.cli.main import main
from genolm.io.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data"


class _Bomb:
    """Unpickling this creates the marker file (what a malicious model folder would do, less politely)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def poison(folder: Path, marker: Path) -> list[Path]:
    """Replace every non-JSON, non-safetensors file under ``folder`` with the pickle bomb."""
    replaced = []
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix not in (".json", ".safetensors"):
            f.write_bytes(pickle.dumps(_Bomb(marker)))
            replaced.append(f)
    return replaced


@pytest.fixture(scope="module")
def dna_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sec") / "clf"
    rc = main(
        [
            "-q",
            "finetune",
            "--train",
            str(DATA / "core" / "prom_valid.csv"),
            "--out",
            str(out),
            "--max-steps",
            "3",
            "--hidden",
            "16",
            "--layers",
            "1",
            "--eval-every",
            "2",
        ]
    )
    assert rc == 0
    return out


def test_the_bomb_is_real(tmp_path):
    """The test pickle does create the marker when un-pickled (so its absence below means something)."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_Bomb(marker)))
    assert marker.exists()


def test_poisoned_dna_model_folder_is_refused(dna_run, tmp_path, capsys):
    folder = tmp_path / "poisoned"
    shutil.copytree(dna_run, folder)
    marker = tmp_path / "PWNED"
    assert poison(folder / "model", marker)  # at least modeling_genolm.py, tokenizer files
    for argv in (
        [
            "predict",
            "--model",
            str(folder),
            "--input",
            str(DATA / "core" / "prom_20.fa"),
            "--out",
            str(tmp_path / "p.csv"),
        ],
        [
            "embed",
            "--model",
            str(folder),
            "--input",
            str(DATA / "core" / "prom_20.fa"),
            "--out",
            str(tmp_path / "e.parquet"),
        ],
        [
            "evaluate",
            "--model",
            str(folder),
            "--input",
            str(DATA / "core" / "prom_valid.csv"),
            "--out",
            str(tmp_path / "m.json"),
        ],
    ):
        assert main(argv) == 2
        assert "pickle" in capsys.readouterr().err
    with pytest.raises(InputError, match="pickle"):
        genolm.load(folder)
    assert not marker.exists() and not (tmp_path / "p.csv").exists()


def test_foreign_model_type_with_auto_map_needs_trust_remote_code(dna_run, tmp_path, capsys):
    folder = tmp_path / "foreign"
    shutil.copytree(dna_run / "model", folder)
    marker = tmp_path / "RAN_REMOTE_CODE"
    (folder / "evil_modeling.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = "evil-dna"
    cfg["auto_map"] = {
        "AutoConfig": "evil_modeling.EvilConfig",
        "AutoModelForSequenceClassification": "evil_modeling.EvilModel",
    }
    (folder / "config.json").write_text(json.dumps(cfg))
    rc = main(
        [
            "predict",
            "--model",
            str(folder),
            "--input",
            str(DATA / "core" / "prom_20.fa"),
            "--out",
            str(tmp_path / "p.csv"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "--trust-remote-code" in err and str(folder) in err
    with pytest.raises(InputError, match="trust-remote-code"):
        genolm.load(folder)
    assert not marker.exists()


def test_missing_model_path_is_an_error_not_a_hub_lookup(tmp_path, capsys):
    rc = main(
        [
            "predict",
            "--model",
            "zhihan1996/DNABERT-2-117M",
            "--input",
            str(DATA / "core" / "prom_20.fa"),
            "--out",
            str(tmp_path / "p.csv"),
        ]
    )
    assert rc == 2
    assert "not found" in capsys.readouterr().err


def test_hub_ids_need_the_hf_prefix():
    from genolm.core.loading import resolve_model_dir

    assert resolve_model_dir("hf:zhihan1996/DNABERT-2-117M") == "zhihan1996/DNABERT-2-117M"
    with pytest.raises(InputError, match="hf:org/name"):
        resolve_model_dir("hf:not-an-id")


def test_genolm_own_models_load_without_remote_code(dna_run):
    pred = genolm.load(dna_run)
    df = pred.predict(["ACGT" * 20, "TTTTACGTAAAACCCGGGTTT" * 4])
    assert list(df.columns) == ["id", "prediction", "score"] and len(df) == 2


def test_skops_allow_list_refuses_unknown_types(tmp_path):
    import skops.io as sio

    from genolm.core.persist import load_estimator, save_estimator

    path = tmp_path / "odd.skops"
    sio.dump({"f": os.getcwd}, str(path))  # a callable from os: not on the allow-list
    with pytest.raises(InputError, match="does not allow"):
        load_estimator(path)
    with pytest.raises(TypeError, match="ALLOWED_TYPES"):
        save_estimator({"f": os.getcwd}, tmp_path / "odd2.skops")


def test_convert_reads_old_joblib_with_a_restricted_unpickler(tmp_path, capsys):
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from genolm.core.persist import load_estimator

    good = tmp_path / "good"
    good.mkdir()
    X = np.random.default_rng(0).normal(size=(40, 3))
    clf = LogisticRegression().fit(X, X[:, 0] > 0)
    joblib.dump(clf, good / "classifier.joblib")
    assert main(["convert", str(good)]) == 0
    assert not (good / "classifier.joblib").exists()
    assert np.allclose(load_estimator(good / "classifier.skops").predict_proba(X), clf.predict_proba(X))

    bad = tmp_path / "bad"
    bad.mkdir()
    marker = tmp_path / "CONVERT_RAN_CODE"
    joblib.dump(_Bomb(marker), bad / "classifier.joblib")
    assert main(["convert", str(bad)]) == 2
    assert "refusing to convert" in capsys.readouterr().err and not marker.exists()
