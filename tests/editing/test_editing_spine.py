"""Issue 12 for CRISPR: genolm.load == CLI predict, no pickles, core training loop, resume, bad GFF input."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SEQ, TARGET, run_cli

SRC = Path(__file__).resolve().parents[2] / "src"


def _cli_predict(model, inp, out, capsys):
    code, _, err = run_cli(
        ["crispr", "predict", "--model", model, "--input", inp, "--sequence-col", SEQ, "--out", out], capsys
    )
    assert code == 0, err
    return pd.read_csv(out, float_precision="round_trip")  # the exact floats the CLI wrote


@pytest.mark.slow
def test_load_predict_equals_cli(trained, edata, tmp_path, capsys):
    import genolm
    from genolm.editing.predictors import OnTargetPredictor

    dev = pd.read_csv(edata / "kim_dev.csv").head(60)
    rows = dev[[SEQ, TARGET]].copy()
    rows.loc[3, SEQ] = "ACGT"  # wrong length: empty score + error, the others still scored
    inp = tmp_path / "in.csv"
    rows.to_csv(inp, index=False)
    cli = _cli_predict(trained, inp, tmp_path / "p.csv", capsys)
    cli["error"] = cli["error"].fillna("")

    m = genolm.load(trained)
    assert isinstance(m, OnTargetPredictor) and m.input_length == 30
    api = m.predict(rows)  # DataFrame in: every column kept, like the CLI
    assert list(api.columns) == list(cli.columns) == [SEQ, TARGET, "score", "error"]
    pd.testing.assert_frame_equal(api.reset_index(drop=True), cli, check_exact=True)
    assert np.isnan(api.loc[3, "score"]) and "length 4" in api.loc[3, "error"]
    # a plain list of guides gives the same scores (sequence column named `sequence`)
    lst = m.predict(rows[SEQ].tolist())
    assert list(lst.columns) == ["sequence", "score", "error"]
    np.testing.assert_array_equal(lst["score"].to_numpy(), cli["score"].to_numpy())
    # the model folder itself loads too, and an all-good list has no error column
    good = genolm.load(trained / "model").predict(rows[SEQ].tolist()[:3])
    assert list(good.columns) == ["sequence", "score"]
    # (a 3-row batch runs float32 convolutions in another summation order: equal to ~1e-8 relative)
    np.testing.assert_allclose(good["score"].to_numpy(), cli["score"].to_numpy()[:3], rtol=1e-6)


class _Boom:
    """Unpickling this would create the marker file (the attack a pickle model file allows)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.slow
def test_pickle_gbm_is_refused_and_never_run(trained, edata, tmp_path, capsys):
    import genolm
    from genolm.io.errors import InputError

    marker = tmp_path / "PWNED"
    old = tmp_path / "old_model"
    shutil.copytree(trained / "model", old)
    (old / "gbm.skops").unlink()
    (old / "genolm_ontarget.json").unlink()  # as written by earlier versions
    with open(old / "gbm.joblib", "wb") as fh:
        pickle.dump(_Boom(marker), fh)
    code, _, err = run_cli(
        [
            "crispr",
            "predict",
            "--model",
            old,
            "--input",
            edata / "kim_dev.csv",
            "--sequence-col",
            SEQ,
            "--out",
            tmp_path / "p.csv",
        ],
        capsys,
    )
    assert code == 2 and "genolm convert" in err and "gbm.joblib" in err
    with pytest.raises(InputError, match="retrain"):
        genolm.load(old)
    # a pickle renamed to .skops is not read either
    shutil.copy(old / "gbm.joblib", old / "gbm.skops")
    code, _, err = run_cli(
        [
            "crispr",
            "evaluate",
            "--model",
            old,
            "--input",
            edata / "kim_dev.csv",
            "--sequence-col",
            SEQ,
            "--label-col",
            TARGET,
        ],
        capsys,
    )
    assert code == 2 and "skops" in err
    assert not marker.exists()
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow
def test_old_folder_without_marker_still_loads(trained, edata, tmp_path):
    import genolm

    old = tmp_path / "m"
    shutil.copytree(trained / "model", old)
    (old / "genolm_ontarget.json").unlink()
    seqs = pd.read_csv(edata / "kim_dev.csv")[SEQ].tolist()[:20]
    a = genolm.load(old).predict(seqs)
    b = genolm.load(trained).predict(seqs)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_no_private_loops_or_pickles_in_editing():
    root = SRC / "genolm" / "editing"
    for p in list(root.rglob("*.py")) + [SRC / "genolm" / "tasks" / "crispr.py"]:
        text = p.read_text()
        assert ".backward(" not in text, p
        assert "joblib" not in text and "pickle" not in text, p
        assert len(text.splitlines()) <= 600, p


def test_cnn_forward_returns_loss_with_labels():
    import torch

    from genolm.editing.cnn import GuideCNN

    torch.manual_seed(0)
    m = GuideCNN(30).eval()
    x = torch.zeros(5, 4, 30)
    x[:, 0] = 1
    scores = m(x)
    out = m(x, labels=torch.ones(5))
    assert scores.shape == (5,)
    assert torch.allclose(out.loss, ((scores - 1) ** 2).mean())


def test_train_without_valid_holds_out_a_split(edata, tmp_path):
    from genolm.editing.ontarget import train

    m = train(
        edata / "deephf_dev.csv",
        tmp_path / "r",
        sequence_col="sgRNA_23mer",
        label_col="efficiency",
        epochs=1,
        n_cnn=1,
        use_gbm=False,
        time_budget=None,
        seed=0,
    )
    n = len(pd.read_csv(edata / "deephf_dev.csv"))
    assert m["n_dev"] == n // 10 and m["n_train"] + m["n_dev"] == n
    cfg = (tmp_path / "r" / "config.yaml").read_text()
    assert "valid: null" in cfg and "label_col: efficiency" in cfg


def test_out_of_another_kind_needs_overwrite(edata, tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"command": "chem train"}))
    args = [
        "crispr",
        "train",
        "--train",
        edata / "deephf_dev.csv",
        "--sequence-col",
        "sgRNA_23mer",
        "--label-col",
        "efficiency",
        "--out",
        out,
        "--epochs",
        "1",
        "--n-cnn",
        "1",
        "--no-gbm",
    ]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "--overwrite" in err
    code, _, err = run_cli(args + ["--overwrite"], capsys)
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["command"] == "crispr train"


@pytest.mark.slow
def test_kill9_then_resume_gives_same_metrics(edata, tmp_path):
    common = [
        "--train",
        str(edata / "kim_train.csv"),
        "--valid",
        str(edata / "kim_dev.csv"),
        "--sequence-col",
        SEQ,
        "--label-col",
        TARGET,
        "--epochs",
        "8",
        "--n-cnn",
        "2",
        "--seed",
        "5",
        "--checkpoint-every",
        "3",
        "--time-budget",
        "0",
    ]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "genolm.cli.main", "crispr", "train"]
    ref = tmp_path / "ref"
    subprocess.run(cmd + common + ["--out", str(ref)], env=env, check=True, capture_output=True)
    out = tmp_path / "run"
    staging = tmp_path / ".run.partial"
    proc = subprocess.Popen(
        cmd + common + ["--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    t0 = time.monotonic()
    # member 0 finished and member 1 has a checkpoint: kill -9 in the middle of member 1
    while not ((staging / "members" / "cnn0.json").is_file() and (staging / "checkpoint" / "state.json").is_file()):
        assert proc.poll() is None, "training finished before it could be killed"
        assert time.monotonic() - t0 < 300
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() and staging.is_dir()
    done = subprocess.run(cmd + common + ["--out", str(out), "--resume"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "resumed from" in done.stderr and "CNN member 0 reloaded" in done.stderr
    a = json.loads((ref / "metrics.json").read_text())
    b = json.loads((out / "metrics.json").read_text())
    assert a["dev"] == pytest.approx(b["dev"], abs=1e-6)
    assert a["members"]["cnn_1"] == pytest.approx(b["members"]["cnn_1"], abs=1e-6)
    pa, pb = pd.read_csv(ref / "dev_predictions.csv"), pd.read_csv(out / "dev_predictions.csv")
    np.testing.assert_allclose(pa["score"], pb["score"], atol=1e-5)


@pytest.mark.parametrize(
    "line,message,file_ok",
    [
        ("ecoli_slice\tx\tgene\t299500\t300100\t.\t+\t.\tID=g1;Name=badGene", "is outside contig 'ecoli_slice'", True),
        ("chrZ\tx\tgene\t100\t400\t.\t+\t.\tID=g1;Name=badGene", "contig 'chrZ', which is not in the reference", True),
        ("ecoli_slice\tx\tgene\t2000\t1000\t.\t+\t.\tID=g1;Name=badGene", "invalid coordinates 2000-1000", False),
        ("ecoli_slice\tx\tgene\tten\t400\t.\t+\t.\tID=g1;Name=badGene", "start/end must be integers", False),
    ],
)
def test_design_bad_gff_feature(edata, tmp_path, capsys, line, message, file_ok):
    gff = tmp_path / "genes.gff3"
    gff.write_text("##gff-version 3\necoli_slice\tx\tgene\t1001\t1600\t.\t+\t.\tID=g0;Name=okGene\n" + line + "\n")
    out = tmp_path / "g.tsv"
    args = ["crispr", "design", "--reference", edata / "ecoli_slice.fa.gz", "--gff", gff, "--out", out, "--gene"]
    code, _, err = run_cli(args + ["badGene"], capsys)
    assert code == 2, err
    assert f"{gff}:3:" in err and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not out.with_suffix(".bed").exists()
    # a bad feature elsewhere in a well-formed file does not stop another gene; a malformed file always stops
    code, _, err = run_cli(args + ["okGene"], capsys)
    if file_ok:
        assert code == 0, err
        assert len(pd.read_csv(out, sep="\t")) > 10
    else:
        assert code == 2 and f"{gff}:3:" in err and not out.exists()
