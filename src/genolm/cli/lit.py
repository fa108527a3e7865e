"""`genolm lit ...`: literature mining. Sub-groups live in lit_nlp.py (ner, re, qa) and lit_kg.py
(kg, search, ask, textlm, generate)."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Literature mining: NER, relations, knowledge graph, search, QA, text LM.", no_args_is_help=True)

for _module in ("genolm.cli.lit_nlp", "genolm.cli.lit_kg"):
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as _e:
        if _e.name != _module:
            raise
        continue
    _mod.register(app)
