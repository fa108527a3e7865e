"""genolm: language models and deep learning for genetics research.

The Python API in one line per domain (each ``train`` writes the same run directory as the CLI):

- ``genolm.load(path)`` -> a predictor for any genolm run directory or model folder
  (``.predict(inputs) -> DataFrame``, ``.embed(...)``, ``.save(path)``).
- DNA language models: ``genolm.pretrain``, ``genolm.finetune``, ``genolm.evaluate``, ``genolm.predict``,
  ``genolm.embed`` (``genolm.genome.lm``).
- Domains: ``genolm.genome`` (variants, annotate, scan, discover), ``genolm.editing`` (CRISPR),
  ``genolm.chem``, ``genolm.omics``, ``genolm.literature``; shared pieces in ``genolm.core``,
  ``genolm.io`` and ``genolm.sequence``.
"""

from __future__ import annotations

from typing import Any

from genolm.api import load

__version__ = "0.2.0"

__all__ = ["load", "pretrain", "finetune", "evaluate", "predict", "embed", "__version__"]


def __getattr__(name: str) -> Any:  # heavy modules load on first use
    if name in ("pretrain", "finetune", "evaluate", "predict", "embed"):
        from genolm.genome import lm

        return getattr(lm, name)
    raise AttributeError(f"module 'genolm' has no attribute {name!r}")
