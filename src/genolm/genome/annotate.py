"""Genome annotation: per-base labelling with a dilated-CNN tagger, decoded by an HMM into gene models.

Public API (the CLI ``genolm annotate train|predict|evaluate`` is a thin skin over it):

- :func:`train` — learn per-base labels from a reference annotation (GFF3) and write a run directory.
- :func:`predict` — posteriors for every base (both strands, reverse-complement averaged), Viterbi
  decoding (:mod:`genolm.genome.decode`) into gene/mRNA/exon/CDS(+phase)/UTR/intron GFF3 features.
- :func:`evaluate` — base-level P/R/F1 per class, coding-exon / exon / intron exact-boundary P/R/F1
  and gene-level exact matches, as gene-finder evaluations report them.
- :func:`longest_orf_genes` — the simple prokaryote baseline (longest ORF per stop codon).

Coordinates: GFF 1-based inclusive on disk; 0-based half-open everywhere inside this module.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolm.genome.decode import (COARSE, COARSE_INDEX, SCHEMES, ContentModel, GeneHMM, GeneModel, HMMParams,
                                  SpliceModel, build_hmm,
                                  fine_to_coarse, path_to_genes, swap_strand_labels, viterbi)
from genolm.io.bed import Region, check_regions, read_bed
from genolm.io.errors import InputError, UsageError
from genolm.io.fasta import normalize, read_fasta, reverse_complement
from genolm.io.gff import Feature, GffWarnings, read_gff, write_gff

log = logging.getLogger("genolm.annotate")

RNA_TYPES = {"tRNA", "rRNA", "ncRNA", "tmRNA", "snRNA", "snoRNA", "RNase_P_RNA", "SRP_RNA", "antisense_RNA",
             "miRNA", "lnc_RNA"}
TRANSCRIPT_PARTS = {"CDS", "exon", "five_prime_UTR", "three_prime_UTR"}
BASE_CLASSES = ["CDS", "intron", "UTR5", "UTR3", "RNA", "intergenic"]


# ---- annotation -> transcripts -> per-base labels -------------------------------------------------

@dataclass
class Transcript:
    seqid: str
    strand: str
    gene: str
    id: str
    kind: str = "coding"  # coding | RNA | noncoding
    exons: list[tuple[int, int]] = field(default_factory=list)  # 0-based half-open
    cds: list[tuple[int, int]] = field(default_factory=list)
    cds_phase0: int = 0  # phase of the 5'-most CDS part, when the file gives it

    @property
    def start(self) -> int:
        return min(s for s, _ in self.exons or self.cds)

    @property
    def end(self) -> int:
        return max(e for _, e in self.exons or self.cds)

    @property
    def introns(self) -> list[tuple[int, int]]:
        ex = sorted(self.exons)
        return [(a[1], b[0]) for a, b in zip(ex, ex[1:]) if b[0] > a[1]]


def _merge(iv: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(iv):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def transcripts_from_features(feats: list[Feature], primary_only: bool = True,
                              warnings: GffWarnings | None = None) -> list[Transcript]:
    """Group CDS/exon/UTR parts by parent transcript; one (the first listed) transcript per gene by default.

    Works for NCBI prokaryote files (CDS whose parent is the gene, RNA features with exon children) and
    eukaryote gene/mRNA/exon/CDS hierarchies. A CDS without a parent becomes its own transcript.
    """
    w = warnings if warnings is not None else GffWarnings()
    by_id = {f.id: f for f in feats if f.id}
    parts: dict[str, list[Feature]] = defaultdict(list)
    order: list[str] = []
    for f in feats:
        if f.type not in TRANSCRIPT_PARTS:
            continue
        pars = f.parents or [f"__orphan_{f.line}"]
        for p in pars:
            if p not in parts:
                order.append(p)
            parts[p].append(f)
    # RNA features that have no exon children still define an RNA transcript
    for f in feats:
        if f.type in RNA_TYPES and f.id and f.id not in parts:
            parts[f.id] = []
            order.append(f.id)
    out: list[Transcript] = []
    seen_genes: set[str] = set()
    for tid in order:
        ps = parts[tid]
        tf = by_id.get(tid)
        gene = tid
        if tf is not None and tf.parents and tf.type not in ("gene", "pseudogene"):
            gene = tf.parents[0]
        if primary_only and gene in seen_genes:
            continue
        ref = tf if tf is not None else ps[0]
        strands = {p.strand for p in ps} | ({tf.strand} if tf is not None else set())
        strand = ref.strand
        if len(strands - {".", "?"}) > 1:
            w.add("transcripts with parts on both strands (skipped)", ref.line)
            continue
        t = Transcript(ref.seqid, strand if strand in "+-" else ".", gene, tid)
        cds = [p for p in ps if p.type == "CDS"]
        t.cds = _merge([(p.start - 1, p.end) for p in cds])
        exons = [(p.start - 1, p.end) for p in ps if p.type in ("exon", "five_prime_UTR", "three_prime_UTR")]
        t.exons = _merge(exons + t.cds) if exons else list(t.cds)
        if tf is not None and tf.type in RNA_TYPES:
            t.kind = "RNA"
            if not t.exons:
                t.exons = [(tf.start - 1, tf.end)]
        elif not t.cds:
            t.kind = "noncoding"
        if not t.exons:
            continue
        if cds:
            first = min(cds, key=lambda p: p.start) if t.strand == "+" else max(cds, key=lambda p: p.end)
            t.cds_phase0 = int(first.phase) if first.phase in "012" else 0
            if any(c.phase == "." for c in cds):
                w.add("CDS without phase (phase computed from the CDS order)", cds[0].line)
            if any(not any(es <= s and e <= ee for es, ee in t.exons) for s, e in t.cds):
                w.add("CDS parts outside the exons of their transcript", cds[0].line)
        seen_genes.add(gene)
        out.append(t)
    return out


def label_arrays(transcripts: list[Transcript], length: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-base (fine, coarse) labels of one sequence; later transcripts win where genes overlap."""
    names = SCHEMES[scheme]
    fi = {n: i for i, n in enumerate(names)}
    fine = np.zeros(length, dtype=np.int64)
    coarse = np.zeros(length, dtype=np.int64)
    for t in transcripts:
        if t.kind == "noncoding":
            continue
        if t.kind == "RNA":
            for s, e in t.exons:
                coarse[s:e] = COARSE_INDEX["RNA"]
                if "RNA" in fi:
                    fine[s:e] = fi["RNA"]
            continue
        st = t.strand if t.strand in "+-" else "+"
        ex = sorted(t.exons)
        for a, b in zip(ex, ex[1:]):
            coarse[a[1]:b[0]] = COARSE_INDEX[f"intron{st}"]
            if f"intron{st}" in fi:
                fine[a[1]:b[0]] = fi[f"intron{st}"]
        cds_lo = min(s for s, _ in t.cds) if t.cds else None
        cds_hi = max(e for _, e in t.cds) if t.cds else None
        for s, e in ex:  # UTR parts of exons
            for lo, hi, side in ((s, min(e, cds_lo), "lo"), (max(s, cds_hi), e, "hi")):
                if hi <= lo:
                    continue
                utr = ("UTR5" if side == "lo" else "UTR3") if st == "+" else ("UTR3" if side == "lo" else "UTR5")
                coarse[lo:hi] = COARSE_INDEX[f"{utr}{st}"]
                if f"{utr}{st}" in fi:
                    fine[lo:hi] = fi[f"{utr}{st}"]
        done = -t.cds_phase0
        for s, e in (sorted(t.cds) if st == "+" else sorted(t.cds, reverse=True)):
            n = e - s
            pos = (np.arange(done, done + n) % 3) + 1
            if st == "-":
                pos = pos[::-1]
            coarse[s:e] = COARSE_INDEX[f"CDS{st}"]
            fine[s:e] = np.array([fi[f"CDS{st}{k}"] for k in (1, 2, 3)])[pos - 1]
            done += n
    return fine, coarse


def load_annotation(gff: str | os.PathLike, lengths: dict[str, int], primary_only: bool = True,
                    warn: bool = True) -> dict[str, list[Transcript]]:
    w = GffWarnings()
    feats = read_gff(gff, lengths, w)
    txs = transcripts_from_features(feats, primary_only, w)
    if warn:
        w.report(str(gff))
    by: dict[str, list[Transcript]] = defaultdict(list)
    for t in txs:
        by[t.seqid].append(t)
    return by


# ---- the tagger ---------------------------------------------------------------------------------

def _base_lookup(tokenizer) -> np.ndarray:
    vocab = tokenizer.get_vocab()
    n_id = vocab.get("N", tokenizer.unk_token_id)
    lut = np.full(256, n_id, dtype=np.int64)
    for b in "ACGT":
        lut[ord(b)] = vocab[b]
        lut[ord(b.lower())] = vocab[b]
    return lut


def _encode(seq: str, lut: np.ndarray) -> np.ndarray:
    return lut[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


@dataclass
class _Segment:
    contig: str
    start: int
    end: int


def _segments(seqs: dict[str, str], min_n_run: int = 100) -> dict[str, list[_Segment]]:
    """Stretches of each contig free of long N runs (masked/held-out blocks)."""
    import re

    out: dict[str, list[_Segment]] = {}
    for name, s in seqs.items():
        cuts = [(m.start(), m.end()) for m in re.finditer(r"N{%d,}" % min_n_run, s)]
        pos, segs = 0, []
        for a, b in cuts:
            if a > pos:
                segs.append(_Segment(name, pos, a))
            pos = b
        if pos < len(s):
            segs.append(_Segment(name, pos, len(s)))
        out[name] = segs
    return out


def split_train_dev(seqs: dict[str, str], dev_fraction: float, seed: int) -> tuple[list[_Segment], list[_Segment]]:
    """Many contigs: hold out whole contigs. Few long contigs: hold out the last ``dev_fraction`` of each."""
    segs = _segments(seqs)
    names = list(seqs)
    train, dev = [], []
    if len(names) >= 20:
        rng = np.random.default_rng(seed)
        dev_names = set(rng.choice(names, size=max(1, int(round(dev_fraction * len(names)))), replace=False))
        for n in names:
            (dev if n in dev_names else train).extend(segs[n])
        return train, dev
    for n in names:
        total = sum(s.end - s.start for s in segs[n])
        want = int(total * dev_fraction)
        for s in reversed(segs[n]):
            if want <= 0:
                train.append(s)
                continue
            take = min(want, s.end - s.start)
            dev.append(_Segment(n, s.end - take, s.end))
            if s.end - take > s.start:
                train.append(_Segment(n, s.start, s.end - take))
            want -= take
    return train, dev


class _WindowBatches:
    """Endless random training windows (both strands) as padded token/label batches."""

    def __init__(self, seqs, labels, segments, lut, window, batch_size, swap, cls_id, sep_id, pad_id, seed):
        self.seqs, self.labels, self.segments = seqs, labels, segments
        self.lut, self.window, self.batch_size, self.swap = lut, window, batch_size, swap
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        lens = np.array([s.end - s.start for s in segments], dtype=float)
        # short segments (whole loci) are drawn about as often as one window of a long one
        self.weights = np.maximum(lens, window) / np.maximum(lens, window).sum() if len(lens) else lens
        self.rng = np.random.default_rng(seed)

    def window_at(self, seg: _Segment, start: int, rc: bool):
        end = min(seg.end, start + self.window)
        s = self.seqs[seg.contig][start:end]
        lab = self.labels[seg.contig][start:end].copy()
        ids = _encode(s, self.lut)
        lab[~np.isin(np.frombuffer(s.encode(), dtype=np.uint8), np.frombuffer(b"ACGT", np.uint8))] = -100
        if rc:
            ids = _encode(reverse_complement(s), self.lut)
            lab = np.where(lab >= 0, self.swap[np.maximum(lab, 0)], -100)[::-1]
        return ids, lab

    def draw(self, rng) -> tuple[np.ndarray, np.ndarray]:
        seg = self.segments[rng.choice(len(self.segments), p=self.weights)]
        n = seg.end - seg.start
        start = seg.start + (int(rng.integers(0, n - self.window + 1)) if n > self.window else 0)
        return self.window_at(seg, start, bool(rng.random() < 0.5))

    def collate(self, items):
        import torch

        n = max(len(i) for i, _ in items) + 2
        ids = torch.full((len(items), n), self.pad_id, dtype=torch.long)
        lab = torch.full((len(items), n), -100, dtype=torch.long)
        mask = torch.zeros((len(items), n), dtype=torch.long)
        for k, (i, l) in enumerate(items):
            m = len(i)
            ids[k, 0], ids[k, m + 1] = self.cls_id, self.sep_id
            ids[k, 1:m + 1] = torch.from_numpy(np.ascontiguousarray(i))
            lab[k, 1:m + 1] = torch.from_numpy(np.ascontiguousarray(l))
            mask[k, : m + 2] = 1
        out = {"input_ids": ids, "labels": lab}
        if not bool(mask.all()):
            out["attention_mask"] = mask
        return out

    def __iter__(self):
        while True:
            yield self.collate([self.draw(self.rng) for _ in range(self.batch_size)])


def posteriors(model, tokenizer, seq: str, chunk: int = 8192, context: int = 1024, batch_size: int = 4,
               both_strands: bool = True, swap: np.ndarray | None = None) -> np.ndarray:
    """(L, n_labels) per-base label probabilities of a sequence of any length.

    The sequence is cut into chunks read with ``context`` bases either side (beyond the network's
    receptive field, so chunking does not change the result); with ``both_strands`` the reverse
    complement is predicted too and averaged (labels strand-swapped).
    """
    lut = _base_lookup(tokenizer)
    p = _posteriors_one(model, tokenizer, seq, lut, chunk, context, batch_size)
    if both_strands and swap is not None:
        q = _posteriors_one(model, tokenizer, reverse_complement(seq), lut, chunk, context, batch_size)[::-1]
        inv = np.argsort(swap)
        p = 0.5 * (p + q[:, inv])
    return p


def _posteriors_one(model, tokenizer, seq, lut, chunk, context, batch_size) -> np.ndarray:
    import torch

    L = len(seq)
    ids_all = _encode(seq, lut)
    dev = next(model.parameters()).device
    n_lab = model.config.num_labels
    out = np.zeros((L, n_lab), dtype=np.float32)
    jobs = [(a, min(L, a + chunk)) for a in range(0, L, chunk)]
    model.eval()
    with torch.inference_mode():
        for k in range(0, len(jobs), batch_size):
            group = jobs[k:k + batch_size]
            pieces = []
            for a, b in group:
                lo, hi = max(0, a - context), min(L, b + context)
                pieces.append((lo, a, b, ids_all[lo:hi]))
            n = max(len(x[3]) for x in pieces) + 2
            ids = torch.full((len(pieces), n), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(pieces), n), dtype=torch.long)
            for r, (_, _, _, x) in enumerate(pieces):
                ids[r, 0] = tokenizer.cls_token_id
                ids[r, 1:len(x) + 1] = torch.from_numpy(x)
                ids[r, len(x) + 1] = tokenizer.sep_token_id
                mask[r, : len(x) + 2] = 1
            kw = {"attention_mask": mask.to(dev)} if not bool(mask.all()) else {}
            logits = model(input_ids=ids.to(dev), **kw).logits.float()
            prob = torch.softmax(logits, -1).cpu().numpy()
            for r, (lo, a, b, _) in enumerate(pieces):
                out[a:b] = prob[r, 1 + (a - lo): 1 + (b - lo)]
    return out


# ---- training -----------------------------------------------------------------------------------

def _read_genome(path: str) -> dict[str, str]:
    return {name: normalize(seq) for name, seq in read_fasta(path)}


def fit_hmm_params(transcripts: dict[str, list[Transcript]], seqs: dict[str, str]) -> HMMParams:
    """Mean lengths of intergenic stretches, UTRs, introns, exons and proteins in the training annotation."""
    p = HMMParams()
    coding = [t for ts in transcripts.values() for t in ts if t.kind == "coding" and t.cds]
    rna = [t for ts in transcripts.values() for t in ts if t.kind == "RNA"]
    if not coding:
        return p
    total = sum(len(s) - s.count("N") for s in seqs.values())
    genic = sum(t.end - t.start for t in coding)
    p.intergenic = max(50.0, 2.0 * max(total - genic, 1) / len(coding))
    p.codons = max(30.0, float(np.mean([sum(e - s for s, e in t.cds) / 3 for t in coding])))
    introns = [e - s for t in coding for s, e in t.introns]
    if introns:
        p.intron = float(np.mean(introns))
        p.min_intron = int(max(0, np.percentile(introns, 1) - 2))
    cds_parts = [e - s for t in coding for s, e in t.cds]
    p.exon = max(30.0, float(np.mean(cds_parts)))
    u5, u3, none = [], [], 0
    for t in coding:
        lo, hi = min(s for s, _ in t.cds), max(e for _, e in t.cds)
        left, right = lo - t.start, t.end - hi
        a, b = (left, right) if t.strand == "+" else (right, left)
        u5.append(a)
        u3.append(b)
        none += (a == 0) + (b == 0)
    if any(u5):
        p.utr5 = max(5.0, float(np.mean([x for x in u5 if x] or [60])))
    if any(u3):
        p.utr3 = max(5.0, float(np.mean([x for x in u3 if x] or [120])))
    p.no_utr = float(min(0.9, max(0.02, none / (2 * len(coding)))))
    if rna:
        p.rna = float(np.mean([t.end - t.start for t in rna]))
        p.rna_rate = max(1e-5, len(rna) / max(total - genic, 1))
    return p


def _train_split_params(seqs: dict[str, str], txs: dict[str, list[Transcript]], dev_segs) -> HMMParams:
    """HMM length priors from the transcripts that do not touch the dev split."""
    dev_names = {x.contig for x in dev_segs}
    train_txs = {k: [t for t in v if not any(d.contig == k and t.start < d.end and t.end > d.start
                                             for d in dev_segs)] for k, v in txs.items()}
    return fit_hmm_params(train_txs, {k: v for k, v in seqs.items() if k not in dev_names or len(seqs) < 20})


def train(genome: str, gff: str, out: str, scheme: str = "prokaryote", window: int = 2048,
          hidden: int = 32, layers: int = 8, kernel: int = 9, dropout: float = 0.1, batch_size: int = 8,
          lr: float = 3e-3, max_steps: int | None = None, epochs: float | None = None,
          time_budget: float | None = 25 * 60, eval_every: int = 200, dev_fraction: float = 0.1,
          seed: int = 0, init: str | None = None) -> dict:
    """Train a per-base annotation model; writes a run directory and returns dev metrics (decoded).

    ``init``: continue from the weights of an earlier annotation model of the same scheme (the
    network shape options are then taken from that model)."""
    import torch

    from genolm.core.loading import ModelInfo
    from genolm.core.models import GenolmConfig, GenolmForTokenClassification
    from genolm.core.runs import RunDir, set_seed
    from genolm.core.tokenizers import build_dna_tokenizer
    from genolm.core.train import TrainConfig
    from genolm.core.train import train as train_loop

    if scheme not in SCHEMES:
        raise UsageError(f"unknown scheme {scheme!r}; use eukaryote or prokaryote")
    if window < 64:
        raise UsageError("--window must be at least 64 bases")
    set_seed(seed)
    config = dict(genome=str(genome), gff=str(gff), scheme=scheme, window=window, hidden=hidden, layers=layers,
                  kernel=kernel, dropout=dropout, batch_size=batch_size, lr=lr, max_steps=max_steps,
                  epochs=epochs, time_budget=time_budget, eval_every=eval_every, dev_fraction=dev_fraction,
                  seed=seed, init=init)
    with RunDir(out, command="annotate train", config=config, inputs=[genome, gff], seed=seed) as run:
        seqs = _read_genome(genome)
        lengths = {k: len(v) for k, v in seqs.items()}
        txs = load_annotation(gff, lengths)
        if not any(txs.values()):
            raise InputError("no transcripts/CDS on the genome's sequences", gff)
        labels = {}
        for name, s in seqs.items():
            labels[name] = label_arrays(txs.get(name, []), len(s), scheme)[0]
        train_segs, dev_segs = split_train_dev(seqs, dev_fraction, seed)
        log.info("train: %d bases in %d segments; dev: %d bases in %d segments",
                 sum(s.end - s.start for s in train_segs), len(train_segs),
                 sum(s.end - s.start for s in dev_segs), len(dev_segs))
        params = _train_split_params(seqs, txs, dev_segs)
        tok = build_dna_tokenizer("base")
        names = SCHEMES[scheme]
        counts = np.bincount(np.concatenate([labels[s.contig][s.start:s.end] for s in train_segs]),
                             minlength=len(names)).astype(float)
        prior = (counts + 1) / (counts + 1).sum()
        cfg = GenolmConfig(vocab_size=len(tok), arch="cnn", hidden_size=hidden, num_layers=layers,
                           conv_kernel=kernel, dropout=dropout, num_labels=len(names),
                           pad_token_id=tok.pad_token_id,
                           id2label={i: n for i, n in enumerate(names)}, label2id={n: i for i, n in enumerate(names)})
        if init:
            from genolm.core.loading import load_model

            model, _, init_info = load_model(init, task="token-classification", device="cpu")
            if (init_info.extra or {}).get("annotate", {}).get("scheme") != scheme:
                raise UsageError(f"--init model was not trained with --scheme {scheme}")
            model.train()
        else:
            model = GenolmForTokenClassification(cfg)
        swap = swap_strand_labels(scheme)
        lut = _base_lookup(tok)
        batches = _WindowBatches(seqs, labels, train_segs, lut, window, batch_size, swap, tok.cls_token_id,
                                 tok.sep_token_id, tok.pad_token_id, seed)
        # fixed dev windows for model selection (argmax accuracy of coding-base calls)
        rng = np.random.default_rng(seed + 1)
        dev_batches = _WindowBatches(seqs, labels, dev_segs, lut, window, batch_size, swap, tok.cls_token_id,
                                     tok.sep_token_id, tok.pad_token_id, seed + 1)
        dev_items = [dev_batches.draw(rng) for _ in range(min(128, max(16, 40 * len(dev_segs))))]
        f2c = torch.as_tensor(fine_to_coarse(scheme))

        def evaluate(m):
            tp = fp = fn = correct = total = 0
            loss = 0.0
            for k in range(0, len(dev_items), 32):
                b = dev_batches.collate(dev_items[k:k + 32])
                o = m(**b)
                loss += float(o.loss) * len(dev_items[k:k + 32])
                pred = o.logits.argmax(-1)
                keep = b["labels"] >= 0
                y = b["labels"][keep]
                p = pred[keep]
                correct += int((p == y).sum())
                total += int(keep.sum())
                yc, pc = f2c[y], f2c[p]
                is_cds_t = (yc == COARSE_INDEX["CDS+"]) | (yc == COARSE_INDEX["CDS-"])
                is_cds_p = (pc == COARSE_INDEX["CDS+"]) | (pc == COARSE_INDEX["CDS-"])
                tp += int((is_cds_t & (yc == pc)).sum())
                fp += int((is_cds_p & ~(is_cds_t & (yc == pc))).sum())
                fn += int((is_cds_t & ~(yc == pc)).sum())
            return {"loss": loss / len(dev_items), "accuracy": correct / max(total, 1),
                    "cds_f1": 2 * tp / max(2 * tp + fp + fn, 1)}

        tcfg = TrainConfig(lr=lr, batch_size=batch_size, max_steps=max_steps, epochs=epochs,
                           time_budget=time_budget, eval_every=eval_every, patience=None, metric="cds_f1",
                           maximize=True, seed=seed, checkpoint_every=1000)
        t0 = time.time()
        res = train_loop(model, batches, tcfg, evaluate=evaluate, out_dir=run.path,
                         tokens_in_batch=lambda b: int((b["labels"] >= 0).sum()))
        train_seconds = time.time() - t0
        info = ModelInfo(task="token-classification", label_names=names, tokenizer="base",
                         source="genolm annotate train",
                         extra={"annotate": {"scheme": scheme, "hmm": params.as_dict(), "label_prior": prior.tolist(),
                                             "window": window}})
        model.eval()
        train_info = {"steps": res.steps, "seconds": round(train_seconds, 1), "best_step": res.best_step,
                      "best_dev_argmax_cds_f1": res.best_metric, "stopped_because": res.stopped_because}
        metrics = finish_model(run.path, model, tok, info, seqs, labels, train_segs, dev_segs, gff, train_info, txs)
        _write_history(run, res.history)
        _train_report(run, metrics, res.history, scheme)
        return metrics


# (network, Markov chains, splice sites) weights tried on the dev split; the first is the network alone
DECODER_GRID = {
    "prokaryote": ((1.0, 0.0, 0.0), (1.0, 0.5, 0.0), (1.0, 1.0, 0.0), (0.5, 1.0, 0.0), (0.0, 1.0, 0.0)),
    "eukaryote": ((1.0, 0.0, 0.0),) + tuple((wn, wc, ws) for wn in (0.5, 0.25, 0.1, 0.0) for wc in (0.5, 1.0)
                                            for ws in (1.0, 2.0, 3.0)),
}


def fit_splice_model(seqs: dict[str, str], txs: dict[str, list[Transcript]], segments) -> SpliceModel | None:
    """Splice-site PWMs from the introns of training transcripts (both strands); None without introns."""
    sm = SpliceModel()
    n = 0
    for sgm in segments:
        s = seqs[sgm.contig][sgm.start:sgm.end]
        L = len(s)
        plus, minus = [], []
        for t in txs.get(sgm.contig, []):
            for a, b in t.introns:
                if sgm.start <= a and b <= sgm.end:
                    (plus if t.strand == "+" else minus).append((a - sgm.start, b - sgm.start))
        if not plus and not minus:
            continue
        n += len(plus) + len(minus)
        sm.add(s, plus)
        sm.add(reverse_complement(s), [(L - b, L - a) for a, b in minus])
    return sm.finalize() if n >= 20 else None


def finish_model(run_path, model, tok, info, seqs, labels, train_segs, dev_segs, gff, train_info: dict,
                 txs: dict | None = None) -> dict:
    """After training: fit the codon Markov chains on the training split, pick the decoder weights
    (network vs Markov chains) on the dev split, save the model and score the dev split end to end."""
    from genolm.core.loading import save_model

    run_path = Path(run_path)
    scheme = info.extra["annotate"]["scheme"]
    lengths = {k: len(v) for k, v in seqs.items()}
    content = ContentModel(scheme)
    for sgm in train_segs:
        content.add(seqs[sgm.contig][sgm.start:sgm.end], labels[sgm.contig][sgm.start:sgm.end])
    content.finalize()
    if txs:  # length priors from the training split only (refitted: the decoder may have changed)
        info.extra["annotate"]["hmm"] = _train_split_params(seqs, txs, dev_segs).as_dict()
    splice = fit_splice_model(seqs, txs or {}, train_segs) if scheme == "eukaryote" else None
    annot = Annotator(model, tok, info)
    annot.content, annot.splice = content, splice
    dev_regions = [Region(x.contig, x.start, x.end) for x in dev_segs]
    truth_feats = read_gff(gff, lengths, GffWarnings())
    posts, lls, bonuses = [], [], []
    for r in dev_regions:
        sq = seqs[r.chrom]
        lo, hi = max(0, r.start - 1000), min(len(sq), r.end + 1000)
        posts.append(annot.posteriors(sq[lo:hi])[r.start - lo: r.end - lo])
        lls.append(content.loglik(sq[r.start:r.end]))
        bonuses.append(splice.bonuses(sq[r.start:r.end]) if splice is not None else None)
    grid = []
    best = None
    tried = set()
    for wn, wc, ws in DECODER_GRID[scheme]:
        ws = ws if splice is not None else 0.0
        if (wn, wc, ws) in tried:
            continue
        tried.add((wn, wc, ws))
        genes = []
        for r, post, ll, bo in zip(dev_regions, posts, lls, bonuses):
            genes += [(r.chrom, r.start, g) for g in annot.decode(seqs[r.chrom][r.start:r.end], post, wn, wc, ws,
                                                                  content_ll=ll, splice_bonus=bo)]
        feats = genes_to_features(genes, scheme)
        m = evaluate_features(feats, truth_feats, lengths, dev_regions)
        cds_f1 = m["base"].get("CDS", {}).get("f1", 0.0)
        intron_f1 = m["intron"]["f1"] if not math.isnan(m["intron"]["f1"]) else 0.0
        score = cds_f1 if scheme == "prokaryote" else 0.5 * (cds_f1 + intron_f1)
        grid.append({"net_weight": wn, "content_weight": wc, "splice_weight": ws, "base_CDS_f1": cds_f1,
                     "intron_f1": m["intron"]["f1"], "gene_f1": m["gene"]["f1"], "selection_score": round(score, 4)})
        if best is None or score > best[0]:
            best = (score, wn, wc, ws, m, feats)
    _, wn, wc, ws, dev_metrics, pred_feats = best
    info.extra["annotate"].update(net_weight=wn, content_weight=wc, splice_weight=ws)
    save_model(model, tok, info, run_path / "model")
    content.save(run_path / "model" / "content_model.npz")
    if splice is not None:
        splice.save(run_path / "model" / "splice_model.npz")
    baseline = None
    if scheme == "prokaryote":
        bl = [(r.chrom, r.start, g) for r in dev_regions for g in longest_orf_genes(seqs[r.chrom][r.start:r.end])]
        baseline = evaluate_features(genes_to_features(bl, scheme), truth_feats, lengths, dev_regions)
    net_only = grid[0]
    metrics = {"dev": dev_metrics, "decoder_weights": {"net_weight": wn, "content_weight": wc, "splice_weight": ws},
               "dev_decoder_grid": grid, "dev_network_only": net_only, "dev_baseline_longest_orf": baseline,
               "train": train_info, "hmm": info.extra["annotate"]["hmm"]}
    from genolm.io.atomic import atomic_write_text

    atomic_write_text(run_path / "metrics.json", json.dumps(metrics, indent=2, default=float))
    write_gff(run_path / "dev_predictions.gff3", pred_feats, None, comments=["genolm annotate: dev split predictions"])
    return metrics


def refinish(run_dir: str, genome: str, gff: str, seed: int = 0, dev_fraction: float = 0.1,
             train_info: dict | None = None) -> dict:
    """Redo :func:`finish_model` for an existing run (same split), e.g. after a decoder change."""
    from genolm.core.loading import load_model

    model, tok, info = load_model(run_dir, task="token-classification")
    seqs = _read_genome(genome)
    lengths = {k: len(v) for k, v in seqs.items()}
    scheme = info.extra["annotate"]["scheme"]
    txs = load_annotation(gff, lengths)
    labels = {n: label_arrays(txs.get(n, []), len(s), scheme)[0] for n, s in seqs.items()}
    train_segs, dev_segs = split_train_dev(seqs, dev_fraction, seed)
    old = json.loads((Path(run_dir) / "metrics.json").read_text()) if (Path(run_dir) / "metrics.json").is_file() else {}
    metrics = finish_model(run_dir, model, tok, info, seqs, labels, train_segs, dev_segs, gff,
                           train_info or old.get("train", {}), txs)
    hist_path = Path(run_dir) / "history.jsonl"
    history = [json.loads(x) for x in hist_path.read_text().splitlines()] if hist_path.is_file() else []

    class _Run:
        path = Path(run_dir)

    _train_report(_Run, metrics, history, scheme)
    return metrics


def _write_history(run, history):
    import json

    with open(run.path / "history.jsonl", "w") as fh:
        for h in history:
            fh.write(json.dumps(h) + "\n")


def _train_report(run, metrics: dict, history: list[dict], scheme: str) -> None:
    from genolm.core.report import Report, loss_curve_figure

    r = Report(f"genolm annotate train ({scheme})", "per-base CNN tagger + HMM gene-structure decoder")
    r.metrics_table(_flat(metrics["dev"]), "Dev split (decoded gene models)")
    if metrics.get("dev_baseline_longest_orf"):
        r.metrics_table(_flat(metrics["dev_baseline_longest_orf"]), "Dev split: longest-ORF baseline")
    r.table(["network weight", "Markov weight", "splice weight", "CDS base F1", "intron F1", "gene F1"],
            [[g["net_weight"], g["content_weight"], g["splice_weight"], g["base_CDS_f1"], g["intron_f1"], g["gene_f1"]]
             for g in metrics["dev_decoder_grid"]], "Decoder weights tried on the dev split (best kept)")
    r.metrics_table(metrics["train"], "Training")
    if history:
        r.figure(loss_curve_figure(history), "training / dev loss")
    r.write(run.path / "report.html")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ---- prediction ---------------------------------------------------------------------------------

class Annotator:
    """A loaded annotation model: posteriors -> Viterbi -> gene models, reused across regions."""

    def __init__(self, model, tokenizer, info, model_dir: str | None = None):
        meta = (info.extra or {}).get("annotate")
        if not meta:
            raise InputError("not a genolm annotation model (no 'annotate' entry in genolm.json); "
                             "train one with `genolm annotate train`")
        self.model, self.tok, self.info = model, tokenizer, info
        self.scheme = meta["scheme"]
        self.params = HMMParams(**meta["hmm"])
        self.hmm: GeneHMM = build_hmm(self.scheme, self.params)
        self.log_prior = np.log(np.asarray(meta["label_prior"]))
        self.swap = swap_strand_labels(self.scheme)
        self.net_weight = float(meta.get("net_weight", 1.0))
        self.content_weight = float(meta.get("content_weight", 0.0))
        self.splice_weight = float(meta.get("splice_weight", 0.0))
        self.content: ContentModel | None = None
        self.splice: SpliceModel | None = None
        if model_dir and (Path(model_dir) / "content_model.npz").is_file():
            self.content = ContentModel.load(Path(model_dir) / "content_model.npz")
        if model_dir and (Path(model_dir) / "splice_model.npz").is_file():
            self.splice = SpliceModel.load(Path(model_dir) / "splice_model.npz")

    @classmethod
    def load(cls, spec: str) -> "Annotator":
        from genolm.core.loading import load_model, resolve_model_dir

        model, tok, info = load_model(spec, task="token-classification")
        return cls(model, tok, info, resolve_model_dir(spec))

    def posteriors(self, seq: str) -> np.ndarray:
        return posteriors(self.model, self.tok, seq, swap=self.swap)

    def decode(self, seq: str, post: np.ndarray, net_weight: float | None = None,
               content_weight: float | None = None, splice_weight: float | None = None,
               content_ll: np.ndarray | None = None, splice_bonus: dict | None = None) -> list[GeneModel]:
        """Viterbi over w_net * log p_network + w_content * log-likelihood of the codon Markov chains
        (+ w_splice * splice-site log-odds on entering an intron / leaving it)."""
        wn = self.net_weight if net_weight is None else net_weight
        wc = self.content_weight if content_weight is None else content_weight
        ws = self.splice_weight if splice_weight is None else splice_weight
        logp = wn * np.log(np.clip(post, 1e-6, 1.0))
        if wc and self.content is not None:
            logp = logp + wc * (content_ll if content_ll is not None else self.content.loglik(seq))
        bonus = None
        if ws and self.splice is not None:
            bonus = {k: ws * v for k, v in (splice_bonus or self.splice.bonuses(seq)).items()}
        path = viterbi(self.hmm, logp, seq, self.log_prior, self.params.prior_weight * wn, bonus)
        return path_to_genes(self.hmm, path, post)

    def decode_long(self, seq: str, post: np.ndarray, chunk: int | None = None, overlap: int = 20_000):
        """Decode in overlapping chunks so memory stays bounded (Viterbi keeps states x bases pointers).

        Each chunk is decoded with ``overlap`` extra bases; a gene is kept by the chunk it starts in.
        Returns (chunk offset, GeneModel) pairs."""
        chunk = chunk or (1_000_000 if self.scheme == "prokaryote" else 200_000)
        L = len(seq)
        if L <= chunk + overlap:
            return [(0, g) for g in self.decode(seq, post)]
        out = []
        kept_end = 0  # genes of the previous chunk own the bases up to here
        for a in range(0, L, chunk):
            b = min(L, a + chunk + overlap)
            last = kept_end
            for g in self.decode(seq[a:b], post[a:b]):
                if a + g.start < kept_end:  # a fragment of a gene the previous chunk already called
                    continue
                if g.start < chunk or a + chunk >= L:
                    out.append((a, g))
                    last = max(last, a + g.end)
            kept_end = last
        return out

    def predict_regions(self, seqs: dict[str, str], regions: list[Region], context: int = 1000,
                        keep_posteriors: bool = False):
        """Gene models inside each region: (contig, region start, GeneModel) with region-relative coords."""
        from genolm.core.progress import progress

        out = []
        posts = []
        for r in progress(regions, desc="annotate", unit="region"):
            s = seqs[r.chrom]
            lo, hi = max(0, r.start - context), min(len(s), r.end + context)
            post = self.posteriors(s[lo:hi])[r.start - lo: r.end - lo]
            for a, g in self.decode_long(s[r.start:r.end], post):
                out.append((r.chrom, r.start + a, g))
            if keep_posteriors:
                posts.append((r, post))
        return (out, posts) if keep_posteriors else out


def genes_to_features(genes, scheme: str, source: str = "genolm") -> list[Feature]:
    """(contig, offset, GeneModel) -> sorted GFF3 features (gene/mRNA/exon/CDS/UTR/intron)."""
    feats: list[Feature] = []
    counter: dict[str, int] = defaultdict(int)
    for chrom, off, g in sorted(genes, key=lambda x: (x[0], x[1] + x[2].start)):
        counter[chrom] += 1
        gid = f"{chrom}.g{counter[chrom]}"
        score = f"{g.score:.3f}"
        if g.kind == "RNA":
            feats.append(Feature(chrom, source, "gene", off + g.start + 1, off + g.end, score, g.strand, ".",
                                 {"ID": gid, "gene_biotype": "RNA"}))
            feats.append(Feature(chrom, source, "ncRNA", off + g.start + 1, off + g.end, score, g.strand, ".",
                                 {"ID": f"{gid}.t1", "Parent": gid}))
            continue
        tid = f"{gid}.t1"
        feats.append(Feature(chrom, source, "gene", off + g.start + 1, off + g.end, score, g.strand, ".",
                             {"ID": gid, "gene_biotype": "protein_coding"}))
        feats.append(Feature(chrom, source, "mRNA", off + g.start + 1, off + g.end, score, g.strand, ".",
                             {"ID": tid, "Parent": gid}))
        parts = []
        for k, (s, e) in enumerate(g.exons, 1):
            parts.append(Feature(chrom, source, "exon", off + s + 1, off + e, ".", g.strand, ".",
                                 {"ID": f"{tid}.exon{k}", "Parent": tid}))
        for s, e in g.introns:
            parts.append(Feature(chrom, source, "intron", off + s + 1, off + e, ".", g.strand, ".", {"Parent": tid}))
        for s, e, ph in g.cds:
            parts.append(Feature(chrom, source, "CDS", off + s + 1, off + e, ".", g.strand, str(ph),
                                 {"ID": f"{tid}.cds", "Parent": tid}))
        for typ, ivs in (("five_prime_UTR", g.utr5), ("three_prime_UTR", g.utr3)):
            for s, e in ivs:
                parts.append(Feature(chrom, source, typ, off + s + 1, off + e, ".", g.strand, ".", {"Parent": tid}))
        feats.extend(sorted(parts, key=lambda f: (f.start, f.end)))
    return feats


def _regions_for(genome_seqs: dict[str, str], regions_bed: str | None) -> list[Region]:
    if regions_bed is None:
        return [Region(k, 0, len(v)) for k, v in genome_seqs.items()]
    regions = read_bed(regions_bed)
    check_regions(regions, {k: len(v) for k, v in genome_seqs.items()}, regions_bed)
    return regions


def predict(model: str, genome: str, out: str, regions: str | None = None, bedgraph: str | None = None,
            bedgraph_class: str = "CDS") -> dict:
    """Annotate a genome (or BED regions of it) into a GFF3 file; optional bedGraph of class probability."""
    from genolm.io.bed import write_bedgraph

    annot = Annotator.load(model)
    seqs = _read_genome(genome)
    regs = _regions_for(seqs, regions)
    names = SCHEMES[annot.scheme]
    cols = [i for i, n in enumerate(names) if n.startswith(bedgraph_class)]
    if bedgraph and not cols:
        raise UsageError(f"unknown --bedgraph-class {bedgraph_class!r}; one of CDS, intron, UTR5, UTR3, RNA, "
                         "intergenic (prefixes of the model's labels)")
    if bedgraph:
        genes, posts = annot.predict_regions(seqs, regs, keep_posteriors=True)
    else:
        genes, posts = annot.predict_regions(seqs, regs), []
    feats = genes_to_features(genes, annot.scheme)
    write_gff(out, feats, {k: len(v) for k, v in seqs.items()},
              comments=[f"genolm annotate predict; model {model}; scheme {annot.scheme}"])
    if bedgraph:
        tracks = []
        for r, post in posts:
            pos = np.arange(r.start, r.end)
            tracks.append((r.chrom, pos, pos + 1, post[:, cols].sum(1)))
        write_bedgraph(bedgraph, tracks, name=f"P({bedgraph_class})", description="genolm annotate")
    n_genes = sum(1 for f in feats if f.type == "gene")
    n_introns = sum(1 for f in feats if f.type == "intron")
    return {"genes": n_genes, "introns": n_introns, "regions": len(regs), "bases": sum(len(r) for r in regs),
            "out": str(out)}


# ---- evaluation ---------------------------------------------------------------------------------

def _prf(tp: int, n_pred: int, n_true: int) -> dict:
    p = tp / n_pred if n_pred else float("nan")
    r = tp / n_true if n_true else float("nan")
    f = 2 * p * r / (p + r) if n_pred and n_true and (p + r) > 0 else (0.0 if n_pred or n_true else float("nan"))
    return {"precision": round(p, 4) if not math.isnan(p) else p, "recall": round(r, 4) if not math.isnan(r) else r,
            "f1": round(f, 4) if not math.isnan(f) else f, "n_pred": n_pred, "n_true": n_true, "tp": tp}


def _coarse_class(name: str) -> str:
    return name.rstrip("+-") if name != "intergenic" else name


def evaluate_features(pred: list[Feature], truth: list[Feature], lengths: dict[str, int],
                      regions: list[Region] | None = None) -> dict:
    """Gene-finder metrics of predicted vs reference features inside ``regions`` (default: whole sequences)."""
    pw, tw = GffWarnings(), GffWarnings()
    ptx = transcripts_from_features(pred, True, pw)
    ttx = transcripts_from_features(truth, True, tw)
    regions = regions or [Region(k, 0, v) for k, v in lengths.items()]
    by_p, by_t = defaultdict(list), defaultdict(list)
    for t in ptx:
        by_p[t.seqid].append(t)
    for t in ttx:
        by_t[t.seqid].append(t)
    classes = BASE_CLASSES
    cls_of = np.array([classes.index(_coarse_class(c)) for c in COARSE])
    tp = np.zeros(len(classes), dtype=np.int64)
    npred = np.zeros(len(classes), dtype=np.int64)
    ntrue = np.zeros(len(classes), dtype=np.int64)
    sets = {k: (set(), set()) for k in ("cds_exon", "exon", "intron", "gene")}
    for r in regions:
        L = lengths.get(r.chrom, r.end)
        if r.chrom not in lengths:
            L = max([r.end] + [t.end for t in by_t[r.chrom] + by_p[r.chrom]])
        _, cp = label_arrays(by_p[r.chrom], L, "eukaryote")
        _, ct = label_arrays(by_t[r.chrom], L, "eukaryote")
        cp, ct = cp[r.start:r.end], ct[r.start:r.end]
        kp, kt = cls_of[cp], cls_of[ct]
        same = cp == ct
        npred += np.bincount(kp, minlength=len(classes))
        ntrue += np.bincount(kt, minlength=len(classes))
        tp += np.bincount(kt[same], minlength=len(classes))
        for which, txs in ((0, by_p[r.chrom]), (1, by_t[r.chrom])):
            for t in txs:
                if t.kind != "coding" or t.start < r.start or t.end > r.end:
                    continue
                key = (r.chrom, t.strand)
                for s, e in t.cds:
                    sets["cds_exon"][which].add(key + (s, e))
                for s, e in t.exons:
                    sets["exon"][which].add(key + (s, e))
                for s, e in t.introns:
                    sets["intron"][which].add(key + (s, e))
                sets["gene"][which].add(key + tuple(t.cds))
    base = {c: _prf(int(tp[i]), int(npred[i]), int(ntrue[i])) for i, c in enumerate(classes) if ntrue[i] or npred[i]}
    out = {"base": base}
    for k, (p, t) in sets.items():
        out[k] = _prf(len(p & t), len(p), len(t))
    out["n_bases"] = int(sum(min(r.end, lengths.get(r.chrom, r.end)) - r.start for r in regions))
    out["reference_warnings"] = tw.as_dict()
    return out


def evaluate(pred: str, truth: str, regions: str | None = None, out: str | None = None,
             genome: str | None = None) -> dict:
    """Compare a predicted GFF3 with a reference GFF3; optional BED regions; writes metrics JSON."""
    from genolm.io.atomic import atomic_write_text

    lengths = _lengths_from(truth, pred, genome)
    tw, pw = GffWarnings(), GffWarnings()
    truth_feats = read_gff(truth, lengths, tw)
    pred_feats = read_gff(pred, lengths, pw)
    tw.report(str(truth))
    pw.report(str(pred))
    regs = None
    if regions:
        regs = read_bed(regions)
        check_regions(regs, lengths, regions)
    metrics = evaluate_features(pred_feats, truth_feats, lengths, regs)
    metrics["prediction_warnings"] = pw.as_dict()
    if out:
        atomic_write_text(out, json.dumps(metrics, indent=2))
    return metrics


def _lengths_from(truth: str, pred: str, genome: str | None) -> dict[str, int]:
    """Sequence lengths: the genome FASTA if given, else ##sequence-region lines, else feature extents."""
    from genolm.io.fasta import open_text
    from genolm.io.gff import iter_gff

    if genome:
        return {n: len(s) for n, s in read_fasta(genome)}
    lengths: dict[str, int] = {}
    for path in (truth, pred):
        with open_text(path) as fh:
            for line in fh:
                if line.startswith("##sequence-region"):
                    parts = line.split()
                    if len(parts) >= 4 and parts[3].isdigit():
                        lengths[parts[1]] = max(lengths.get(parts[1], 0), int(parts[3]))
                elif not line.startswith("#"):
                    break
    for path in (truth, pred):
        for f in iter_gff(path):
            if f.seqid not in lengths or f.end > lengths[f.seqid]:
                lengths[f.seqid] = max(lengths.get(f.seqid, 0), f.end)
    return lengths


# ---- baseline -----------------------------------------------------------------------------------

def longest_orf_genes(seq: str, min_codons: int = 100, starts=("ATG", "GTG", "TTG")) -> list[GeneModel]:
    """Prokaryote baseline: on both strands, for every stop codon the longest upstream ORF (first start
    codon after the previous in-frame stop) of >= ``min_codons``; overlaps resolved longest first."""
    cands = []
    for strand, s in (("+", seq), ("-", reverse_complement(seq))):
        L = len(s)
        for frame in range(3):
            first_start = None
            for i in range(frame, L - 2, 3):
                c = s[i:i + 3]
                if c in ("TAA", "TAG", "TGA"):
                    if first_start is not None and (i + 3 - first_start) // 3 >= min_codons:
                        a, b = first_start, i + 3
                        if strand == "-":
                            a, b = L - b, L - a
                        cands.append((b - a, a, b, strand))
                    first_start = None
                elif first_start is None and c in starts:
                    first_start = i
    cands.sort(reverse=True)
    taken = np.zeros(len(seq) + 1, dtype=bool)
    genes = []
    for n, a, b, strand in cands:
        if taken[a + 30: max(a + 31, b - 30)].any():  # allow short overlaps, as real operons have
            continue
        taken[a:b] = True
        genes.append(GeneModel(strand, a, b, exons=[(a, b)], cds=[(a, b, 0)], score=0.0))
    return sorted(genes, key=lambda g: g.start)
