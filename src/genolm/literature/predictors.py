"""``genolm.load`` support for the literature models: NER, relation extraction, PubMedQA and the text LM.

Each predictor's ``predict`` returns the same columns and values as the matching CLI command writes, through
the same functions (``genolm lit ner predict`` JSONL, ``lit re predict`` relation lines, ``lit qa predict``
CSV, ``lit generate`` text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from genolm.core.predictor import Predictor
from genolm.io.errors import InputError


class NERPredictor(Predictor):
    """Texts -> one row per text: ``id``, ``text``, ``entities`` (list of {start, end, text, type, score}),
    as ``genolm lit ner predict`` writes for a text / JSONL input."""

    kind = "NER"
    input_columns = ("text",)

    def __init__(self, path: Path):
        from genolm.literature.ner import load_ner

        super().__init__(path)
        self.model = load_ner(path)

    def predict(self, inputs: Any) -> pd.DataFrame:
        from genolm.literature.ner.predict import tag_records, text_records

        if isinstance(inputs, pd.DataFrame) and "text" in inputs.columns:
            recs = text_records(inputs["text"].tolist())
            if "id" in inputs.columns:
                for r, i in zip(recs, inputs["id"].tolist()):
                    r["id"] = i
        else:
            recs = text_records(self._column(inputs))
        tagged = tag_records(self.model, recs)
        return pd.DataFrame(
            {
                "id": [r["id"] for r in tagged],
                "text": [r["text"] for r in tagged],
                "entities": [r["entities"] for r in tagged],
            }
        )


class REPredictor(Predictor):
    """PubTator documents with entity mentions (a list of :class:`formats.Document` or a PubTator path) ->
    one row per predicted relation line: ``pmid``, ``type``, ``id1``, ``id2``."""

    kind = "relation extraction"

    def __init__(self, path: Path):
        from genolm.literature.relations import load_re

        super().__init__(path)
        self.model = load_re(path)

    def predict(self, inputs: Any) -> pd.DataFrame:
        from genolm.literature import formats as F
        from genolm.literature.relations.predict import check_has_mentions, relations_frame

        if isinstance(inputs, (str, Path)):
            docs = F.read_pubtator(inputs)
        else:
            docs = list(inputs)
            if not all(isinstance(d, F.Document) for d in docs):
                raise InputError("relation predict takes a PubTator path or a list of formats.Document")
        check_has_mentions(docs, inputs if isinstance(inputs, (str, Path)) else None)
        return relations_frame(docs, self.model.predict_documents(docs))


class QAPredictor(Predictor):
    """Questions with contexts (a list of {QUESTION, CONTEXTS[, id]} dicts, or a DataFrame with
    ``question``/``contexts`` and optionally ``id``) -> ``id``, ``prediction`` (yes / no / maybe)."""

    kind = "PubMedQA"

    def __init__(self, path: Path):
        from genolm.literature.qa import load_qa

        super().__init__(path)
        self.model = load_qa(path)

    def predict(self, inputs: Any) -> pd.DataFrame:
        from genolm.literature.qa import answers_frame, parse_records, read_pubmedqa

        if isinstance(inputs, (str, Path)):  # a PubMedQA JSON file, as `lit qa predict --input`
            return answers_frame(self.model, read_pubmedqa(inputs, require_labels=False))
        if isinstance(inputs, pd.DataFrame):
            items = [
                (str(r.get("id", i)), {k: v for k, v in r.items() if k != "id"})
                for i, r in enumerate(inputs.to_dict("records"))
            ]
        elif isinstance(inputs, dict):
            items = [(str(k), v) for k, v in inputs.items()]
        else:
            items = [(str(r.get("id", i)) if isinstance(r, dict) else str(i), r) for i, r in enumerate(inputs)]
        return answers_frame(self.model, parse_records(items, None, require_labels=False))


class TextLMPredictor(Predictor):
    """Prompts -> ``prompt``, ``text`` (prompt + continuation, as ``genolm lit generate`` prints it);
    ``embed`` gives mean-pooled, L2-normalised hidden states."""

    kind = "text LM"
    input_columns = ("prompt", "text")

    def __init__(self, path: Path):
        from genolm.literature.textlm import TextLM

        super().__init__(path)
        self.lm = TextLM(path)

    def predict(
        self, inputs: Any, max_new_tokens: int = 64, temperature: float = 0.8, top_k: int = 50, seed: int = 0
    ) -> pd.DataFrame:
        from genolm.literature.textlm import generate_with

        prompts = self._column(inputs)
        return pd.DataFrame(
            {
                "prompt": prompts,
                "text": [
                    generate_with(
                        self.lm, p, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed
                    )
                    for p in prompts
                ],
            }
        )

    def embed(self, inputs: Any):
        import numpy as np

        return np.asarray(self.lm.embed([str(x) for x in self._column(inputs)]), dtype=np.float32)


PREDICTORS = [
    ("genolm_ner.json", NERPredictor),
    ("genolm_re.json", REPredictor),
    ("genolm_qa.json", QAPredictor),
    ("genolm_textlm.json", TextLMPredictor),
]
