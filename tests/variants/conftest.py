"""Fixtures for the variant tests (tiny real genolm models, built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from vhelpers import _tiny_model


@pytest.fixture(scope="session")
def mlm_dir(tmp_path_factory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("mlm") / "model", "masked-lm")


@pytest.fixture(scope="session")
def clm_dir(tmp_path_factory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("clm") / "model", "causal-lm")


@pytest.fixture(scope="session")
def clf_dir(tmp_path_factory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("clf") / "model", "classification", num_labels=2)
