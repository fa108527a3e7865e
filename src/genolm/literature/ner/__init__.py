"""Named-entity recognition: fine-tune a BERT-style encoder for IOB token classification, or a CRF.

Public API (stable; the knowledge-graph code calls it)::

    ner = load_ner("runs/ncbi")                 # a run directory or its model/ folder
    ner.predict_text("BRCA1 mutations cause breast cancer.")
    # -> [{"start": 22, "end": 35, "text": "breast cancer", "type": "Disease", "score": 0.98}]
    ner.predict_tokens([["BRCA1", "mutations", ...]])   # -> [["O", "O", ...]]

    train_ner(["train.tsv"], "runs/ncbi", valid="devel.tsv", time_budget="25m")
    evaluate_ner("runs/ncbi", "devel.tsv")      # seqeval entity-level exact-span P/R/F1, overall and per type
    predict_file("runs/ncbi", "in.jsonl", "out.jsonl")   # IOB / text / JSONL / PubTator

Modules: :mod:`.encoding` (word pieces, windows, constrained Viterbi), :mod:`.transformer` (the fine-tuned
tagger), :mod:`.crf` (the CRFsuite tagger and its features), :mod:`.train`, :mod:`.predict` (loading,
metrics, evaluation, prediction). Offsets are 0-based, end-exclusive character offsets into the text.
"""

from __future__ import annotations

from genolm.literature.ner.config import NERConfig
from genolm.literature.ner.crf import CRFNERModel, Gazetteer, WordTypeModel
from genolm.literature.ner.encoding import allowed_transitions, viterbi
from genolm.literature.ner.predict import entity_scores, evaluate_ner, load_ner, predict_file, tag_records
from genolm.literature.ner.train import train_ner
from genolm.literature.ner.transformer import NERModel

__all__ = [
    "NERConfig",
    "NERModel",
    "CRFNERModel",
    "Gazetteer",
    "WordTypeModel",
    "load_ner",
    "train_ner",
    "evaluate_ner",
    "predict_file",
    "tag_records",
    "entity_scores",
    "viterbi",
    "allowed_transitions",
]
