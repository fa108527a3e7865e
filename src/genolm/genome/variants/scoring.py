"""Score a VCF: every allele of every record, streamed in chunks, written back annotated.

Methods (``score_vcf(method=...)``): ``llr``, ``delta``, ``embedding`` (a DNA model, see
:mod:`genolm.genome.variants.scorers`), ``motif`` (JASPAR or a MEME file, no model) and ``supervised`` (a model
from ``genolm variants train``: GENOLM_SCORE is P(label = 1) for binary labels, else the predicted value).

The VCF streams through in chunks (bounded memory); every record is written back in order with its ID
and INFO, plus ``GENOLM_*`` INFO fields declared in the header. Alleles that cannot be scored are kept
and flagged in ``GENOLM_SKIP`` (REF_MISMATCH, UNKNOWN_CONTIG, SYMBOLIC, TOO_LONG, N_ALLELE, INDEL_MLM), and so
are records that cannot be read at all (non-numeric POS, bad REF...: MALFORMED, written back as they were);
with ``strict`` the first such record is an error naming file and line.
Coordinates: VCF POS is 1-based; internally positions are 0-based (``pos0 = POS - 1``).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from genolm.core.progress import progress
from genolm.genome.variants.reference import SKIP_REASONS, Allele, ReferenceCache, check_allele
from genolm.genome.variants.scorers import LM_METHODS, MotifScorer, Scorer, lm_scorer
from genolm.genome.variants.supervised import VARIANT_MODEL_FILE, SupervisedScorer
from genolm.io.errors import InputError, UsageError
from genolm.io.vcf import VcfHeader, VcfReader, VcfRecord, VcfWriter

log = logging.getLogger("genolm")

METHODS = LM_METHODS + ("supervised", "motif")


# ---------------------------------------------------------------------------------------------------
# model loading


def is_variant_model(spec: str | os.PathLike) -> Path | None:
    """The folder holding variant_model.json for a `variants train` run dir or its model/ folder, else None."""
    from genolm.core.loading import find_model_dir

    if not Path(spec).is_dir():
        return None
    try:
        return find_model_dir(spec, VARIANT_MODEL_FILE, what="variant model")
    except InputError:
        return None


def make_scorer(
    model: str,
    ref_cache: ReferenceCache,
    method: str | None = None,
    window: int | None = None,
    batch_size: int = 128,
    device: str | None = None,
) -> Scorer:
    """Load ``model`` and build the scorer for ``method`` (None = the model's natural method)."""
    if method is not None and method not in METHODS:
        raise UsageError(f"unknown --method {method!r}; use one of {', '.join(METHODS)}")
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if method == "motif":  # --model names a MEME motif file, or `jaspar` for the bundled JASPAR 2022 collection
        return MotifScorer(None if str(model).lower() == "jaspar" else str(model), ref_cache, batch_size)
    vdir = is_variant_model(model)
    if vdir is not None and method in (None, "supervised"):
        return SupervisedScorer(vdir, ref_cache, batch_size=batch_size, device=device)
    if method == "supervised":
        raise UsageError("--method supervised needs a model trained with `genolm variants train`")
    spec = str(vdir / "base_lm") if vdir is not None and (vdir / "base_lm").is_dir() else model
    return lm_scorer(spec, ref_cache, method, window, batch_size, device)


# ---------------------------------------------------------------------------------------------------
# streaming VCF scoring


@dataclass
class ScoreSummary:
    records: int = 0
    alleles: int = 0
    scored: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> alleles
    malformed: int = 0  # records that could not be read: kept, flagged MALFORMED
    seconds: float = 0.0
    method: str = ""
    indexed: bool = False

    def line(self) -> str:
        sk = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none"
        extra = f"; {self.malformed} malformed line(s) kept unscored (GENOLM_SKIP=MALFORMED)" if self.malformed else ""
        return (
            f"scored {self.scored} of {self.alleles} alleles in {self.records} records "
            f"({self.method}, {self.seconds:.1f}s); skipped: {sk}{extra}"
        )

    def as_dict(self) -> dict:
        return {
            "records": self.records,
            "alleles": self.alleles,
            "scored": self.scored,
            "skipped": dict(self.skipped),
            "malformed": self.malformed,
            "seconds": round(self.seconds, 2),
            "method": self.method,
        }


class LRU(OrderedDict):
    """A dict that forgets its oldest entries beyond ``size``."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, k, v):
        self[k] = v
        self.move_to_end(k)
        if len(self) > self.size:
            self.popitem(last=False)


def annotate_header(header: VcfHeader, scorer: Scorer, model: str) -> VcfHeader:
    """The input header plus the ``GENOLM_*`` INFO declarations and ``##genolm_score``."""
    h = VcfHeader(meta=list(header.meta), columns=list(header.columns))
    for k, desc in scorer.fields.items():
        h.add_info(k, "A", "Float", desc)
    h.add_info(
        "GENOLM_SKIP",
        ".",
        "String",
        "why genolm did not score an allele: " + "; ".join(f"{k} = {v}" for k, v in SKIP_REASONS.items()),
    )
    h.add_meta("genolm_score", f"<method={scorer.method},model={model},window={scorer.window}>")
    return h


def score_vcf(
    model: str,
    reference: str,
    vcf: str,
    out: str,
    method: str | None = None,
    window: int | None = None,
    batch_size: int = 128,
    max_allele: int | None = None,
    chunk_size: int = 4096,
    strict: bool = False,
    device: str | None = None,
) -> ScoreSummary:
    """Score every allele of ``vcf`` and write the annotated VCF to ``out`` (``.gz`` = BGZF + tabix)."""
    t0 = time.perf_counter()
    ref_cache = ReferenceCache(reference)
    scorer = make_scorer(model, ref_cache, method, window, batch_size, device)
    summary = stream_scores(
        scorer,
        vcf,
        lambda header: VcfWriter(out, header),
        str(model),
        max_allele=max_allele,
        chunk_size=chunk_size,
        strict=strict,
    )
    summary.seconds = time.perf_counter() - t0
    log.info("%s", summary.line())
    return summary


def stream_scores(
    scorer: Scorer,
    vcf: str,
    open_writer: Callable[[VcfHeader], object],
    model: str,
    max_allele: int | None = None,
    chunk_size: int = 4096,
    strict: bool = False,
) -> ScoreSummary:
    """Score ``vcf`` with a built scorer; ``open_writer(header)`` gives the context manager the annotated
    records are written to (``write_text``): a :class:`VcfWriter`, or a collector (the Python API)."""
    t0 = time.perf_counter()
    max_allele = max_allele or max(1, scorer.window // 2)
    summary = ScoreSummary(method=scorer.method)

    def on_error(err: InputError) -> None:
        if strict:
            raise err
        log.warning("malformed record kept unscored (GENOLM_SKIP=MALFORMED): %s", err.format())

    reader = VcfReader(vcf, on_error=on_error, keep_malformed=True)
    header = annotate_header(reader.header, scorer, model)
    cache = LRU(200_000)
    with open_writer(header) as writer, progress(desc="score", unit="rec") as bar:
        chunk: list[VcfRecord] = []
        for rec in reader:
            chunk.append(rec)
            if len(chunk) >= chunk_size:
                _score_chunk(chunk, scorer, cache, writer, summary, max_allele, strict, vcf)
                bar.update(len(chunk))
                chunk = []
        if chunk:
            _score_chunk(chunk, scorer, cache, writer, summary, max_allele, strict, vcf)
            bar.update(len(chunk))
    summary.indexed = bool(getattr(writer, "indexed", False))
    summary.seconds = time.perf_counter() - t0
    return summary


def _score_chunk(
    records: list[VcfRecord],
    scorer: Scorer,
    cache: LRU,
    writer,
    summary: ScoreSummary,
    max_allele: int,
    strict: bool,
    path: str,
) -> None:
    ref_cache = scorer.ref_cache
    plan: list[list | None] = []  # per record: list of (key or None, reason); None = malformed record
    todo: dict[tuple, Allele] = {}
    for rec in records:
        summary.records += 1
        if rec.error is not None:
            summary.malformed += 1
            plan.append(None)
            continue
        alts = rec.alts or ["."]
        row = []
        for alt in alts:
            summary.alleles += 1
            allele, reason = check_allele(
                ref_cache, rec.chrom, rec.pos - 1, rec.ref, alt, max_allele, scorer.method, scorer.causal
            )
            if reason is not None:
                if strict:
                    detail = ""
                    if reason == "REF_MISMATCH":
                        detail = (
                            f" (reference has {ref_cache.fetch(rec.chrom, rec.pos - 1, rec.pos - 1 + len(rec.ref))})"
                        )
                    raise InputError(
                        f"cannot score {rec.chrom}:{rec.pos} {rec.ref}>{alt}: "
                        f"{SKIP_REASONS[reason]}{detail}; without --strict it is flagged and kept",
                        path,
                        rec.line,
                    )
                summary.skipped[reason] += 1
                row.append((None, reason))
                continue
            key = (allele.chrom, allele.pos0, allele.ref, allele.alt)
            if key not in cache and key not in todo:
                todo[key] = allele
            row.append((key, None))
        plan.append(row)
    if todo:
        keys = list(todo)
        for k, r in zip(keys, scorer.score([todo[k] for k in keys])):
            cache.put(k, r)
    fields = list(scorer.fields)
    for rec, row in zip(records, plan):
        if row is None:
            writer.write_text(rec.with_info({"GENOLM_SKIP": "MALFORMED"}))
            continue
        added: dict[str, object] = {}
        results = [cache.get(k) if k is not None else None for k, _ in row]
        summary.scored += sum(r is not None for r in results)
        if any(r is not None for r in results):
            for f in fields:
                added[f] = [float("nan") if r is None else r[f] for r in results]
        reasons = sorted({reason for _, reason in row if reason})
        if reasons:
            added["GENOLM_SKIP"] = ",".join(reasons)
        writer.write_text(rec.with_info(added))
