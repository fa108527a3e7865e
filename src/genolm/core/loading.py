"""Load any sequence model genolm can use: a genolm run directory, a saved model folder, any local
Hugging Face folder (DNABERT-2, Nucleotide Transformer, a BertForMaskedLM...) or a hub id.

genolm writes ``genolm.json`` next to the weights: task, label names, target scaling, tokenizer spec.
Folders without it are treated as plain Hugging Face checkpoints.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from genolm.io.errors import InputError

log = logging.getLogger("genolm")

TASKS = ("masked-lm", "causal-lm", "classification", "regression", "token-classification", "base")


def quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    try:
        transformers.utils.logging.disable_progress_bar()
    except Exception:
        pass
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class ModelInfo:
    """What genolm needs to know about a model beyond its HF config."""

    task: str = "base"
    label_names: list = field(default_factory=list)
    target_mean: float = 0.0
    target_std: float = 1.0
    tokenizer: str = ""
    max_length: int | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)

    def save(self, model_dir: str | os.PathLike) -> None:
        from genolm.io.atomic import atomic_write_text

        atomic_write_text(Path(model_dir) / "genolm.json", json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> "ModelInfo | None":
        p = Path(model_dir) / "genolm.json"
        if not p.is_file():
            return None
        data = json.loads(p.read_text())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def resolve_model_dir(spec: str | os.PathLike) -> str:
    """A run directory -> its model/; a folder -> itself; anything else is a hub id (needs network)."""
    p = Path(spec)
    if p.is_dir():
        if (p / "model").is_dir() and (p / "model" / "config.json").is_file():
            return str(p / "model")
        if (p / "config.json").is_file():
            return str(p)
        raise InputError("not a model folder (no config.json, no model/ inside)", p)
    if p.exists():
        raise InputError("expected a model folder, got a file", p)
    if str(spec).count("/") == 1 and not str(spec).startswith((".", "/")):
        return str(spec)  # hub id, e.g. zhihan1996/DNABERT-2-117M
    raise InputError("model folder not found", p)


def _auto_class(task: str):
    from transformers import (AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM,
                              AutoModelForSequenceClassification, AutoModelForTokenClassification)

    return {"masked-lm": AutoModelForMaskedLM, "causal-lm": AutoModelForCausalLM,
            "classification": AutoModelForSequenceClassification,
            "regression": AutoModelForSequenceClassification,
            "token-classification": AutoModelForTokenClassification, "base": AutoModel}[task]


def load_tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        return AutoTokenizer.from_pretrained(model_dir, trust_remote_code=True)
    except Exception as e:
        raise InputError(f"cannot load a tokenizer from the model folder: {e}", model_dir) from None


def load_model(spec: str | os.PathLike, task: str | None = None, num_labels: int | None = None,
               device: str | torch.device | None = None, **config_overrides):
    """Return (model, tokenizer, info). ``task`` None = the task the model was saved for."""
    import genolm.core.models  # noqa: F401  (registers genolm classes with the Auto API)

    quiet_transformers()
    model_dir = resolve_model_dir(spec)
    info = ModelInfo.load(model_dir) if Path(model_dir).is_dir() else None
    if info is None:
        info = ModelInfo(task="masked-lm", source=str(spec))
        info.task = _guess_hf_task(model_dir)
    want = task or info.task
    if want not in TASKS:
        raise InputError(f"unknown task {want!r}; one of {', '.join(TASKS)}")
    kwargs = dict(config_overrides)
    if want in ("classification", "regression", "token-classification") and num_labels is not None:
        kwargs["num_labels"] = num_labels
        if want == "regression":
            kwargs["problem_type"] = "regression"
    try:
        model = _auto_class(want).from_pretrained(model_dir, trust_remote_code=True, **kwargs)
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"cannot load model for task {want!r}: {str(e).splitlines()[0]}", model_dir) from None
    tok = load_tokenizer(model_dir)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    info.task = want  # the task of the returned model (a masked LM loaded for classification is a classifier)
    return model, tok, info


def _guess_hf_task(model_dir: str) -> str:
    cfg_path = Path(model_dir) / "config.json"
    if not cfg_path.is_file():
        return "masked-lm"
    cfg = json.loads(cfg_path.read_text())
    arch = " ".join(cfg.get("architectures") or [])
    if "SequenceClassification" in arch:
        return "regression" if cfg.get("problem_type") == "regression" else "classification"
    if "TokenClassification" in arch:
        return "token-classification"
    if "CausalLM" in arch or cfg.get("causal"):
        return "causal-lm"
    return "masked-lm"


def save_model(model, tokenizer, info: ModelInfo, model_dir: str | os.PathLike) -> Path:
    """Save weights (safetensors), tokenizer and genolm.json atomically into ``model_dir``."""
    from genolm.io.atomic import atomic_path

    model_dir = Path(model_dir)
    if getattr(model.config, "model_type", None) == "genolm":
        # every head loadable through the Auto API from the copied modeling file, not only the saved one
        model.config.auto_map = {
            "AutoConfig": "modeling_genolm.GenolmConfig",
            "AutoModel": "modeling_genolm.GenolmModel",
            "AutoModelForMaskedLM": "modeling_genolm.GenolmForMaskedLM",
            "AutoModelForCausalLM": "modeling_genolm.GenolmForCausalLM",
            "AutoModelForSequenceClassification": "modeling_genolm.GenolmForSequenceClassification",
            "AutoModelForTokenClassification": "modeling_genolm.GenolmForTokenClassification",
        }
    with atomic_path(model_dir) as tmp:
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        info.save(tmp)
    return model_dir
