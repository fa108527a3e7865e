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
