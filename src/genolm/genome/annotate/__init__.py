"""Genome annotation: per-base labelling with a dilated-CNN tagger, decoded by an HMM into gene models.

Public API (the CLI ``genolm annotate train|predict|evaluate`` is a thin skin over it):

- :func:`train` — learn per-base labels from a reference annotation (GFF3) and write a run directory.
- :func:`predict` — posteriors for every base (both strands, reverse-complement averaged), Viterbi
  decoding into gene/mRNA/exon/CDS(+phase)/UTR/intron GFF3 features.
- :func:`evaluate` — base-level P/R/F1 per class, coding-exon / exon / intron exact-boundary P/R/F1
  and gene-level exact matches, as gene-finder evaluations report them.
- :func:`longest_orf_genes` — the simple prokaryote baseline (longest ORF per stop codon).
- ``genolm.load(run).predict(sequences or FASTA)`` — the GFF3 features `annotate predict` writes, as a
  DataFrame (:mod:`genolm.genome.annotate.predictors`).

Modules, in pipeline order: :mod:`.labels` (schemes, reference transcripts -> per-base labels),
:mod:`.tagger` (the network's windows and posteriors), :mod:`.hmm` (gene-structure HMM and Viterbi),
:mod:`.decode` (Markov chains, splice PWMs, the :class:`Annotator`, GFF3 features), :mod:`.train`,
:mod:`.evaluate`, :mod:`.baselines`.

Coordinates: GFF 1-based inclusive on disk; 0-based half-open everywhere inside this package.
"""

from __future__ import annotations

from genolm.genome.annotate.baselines import longest_orf_genes
from genolm.genome.annotate.decode import (
    CONTENT_MODEL_FILE,
    SPLICE_MODEL_FILE,
    Annotator,
    ContentModel,
    SpliceModel,
    annotate_sequences,
    genes_to_features,
    predict,
    regions_for,
)
from genolm.genome.annotate.evaluate import evaluate, evaluate_features, lengths_from, prf
from genolm.genome.annotate.hmm import (
    CONSTRAINTS,
    STOPS,
    GeneHMM,
    GeneModel,
    HMMParams,
    build_hmm,
    constraint_masks,
    path_to_genes,
    viterbi,
)
from genolm.genome.annotate.labels import (
    BASE_CLASSES,
    COARSE,
    COARSE_INDEX,
    RNA_TYPES,
    SCHEMES,
    TRANSCRIPT_PARTS,
    Transcript,
    fine_to_coarse,
    label_arrays,
    load_annotation,
    swap_strand_labels,
    transcripts_from_features,
)
from genolm.genome.annotate.tagger import (
    Segment,
    WindowBatches,
    posteriors,
    read_genome,
    split_by_regions,
    split_train_dev,
)
from genolm.genome.annotate.train import DECODER_GRID, finish_model, fit_hmm_params, fit_splice_model, refinish, train

__all__ = [
    "BASE_CLASSES",
    "COARSE",
    "COARSE_INDEX",
    "CONSTRAINTS",
    "CONTENT_MODEL_FILE",
    "DECODER_GRID",
    "RNA_TYPES",
    "SCHEMES",
    "SPLICE_MODEL_FILE",
    "STOPS",
    "TRANSCRIPT_PARTS",
    "Annotator",
    "ContentModel",
    "GeneHMM",
    "GeneModel",
    "HMMParams",
    "Segment",
    "SpliceModel",
    "Transcript",
    "WindowBatches",
    "annotate_sequences",
    "build_hmm",
    "constraint_masks",
    "evaluate",
    "evaluate_features",
    "fine_to_coarse",
    "finish_model",
    "fit_hmm_params",
    "fit_splice_model",
    "genes_to_features",
    "label_arrays",
    "lengths_from",
    "load_annotation",
    "longest_orf_genes",
    "path_to_genes",
    "posteriors",
    "predict",
    "prf",
    "read_genome",
    "refinish",
    "regions_for",
    "split_by_regions",
    "split_train_dev",
    "swap_strand_labels",
    "train",
    "transcripts_from_features",
    "viterbi",
]
