"""``genolm.load`` entry for annotation models (run directories of `genolm annotate train`).

``genolm.load(run).predict(inputs)`` returns the GFF3 features `genolm annotate predict` writes, one row
per feature line, columns ``seqid, source, type, start, end, score, strand, phase, attributes`` (GFF
1-based inclusive coordinates; ``attributes`` as written in column 9). ``inputs``: a FASTA path (the
genome, as `annotate predict --input`), a ``{name: sequence}`` dict, a list of sequences (seqids ``0``,
``1``, ...) or a DataFrame with a ``sequence`` column (and optionally ``id``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from genolm.core.predictor import Predictor
from genolm.genome.annotate.decode import CONTENT_MODEL_FILE, Annotator, annotate_sequences
from genolm.io.errors import InputError
from genolm.io.gff import features_frame


class AnnotationPredictor(Predictor):
    """A genolm annotation model: per-base tagger + HMM decoder -> GFF3 gene models."""

    kind = "annotation"

    def __init__(self, path: Path):
        super().__init__(path)
        self._annot: Annotator | None = None

    @property
    def annotator(self) -> Annotator:
        if self._annot is None:
            self._annot = Annotator.load(self.path)
        return self._annot

    def sequences(self, inputs) -> dict[str, str]:
        """Named, normalized sequences from any accepted input."""
        from genolm.genome.annotate.tagger import read_genome
        from genolm.io.tables import check_sequences, read_sequences

        if isinstance(inputs, (str, Path)) and Path(inputs).is_file():
            from genolm.io.fasta import is_fasta

            if is_fasta(str(inputs)):
                return read_genome(str(inputs))
            ids, seqs = read_sequences(inputs)
        elif isinstance(inputs, dict):
            ids, seqs = [str(k) for k in inputs], check_sequences(list(inputs.values()), "<input>", first_line=0)
        else:
            seqs = check_sequences(self._column(inputs), "<input>", first_line=0)
            if isinstance(inputs, pd.DataFrame) and "id" in inputs.columns:
                ids = inputs["id"].astype(str).tolist()
            else:
                ids = [str(i) for i in range(len(seqs))]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InputError(f"duplicate sequence id {dup!r}: each sequence needs its own name (GFF seqid)")
        return dict(zip(ids, seqs))

    def predict(self, inputs) -> pd.DataFrame:
        return features_frame(annotate_sequences(self.annotator, self.sequences(inputs)))


def load_predictor(model_dir: Path) -> AnnotationPredictor:
    """The annotation model in ``model_dir`` (a model folder with content_model.npz) as a Predictor."""
    return AnnotationPredictor(model_dir)


#: (marker file unique to annotation model folders, loader) for genolm.load
ANNOTATE_PREDICTORS = [(CONTENT_MODEL_FILE, load_predictor)]
