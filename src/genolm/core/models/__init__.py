"""genolm models: HF PreTrainedModel subclasses, registered with the transformers Auto classes.

Saved models carry their own modeling code (``auto_map`` + ``modeling_genolm.py``), so
``AutoModelForSequenceClassification.from_pretrained(DIR, trust_remote_code=True)`` works without genolm.
"""

from __future__ import annotations

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from .modeling_genolm import (
    ARCHS,
    GenolmConfig,
    GenolmForCausalLM,
    GenolmForMaskedLM,
    GenolmForSequenceClassification,
    GenolmForTokenClassification,
    GenolmModel,
    pool,
)

_AUTO = [
    (GenolmModel, "AutoModel", AutoModel),
    (GenolmForMaskedLM, "AutoModelForMaskedLM", AutoModelForMaskedLM),
    (GenolmForCausalLM, "AutoModelForCausalLM", AutoModelForCausalLM),
    (GenolmForSequenceClassification, "AutoModelForSequenceClassification", AutoModelForSequenceClassification),
    (GenolmForTokenClassification, "AutoModelForTokenClassification", AutoModelForTokenClassification),
]

try:
    AutoConfig.register("genolm", GenolmConfig)
except ValueError:  # already registered (module reloaded)
    pass
GenolmConfig.register_for_auto_class()
for _cls, _name, _auto in _AUTO:
    try:
        _auto.register(GenolmConfig, _cls)
    except ValueError:
        pass
    _cls.register_for_auto_class(_name)

__all__ = [
    "ARCHS",
    "GenolmConfig",
    "GenolmModel",
    "GenolmForMaskedLM",
    "GenolmForCausalLM",
    "GenolmForSequenceClassification",
    "GenolmForTokenClassification",
    "pool",
]
