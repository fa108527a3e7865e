"""Variant effect prediction: score a VCF with a DNA language model, motifs or a trained model.

Modules:

- :mod:`~genolm.genome.variants.reference`: reference access (``ReferenceCache``), alleles, skip reasons;
- :mod:`~genolm.genome.variants.scorers`: zero-shot / fine-tuned / embedding / motif scorers;
- :mod:`~genolm.genome.variants.scoring`: ``score_vcf`` (streaming, annotated VCF out), ``make_scorer``;
- :mod:`~genolm.genome.variants.evaluate`: scores against a truth VCF;
- :mod:`~genolm.genome.variants.features`, :mod:`~genolm.genome.variants.genemodel`,
  :mod:`~genolm.genome.variants.motifs`: sequence-only features of a variant;
- :mod:`~genolm.genome.variants.supervised`, :mod:`~genolm.genome.variants.train`: the supervised model;
- :mod:`~genolm.genome.variants.mutagenesis`: ``variants ism`` (the ISM itself is :mod:`genolm.interpret.ism`);
- :mod:`~genolm.genome.variants.predictors`: ``genolm.load`` support (``VARIANT_PREDICTORS``).
"""

from __future__ import annotations

from genolm.genome.variants.evaluate import evaluate_scores, read_allele_values
from genolm.genome.variants.mutagenesis import ism
from genolm.genome.variants.reference import SKIP_REASONS, Allele, ReferenceCache, allele_windows, check_allele
from genolm.genome.variants.scoring import METHODS, ScoreSummary, is_variant_model, make_scorer, score_vcf
from genolm.genome.variants.supervised import ALL_FEATURES, VARIANT_MODEL_FILE, allele_features
from genolm.genome.variants.train import load_labelled_alleles, train, train_variant_model

__all__ = [
    "ALL_FEATURES",
    "Allele",
    "METHODS",
    "ReferenceCache",
    "SKIP_REASONS",
    "ScoreSummary",
    "VARIANT_MODEL_FILE",
    "allele_features",
    "allele_windows",
    "check_allele",
    "evaluate_scores",
    "ism",
    "is_variant_model",
    "load_labelled_alleles",
    "make_scorer",
    "read_allele_values",
    "score_vcf",
    "train",
    "train_variant_model",
]
