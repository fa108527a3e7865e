"""`genolm lit ...`: literature mining; the commands live in lit_nlp.py (ner, re, qa) and lit_kg.py
(kg, search, ask, textlm, generate)."""

from __future__ import annotations

from genolm.core.registry import group

group("lit", help="Literature mining: NER, relations, knowledge graph, search, QA, text LM.")

from genolm.tasks import lit_kg, lit_nlp  # noqa: E402,F401  (registers the lit.* tasks)
