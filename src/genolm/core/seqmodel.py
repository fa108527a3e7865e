"""A sequence model seen as a function of one-hot DNA: what explain, motif discovery and design work on.

Every genolm model that maps a DNA sequence to a score exposes one through
``genolm.load(path).sequence_model()`` (DNA classifiers/regressors of any backbone and local Hugging Face
DNA models here, the CRISPR on-target ensemble in the editing domain). Interpretation and design code only
ever see this interface, never a domain's classes:

- ``score(seqs)``: the exact model path (its tokenizer, its ensemble members), no gradients, batched:
  an ``(n, n_outputs)`` array of raw outputs (logits for classifiers, values on the training target's
  scale for regressors). ISM and directed evolution use this.
- ``forward(x)``: the same outputs as a differentiable function of a float ``(n, 4, L)`` one-hot tensor
  (A, C, G, T rows; an all-zero column is N). Saliency, integrated gradients, DeepLIFT/SHAP and
  gradient-guided design use this. ``gradient_note`` is None when it exists, else the reason it does not
  (e.g. a k-mer tokenizer); calling ``forward`` then raises an :class:`InputError` that says so and
  points at ISM.
- ``objective(raw, target)``: the number to explain or optimise for one output: the class probability for
  classifiers (softmax of the logits), the value for regressors.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from genolm.io.errors import InputError

BASES = "ACGT"


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/"auto" -> CUDA when available, else CPU; "cpu", "cuda", "cuda:N" checked (the one place every
    ``--device`` option goes through: an unknown name or CUDA on a machine without it is a UsageError)."""
    from genolm.io.errors import UsageError

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    text = str(device)
    if text not in ("cpu", "cuda") and not (text.startswith("cuda:") and text[5:].isdigit()):
        raise UsageError(f"unknown --device {text!r}; use auto, cpu, cuda or cuda:N")
    if text.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {text}: no CUDA device is available here (use --device auto or cpu)")
    return torch.device(text)


def decode_one_hot(x: torch.Tensor | np.ndarray) -> list[str]:
    """(n, 4, L) one-hot (or scores) -> sequences; an all-zero column reads as N."""
    from genolm.sequence import decode_batch

    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    idx = a.argmax(1)
    idx[a.max(1) <= 0] = 4
    return decode_batch(idx)


class SequenceModel:
    """Base class; subclasses set the attributes and implement ``score`` (and ``forward`` when differentiable)."""

    #: "classification" or "regression"
    task: str = "classification"
    #: output names: class labels (classification) or the target name (regression, one output)
    outputs: list[str] = []
    #: the input length the model needs (None = any length)
    length: int | None = None
    #: None when ``forward`` gives gradients w.r.t. the one-hot input; else why not
    gradient_note: str | None = None
    #: what the model is, for reports ("genolm cnn classifier from runs/x")
    description: str = "sequence model"

    device: torch.device = torch.device("cpu")

    # -- what subclasses implement ----------------------------------------------------------------
    def score(self, seqs: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """(n, n_outputs) raw outputs through the model's exact inference path, input order kept."""
        raise NotImplementedError

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- the shared part --------------------------------------------------------------------------
    @property
    def differentiable(self) -> bool:
        return self.gradient_note is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 4, L) float one-hot on ``self.device`` -> (n, n_outputs) raw outputs, differentiable."""
        if self.gradient_note is not None:
            raise InputError(f"{self.description}: no gradient path ({self.gradient_note}); use --method ism")
        if x.dim() != 3 or x.shape[1] != 4:
            raise InputError(f"expected a one-hot tensor of shape (n, 4, L), got {tuple(x.shape)}")
        self.check_length(x.shape[2])
        return self._forward(x)

    def module(self) -> nn.Module:
        """``forward`` as an ``nn.Module`` (what captum / tangermeme take)."""
        return _ForwardModule(self)

    def check_length(self, n: int, what: str = "sequence") -> None:
        if self.length is not None and n != self.length:
            raise InputError(f"{self.description} takes {self.length}-nt sequences; got a {n}-nt {what}")

    def target_index(self, target: str | int | None) -> int:
        """Index of an output by name (or position); None = the positive class (the last) / the only output."""
        if target is None or target == "":
            return len(self.outputs) - 1
        names = [str(o) for o in self.outputs]
        if str(target) in names:
            return names.index(str(target))
        if isinstance(target, int) or str(target).lstrip("-").isdigit():
            i = int(target)
            if -len(names) <= i < len(names):
                return i % len(names)
        raise InputError(f"unknown target {target!r}; the model's outputs are {names}")

    def objective(self, raw: torch.Tensor | np.ndarray, target: int) -> torch.Tensor | np.ndarray:
        """Class probability (classifiers) or value (regressors) of output ``target`` from raw outputs."""
        if self.task == "classification":
            if isinstance(raw, torch.Tensor):
                return torch.softmax(raw.float(), -1)[:, target]
            r = np.asarray(raw, dtype=np.float64)
            r = r - r.max(1, keepdims=True)
            e = np.exp(r)
            return (e / e.sum(1, keepdims=True))[:, target]
        return raw[:, target]

    def score_fast(self, seqs: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """``score`` for many equal-length sequences (ISM mutants, design candidates): through ``forward`` on
        one-hot batches when the model is differentiable (no tokenizer round trip; equal to ``score`` up to
        float rounding), else ``score``."""
        seqs = list(seqs)
        if not seqs or not self.differentiable or len({len(s) for s in seqs}) != 1:
            return self.score(seqs, batch_size)
        from genolm.sequence import one_hot

        self.check_length(len(seqs[0]))
        outs = []
        with torch.inference_mode():
            for i in range(0, len(seqs), batch_size):
                x = torch.from_numpy(one_hot(seqs[i : i + batch_size])).to(self.device)
                outs.append(self._forward(x).float().cpu().numpy())
        return np.concatenate(outs)

    def predict_objective(self, seqs: Sequence[str], target: int, batch_size: int = 256) -> np.ndarray:
        """``objective`` of ``score``: (n,) class probabilities / values."""
        if len(seqs) == 0:
            return np.zeros(0)
        return np.asarray(self.objective(self.score(seqs, batch_size), target), dtype=np.float64)

    def to(self, device: str | torch.device) -> "SequenceModel":
        self.device = torch.device(device)
        return self

    def __repr__(self) -> str:
        return f"<SequenceModel {self.description} outputs={self.outputs}>"


class _ForwardModule(nn.Module):
    def __init__(self, sm: SequenceModel):
        super().__init__()
        self.sm = sm
        net = getattr(sm, "net", None)
        if isinstance(net, nn.Module):
            self.net = net  # so .eval()/.parameters() reach the real weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sm.forward(x)


class HFSequenceModel(SequenceModel):
    """A DNA classifier/regressor loaded by :func:`genolm.core.loading.load_model` (genolm's own backbones or a
    local Hugging Face model). The gradient path builds the input embeddings from the one-hot matrix
    (``one_hot @ E[A,C,G,T] + (1 - sum) * E[N]``) between the tokenizer's own special tokens, so it is exact
    for one-token-per-base tokenizers; k-mer and BPE tokenizers have no per-base path (ISM only)."""

    def __init__(self, net, tok, info, description: str = "DNA model", device=None):
        from genolm.core.infer import predict_logits

        self._predict_logits = predict_logits
        if info is None or info.task not in ("classification", "regression"):
            task = info.task if info is not None else "unknown"
            raise InputError(
                f"{description} is a {task} model, not a classifier or regressor: explain and design need a model "
                "that scores sequences (fine-tune it with `genolm finetune` first)"
            )
        self.net, self.tok, self.info = net, tok, info
        self.task = info.task
        if info.task == "classification":
            names = [str(n) for n in info.label_names]
            if not names:  # a Hugging Face folder without genolm.json: the config's labels (LABEL_0...) or 0..k-1
                id2label = getattr(net.config, "id2label", None) or {}
                k = int(getattr(net.config, "num_labels", 0) or len(id2label) or 2)
                names = [str(id2label.get(i, i)) for i in range(k)]
            self.outputs = names
        else:
            self.outputs = ["value"]
        self.description = description
        self.length = None
        self.device = pick_device(device)
        self.net.to(self.device).eval()
        self._template, self.gradient_note = self._per_base_template()

    def _per_base_template(self):
        tok = self.tok
        try:
            ids = tok("ACGTN", add_special_tokens=False)["input_ids"]
            one = tok("A")["input_ids"]
        except Exception as e:  # a tokenizer that cannot even read bases
            return None, f"the tokenizer cannot be probed ({e})"
        if len(ids) != 5 or len(set(ids)) != 5:
            name = getattr(self.info, "tokenizer", "") or "this tokenizer"
            return None, f"{name} merges bases into tokens, so there is no per-base gradient path"
        if ids[0] not in one:
            return None, "the tokenizer's special-token template could not be read"
        k = one.index(ids[0])
        if not hasattr(self.net, "get_input_embeddings"):
            return None, "the model does not expose its input embeddings"
        return (one[:k], ids, one[k + 1 :]), None

    def score(self, seqs: Sequence[str], batch_size: int = 256) -> np.ndarray:
        if len(seqs) == 0:
            return np.zeros((0, len(self.outputs)))
        logits = self._predict_logits(self.net, self.tok, list(seqs), batch_size, self.info.max_length)
        logits = logits.reshape(len(seqs), -1)
        if self.task == "regression":
            return logits[:, :1] * self.info.target_std + self.info.target_mean
        return logits

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        prefix, base_ids, suffix = self._template
        n, _, length = x.shape
        if self.info.max_length and length + len(prefix) + len(suffix) > self.info.max_length:
            raise InputError(
                f"{self.description} reads at most {self.info.max_length} tokens; a {length}-nt sequence is too long"
            )
        emb = self.net.get_input_embeddings()
        dev = emb.weight.device
        table = emb(torch.tensor(base_ids, device=dev))  # (5, d): A C G T N
        xs = x.to(dev, emb.weight.dtype).transpose(1, 2)  # (n, L, 4)
        body = xs @ table[:4] + (1 - xs.sum(-1, keepdim=True)) * table[4]
        parts = []
        if prefix:
            parts.append(emb(torch.tensor(prefix, device=dev)).expand(n, -1, -1))
        parts.append(body)
        if suffix:
            parts.append(emb(torch.tensor(suffix, device=dev)).expand(n, -1, -1))
        out = self.net(inputs_embeds=torch.cat(parts, 1)).logits.float()
        if self.task == "regression":
            return out[:, :1] * self.info.target_std + self.info.target_mean
        return out


def load_hf_sequence_model(path, device=None, trust_remote_code: bool = False) -> HFSequenceModel:
    """The :class:`HFSequenceModel` of a genolm run directory / model folder / local HF folder."""
    from genolm.core.loading import load_model

    net, tok, info = load_model(path, trust_remote_code=trust_remote_code)
    arch = getattr(net.config, "arch", None) or getattr(net.config, "model_type", "")
    what = f"{arch} {info.task if info else ''} model from {path}".strip()
    return HFSequenceModel(net, tok, info, description=what, device=device)
