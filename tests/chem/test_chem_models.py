"""Model-level tests on real slices: multi-task with missing labels, regression, transformer save/load,
determinism with a seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genolm.chem import api
from genolm.chem.model import ChemModel

pytestmark = pytest.mark.slow

TOX21 = [
    "NR-AR",
    "NR-AR-LBD",
    "NR-AhR",
    "NR-Aromatase",
    "NR-ER",
    "NR-ER-LBD",
    "NR-PPAR-gamma",
    "SR-ARE",
    "SR-ATAD5",
    "SR-HSE",
    "SR-MMP",
    "SR-p53",
]
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "tta": 1}


def test_transformer_multitask_missing_labels_save_load_roundtrip(tmp_path, data_dir):
    d = data_dir / "chem"
    assert pd.read_csv(d / "tox21_train.csv")[TOX21].isna().any().any()  # the slice really has gaps
    out = tmp_path / "tox"
    m = api.train(
        d / "tox21_train.csv",
        out,
        targets=",".join(TOX21),
        task="classification",
        valid=d / "tox21_dev.csv",
        arch="transformer",
        seed=3,
        max_steps=12,
        epochs=3,
        transformer_overrides=TINY,
    )
    assert list(m["valid"]["per_task"]) == TOX21
    assert all(np.isfinite(h["loss"]) for h in json.loads((out / "model" / "transformer" / "history.json").read_text()))
    for name in ["config.json", "model.safetensors", "tokenizer.json"]:
        assert (out / "model" / "transformer" / name).is_file()
    model = ChemModel.load(out)
    df = api.predict(model, d / "tox21_dev.csv")
    assert list(df.columns) == ["smiles", *TOX21, "error"]
    vals = df[TOX21].to_numpy()
    assert np.isfinite(vals).all() and ((vals > 0) & (vals < 1)).all()
    # the reloaded model reproduces the scores computed at the end of training
    again = api.evaluate(out, d / "tox21_dev.csv")
    assert again["mean_auroc"] == pytest.approx(m["valid"]["mean_auroc"], abs=1e-6)


def test_transformer_same_seed_same_metrics(tmp_path, data_dir):
    d = data_dir / "chem"
    runs = [
        api.train(
            d / "esol_train.csv",
            tmp_path / f"esol{i}",
            targets="logSolubility",
            task="regression",
            valid_csv=d / "esol_dev.csv",
            arch="transformer",
            seed=5,
            max_steps=8,
            transformer_overrides=TINY,
        )
        for i in range(2)
    ]
    assert runs[0]["valid"]["mean_rmse"] == runs[1]["valid"]["mean_rmse"]


def test_regression_trees_better_than_mean(tmp_path, data_dir):
    d = data_dir / "chem"
    a = api.train(
        d / "esol_train.csv",
        tmp_path / "esol0",
        targets="logSolubility",
        task="regression",
        valid=d / "esol_dev.csv",
        arch="et",
        seed=7,
        morgan_bits=256,
    )
    y = pd.read_csv(d / "esol_dev.csv")["logSolubility"]
    baseline = float(np.sqrt(((y - pd.read_csv(d / "esol_train.csv")["logSolubility"].mean()) ** 2).mean()))
    assert a["valid"]["mean_rmse"] < 0.6 * baseline  # far better than predicting the training mean
    assert a["valid"]["mean_r2"] > 0.6
    pred = api.predict(tmp_path / "esol0", d / "esol_dev.csv")
    assert list(pred.columns) == ["smiles", "logSolubility", "error"]  # the label column is replaced
    assert pred["logSolubility"].between(-13, 3).all()


def test_transformer_trains_in_the_shared_loop_with_the_cli_checkpoint_setting(tmp_path, data_dir, monkeypatch):
    """`chem train --checkpoint-every N` reaches genolm.core.train's TrainConfig, which runs the epochs
    (per-epoch validation, budgets) and checkpoints into the run directory."""
    import genolm.core.train as core_train
    from genolm.cli.main import main

    seen = []
    real = core_train.train

    def spy(model, loader, cfg, **kw):
        seen.append((cfg, kw))
        return real(model, loader, cfg, **kw)

    monkeypatch.setattr(core_train, "train", spy)
    d = data_dir / "chem"
    out = tmp_path / "tf"
    rc = main(
        [
            "--quiet",
            "chem",
            "train",
            "--train",
            str(d / "bbbp_train.csv"),
            "--valid",
            str(d / "bbbp_dev.csv"),
            "--label-col",
            "p_np",
            "--arch",
            "transformer",
            "--max-steps",
            "9",
            "--checkpoint-every",
            "3",
            "--out",
            str(out),
            "--seed",
            "2",
        ]
    )
    assert rc == 0 and len(seen) == 1
    cfg, kw = seen[0]
    assert cfg.checkpoint_every == 3 and cfg.max_steps == 9 and cfg.metric == "valid_score"
    assert kw["steps_per_epoch"] == 7 and cfg.eval_every == 7  # 400 molecules / batch 64: validated per epoch
    assert Path(kw["out_dir"]).name == ".tf.partial"  # checkpoints go into the run being written
    history = json.loads((out / "model" / "transformer" / "history.json").read_text())
    assert [h["step"] for h in history] == [7, 9] and all(np.isfinite(h["valid_score"]) for h in history)
    assert not (out / "checkpoint").exists()  # removed once training finished
