"""Shared test fixtures.

Services (PostgreSQL, ...) are real. On a developer's machine without one, the test skips with the
reason; under CI (CI=true) a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
