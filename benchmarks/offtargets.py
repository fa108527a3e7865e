"""Off-target search speed and exactness: genolm's seed index vs a vectorised numpy brute-force scan.

100 real guides (protospacers next to an NGG, drawn with a fixed seed from the genome outside the N block)
are searched against the whole E. coli K-12 genome (4.6 Mb, both strands, NGG + NAG, <= 4 mismatches).
genolm's time includes building the index and writing nothing else (genome loading is shared and reported
apart). The brute-force scan is timed on the first --bf-guides guides (default 20) and extrapolated linearly
to 100 (each guide is an independent scan of the same cost); the site sets of those guides must be
identical and every CFD value must equal the published tables' product. The last line is ``ratio N``.

    python benchmarks/offtargets.py [--genome FASTA] [--bf-guides 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from importlib import resources

import numpy as np

GENOME = os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "ecoli_k12_mg1655", "ecoli_k12_mg1655.masked.fna.gz"
)


def pick_guides(genome, n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    codes = genome.codes[: genome.lengths[0]]
    out: list[str] = []
    while len(out) < n:
        p = int(rng.integers(0, len(codes) - 23))
        w = codes[p : p + 23]
        if (w < 4).all() and w[21] == 2 and w[22] == 2:
            out.append("".join("ACGT"[c] for c in w[:20]))
    return out


def reference_cfd(guide: str, off: str, pam: str) -> float:
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    data = resources.files("genolm.editing") / "data"
    with (data / "cfd_mismatch_scores.csv").open() as fh:
        mm = {r["key"]: float(r["score"]) for r in csv.DictReader(fh)}
    with (data / "cfd_pam_scores.csv").open() as fh:
        pams = {r["pam_nt2_nt3"]: float(r["score"]) for r in csv.DictReader(fh)}
    s = 1.0
    for i, (g, o) in enumerate(zip(guide, off)):
        if g != o:
            s *= mm[f"r{g.replace('T', 'U')}:d{comp.get(o, 'N')},{i + 1}"] if o in comp else 1.0
    return s * pams.get(pam[1:], 0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--genome", default=GENOME)
    ap.add_argument("--guides", type=int, default=100)
    ap.add_argument("--bf-guides", type=int, default=20)
    ap.add_argument("--max-mismatches", type=int, default=4)
    args = ap.parse_args()

    from genolm.editing.offtarget import Genome, OffTargetIndex, brute_force_search

    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPUs ({platform.platform()}), python "
        f"{platform.python_version()}, numpy {np.__version__}; load average {os.getloadavg()[0]:.1f}"
    )
    t = time.perf_counter()
    genome = Genome.from_fasta(args.genome)
    print(
        f"genome loaded: {sum(genome.lengths):,} bp in {len(genome.names)} contig(s), "
        f"{time.perf_counter() - t:.2f}s (shared by both methods, not counted)"
    )
    guides = pick_guides(genome, args.guides)

    t0 = time.perf_counter()
    index = OffTargetIndex(genome, args.max_mismatches, "NGG,NAG")
    t_index = time.perf_counter() - t0
    results = index.search_many(guides)
    t_genolm = time.perf_counter() - t0
    n_sites = sum(len(r["start"]) for r in results)
    print(
        f"genolm: {len(guides)} guides, {n_sites} sites, {t_genolm:.2f}s "
        f"(index {t_index:.2f}s over {len(index.pos):,} PAM sites, search {t_genolm - t_index:.2f}s)"
    )

    nb = min(args.bf_guides, len(guides))
    t0 = time.perf_counter()
    brute = [brute_force_search(genome, g, args.max_mismatches, "NGG,NAG") for g in guides[:nb]]
    t_bf_part = time.perf_counter() - t0
    t_bf = t_bf_part / nb * len(guides)
    print(f"brute force: {nb} guides in {t_bf_part:.2f}s -> {t_bf:.1f}s for {len(guides)} guides (extrapolated)")

    mismatched_sets, cfd_bad, checked = 0, 0, 0
    letters = np.array(list("ACGTNN"))
    for g, r, bf in zip(guides, results, brute):
        got = {
            (genome.names[c], int(s), "+" if st == 0 else "-") for c, s, st in zip(r["contig"], r["start"], r["strand"])
        }
        mismatched_sets += got != bf
        for k in range(len(r["start"])):
            site = "".join(letters[r["windows"][k]])
            checked += 1
            cfd_bad += abs(r["cfd"][k] - reference_cfd(g, site[:20], site[20:])) > 1e-12
    print(
        f"exactness: {nb - mismatched_sets}/{nb} guides with identical site sets; "
        f"CFD equal to the tables on {checked - cfd_bad}/{checked} sites"
    )
    if mismatched_sets or cfd_bad:
        print("FAILED: results differ from the brute-force scan", file=sys.stderr)
        sys.exit(1)
    print(f"genolm {t_genolm:.2f}s vs brute force {t_bf:.1f}s (100 guides, <= {args.max_mismatches} mismatches)")
    print(f"ratio {t_bf / t_genolm:.1f}")


if __name__ == "__main__":
    main()
