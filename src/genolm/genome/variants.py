"""Variant effect prediction: score a VCF with a DNA language model or a fine-tuned model.

Methods (``score_vcf(method=...)``):

- ``llr`` (zero-shot): log P(ALT) - log P(REF) in the reference context. Masked LMs: the variant bases
  are masked once and every allele is read from that one forward pass (substitutions: SNVs and MNPs).
  Causal LMs: summed log-likelihood of the ALT window minus that of the REF window (indels too).
- ``delta``: a fine-tuned classifier/regressor's prediction on the ALT window minus the REF window.
- ``embedding``: cosine distance between REF and ALT window embeddings (L2 distance in GENOLM_EMB_L2).
- ``supervised``: a model from ``genolm variants train``: GENOLM_SCORE is P(label = 1) (binary labels)
  or the predicted label value.

The VCF streams through in chunks (bounded memory); every record is written back in order with its ID
and INFO, plus ``GENOLM_*`` INFO fields declared in the header. Alleles that cannot be scored are kept
and flagged in ``GENOLM_SKIP`` (REF_MISMATCH, UNKNOWN_CONTIG, SYMBOLIC, TOO_LONG, N_ALLELE, INDEL_MLM).
Coordinates: VCF POS is 1-based; internally positions are 0-based (``pos0 = POS - 1``).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from genolm.core.progress import progress
from genolm.io.errors import InputError, UsageError
from genolm.io.fasta import Reference, normalize
from genolm.io.vcf import VcfHeader, VcfReader, VcfRecord, VcfWriter

log = logging.getLogger("genolm")

METHODS = ("llr", "delta", "embedding", "supervised", "motif")
SKIP_REASONS = {
    "REF_MISMATCH": "REF does not match the reference genome",
    "UNKNOWN_CONTIG": "CHROM is not a contig of the reference",
    "SYMBOLIC": "symbolic, breakend, missing or spanning-deletion allele (<DEL>, N[..[, ., *)",
    "TOO_LONG": "REF or ALT longer than --max-allele",
    "N_ALLELE": "allele or reference base is N (unknown base)",
    "INDEL_MLM": "indel: llr with a masked LM scores substitutions only (use a causal LM, delta or embedding)",
}
VARIANT_MODEL_FILE = "variant_model.json"


# ---------------------------------------------------------------------------------------------------
# reference access

class ReferenceCache:
    """0-based half-open ``fetch`` with a block cache (sorted VCFs read the genome sequentially).

    Uses pysam (plain FASTA + .fai, or bgzip + .fai/.gzi) when it can, else genolm's Reference.
    Returns bases as stored (soft-masked lowercase kept); beyond contig ends it pads with N.
    """

    BLOCK = 1 << 20

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if not Path(self.path).is_file():
            raise InputError("reference FASTA not found", self.path)
        self._fa = None
        self._ref = None
        try:
            import pysam

            old = pysam.set_verbosity(0)  # a plain-gzip FASTA is expected to fail here: no htslib noise
            try:
                self._fa = pysam.FastaFile(self.path)
            finally:
                pysam.set_verbosity(old)
            self.lengths = dict(zip(self._fa.references, self._fa.lengths))
        except Exception:
            self._ref = Reference(self.path)
            self.lengths = dict(self._ref.lengths)
        self._chrom, self._lo, self._seq = None, 0, ""

    def __contains__(self, chrom: str) -> bool:
        return chrom in self.lengths

    def _raw(self, chrom: str, lo: int, hi: int) -> str:
        if self._fa is not None:
            return self._fa.fetch(chrom, lo, hi)
        return self._ref.fetch(chrom, lo, hi)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        length = self.lengths[chrom]
        lo, hi = max(0, start), min(length, end)
        if hi <= lo:
            return "N" * (end - start)
        if not (chrom == self._chrom and self._lo <= lo and hi <= self._lo + len(self._seq)):
            blo = max(0, lo - 4096)
            bhi = min(length, max(hi, blo + self.BLOCK))
            self._chrom, self._lo, self._seq = chrom, blo, self._raw(chrom, blo, bhi)
        core = self._seq[lo - self._lo: hi - self._lo]
        return "N" * (lo - start) + core + "N" * (end - hi)


# ---------------------------------------------------------------------------------------------------
# alleles to score

@dataclass(frozen=True)
class Allele:
    """One REF>ALT allele at 0-based ``pos0`` (REF upper-cased, checked against the reference)."""

    chrom: str
    pos0: int
    ref: str
    alt: str

    @property
    def is_substitution(self) -> bool:
        return len(self.ref) == len(self.alt)


def check_allele(ref_cache: ReferenceCache, chrom: str, pos0: int, ref: str, alt: str, max_allele: int,
                 method: str, causal: bool) -> tuple[Allele | None, str | None]:
    """(Allele, None) when it can be scored, else (None, reason)."""
    if alt in (".", "*", "") or alt.startswith("<") or "[" in alt or "]" in alt:
        return None, "SYMBOLIC"
    if not alt.isalpha() or not set(alt.upper()) <= set("ACGTN"):
        return None, "SYMBOLIC"
    if chrom not in ref_cache:
        return None, "UNKNOWN_CONTIG"
    ref_u, alt_u = ref.upper(), alt.upper()
    genome = ref_cache.fetch(chrom, pos0, pos0 + len(ref_u)).upper()
    if genome != ref_u:
        return None, "REF_MISMATCH" if "N" not in genome else "N_ALLELE"
    if len(ref_u) > max_allele or len(alt_u) > max_allele:
        return None, "TOO_LONG"
    if "N" in ref_u or "N" in alt_u:
        return None, "N_ALLELE"
    if method == "llr" and not causal and len(ref_u) != len(alt_u):
        return None, "INDEL_MLM"
    return Allele(chrom, pos0, ref_u, alt_u), None


def allele_windows(ref_cache: ReferenceCache, a: Allele, window: int) -> tuple[str, str]:
    """REF and ALT windows (upper-case; N beyond contig ends) with the same left flank.

    The REF window is ``window`` bases with REF starting at ``(window - len(REF)) // 2``; the ALT window
    swaps REF for ALT and keeps the same right flank length (so indels change the ALT window length).
    """
    left = max(0, (window - len(a.ref)) // 2)
    right = max(0, window - left - len(a.ref))
    seq = normalize(ref_cache.fetch(a.chrom, a.pos0 - left, a.pos0 + len(a.ref) + right))
    return seq, seq[:left] + a.alt + seq[left + len(a.ref):]


# ---------------------------------------------------------------------------------------------------
# scorers: each turns a list of Alleles into a list of {INFO field: value} dicts

class Scorer:
    method = ""
    fields: dict[str, str] = {}  # INFO id -> description (Number=A, Float)
    causal = False

    def __init__(self, ref_cache: ReferenceCache, window: int, batch_size: int):
        self.ref_cache, self.window, self.batch_size = ref_cache, window, batch_size

    def score(self, alleles: Sequence[Allele]) -> list[dict]:
        raise NotImplementedError


def _per_base_ids(tok) -> np.ndarray | None:
    """Lookup table byte -> token id when the tokenizer has one token per base, else None."""
    try:
        ids = tok("ACGTN", add_special_tokens=False)["input_ids"]
    except Exception:
        return None
    if len(ids) != 5 or len(set(ids)) != 5:
        return None
    table = np.full(256, ids[4], dtype=np.int64)
    for base, i in zip("ACGTN", ids):
        table[ord(base)] = i
        table[ord(base.lower())] = i
    return table


class MaskedLLRScorer(Scorer):
    """One forward pass per distinct site: the substituted bases are masked, every ALT read at once."""

    method = "llr"
    fields = {
        "GENOLM_SCORE": "llr: log P(ALT) - log P(REF) at the masked variant bases (natural log; negative = ALT "
                        "less likely than REF)",
        "GENOLM_REF_LOGP": "log P(REF) at the masked bases (log-softmax over A, C, G, T)",
        "GENOLM_ALT_LOGP": "log P(ALT) at the masked bases (log-softmax over A, C, G, T)",
    }

    def __init__(self, model, tok, ref_cache, window, batch_size):
        super().__init__(ref_cache, window, batch_size)
        self.model, self.tok = model, tok
        self.table = _per_base_ids(tok)
        if self.table is None:
            raise UsageError("llr with a masked LM needs a tokenizer with one token per base (genolm 'base'); "
                             "use --method embedding, or a causal LM")
        self.base_ids = torch.tensor(self.table[[ord(b) for b in "ACGT"]])
        self.cls, self.sep, self.mask = tok.cls_token_id, tok.sep_token_id, tok.mask_token_id
        if self.mask is None:
            raise UsageError("this masked LM's tokenizer has no [MASK] token")
        self.device = next(model.parameters()).device

    def _encode(self, seqs: list[str]) -> torch.Tensor:
        arr = np.frombuffer("".join(seqs).encode("ascii", "replace"), dtype=np.uint8).reshape(len(seqs), -1)
        ids = self.table[arr]
        parts = []
        if self.cls is not None:
            parts.append(np.full((len(seqs), 1), self.cls))
        parts.append(ids)
        if self.sep is not None:
            parts.append(np.full((len(seqs), 1), self.sep))
        return torch.from_numpy(np.concatenate(parts, 1))

    def site_logprobs(self, sites: list[tuple[str, int, int]]) -> list[np.ndarray]:
        """(chrom, pos0, length) -> (length, 4) log-probabilities of A, C, G, T with those bases masked."""
        off = 1 if self.cls is not None else 0
        out: list[np.ndarray] = []
        for i in range(0, len(sites), self.batch_size):
            chunk = sites[i: i + self.batch_size]
            seqs, starts = [], []
            for chrom, pos0, length in chunk:
                left = max(0, (self.window - length) // 2)
                seqs.append(normalize(self.ref_cache.fetch(chrom, pos0 - left, pos0 - left + self.window)))
                starts.append(left)
            ids = self._encode(seqs)
            rows, cols = [], []
            for r, ((_, _, length), s) in enumerate(zip(chunk, starts)):
                for k in range(length):
                    rows.append(r)
                    cols.append(s + k + off)
            rows_t, cols_t = torch.tensor(rows), torch.tensor(cols)
            ids[rows_t, cols_t] = self.mask
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.device)).logits
                sel = logits[rows_t.to(self.device), cols_t.to(self.device)][:, self.base_ids.to(self.device)]
                lp = torch.log_softmax(sel.float(), -1).cpu().numpy()
            k = 0
            for _, _, length in chunk:
                out.append(lp[k: k + length])
                k += length
        return out

    def score(self, alleles):
        sites = sorted({(a.chrom, a.pos0, len(a.ref)) for a in alleles})
        lps = dict(zip(sites, self.site_logprobs(sites)))
        res = []
        for a in alleles:
            lp = lps[(a.chrom, a.pos0, len(a.ref))]
            r = float(sum(lp[k, "ACGT".index(b)] for k, b in enumerate(a.ref)))
            v = float(sum(lp[k, "ACGT".index(b)] for k, b in enumerate(a.alt)))
            res.append({"GENOLM_SCORE": v - r, "GENOLM_REF_LOGP": r, "GENOLM_ALT_LOGP": v})
        return res


class CausalLLRScorer(Scorer):
    """Summed log-likelihood of the ALT window minus the REF window (any tokenizer; indels too)."""

    method = "llr"
    causal = True
    fields = {
        "GENOLM_SCORE": "llr: log P(ALT window) - log P(REF window) under the causal LM (natural log)",
        "GENOLM_REF_LOGP": "log-likelihood of the REF window",
        "GENOLM_ALT_LOGP": "log-likelihood of the ALT window",
    }

    def __init__(self, model, tok, ref_cache, window, batch_size):
        super().__init__(ref_cache, window, batch_size)
        self.model, self.tok = model, tok

    def loglik(self, seqs: list[str]) -> np.ndarray:
        from genolm.core.infer import batched

        def fn(m, batch):
            logits = m(**batch).logits[:, :-1].float()
            target = batch["input_ids"][:, 1:]
            lp = torch.log_softmax(logits, -1).gather(-1, target[..., None])[..., 0]
            keep = batch.get("attention_mask", torch.ones_like(batch["input_ids"]))[:, 1:]
            return (lp * keep).sum(1)

        return batched(self.model, self.tok, seqs, fn, self.batch_size, desc="llr")

    def score(self, alleles):
        wins = [allele_windows(self.ref_cache, a, self.window) for a in alleles]
        uniq = sorted({w for pair in wins for w in pair})
        ll = dict(zip(uniq, self.loglik(uniq)))
        return [{"GENOLM_SCORE": float(ll[va] - ll[vr]), "GENOLM_REF_LOGP": float(ll[vr]),
                 "GENOLM_ALT_LOGP": float(ll[va])} for vr, va in wins]


class DeltaScorer(Scorer):
    method = "delta"

    def __init__(self, model, tok, info, ref_cache, window, batch_size):
        super().__init__(ref_cache, window, batch_size)
        self.model, self.tok, self.info = model, tok, info
        what = "P(label 1)" if info.task == "classification" else "predicted value"
        self.fields = {
            "GENOLM_SCORE": f"delta: model prediction ({what}) on the ALT window minus the REF window",
            "GENOLM_REF_PRED": f"prediction ({what}) on the REF window",
            "GENOLM_ALT_PRED": f"prediction ({what}) on the ALT window",
        }

    def predict(self, seqs: list[str]) -> np.ndarray:
        from genolm.core.infer import predict_logits

        logits = predict_logits(self.model, self.tok, seqs, self.batch_size, self.info.max_length)
        if self.info.task == "classification":
            p = torch.softmax(torch.from_numpy(logits), -1).numpy()
            names = [str(n) for n in self.info.label_names]
            col = names.index("1") if "1" in names else p.shape[1] - 1
            return p[:, col]
        return logits.reshape(len(seqs), -1)[:, 0] * self.info.target_std + self.info.target_mean

    def score(self, alleles):
        wins = [allele_windows(self.ref_cache, a, self.window) for a in alleles]
        uniq = sorted({w for pair in wins for w in pair})
        pred = dict(zip(uniq, self.predict(uniq)))
        return [{"GENOLM_SCORE": float(pred[va] - pred[vr]), "GENOLM_REF_PRED": float(pred[vr]),
                 "GENOLM_ALT_PRED": float(pred[va])} for vr, va in wins]


class EmbeddingScorer(Scorer):
    method = "embedding"
    fields = {
        "GENOLM_SCORE": "embedding: cosine distance between REF and ALT window embeddings (mean pooling)",
        "GENOLM_EMB_L2": "L2 distance between REF and ALT window embeddings",
    }

    def __init__(self, model, tok, info, ref_cache, window, batch_size):
        super().__init__(ref_cache, window, batch_size)
        self.model, self.tok, self.info = model, tok, info

    def score(self, alleles):
        from genolm.core.infer import embed

        wins = [allele_windows(self.ref_cache, a, self.window) for a in alleles]
        uniq = sorted({w for pair in wins for w in pair})
        vec = dict(zip(uniq, embed(self.model, self.tok, uniq, "mean", self.batch_size, self.info.max_length)))
        out = []
        for vr, va in wins:
            x, y = vec[vr], vec[va]
            cos = float(np.dot(x, y) / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-12))
            out.append({"GENOLM_SCORE": 1.0 - cos, "GENOLM_EMB_L2": float(np.linalg.norm(x - y))})
        return out


class MotifScorer(Scorer):
    """Zero-shot: change of transcription-factor motif scores (JASPAR or any MEME file), no model needed."""

    method = "motif"
    causal = True  # indels: the ALT sequence is re-scored over the same span
    fields = {
        "GENOLM_SCORE": "motif: summed change of relative motif score over the motif sites the variant sits in "
                        "(REF relative score >= 0.85; negative = sites weakened)",
        "GENOLM_MOTIF_LOSS": "largest loss of relative score of a REF motif site",
        "GENOLM_MOTIF_GAIN": "largest gain of relative score of an ALT motif site",
        "GENOLM_MOTIF_SITES": "motif sites (REF relative score >= 0.85) overlapping the variant",
    }

    def __init__(self, motif_file: str | None, ref_cache: ReferenceCache, batch_size: int):
        from genolm.genome.motifs import MOTIF_FLANK, MotifScanner

        super().__init__(ref_cache, 2 * MOTIF_FLANK + 1, batch_size)
        self.scanner = MotifScanner.from_file(motif_file)

    def score(self, alleles):
        from genolm.genome.motifs import MOTIF_FLANK, motif_features

        out = []
        for a in alleles:
            w = self.ref_cache.fetch(a.chrom, a.pos0 - MOTIF_FLANK, a.pos0 + len(a.ref) + MOTIF_FLANK)
            f = motif_features(self.scanner, w, MOTIF_FLANK, a.ref, a.alt)
            out.append({"GENOLM_SCORE": f["motif_delta_ref_sites"], "GENOLM_MOTIF_LOSS": f["motif_loss_max"],
                        "GENOLM_MOTIF_GAIN": f["motif_gain_max"], "GENOLM_MOTIF_SITES": f["motif_sites_ref"]})
        return out


# ---------------------------------------------------------------------------------------------------
# model loading

def is_variant_model(spec: str | os.PathLike) -> Path | None:
    """The folder holding variant_model.json for a `variants train` run dir or its model/ folder."""
    p = Path(spec)
    for cand in (p / "model", p):
        if (cand / VARIANT_MODEL_FILE).is_file():
            return cand
    return None


def make_scorer(model: str, ref_cache: ReferenceCache, method: str | None = None, window: int | None = None,
                batch_size: int = 128, device: str | None = None) -> Scorer:
    """Load ``model`` and build the scorer for ``method`` (None = the model's natural method)."""
    if method is not None and method not in METHODS:
        raise UsageError(f"unknown --method {method!r}; use one of {', '.join(METHODS)}")
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if method == "motif":  # --model names a MEME motif file, or `jaspar` for the bundled JASPAR 2022 collection
        return MotifScorer(None if str(model).lower() == "jaspar" else str(model), ref_cache, batch_size)
    vdir = is_variant_model(model)
    if vdir is not None and method in (None, "supervised"):
        from genolm.genome.variants_model import SupervisedScorer

        return SupervisedScorer(vdir, ref_cache, batch_size=batch_size, device=device)
    if method == "supervised":
        raise UsageError("--method supervised needs a model trained with `genolm variants train`")
    from genolm.core.loading import load_model, resolve_model_dir, ModelInfo

    spec = str(vdir / "base_lm") if vdir is not None and (vdir / "base_lm").is_dir() else model
    mdir = resolve_model_dir(spec)
    info0 = ModelInfo.load(mdir) if Path(mdir).is_dir() else None
    task = None
    if method == "embedding":
        task = "base"
    net, tok, info = load_model(spec, task=task, device=device)
    natural = (info0.task if info0 else info.task)
    if method is None:
        method = {"masked-lm": "llr", "causal-lm": "llr", "classification": "delta",
                  "regression": "delta"}.get(natural, "embedding")
    if window is None:
        ml = info.max_length or getattr(tok, "model_max_length", None) or 258
        window = int(min(max(ml - 2, 16), 512)) if ml < 100_000 else 256
    if window < 2:
        raise UsageError("--window must be at least 2 bases")
    if method == "llr":
        if natural == "causal-lm":
            return CausalLLRScorer(net, tok, ref_cache, window, batch_size)
        if natural != "masked-lm":
            raise UsageError(f"--method llr needs a language model; this model was trained for {natural!r} "
                             "(use --method delta or embedding)")
        return MaskedLLRScorer(net, tok, ref_cache, window, batch_size)
    if method == "delta":
        if natural not in ("classification", "regression"):
            raise UsageError(f"--method delta needs a fine-tuned classifier or regressor; this model is {natural!r} "
                             "(use --method llr or embedding)")
        return DeltaScorer(net, tok, info, ref_cache, window, batch_size)
    return EmbeddingScorer(net, tok, info, ref_cache, window, batch_size)


# ---------------------------------------------------------------------------------------------------
# streaming VCF scoring

@dataclass
class ScoreSummary:
    records: int = 0
    alleles: int = 0
    scored: int = 0
    skipped: Counter = None  # reason -> alleles
    malformed: int = 0
    seconds: float = 0.0
    method: str = ""
    indexed: bool = False

    def line(self) -> str:
        sk = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none"
        extra = f"; {self.malformed} malformed line(s) dropped" if self.malformed else ""
        return (f"scored {self.scored} of {self.alleles} alleles in {self.records} records "
                f"({self.method}, {self.seconds:.1f}s); skipped: {sk}{extra}")

    def as_dict(self) -> dict:
        return {"records": self.records, "alleles": self.alleles, "scored": self.scored,
                "skipped": dict(self.skipped), "malformed": self.malformed, "seconds": round(self.seconds, 2),
                "method": self.method}


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, k, v):
        self[k] = v
        self.move_to_end(k)
        if len(self) > self.size:
            self.popitem(last=False)


def _annotate_header(header: VcfHeader, scorer: Scorer, model: str) -> VcfHeader:
    h = VcfHeader(meta=list(header.meta), columns=list(header.columns))
    for k, desc in scorer.fields.items():
        h.add_info(k, "A", "Float", desc)
    h.add_info("GENOLM_SKIP", ".", "String",
               "why genolm did not score an allele: " + "; ".join(f"{k} = {v}" for k, v in SKIP_REASONS.items()))
    h.add_meta("genolm_score", f"<method={scorer.method},model={model},window={scorer.window}>")
    return h


def score_vcf(model: str, reference: str, vcf: str, out: str, method: str | None = None,
              window: int | None = None, batch_size: int = 128, max_allele: int | None = None,
              chunk_size: int = 4096, strict: bool = False, device: str | None = None) -> ScoreSummary:
    """Score every allele of ``vcf`` and write the annotated VCF to ``out`` (``.gz`` = BGZF + tabix)."""
    t0 = time.perf_counter()
    ref_cache = ReferenceCache(reference)
    scorer = make_scorer(model, ref_cache, method, window, batch_size, device)
    max_allele = max_allele or max(1, scorer.window // 2)
    summary = ScoreSummary(skipped=Counter(), method=scorer.method)

    def on_error(err: InputError) -> None:
        if strict:
            raise err
        summary.malformed += 1
        log.warning("skipping malformed record: %s", err.format())

    reader = VcfReader(vcf, on_error=on_error)
    header = _annotate_header(reader.header, scorer, str(model))
    cache = _LRU(200_000)
    with VcfWriter(out, header) as writer, progress(desc="score", unit="rec") as bar:
        chunk: list[VcfRecord] = []
        for rec in reader:
            chunk.append(rec)
            if len(chunk) >= chunk_size:
                _score_chunk(chunk, scorer, ref_cache, cache, writer, summary, max_allele, strict, vcf)
                bar.update(len(chunk))
                chunk = []
        if chunk:
            _score_chunk(chunk, scorer, ref_cache, cache, writer, summary, max_allele, strict, vcf)
            bar.update(len(chunk))
    summary.indexed = writer.indexed
    summary.seconds = time.perf_counter() - t0
    log.info("%s", summary.line())
    return summary


def _score_chunk(records: list[VcfRecord], scorer: Scorer, ref_cache: ReferenceCache, cache: _LRU, writer,
                 summary: ScoreSummary, max_allele: int, strict: bool, path: str) -> None:
    plan = []  # per record: list of (key or None, reason)
    todo: dict[tuple, Allele] = {}
    for rec in records:
        summary.records += 1
        alts = rec.alts or ["."]
        row = []
        for alt in alts:
            summary.alleles += 1
            allele, reason = check_allele(ref_cache, rec.chrom, rec.pos - 1, rec.ref, alt, max_allele,
                                          scorer.method, scorer.causal)
            if reason is not None:
                if strict:
                    detail = ""
                    if reason == "REF_MISMATCH":
                        detail = f" (reference has {ref_cache.fetch(rec.chrom, rec.pos - 1, rec.pos - 1 + len(rec.ref))})"
                    raise InputError(f"cannot score {rec.chrom}:{rec.pos} {rec.ref}>{alt}: "
                                     f"{SKIP_REASONS[reason]}{detail}; without --strict it is flagged and kept",
                                     path, rec.line)
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


# ---------------------------------------------------------------------------------------------------
# in-silico saturation mutagenesis

def parse_region(region: str) -> tuple[str, int, int]:
    """'chr1:1,001-2,000' (1-based inclusive, like samtools) -> ('chr1', 1000, 2000) 0-based half-open."""
    import re

    m = re.fullmatch(r"\s*([^:\s]+):([\d,]+)-([\d,]+)\s*", region or "")
    if not m:
        raise UsageError(f"cannot read --region {region!r}; use CHR:START-END (1-based, inclusive)")
    start, end = int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
    if start < 1 or end < start:
        raise UsageError(f"bad --region {region!r}: need 1 <= START <= END")
    return m.group(1), start - 1, end


def ism(model: str, reference: str, region: str, out: str, method: str | None = None, window: int | None = None,
        batch_size: int = 128, max_length: int = 20_000, device: str | None = None) -> dict:
    """Every position x 3 alternative bases in ``region``: ism.tsv, ism.bedGraph and ism_heatmap.png."""
    from genolm.core.runs import RunDir
    from genolm.io.atomic import atomic_open, atomic_path

    chrom, start, end = parse_region(region)
    if end - start > max_length:
        raise UsageError(f"--region is {end - start} bp; ISM is limited to {max_length} bp per call")
    ref_cache = ReferenceCache(reference)
    if chrom not in ref_cache:
        raise InputError(f"unknown contig {chrom!r} in --region (reference has "
                         f"{', '.join(list(ref_cache.lengths)[:5])})", reference)
    if end > ref_cache.lengths[chrom]:
        raise UsageError(f"--region ends at {end}, beyond the end of {chrom} ({ref_cache.lengths[chrom]} bp)")
    t0 = time.perf_counter()
    scorer = make_scorer(model, ref_cache, method, window, batch_size, device)
    run = RunDir(out, "variants ism", {"model": model, "reference": reference, "region": region,
                                       "method": scorer.method, "window": scorer.window}, inputs=[reference])
    seq = ref_cache.fetch(chrom, start, end)
    alleles, skipped = [], 0
    for i, b in enumerate(seq.upper()):
        if b not in "ACGT":
            skipped += 1
            continue
        for alt in "ACGT":
            if alt != b:
                alleles.append(Allele(chrom, start + i, b, alt))
    scores = scorer.score(alleles) if alleles else []
    mat = np.full((4, end - start), np.nan)
    rows = []
    for a, s in zip(alleles, scores):
        mat["ACGT".index(a.alt), a.pos0 - start] = s["GENOLM_SCORE"]
        rows.append(f"{a.chrom}\t{a.pos0 + 1}\t{a.ref}\t{a.alt}\t{s['GENOLM_SCORE']:.6g}\n")
    with atomic_open(run.path / "ism.tsv", "w") as fh:
        fh.write("chrom\tpos\tref\talt\tscore\n")
        fh.writelines(rows)
    with atomic_open(run.path / "ism.bedGraph", "w") as fh:
        fh.write(f'track type=bedGraph name="genolm ISM" description="mean {scorer.method} score of the 3 '
                 f'substitutions per base (0-based BED coordinates)"\n')
        for i in range(end - start):
            col = mat[:, i]
            if np.isfinite(col).any():
                fh.write(f"{chrom}\t{start + i}\t{start + i + 1}\t{np.nanmean(col):.6g}\n")
    fig = ism_heatmap(mat, seq, chrom, start, scorer.method)
    with atomic_path(run.path / "ism_heatmap.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    summary = {"region": region, "positions": end - start, "alleles": len(alleles), "skipped_positions": skipped,
               "method": scorer.method, "seconds": round(time.perf_counter() - t0, 2),
               "min_score": float(np.nanmin(mat)) if alleles else None,
               "max_score": float(np.nanmax(mat)) if alleles else None}
    run.write_metrics(summary)
    run.finish()
    return summary


def ism_heatmap(mat: np.ndarray, seq: str, chrom: str, start: int, method: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = mat.shape[1]
    fig, ax = plt.subplots(figsize=(min(18, 2 + n * 0.12), 2.6))
    finite = mat[np.isfinite(mat)]
    lim = float(np.abs(finite).max()) if finite.size else 1.0
    im = ax.imshow(mat, aspect="auto", cmap="RdBu_r" if method != "embedding" else "viridis",
                   vmin=-lim if method != "embedding" else 0, vmax=lim, interpolation="nearest")
    ax.set_yticks(range(4), list("ACGT"))
    if n <= 120:
        ax.set_xticks(range(n), list(seq.upper()), fontsize=6)
    ax.set_xlabel(f"{chrom}:{start + 1}-{start + n} (reference base; blank = reference allele)")
    ax.set_title(f"in-silico saturation mutagenesis ({method})")
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    return fig


# ---------------------------------------------------------------------------------------------------
# evaluation against a truth VCF

def _allele_values(rec: VcfRecord, field: str, number: str | None) -> list:
    info = rec.info()
    raw = info.get(field)
    alts = rec.alts or ["."]
    if raw is None or raw is True:
        return [None] * len(alts)
    parts = str(raw).split(",")
    if number == "A" or (number is None and len(parts) == len(alts) and len(alts) > 1):
        vals = parts + [None] * (len(alts) - len(parts))
    else:
        vals = [parts[0]] * len(alts)
    out = []
    for v in vals:
        try:
            x = float(v) if v not in (None, ".", "") else None
            out.append(x if x is None or math.isfinite(x) else None)
        except ValueError:
            out.append(v)
    return out


def read_allele_values(path: str, field: str, require: bool = True) -> dict[tuple, object]:
    """{(CHROM, POS, REF, ALT): value of INFO ``field``} for every allele that has one."""
    reader = VcfReader(path)
    if require and field not in reader.header.ids("INFO"):
        seen = sorted(reader.header.ids("INFO"))
        raise InputError(f"INFO field {field!r} is not declared in the header (declared: "
                         f"{', '.join(seen[:12]) or 'none'})", path)
    number = reader.header.info_number(field)
    out = {}
    for rec in reader:
        for alt, v in zip(rec.alts or ["."], _allele_values(rec, field, number)):
            if v is not None:
                out[(rec.chrom, rec.pos, rec.ref.upper(), alt.upper())] = v
    return out


def evaluate_scores(scores: str, truth: str, label: str, out: str, score_field: str = "GENOLM_SCORE",
                    negate: bool = False, by_chrom: bool = False) -> dict:
    """Join scored and truth VCFs by CHROM/POS/REF/ALT; AUROC/AUPRC (binary) or Spearman/Pearson."""
    from genolm.core import metrics as M
    from genolm.core.report import roc_pr_figure, scatter_figure
    from genolm.io.atomic import atomic_path, atomic_write_text

    s = read_allele_values(scores, score_field)
    t = read_allele_values(truth, label)
    keys = [k for k in t if k in s and isinstance(s[k], float)]
    if not keys:
        raise InputError(f"no allele of {truth} has both a {label} label and a {score_field} score "
                         "(joined by CHROM, POS, REF, ALT)", scores)
    bad = [t[k] for k in keys if not isinstance(t[k], float)]
    if bad:
        raise InputError(f"label {label!r} must be numeric (0/1 or a value); got {bad[0]!r}", truth)
    y = np.array([t[k] for k in keys], dtype=float)
    x = np.array([s[k] for k in keys], dtype=float) * (-1 if negate else 1)
    binary = set(np.unique(y).tolist()) <= {0.0, 1.0}

    def metrics_for(yy, xx) -> dict:
        if binary:
            from sklearn.metrics import average_precision_score, roc_auc_score

            if len(set(yy.tolist())) < 2:
                return {"n": int(len(yy)), "positives": int(yy.sum()), "auroc": float("nan"), "auprc": float("nan")}
            return {"n": int(len(yy)), "positives": int(yy.sum()), "auroc": float(roc_auc_score(yy, xx)),
                    "auprc": float(average_precision_score(yy, xx))}
        m = M.regression_metrics(yy, xx)
        return {"n": m["n"], "spearman": m["spearman"], "pearson": m["pearson"]}

    res = {"label": label, "score_field": score_field, "negated": negate,
           "type": "binary" if binary else "continuous", "truth_alleles": len(t), "joined": len(keys),
           **metrics_for(y, x)}
    if by_chrom:
        chroms = np.array([k[0] for k in keys])
        res["by_chrom"] = {c: metrics_for(y[chroms == c], x[chroms == c]) for c in sorted(set(chroms))}
        vals = [v.get("auroc", v.get("spearman")) for v in res["by_chrom"].values()]
        vals = [v for v in vals if v is not None and not math.isnan(v)]
        res["mean_by_chrom"] = float(np.mean(vals)) if vals else float("nan")
    atomic_write_text(out, json.dumps(res, indent=2))
    fig = roc_pr_figure(y.astype(int), x, score_field) if binary and len(set(y.tolist())) == 2 else \
        scatter_figure(y, x, f"{score_field} vs {label}")
    png = Path(out).with_suffix(".png")
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    res["plot"] = str(png)
    return res
