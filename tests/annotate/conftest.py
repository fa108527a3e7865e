from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "annotate"


@pytest.fixture(scope="session")
def ann_data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def cli():
    return run_cli


def run_cli(args: list[str]):
    """Run the genolm CLI in-process; returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    from genolm.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()
