# genolm: two commands on a fresh machine
#   make demo   -> creates .venv, installs genolm, runs `genolm demo --out runs/demo`
#   make test   -> the test suite (same venv)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint benchmarks clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: the CPU build on this machine's disk; anything else pulls a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/genolm demo --out runs/demo

# Style and types: ruff (lint + format) over everything, mypy over the public API and core.
lint: install
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(PY) -m mypy

# The whole suite, slow end-to-end checks included (under 20 minutes on 2 CPU cores), after the lint.
test: lint
	$(PY) -m pytest -q --timeout=900 tests

# Quick loop for developers: skips tests marked slow.
test-fast: install
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf $(VENV) runs .pytest_cache
