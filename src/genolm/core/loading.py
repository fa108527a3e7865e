"""Load any sequence model genolm can use: a genolm run directory, a saved model folder, any local
Hugging Face folder (DNABERT-2, Nucleotide Transformer, a BertForMaskedLM...) or a hub id (``hf:org/name``).

genolm writes ``genolm.json`` next to the weights: task, label names, target scaling, tokenizer spec.
Folders without it are treated as plain Hugging Face checkpoints.

Security: loading never runs code from the model folder. genolm's own model type is registered from the
installed package; a folder whose ``config.json`` points at its own Python code (``auto_map``) loads only
when the caller passes ``trust_remote_code=True`` (the CLI's ``--trust-remote-code``). A path that does not
exist is an error naming it, never a silent hub lookup: hub ids need the ``hf:`` prefix.

:func:`find_model_dir` is the one "run directory or its model/" resolver every domain uses.
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
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"corrupt genolm.json ({e})", p) from None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


HUB_PREFIX = "hf:"


def find_model_dir(spec: str | os.PathLike, marker: str | tuple[str, ...] = "config.json", what: str = "model") -> Path:
    """A run directory -> its ``model/``; a model folder -> itself. ``marker`` names the file(s) that make
    a folder a model folder of the expected kind (one of them must exist)."""
    markers = (marker,) if isinstance(marker, str) else tuple(marker)
    p = Path(spec)
    if not p.exists():
        raise InputError(f"{what} folder not found", p)
    if not p.is_dir():
        raise InputError(f"expected a {what} folder (a run directory or its model/), got a file", p)
    for cand in (p, p / "model"):
        if any((cand / m).is_file() for m in markers):
            return cand
    raise InputError(f"not a {what} folder: no {' or '.join(markers)} in it or in its model/", p)


def is_hub_id(spec: str | os.PathLike) -> bool:
    return str(spec).startswith(HUB_PREFIX)


def resolve_model_dir(spec: str | os.PathLike) -> str:
    """A run directory -> its model/; a folder -> itself; ``hf:org/name`` -> the hub id (needs network)."""
    if is_hub_id(spec):
        hub = str(spec)[len(HUB_PREFIX) :]
        if hub.count("/") != 1 or not all(hub.split("/")):
            raise InputError(f"hub ids look like hf:org/name, got {spec!r}")
        return hub
    return str(find_model_dir(spec))


def read_config(model_dir: str | os.PathLike) -> dict:
    """config.json of a local model folder, as a dict; a corrupt file is an InputError naming it."""
    p = Path(model_dir) / "config.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"corrupt config.json ({e})", p) from None
    if not isinstance(data, dict):
        raise InputError("corrupt config.json (not a JSON object)", p)
    return data


def check_no_remote_code(model_dir: str | os.PathLike, trust_remote_code: bool) -> None:
    """Refuse a local folder that needs its own Python code unless the user asked for it."""
    if trust_remote_code or not Path(model_dir).is_dir():
        return
    cfg = read_config(model_dir)
    model_type = cfg.get("model_type")
    if model_type == "genolm":
        return  # genolm's own classes come from the installed package, not from the folder
    from transformers import CONFIG_MAPPING

    if cfg.get("auto_map") or (model_type and model_type not in CONFIG_MAPPING):
        raise InputError(
            f"this model folder needs its own Python code (model_type {model_type!r}"
            f"{', auto_map' if cfg.get('auto_map') else ''}); genolm does not run code from a model "
            "folder unless you pass --trust-remote-code",
            model_dir,
        )


def _auto_class(task: str):
    from transformers import (
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    return {
        "masked-lm": AutoModelForMaskedLM,
        "causal-lm": AutoModelForCausalLM,
        "classification": AutoModelForSequenceClassification,
        "regression": AutoModelForSequenceClassification,
        "token-classification": AutoModelForTokenClassification,
        "base": AutoModel,
    }[task]


def load_tokenizer(model_dir: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        return AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    except Exception as e:
        raise InputError(
            f"cannot load a tokenizer from the model folder: {str(e).splitlines()[0]}", model_dir
        ) from None


def load_model(
    spec: str | os.PathLike,
    task: str | None = None,
    num_labels: int | None = None,
    device: str | torch.device | None = None,
    trust_remote_code: bool = False,
    **config_overrides,
):
    """Return (model, tokenizer, info). ``task`` None = the task the model was saved for.

    ``spec`` is a run directory, a model folder or ``hf:org/name``; ``trust_remote_code`` allows a folder's
    own Python code to run (off by default; genolm's own models never need it).
    """
    import genolm.core.models  # noqa: F401  (registers genolm classes with the Auto API)

    quiet_transformers()
    model_dir = resolve_model_dir(spec)
    if Path(model_dir).is_dir():
        from genolm.core.persist import check_no_pickles

        check_no_remote_code(model_dir, trust_remote_code)
        check_no_pickles(model_dir)
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
        model = _auto_class(want).from_pretrained(
            model_dir,
            trust_remote_code=trust_remote_code,
            use_safetensors=True if any(Path(model_dir).glob("*.safetensors")) else None,
            **kwargs,
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"cannot load model for task {want!r}: {str(e).splitlines()[0]}", model_dir) from None
    tok = load_tokenizer(model_dir, trust_remote_code=trust_remote_code)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    info.task = want  # the task of the returned model (a masked LM loaded for classification is a classifier)
    return model, tok, info


def _guess_hf_task(model_dir: str) -> str:
    cfg = read_config(model_dir) if Path(model_dir).is_dir() else {}
    if not cfg:
        return "masked-lm"
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
