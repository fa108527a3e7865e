"""Gene-finder evaluation of predicted vs reference GFF3: base-level P/R/F1 per class, coding-exon /
exon / intron exact-boundary P/R/F1 and gene-level exact matches (as gene-finder evaluations report them).

Precision/recall/F1 come from counts (true positives, predictions, reference items); undefined values
are NaN, as in :mod:`genolm.core.metrics`.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np

from genolm.genome.annotate.labels import BASE_CLASSES, COARSE, label_arrays, transcripts_from_features
from genolm.io.bed import Region, check_regions, read_bed
from genolm.io.fasta import read_fasta
from genolm.io.gff import Feature, GffWarnings, read_gff


def prf(tp: int, n_pred: int, n_true: int) -> dict:
    """precision, recall, f1 (4 decimals; NaN when undefined) with the counts they come from."""
    p = tp / n_pred if n_pred else float("nan")
    r = tp / n_true if n_true else float("nan")
    f = 2 * p * r / (p + r) if n_pred and n_true and (p + r) > 0 else (0.0 if n_pred or n_true else float("nan"))
    return {
        "precision": round(p, 4) if not math.isnan(p) else p,
        "recall": round(r, 4) if not math.isnan(r) else r,
        "f1": round(f, 4) if not math.isnan(f) else f,
        "n_pred": n_pred,
        "n_true": n_true,
        "tp": tp,
    }


def _coarse_class(name: str) -> str:
    return name.rstrip("+-") if name != "intergenic" else name


def evaluate_features(
    pred: list[Feature], truth: list[Feature], lengths: dict[str, int], regions: list[Region] | None = None
) -> dict:
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
        cp, ct = cp[r.start : r.end], ct[r.start : r.end]
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
    base = {c: prf(int(tp[i]), int(npred[i]), int(ntrue[i])) for i, c in enumerate(classes) if ntrue[i] or npred[i]}
    out = {"base": base}
    for k, (p, t) in sets.items():
        out[k] = prf(len(p & t), len(p), len(t))
    out["n_bases"] = int(sum(min(r.end, lengths.get(r.chrom, r.end)) - r.start for r in regions))
    out["reference_warnings"] = tw.as_dict()
    return out


def evaluate(
    pred: str, truth: str, regions: str | None = None, out: str | None = None, genome: str | None = None
) -> dict:
    """Compare a predicted GFF3 with a reference GFF3; optional BED regions; writes metrics JSON."""
    from genolm.io.atomic import atomic_write_text

    lengths = lengths_from(truth, pred, genome)
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


def lengths_from(truth: str, pred: str, genome: str | None) -> dict[str, int]:
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
