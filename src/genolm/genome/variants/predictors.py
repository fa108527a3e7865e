"""``genolm.load`` for supervised variant models (``genolm variants train``).

``load_predictor(model_dir).predict(variants, reference)`` returns what ``genolm variants score --model RUN``
writes, as a DataFrame: one row per ALT allele with ``chrom``, ``pos``, ``id``, ``ref``, ``alt``, the
``GENOLM_*`` score fields (the values the VCF holds, 6 significant digits; NaN where not scored) and
``GENOLM_SKIP`` (the record's flags, "" when none). ``variants`` is a VCF path, or a DataFrame / list of
tuples with chrom, pos (1-based, as in a VCF), ref, alt (optional id).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from genolm.core.predictor import Predictor
from genolm.genome.variants.reference import ReferenceCache
from genolm.genome.variants.scoring import stream_scores
from genolm.genome.variants.supervised import VARIANT_MODEL_FILE, SupervisedScorer, load_model
from genolm.io.errors import InputError, UsageError
from genolm.io.vcf import VcfHeader

VARIANT_COLUMNS = ("chrom", "pos", "ref", "alt")


class _Collect:
    """A stand-in for VcfWriter that keeps the annotated record lines in memory."""

    def __init__(self, header: VcfHeader):
        self.header = header
        self.lines: list[str] = []

    def write_text(self, text: str) -> None:
        self.lines.append(text)

    def __enter__(self) -> "_Collect":
        return self

    def __exit__(self, *exc) -> None:
        return None


def frame_from_records(lines: list[str], fields: list[str]) -> pd.DataFrame:
    """Annotated VCF record lines -> one row per ALT allele (see the module docstring)."""
    rows = []
    for line in lines:
        f = line.rstrip("\n").split("\t")
        info = dict(p.split("=", 1) if "=" in p else (p, "") for p in f[7].split(";") if p and p != ".")
        alts = [] if f[4] in (".", "") else f[4].split(",")
        alts = alts or ["."]
        pos: Any = int(f[1]) if f[1].isdigit() else f[1]
        for j, alt in enumerate(alts):
            row = {"chrom": f[0], "pos": pos, "id": f[2], "ref": f[3], "alt": alt}
            for k in fields:
                vals = info.get(k, "").split(",")
                v = vals[j] if j < len(vals) else "."
                row[k] = float(v) if v not in (".", "") else float("nan")
            row["GENOLM_SKIP"] = info.get("GENOLM_SKIP", "")
            rows.append(row)
    return pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt", *fields, "GENOLM_SKIP"])


def _write_variants_vcf(frame: pd.DataFrame, path: Path) -> None:
    missing = [c for c in VARIANT_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"the variants DataFrame needs columns {list(VARIANT_COLUMNS)}; missing {missing} "
            f"(columns: {list(frame.columns)})"
        )
    ids = frame["id"] if "id" in frame.columns else ["."] * len(frame)

    def pos_text(p) -> str:
        if isinstance(p, float) and p.is_integer():
            return str(int(p))
        return str(p)

    with open(path, "w", encoding="utf-8") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, p, i, r, a in zip(frame["chrom"], frame["pos"], ids, frame["ref"], frame["alt"]):
            fh.write(f"{c}\t{pos_text(p)}\t{i if str(i) not in ('', 'nan', 'None') else '.'}\t{r}\t{a}\t.\t.\t.\n")


class VariantPredictor(Predictor):
    """A trained supervised variant-effect model (``genolm variants train``)."""

    kind = "variant effect"
    input_columns = VARIANT_COLUMNS

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        _, self.meta = load_model(self.path)  # validates the folder now (unsafe legacy files are refused)
        self._scorers: dict[str, SupervisedScorer] = {}

    def scorer(
        self, reference: str | os.PathLike, batch_size: int = 128, device: str | None = None
    ) -> SupervisedScorer:
        key = str(reference)
        if key not in self._scorers:
            self._scorers[key] = SupervisedScorer(
                self.path, ReferenceCache(reference), batch_size=batch_size, device=device
            )
        return self._scorers[key]

    def predict(
        self,
        inputs: Any,
        reference: str | os.PathLike | None = None,
        *,
        strict: bool = False,
        max_allele: int | None = None,
        batch_size: int = 128,
        device: str | None = None,
    ) -> pd.DataFrame:
        """Score variants (a VCF path, or a DataFrame / list of (chrom, pos, ref, alt) rows) on ``reference``."""
        if reference is None:
            raise UsageError(
                "variant predict needs the reference FASTA the positions refer to: "
                "predict(variants, reference='genome.fa.gz')"
            )
        scorer = self.scorer(reference, batch_size, device)
        with tempfile.TemporaryDirectory(prefix="genolm-variants-") as tmp:
            if isinstance(inputs, (str, os.PathLike)):
                vcf = str(inputs)
            else:
                frame = (
                    inputs
                    if isinstance(inputs, pd.DataFrame)
                    else pd.DataFrame([tuple(r) for r in inputs], columns=list(VARIANT_COLUMNS))
                )
                vcf = str(Path(tmp) / "variants.vcf")
                _write_variants_vcf(frame, Path(vcf))
            sinks: list[_Collect] = []

            def open_writer(header: VcfHeader) -> _Collect:
                sinks.append(_Collect(header))
                return sinks[-1]

            stream_scores(scorer, vcf, open_writer, str(self.path), max_allele=max_allele, strict=strict)
        return frame_from_records(sinks[0].lines, list(scorer.fields))


def load_predictor(model_dir: str | os.PathLike) -> VariantPredictor:
    """The predictor of a `variants train` run directory or its ``model/`` folder."""
    from genolm.core.loading import find_model_dir

    return VariantPredictor(find_model_dir(model_dir, VARIANT_MODEL_FILE, what="variant model"))


#: (marker file, loader) pairs for genolm.load (assembled into genolm.genome.predictors by the coordinator)
VARIANT_PREDICTORS = [(VARIANT_MODEL_FILE, load_predictor)]
