"""Shared test fixtures.

Services (PostgreSQL, ...) are real. On a developer's machine without one, the test skips with the
reason; under CI (CI=true) a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a test server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_or_fail(reason: str) -> None:
    """Skip locally, fail under CI."""
    if IN_CI:
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of a real PostgreSQL database (set GENOLM_TEST_PG_URL; .ci/run starts one)."""
    url = os.environ.get("GENOLM_TEST_PG_URL")
    if not url:
        skip_or_fail("GENOLM_TEST_PG_URL is not set (no PostgreSQL server)")
    try:
        import sqlalchemy as sa

        with sa.create_engine(url).connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as e:  # pragma: no cover - depends on the machine
        skip_or_fail(f"cannot connect to PostgreSQL at {url}: {e}")
    return url


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("GENOLM_QUIET", "1")


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory) -> str:
    """A small randomly initialised BertForMaskedLM + DNA tokenizer saved locally: a stand-in for a hub download
    such as a Nucleotide Transformer / DNABERT folder (no network)."""
    from transformers import BertConfig, BertForMaskedLM

    from genolm.core.tokenizers import build_dna_tokenizer

    d = tmp_path_factory.mktemp("hf_bert")
    tok = build_dna_tokenizer("base")  # a character-level tokenizer.json, as nucleotide-level hub models ship
    tok.save_pretrained(d)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    import torch

    torch.manual_seed(0)
    BertForMaskedLM(cfg).save_pretrained(d)
    return str(d)


# --- small trained models shared by the interpret / design tests (real data slices, seconds to train) ---------


def _cli(args: list[str]) -> None:
    from genolm.cli.main import main

    code = main(["-q", *args])
    assert code == 0, f"genolm {' '.join(args)} exited {code}"


@pytest.fixture(scope="session")
def promoter_clf(tmp_path_factory) -> Path:
    """A small CNN promoter classifier (run directory) on the bundled GUE prom_core slice (70 nt, labels 0/1)."""
    out = tmp_path_factory.mktemp("promoter_clf") / "run"
    core = DATA / "core"
    _cli(
        [
            "finetune",
            "--train",
            str(core / "prom_train.csv"),
            "--valid",
            str(core / "prom_valid.csv"),
            "--out",
            str(out),
        ]
        + ["--arch", "cnn", "--hidden", "32", "--layers", "3", "--max-steps", "60", "--seed", "0"]
    )
    return out


@pytest.fixture(scope="session")
def ontarget_run(tmp_path_factory) -> Path:
    """A small CRISPR on-target ensemble (1 CNN + GBM) on the bundled Kim 2019 slice (30-nt contexts)."""
    out = tmp_path_factory.mktemp("ontarget_small") / "run"
    ed = DATA / "editing"
    _cli(
        ["crispr", "train", "--train", str(ed / "kim_train.csv"), "--valid", str(ed / "kim_dev.csv")]
        + ["--sequence-col", "target_context_30mer", "--target-col", "indel_freq_background_subtracted_pct"]
        + ["--out", str(out), "--epochs", "4", "--n-cnn", "1", "--seed", "3", "--threads", "1"]
    )
    return out
