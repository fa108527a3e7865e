from __future__ import annotations

import gzip
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "editing"


@pytest.fixture(scope="session")
def edata() -> Path:
    return DATA


@pytest.fixture(scope="session")
def slice_seq() -> str:
    with gzip.open(DATA / "ecoli_slice.fa.gz", "rt") as fh:
        return "".join(line.strip() for line in fh if not line.startswith(">"))


def run_cli(args, capsys):
    from genolm.cli.main import main

    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


SEQ, TARGET = "target_context_30mer", "indel_freq_background_subtracted_pct"


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A small on-target run (1 CNN, 4 epochs + GBM) on the bundled Kim 2019 slice, shared by the modules."""
    from genolm.cli.main import main

    out = tmp_path_factory.mktemp("ontarget") / "run"
    code = main(
        [
            "crispr",
            "train",
            "--train",
            str(DATA / "kim_train.csv"),
            "--valid",
            str(DATA / "kim_dev.csv"),
            "--sequence-col",
            SEQ,
            "--target-col",
            TARGET,
            "--out",
            str(out),
            "--epochs",
            "4",
            "--n-cnn",
            "1",
            "--seed",
            "3",
            "--threads",
            "1",
        ]
    )
    assert code == 0
    return out
