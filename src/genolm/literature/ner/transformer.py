"""The fine-tuned transformer token classifier (word-piece windows, constrained Viterbi decoding)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from genolm.literature import textmodels as T
from genolm.literature.ner.encoding import (
    TextPrediction,
    allowed_transitions,
    build_inputs,
    collate,
    viterbi,
    windows,
    word_pieces,
)

MARKER = "genolm_ner.json"


class NERModel(TextPrediction):
    """A trained token classifier with its tokenizer and label set."""

    def __init__(self, model, tokenizer, labels: list[str], max_length: int = 128, device=None):
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_length = max_length
        self._allowed, self._start = allowed_transitions(labels)
        self.types = sorted({t[2:] for t in labels if t != "O"})

    @property
    def device(self):
        """Where the weights are now (the trainer may have moved them to a GPU)."""
        return next(self.model.parameters()).device

    def encode_sentence(self, words: Sequence[str]) -> list[tuple[int, list[int], list[int]]]:
        """(word offset, input ids, first-piece positions) per window of one sentence."""
        wp = word_pieces(self.tokenizer, words) if words else []
        out = []
        for a, b in windows(wp, self.max_length - 2) if wp else []:
            ids, first = build_inputs(self.tokenizer, wp[a:b], self.max_length)
            out.append((a, ids, first))
        return out

    def predict_tokens(self, sentences: Sequence[Sequence[str]], batch_size: int = 32, with_scores: bool = False):
        """IOB2 tags (and per-token confidence when with_scores) for pre-tokenised sentences, order kept."""
        import numpy as np
        import torch

        items = [
            (si, a, ids, first) for si, words in enumerate(sentences) for a, ids, first in self.encode_sentence(words)
        ]
        logps: list[np.ndarray] = [np.zeros((len(w), len(self.labels)), dtype=np.float32) for w in sentences]
        was_training = self.model.training
        self.model.eval()
        device = self.device
        order = T.length_batches([len(x[2]) for x in items], batch_size, shuffle=False)
        with torch.inference_mode():
            for bidx in order:
                ids, mask, _ = collate([items[i][2] for i in bidx], self.tokenizer.pad_token_id)
                out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
                lp = torch.log_softmax(out.float(), -1).cpu().numpy()
                for row, i in enumerate(bidx):
                    si, a, _, first = items[i]
                    for k, pos in enumerate(first):
                        if pos >= 0:
                            logps[si][a + k] = lp[row, pos]
                        else:  # cannot happen with windows; keep 'O'
                            logps[si][a + k] = np.log(np.eye(len(self.labels))[self.labels.index("O")] + 1e-9)
        if was_training:
            self.model.train()
        tags, scores = [], []
        for lp in logps:
            if len(lp) == 0:
                tags.append([])
                scores.append([])
                continue
            path = viterbi(lp, self._allowed, self._start)
            tags.append([self.labels[j] for j in path])
            scores.append([float(np.exp(lp[t, j])) for t, j in enumerate(path)])
        return (tags, scores) if with_scores else tags

    def save(self, path: str | os.PathLike, config: dict | None = None) -> None:
        from genolm.io.atomic import atomic_write_text

        path = Path(path)
        self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        atomic_write_text(
            path / MARKER,
            json.dumps(
                {"task": "ner", "labels": self.labels, "max_length": self.max_length, "train_config": config or {}},
                indent=2,
            ),
        )


def load_transformer(path: Path, meta: dict, device=None) -> NERModel:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from genolm.io.errors import InputError

    device = device or T.torch_setup()
    try:
        model = AutoModelForTokenClassification.from_pretrained(path, use_safetensors=True).to(device)
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot load the NER model: {str(e).splitlines()[0]}", path) from None
    return NERModel(model, tok, meta["labels"], meta.get("max_length", 128), device)
