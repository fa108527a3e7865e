"""Streaming benchmark: score a 1,000,000-record VCF with bounded memory; report throughput and peak RSS.

The VCF is synthetic and written on the fly over the real BRCA1 region of GRCh37 chr17
(41,100,001-41,300,000): per position 3 SNV records (one per alternative base), a duplicate of the first
and a 1-bp deletion (flagged INDEL_MLM by a masked LM, kept in the output). A small genolm MLM (random
weights; speed does not depend on them) scores it. Peak RSS is the process's maximum resident set
(``ru_maxrss``), printed with the RSS before scoring, so the growth attributable to the records is visible.

    OMP_NUM_THREADS=1 python benchmarks/variants_stream.py --records 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from variants import DATA, tiny_mlm  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_vcf(path: Path, fasta: str, n_records: int, start: int = 41_100_001) -> int:
    import pysam

    fa = pysam.FastaFile(fasta)
    seq = fa.fetch("17", start - 1, start - 1 + n_records // 5 + 10).upper()
    written = 0
    with pysam.BGZFile(str(path), "wb") as fh:
        fh.write(
            b"##fileformat=VCFv4.2\n##contig=<ID=17,length=81195210>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        )
        buf = []
        for i in range(len(seq) - 1):
            ref, pos = seq[i], start + i
            if ref not in "ACGT":
                continue
            alts = [b for b in "ACGT" if b != ref]
            recs = [f"17\t{pos}\tv{pos}{a}\t{ref}\t{a}\t.\tPASS\tSRC=synthetic" for a in alts]
            recs.append(recs[0].replace(f"v{pos}", f"dup{pos}"))
            recs.append(f"17\t{pos}\tdel{pos}\t{ref}{seq[i + 1]}\t{ref}\t.\tPASS\tSRC=synthetic")
            for r in recs:
                if written >= n_records:
                    break
                buf.append(r + "\n")
                written += 1
            if len(buf) > 50_000:
                fh.write("".join(buf).encode())
                buf = []
            if written >= n_records:
                break
        fh.write("".join(buf).encode())
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--chunk-size", type=int, default=4096)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from genolm.genome.variants import score_vcf

    fasta = str(DATA / "brca1_sge_findlay2018" / "GRCh37_chr17_BRCA1_Npadded.fa.gz")
    work = Path(tempfile.mkdtemp(prefix="genolm_stream_"))
    vcf = work / "synthetic.vcf.gz"
    n = synthetic_vcf(vcf, fasta, args.records)
    model = args.model or str(tiny_mlm(work / "mlm", args.window, hidden=32, layers=2))
    before = rss_mb()
    print(
        f"{n} records written to {vcf} ({vcf.stat().st_size / 1e6:.1f} MB bgzip); RSS before scoring {before:.0f} MB",
        flush=True,
    )
    t0 = time.perf_counter()
    s = score_vcf(
        model,
        fasta,
        str(vcf),
        str(work / "out.vcf.gz"),
        window=args.window,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
    )
    dt = time.perf_counter() - t0
    print(s.line())
    print(
        f"records/s {s.records / dt:.0f}; alleles scored/s {s.scored / dt:.0f}; peak RSS {rss_mb():.0f} MB "
        f"(growth while scoring {rss_mb() - before:.0f} MB); output {(work / 'out.vcf.gz').stat().st_size / 1e6:.1f} MB"
        f" + tabix index {'yes' if s.indexed else 'no'}"
    )


if __name__ == "__main__":
    main()
