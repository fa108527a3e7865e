"""``genolm variants ism``: saturation mutagenesis of a genome region with any variant scorer.

The ISM itself (substitutions, matrix, tsv/bedGraph/heatmap) is :mod:`genolm.interpret.ism`; this module reads
the region from the reference and scores the substitutions with the scorer ``variants score`` would use.
"""

from __future__ import annotations

import time

import numpy as np

from genolm.genome.variants.reference import Allele, ReferenceCache
from genolm.genome.variants.scoring import make_scorer
from genolm.interpret.ism import saturation_mutagenesis, write_ism
from genolm.io.errors import InputError, UsageError
from genolm.sequence import Region, parse_region


def region_arg(region: str) -> Region:
    """``--region CHR:START-END`` (1-based inclusive, like samtools) -> Region (0-based half-open)."""
    try:
        return parse_region(region or "")
    except InputError as e:
        raise UsageError(f"--region: {e.message} (use CHR:START-END, 1-based inclusive)") from None


def ism(
    model: str,
    reference: str,
    region: str,
    out: str,
    method: str | None = None,
    window: int | None = None,
    batch_size: int = 128,
    max_length: int = 20_000,
    device: str | None = None,
    overwrite: bool = False,
) -> dict:
    """Every position x 3 alternative bases in ``region``: ism.tsv, ism.bedGraph and ism_heatmap.png in the
    run directory ``out``."""
    from genolm.core.runs import RunDir

    reg = region_arg(region)
    chrom, start, end = reg.chrom, reg.start, reg.end
    if end - start > max_length:
        raise UsageError(f"--region is {end - start} bp; ISM is limited to {max_length} bp per call")
    ref_cache = ReferenceCache(reference)
    if chrom not in ref_cache:
        raise InputError(
            f"unknown contig {chrom!r} in --region (reference has {', '.join(list(ref_cache.lengths)[:5])})", reference
        )
    if end > ref_cache.lengths[chrom]:
        raise UsageError(f"--region ends at {end}, beyond the end of {chrom} ({ref_cache.lengths[chrom]} bp)")
    t0 = time.perf_counter()
    scorer = make_scorer(model, ref_cache, method, window, batch_size, device)
    config = {
        "model": model,
        "reference": reference,
        "region": region,
        "method": scorer.method,
        "window": scorer.window,
    }
    with RunDir(out, "variants ism", config, inputs=[reference], overwrite=overwrite) as run:
        seq = ref_cache.fetch(chrom, start, end)

        def score_fn(subs):
            return [s["GENOLM_SCORE"] for s in scorer.score([Allele(chrom, start + i, r, a) for i, r, a in subs])]

        mat, subs, scores, skipped = saturation_mutagenesis(seq, score_fn)
        write_ism(run.path, chrom, start, seq, mat, subs, scores, scorer.method)
        summary = {
            "region": region,
            "positions": end - start,
            "alleles": len(subs),
            "skipped_positions": skipped,
            "method": scorer.method,
            "seconds": round(time.perf_counter() - t0, 2),
            "min_score": float(np.nanmin(mat)) if subs else float("nan"),
            "max_score": float(np.nanmax(mat)) if subs else float("nan"),
        }
        run.write_metrics(summary)
    return summary
