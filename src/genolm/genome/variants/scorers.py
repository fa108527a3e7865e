"""Scorers: each turns a list of :class:`~genolm.genome.variants.reference.Allele` into ``{INFO field: value}``.

- ``llr`` (zero-shot): log P(ALT) - log P(REF) in the reference context. Masked LMs: the variant bases
  are masked once and every allele is read from that one forward pass (substitutions: SNVs and MNPs).
  Causal LMs: summed log-likelihood of the ALT window minus that of the REF window (indels too).
- ``delta``: a fine-tuned classifier/regressor's prediction on the ALT window minus the REF window.
- ``embedding``: cosine distance between REF and ALT window embeddings (L2 distance in GENOLM_EMB_L2).
- ``motif``: change of transcription-factor motif sites (JASPAR or any MEME file), no model.

:func:`lm_scorer` loads a DNA model through :func:`genolm.core.loading.load_model` (never running code from
the folder) and builds the scorer of its natural method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from genolm.genome.variants.reference import Allele, ReferenceCache, allele_windows
from genolm.io.errors import UsageError
from genolm.io.fasta import normalize
from genolm.sequence import encode_batch, token_lookup

LM_METHODS = ("llr", "delta", "embedding")


class Scorer:
    method = ""
    fields: dict[str, str] = {}  # INFO id -> description (Number=A, Float)
    causal = False

    def __init__(self, ref_cache: ReferenceCache, window: int, batch_size: int):
        self.ref_cache, self.window, self.batch_size = ref_cache, window, batch_size

    def score(self, alleles: Sequence[Allele]) -> list[dict]:
        raise NotImplementedError


def per_base_ids(tok) -> np.ndarray | None:
    """Token id of each base code (A C G T N = 0-4, :func:`genolm.sequence.encode`) when the tokenizer has one
    token per base, else None."""
    try:
        ids = tok("ACGTN", add_special_tokens=False)["input_ids"]
    except Exception:
        return None
    if len(ids) != 5 or len(set(ids)) != 5:
        return None
    lut = token_lookup(dict(zip("ACGTN", ids)), ids[4])  # byte -> id, other bytes -> N
    return lut[[ord(b) for b in "ACGTN"]]


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
        self.table = per_base_ids(tok)
        if self.table is None:
            raise UsageError(
                "llr with a masked LM needs a tokenizer with one token per base (genolm 'base'); "
                "use --method embedding, or a causal LM"
            )
        self.base_ids = torch.tensor(self.table[:4])
        self.cls, self.sep, self.mask = tok.cls_token_id, tok.sep_token_id, tok.mask_token_id
        if self.mask is None:
            raise UsageError("this masked LM's tokenizer has no [MASK] token")
        self.device = next(model.parameters()).device

    def _encode(self, seqs: list[str]) -> torch.Tensor:
        ids = self.table[encode_batch(seqs)]
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
            chunk = sites[i : i + self.batch_size]
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
                out.append(lp[k : k + length])
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
        return [
            {"GENOLM_SCORE": float(ll[va] - ll[vr]), "GENOLM_REF_LOGP": float(ll[vr]), "GENOLM_ALT_LOGP": float(ll[va])}
            for vr, va in wins
        ]


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
        return [
            {
                "GENOLM_SCORE": float(pred[va] - pred[vr]),
                "GENOLM_REF_PRED": float(pred[vr]),
                "GENOLM_ALT_PRED": float(pred[va]),
            }
            for vr, va in wins
        ]


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
        from genolm.genome.variants.motifs import MOTIF_FLANK
        from genolm.interpret.motifscan import MotifScanner

        super().__init__(ref_cache, 2 * MOTIF_FLANK + 1, batch_size)
        self.scanner = MotifScanner.from_file(motif_file)

    def score(self, alleles):
        from genolm.genome.variants.motifs import MOTIF_FLANK, motif_features

        out = []
        for a in alleles:
            w = self.ref_cache.fetch(a.chrom, a.pos0 - MOTIF_FLANK, a.pos0 + len(a.ref) + MOTIF_FLANK)
            f = motif_features(self.scanner, w, MOTIF_FLANK, a.ref, a.alt)
            out.append(
                {
                    "GENOLM_SCORE": f["motif_delta_ref_sites"],
                    "GENOLM_MOTIF_LOSS": f["motif_loss_max"],
                    "GENOLM_MOTIF_GAIN": f["motif_gain_max"],
                    "GENOLM_MOTIF_SITES": f["motif_sites_ref"],
                }
            )
        return out


def lm_scorer(
    model: str,
    ref_cache: ReferenceCache,
    method: str | None = None,
    window: int | None = None,
    batch_size: int = 128,
    device: str | None = None,
) -> Scorer:
    """Load the DNA model ``model`` (run dir, model folder or ``hf:org/name``) and build the scorer for ``method``
    (None = the model's natural one: LM -> llr, classifier/regressor -> delta, other -> embedding)."""
    from genolm.core.loading import ModelInfo, load_model, resolve_model_dir

    if method is not None and method not in LM_METHODS:
        raise UsageError(f"--method {method} does not use a DNA model; use one of {', '.join(LM_METHODS)}")
    mdir = resolve_model_dir(model)
    info0 = ModelInfo.load(mdir) if Path(mdir).is_dir() else None
    net, tok, info = load_model(
        model, task="base" if method == "embedding" else None, device=device, trust_remote_code=False
    )
    natural = info0.task if info0 else info.task
    if method is None:
        method = {"masked-lm": "llr", "causal-lm": "llr", "classification": "delta", "regression": "delta"}.get(
            natural, "embedding"
        )
    if window is None:
        ml = info.max_length or getattr(tok, "model_max_length", None) or 258
        window = int(min(max(ml - 2, 16), 512)) if ml < 100_000 else 256
    if window < 2:
        raise UsageError("--window must be at least 2 bases")
    if method == "llr":
        if natural == "causal-lm":
            return CausalLLRScorer(net, tok, ref_cache, window, batch_size)
        if natural != "masked-lm":
            raise UsageError(
                f"--method llr needs a language model; this model was trained for {natural!r} "
                "(use --method delta or embedding)"
            )
        return MaskedLLRScorer(net, tok, ref_cache, window, batch_size)
    if method == "delta":
        if natural not in ("classification", "regression"):
            raise UsageError(
                f"--method delta needs a fine-tuned classifier or regressor; this model is {natural!r} "
                "(use --method llr or embedding)"
            )
        return DeltaScorer(net, tok, info, ref_cache, window, batch_size)
    return EmbeddingScorer(net, tok, info, ref_cache, window, batch_size)
