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


@pytest.fixture(scope="session")
def ce_run(tmp_path_factory):
    """A tiny C. elegans annotation model (40 steps), trained once through the CLI (old option names)."""
    from genolm.cli.main import main

    out = tmp_path_factory.mktemp("ann") / "ce"
    code = main(
        [
            "annotate",
            "train",
            "--genome",
            str(DATA / "celegans_60loci.fa.gz"),
            "--gff",
            str(DATA / "celegans_60loci.gff3.gz"),
            "--out",
            str(out),
            "--scheme",
            "eukaryote",
            "--max-steps",
            "40",
            "--window",
            "1024",
            "--batch-size",
            "4",
            "--eval-every",
            "20",
            "--hidden",
            "16",
            "--layers",
            "6",
        ]
    )
    assert code == 0
    return out


def run_cli(args: list[str]):
    """Run the genolm CLI in-process; returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    from genolm.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()
