"""Off-target search is exact: equal to an independent brute-force scan on a real E. coli slice."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli
from genolm.editing.cfd import cfd_score
from genolm.editing.offtarget import Genome, OffTargetIndex, brute_force_search

RC = str.maketrans("ACGTN", "TGCAN")


def rc(s: str) -> str:
    return s.translate(RC)[::-1]


def naive_scan(seq: str, spacer: str, max_mm: int) -> dict:
    """Independent reference: numpy over the raw bytes of both strands; PAM NGG or NAG; N = mismatch."""
    out = {}
    for strand, s in (("+", seq), ("-", rc(seq))):
        b = np.frombuffer(s.encode(), dtype="S1")
        n = len(s) - 22
        mm = np.zeros(n, dtype=int)
        for i, ch in enumerate(spacer):
            mm += b[i : i + n] != ch.encode()
        pam_ok = (b[22 : 22 + n] == b"G") & np.isin(b[21 : 21 + n], [b"G", b"A"])
        for p in np.flatnonzero((mm <= max_mm) & pam_ok):
            start = int(p) if strand == "+" else len(s) - int(p) - 23
            out[(start, strand)] = s[p : p + 23]
    return out


def pick_guides(seq: str, n: int = 20, seed: int = 0) -> list[str]:
    """Real protospacers next to an NGG, some from repeated (rRNA) sequence, plus mutated copies."""
    rng = np.random.default_rng(seed)
    out = []
    # rrnC 16S (plus strand, ~3,941,800 in NC_000913.3 -> ~41,800 in the slice): several copies in the genome
    for m in __import__("re").finditer(r"(?=([ACGT]{20})[ACGT]GG)", seq[41_800:43_000]):
        out.append(m.group(1))
        if len(out) == 4:
            break
    while len(out) < n:
        p = int(rng.integers(0, 199_000))
        site = seq[p : p + 23]
        if "N" in site or site[21:] != "GG":
            continue
        g = list(site[:20])
        for _ in range(int(rng.integers(0, 4))):  # 0-3 random substitutions
            i = int(rng.integers(0, 20))
            g[i] = "ACGT"[(("ACGT").index(g[i]) + 1 + int(rng.integers(0, 3))) % 4]
        out.append("".join(g))
    return out


@pytest.fixture(scope="module")
def genome(edata):
    return Genome.from_fasta(edata / "ecoli_slice.fa.gz")


@pytest.fixture(scope="module")
def index(genome):
    return OffTargetIndex(genome, max_mismatches=4)


def test_sites_equal_brute_force(genome, index, slice_seq):
    guides = pick_guides(slice_seq)
    results = index.search_many(guides)
    total = 0
    for g, found in zip(guides, results):
        got = {(int(s), "+" if st == 0 else "-") for s, st in zip(found["start"], found["strand"])}
        expected = naive_scan(slice_seq, g, 4)
        assert got == set(expected), g
        assert {("ecoli_slice",) + k for k in got} == brute_force_search(genome, g, 4)
        total += len(got)
        # mismatch counts and CFD agree with the table-based calculation on every site
        for k in range(len(found["start"])):
            key = (int(found["start"][k]), "+" if found["strand"][k] == 0 else "-")
            site = expected[key]
            assert int(found["mismatch"][k].sum()) == sum(a != b for a, b in zip(g, site[:20]))
            assert found["cfd"][k] == pytest.approx(cfd_score(g, site[:20], site[20:]), abs=1e-12)
    assert total > 20  # the rRNA guides hit several copies


def test_site_inside_n_block_boundary_counts_n_as_mismatch():
    # last 2 spacer bases are N -> 2 mismatches; found with max 2, not with max 1
    seq = "ACGT" * 10 + "GACGCATAAAGATGAGACNNTGG" + "ACGT" * 10
    genome = Genome.from_records([("c1", seq)])
    hits = OffTargetIndex(genome, 2).search("GACGCATAAAGATGAGACGC")
    assert list(hits["start"]) == [40] and int(hits["mismatch"][0].sum()) == 2
    assert len(OffTargetIndex(genome, 1).search("GACGCATAAAGATGAGACGC")["start"]) == 0


def test_no_site_across_contigs():
    genome = Genome.from_records([("a", "ACGT" * 5 + "GACGCATAAA"), ("b", "GATGAGACGCTGG" + "ACGT" * 5)])
    assert len(OffTargetIndex(genome, 4).search("GACGCATAAAGATGAGACGC")["start"]) == 0
    hits = OffTargetIndex(genome, 4).search("ACGTACGTACGTACGTGACG")  # inside contig a? no PAM there
    assert all(genome.names[c] in "ab" for c in hits["contig"])


def test_cli_offtargets_bad_guides_do_not_stop_others(edata, tmp_path, capsys, slice_seq):
    good = pick_guides(slice_seq, 2)
    f = tmp_path / "guides.txt"
    f.write_text(f"ok1 {good[0]}\nshort ACGTACGT\nbadchar {good[1][:5]}X{good[1][6:]}\nok2 {good[1]}\n")
    out = tmp_path / "sites.tsv"
    code, stdout, err = run_cli(
        ["crispr", "offtargets", "--guides", f, "--genome", edata / "ecoli_slice.fa.gz", "--out", out], capsys
    )
    assert code == 0
    assert f"{f}:2: guide 'short': guide has length 8" in err
    assert f"{f}:3: guide 'badchar': non-ACGT character 'X' at position 6" in err
    import pandas as pd

    sites = pd.read_csv(out, sep="\t")
    assert set(sites["guide_id"]) == {"ok1", "ok2"}
    assert (sites["end"] - sites["start"] == 23).all()
    summ = pd.read_csv(tmp_path / "sites.summary.tsv", sep="\t", keep_default_na=False)
    assert list(summ["guide_id"]) == ["ok1", "short", "badchar", "ok2"]
    assert summ.loc[1, "error"].startswith("guide has length 8")
    # mismatch positions are 1-based and lower-case in the site column
    row = sites[sites["mismatches"] > 0].head(1)
    if len(row):
        site, pos = row["site"].iloc[0], str(row["mismatch_positions"].iloc[0]).split(",")
        assert all(site[int(p) - 1].islower() for p in pos)


def test_cli_all_guides_bad_is_error(edata, tmp_path, capsys):
    f = tmp_path / "guides.txt"
    f.write_text("ACGT\n")
    code, _, err = run_cli(
        ["crispr", "offtargets", "--guides", f, "--genome", edata / "ecoli_slice.fa.gz", "--out", tmp_path / "o.tsv"],
        capsys,
    )
    assert code == 2
    assert err.strip().startswith("genolm: error:") and "no valid guide" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.tsv").exists()


def test_bad_pam_option(edata, tmp_path, capsys):
    f = tmp_path / "guides.txt"
    f.write_text("GACGCATAAAGATGAGACGC\n")
    code, _, err = run_cli(
        [
            "crispr",
            "offtargets",
            "--guides",
            f,
            "--genome",
            edata / "ecoli_slice.fa.gz",
            "--pams",
            "NGXG",
            "--out",
            tmp_path / "o.tsv",
        ],
        capsys,
    )
    assert code == 2 and "bad PAM 'NGXG'" in err


@pytest.mark.parametrize("max_mm", [0, 1, 2, 3, 5])
def test_other_mismatch_limits_equal_brute_force(genome, slice_seq, max_mm):
    index = OffTargetIndex(genome, max_mismatches=max_mm)
    guides = pick_guides(slice_seq, 6, seed=max_mm + 1)
    for g, found in zip(guides, index.search_many(guides)):
        got = {(int(s), "+" if st == 0 else "-") for s, st in zip(found["start"], found["strand"])}
        assert got == set(naive_scan(slice_seq, g, max_mm)), (g, max_mm)
