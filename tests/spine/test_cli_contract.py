"""What every command promises (docs/architecture.md, "house rules"), checked on the DNA commands and
the shared io/ layer: one-line errors with exit 2 for each class of bad input, run directories that are
never mixed or half-written, -q/-v anywhere, resumable training, plain progress lines off a terminal."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genolm.cli.main import main

DATA = Path(__file__).resolve().parents[1] / "data" / "core"
TRAIN, VALID, FASTA = DATA / "prom_train.csv", DATA / "prom_valid.csv", DATA / "prom_20.fa"
TINY = ["--hidden", "16", "--layers", "1", "--conv-layers", "1", "--heads", "2"]


def err_of(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("contract") / "clf"
    assert (
        main(
            ["-q", "finetune", "--train", str(VALID), "--out", str(out), "--max-steps", "4", "--eval-every", "2", *TINY]
        )
        == 0
    )
    return out


# ---- bad input classes: one line naming the file (and line), exit 2 -------------------------------


def test_truncated_gzip_names_the_file(tmp_path, capsys, run_dir):
    data = gzip.compress(TRAIN.read_bytes())
    bad = tmp_path / "train.csv.gz"
    bad.write_bytes(data[: len(data) // 2])
    assert main(["predict", "--model", str(run_dir), "--input", str(bad), "--out", str(tmp_path / "p.csv")]) == 2
    line = err_of(capsys)
    assert str(bad) in line and "truncated" in line and not (tmp_path / "p.csv").exists()


def test_truncated_gzip_fasta_names_the_file_and_line(tmp_path, capsys, run_dir):
    data = gzip.compress(FASTA.read_bytes() * 50)
    bad = tmp_path / "seqs.fa.gz"
    bad.write_bytes(data[: len(data) - 40])
    assert main(["predict", "--model", str(run_dir), "--input", str(bad), "--out", str(tmp_path / "p.csv")]) == 2
    assert f"{bad}:" in err_of(capsys)


def test_non_utf8_fasta_is_an_error_with_its_line(tmp_path, capsys, run_dir):
    bad = tmp_path / "latin1.fa"
    bad.write_bytes(b">s1 caf\xe9\nACGTACGT\n")
    assert main(["predict", "--model", str(run_dir), "--input", str(bad), "--out", str(tmp_path / "p.csv")]) == 2
    assert f"{bad}:1: not UTF-8" in err_of(capsys)


def test_star_in_fasta_is_not_silently_rewritten(tmp_path, capsys, run_dir):
    bad = tmp_path / "star.fa"
    bad.write_text(">s1\nACGTACGT\n>s2\nACG*ACGT\n")
    assert main(["predict", "--model", str(run_dir), "--input", str(bad), "--out", str(tmp_path / "p.csv")]) == 2
    assert f"{bad}:4:" in err_of(capsys)


def test_duplicate_fasta_ids_are_an_error(tmp_path, capsys, run_dir):
    bad = tmp_path / "dup.fa"
    bad.write_text(">s1\nACGTACGT\n>s1\nACGTTTGT\n")
    assert main(["predict", "--model", str(run_dir), "--input", str(bad), "--out", str(tmp_path / "p.csv")]) == 2
    line = err_of(capsys)
    assert f"{bad}:3:" in line and "duplicate" in line


def test_corrupt_config_json_names_the_file(tmp_path, capsys, run_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run_dir / "model", broken)
    (broken / "config.json").write_text('{"model_type": "genolm", ')
    assert main(["predict", "--model", str(broken), "--input", str(FASTA), "--out", str(tmp_path / "p.csv")]) == 2
    assert "corrupt config.json" in err_of(capsys)


def test_single_class_labels_refused_before_any_run_dir(tmp_path, capsys):
    one = tmp_path / "one.csv"
    one.write_text("sequence,label\n" + "".join(f"{'ACGT' * 10},1\n" for _ in range(30)))
    out = tmp_path / "run"
    assert main(["finetune", "--train", str(one), "--out", str(out), "--max-steps", "2", *TINY]) == 2
    assert "two label values" in err_of(capsys)
    assert not out.exists() and not any(p.name.startswith(".run") for p in tmp_path.iterdir())


def test_impossible_out_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["finetune", "--train", str(VALID), "--out", str(blocker / "run"), "--max-steps", "2", *TINY]) == 2
    assert "--out" in err_of(capsys)
    assert main(["finetune", "--train", str(VALID), "--out", str(blocker), "--max-steps", "2", *TINY]) == 2
    assert "is a file" in err_of(capsys)


# ---- run directories ---------------------------------------------------------------------------------


def test_out_holding_another_kind_of_run_is_refused(tmp_path, capsys, run_dir):
    import shutil

    other = tmp_path / "pre"
    shutil.copytree(run_dir, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["command"] = "pretrain"
    (other / "manifest.json").write_text(json.dumps(manifest))
    before = (other / "config.yaml").read_text()
    assert main(["finetune", "--train", str(VALID), "--out", str(other), "--max-steps", "2", *TINY]) == 2
    assert "--overwrite" in err_of(capsys)
    assert (other / "config.yaml").read_text() == before
    assert (
        main(["-q", "finetune", "--train", str(VALID), "--out", str(other), "--max-steps", "2", "--overwrite", *TINY])
        == 0
    )
    assert json.loads((other / "manifest.json").read_text())["command"] == "finetune"


def test_failed_rerun_keeps_the_old_run(tmp_path, capsys, run_dir):
    import shutil

    out = tmp_path / "clf"
    shutil.copytree(run_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence,label\nACGTXX,1\nACGTAA,0\n")
    assert main(["finetune", "--train", str(bad), "--out", str(out), "--max-steps", "2", *TINY]) == 2
    assert f"{bad}:2:" in err_of(capsys)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_quiet_and_verbose_work_after_the_subcommand(tmp_path, capsys, run_dir):
    assert (
        main(["predict", "--model", str(run_dir), "--input", str(FASTA), "--out", str(tmp_path / "p.csv"), "-q"]) == 0
    )
    assert (tmp_path / "p.csv").is_file()


def test_progress_off_a_tty_is_plain_lines(tmp_path):
    env = {**os.environ, "GENOLM_QUIET": "0"}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "genolm.cli.main",
            "finetune",
            "--train",
            str(VALID),
            "--out",
            str(tmp_path / "r"),
            "--max-steps",
            "30",
            "--eval-every",
            "15",
            *TINY,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "\r" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("train:")]
    assert 1 <= len(lines) <= 12
    assert "Loading weights" not in res.stderr and "DeprecationWarning" not in res.stderr


# ---- kill -9 and --resume -----------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_same_metrics(tmp_path):
    args = [
        "finetune",
        "--train",
        str(TRAIN),
        "--valid",
        str(VALID),
        "--max-steps",
        "60",
        "--eval-every",
        "20",
        "--checkpoint-every",
        "10",
        "--seed",
        "1",
        *TINY,
    ]
    env = {**os.environ, "GENOLM_QUIET": "1"}
    full = tmp_path / "full"
    subprocess.run(
        [sys.executable, "-m", "genolm.cli.main", *args, "--out", str(full)], env=env, check=True, timeout=600
    )
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "genolm.cli.main", *args, "--out", str(out)], env=env)
    state = tmp_path / ".killed.partial" / "checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state.is_file() and json.loads(state.read_text())["step"] >= 20:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() and state.is_file()
    subprocess.run(
        [sys.executable, "-m", "genolm.cli.main", *args, "--out", str(out), "--resume"],
        env=env,
        check=True,
        timeout=600,
    )
    a = json.loads((full / "metrics.json").read_text())["valid"]
    b = json.loads((out / "metrics.json").read_text())["valid"]
    for k in ("mcc", "auroc", "accuracy", "steps"):
        assert a[k] == pytest.approx(b[k], abs=1e-9), k


def test_output_under_a_file_is_one_line_not_a_traceback(tmp_path, capsys, run_dir):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    out = blocker / "p.csv"
    assert main(["predict", "--model", str(run_dir), "--input", str(FASTA), "--out", str(out)]) == 2
    line = err_of(capsys)
    assert "cannot write output" in line and "not_a_dir" in line
    assert blocker.read_text() == "x"


def test_unwritable_output_folder_is_one_line(tmp_path, capsys, run_dir):
    if os.geteuid() == 0:
        pytest.skip("root can write into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["predict", "--model", str(run_dir), "--input", str(FASTA), "--out", str(ro / "p.csv")]) == 2
        assert "cannot write output" in err_of(capsys)
    finally:
        ro.chmod(0o700)
