"""Document-level relation extraction between annotated entities (BioCreative V CDR style).

A candidate is a pair of concept ids (e.g. chemical MeSH id, disease MeSH id) that both occur in one
document; the classifier says whether the document asserts the relation (CDR: chemical-induced disease,
``CID``). Scoring is over (PMID, type, id1, id2) sets, as the BioCreative V CDR task does.

Model: logistic regression over pair-text n-grams, document-structure features and out-of-fold concept
priors (:mod:`.features`), a second-stage reranker over the document's other pairs, and a threshold chosen
on out-of-fold document-level F1 of the training data (:mod:`.train`). Everything is scikit-learn.

Public API (stable; the knowledge-graph code calls it)::

    re_model = load_re("runs/cdr_re")
    re_model.predict_document(doc)   # doc: formats.Document with mentions -> [Relation(type, id1, id2, score)]
    train_re("train.PubTator", "runs/cdr_re", valid="dev.PubTator")
    evaluate_re("runs/cdr_re", "dev.PubTator")
"""

from __future__ import annotations

from genolm.literature.relations.features import candidate_pairs, context_features
from genolm.literature.relations.model import (
    FEATURE_VERSION,
    REConfig,
    REModel,
    StackedClassifier,
    load_re,
    relation_scores,
)
from genolm.literature.relations.predict import evaluate_re, predict_file, relations_frame
from genolm.literature.relations.train import train_re

__all__ = [
    "REConfig",
    "REModel",
    "StackedClassifier",
    "load_re",
    "train_re",
    "evaluate_re",
    "predict_file",
    "relation_scores",
    "candidate_pairs",
    "context_features",
    "relations_frame",
    "FEATURE_VERSION",
]
