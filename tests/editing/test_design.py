"""Guide design on a real E. coli slice: coordinates, strands, flags, ranking, outputs and bad input."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from conftest import run_cli
from genolm.editing.design import guide_flags

RC = str.maketrans("ACGTN", "TGCAN")


def rc(s):
    return s.translate(RC)[::-1]


def gene_coords(edata, name):
    with gzip.open(edata / "ecoli_slice.gff3.gz", "rt") as fh:
        for line in fh:
            c = line.rstrip("\n").split("\t")
            if len(c) == 9 and c[2] == "gene" and f"Name={name};" in c[8]:
                return int(c[3]) - 1, int(c[4])
    raise AssertionError(name)


@pytest.fixture(scope="module")
def designed(edata, tmp_path_factory):
    from genolm.cli.main import main

    out = tmp_path_factory.mktemp("design") / "guides.tsv"
    gene = first_gene(edata)
    code = main(
        [
            "crispr",
            "design",
            "--reference",
            str(edata / "ecoli_slice.fa.gz"),
            "--gff",
            str(edata / "ecoli_slice.gff3.gz"),
            "--gene",
            gene,
            "--genome",
            str(edata / "ecoli_slice.fa.gz"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return gene, out, pd.read_csv(out, sep="\t", keep_default_na=False)


def first_gene(edata):
    with gzip.open(edata / "ecoli_slice.gff3.gz", "rt") as fh:
        for line in fh:
            c = line.split("\t")
            if len(c) == 9 and c[2] == "gene" and 600 < int(c[4]) - int(c[3]) < 1500:
                return [a.split("=")[1] for a in c[8].split(";") if a.startswith("Name=")][0]


def test_design_sites_match_reference(designed, edata, slice_seq):
    gene, out, df = designed
    lo, hi = gene_coords(edata, gene)
    assert len(df) > 20
    for r in df.itertuples():
        site = slice_seq[r.start : r.end]
        on_strand = site if r.strand == "+" else rc(site)
        assert on_strand == r.spacer + r.pam
        assert r.pam[1:] == "GG"
        assert lo <= r.cut_site < hi
        # cut 3 nt 5' of the PAM on the guide's strand
        assert r.cut_site == (r.start + 17 if r.strand == "+" else r.start + 6)
        # 4 nt 5' + spacer + PAM + 3 nt 3' on the guide's strand
        if r.strand == "+":
            assert r.context30 == slice_seq[r.start - 4 : r.end + 3]
        else:
            assert r.context30 == rc(slice_seq[r.start - 3 : r.end + 4])
    assert set(df["strand"]) == {"+", "-"}


def test_design_rank_flags_specificity(designed):
    _, out, df = designed
    assert list(df["rank"]) == list(range(1, len(df) + 1))
    assert {"off_0mm", "off_4mm", "specificity", "gc", "flags", "final_score"} <= set(df.columns)
    assert ((df["specificity"] > 0) & (df["specificity"] <= 100)).all()
    # unflagged guides rank before flagged ones; within the unflagged, final_score is non-increasing
    flagged = df["flags"] != ""
    if flagged.any() and (~flagged).any():
        assert df.index[~flagged].max() < df.index[flagged].min()
    clean = df[~flagged]["final_score"].tolist()
    assert clean == sorted(clean, reverse=True)
    for r in df.itertuples():
        assert r.gc == pytest.approx(100 * sum(c in "GC" for c in r.spacer) / 20, abs=0.05)


def test_design_bed_and_report(designed):
    _, out, df = designed
    bed = out.with_suffix(".bed").read_text().splitlines()
    assert bed[0].startswith("track ")
    rows = [line.split("\t") for line in bed[1:]]
    assert len(rows) == len(df)
    assert [int(r[1]) for r in rows] == df["start"].tolist() and all(r[5] in "+-" for r in rows)
    html = out.with_suffix(".html").read_text()
    assert "src='data:image/png;base64," in html and df["spacer"].iloc[0] in html


def test_guide_flags():
    assert guide_flags("ATTTTGCGCGCATGCATGCA")[1] == ["polyT"]
    gc, flags = guide_flags("ATATATATATATATATATAT")
    assert gc == 0 and flags == ["low_GC"]
    assert "high_GC" in guide_flags("GCGCGCGCGCGCGCGCGCGA")[1]
    assert "homopolymer" in guide_flags("GGGGGATCGATCGATCGATC")[1]


def test_design_region_top_and_model_free(edata, tmp_path, capsys):
    out = tmp_path / "g.tsv"
    code, stdout, err = run_cli(
        [
            "crispr",
            "design",
            "--reference",
            edata / "ecoli_slice.fa.gz",
            "--region",
            "ecoli_slice:1001-1300",
            "--top",
            "5",
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0, err
    df = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert len(df) == 5 and df["cut_site"].between(1000, 1299).all()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--region", "ecoli_slice:299000-300100"], "is outside contig 'ecoli_slice' (length 300,000)"),
        (["--region", "chrX:1-100"], "contig 'chrX' not in the reference"),
        (["--region", "ecoli_slice:100"], "bad region"),
        (["--gff", "GFF", "--gene", "noSuchGene"], "gene 'noSuchGene' not found in the GFF"),
        ([], "give exactly one of --region"),
    ],
)
def test_design_bad_input(edata, tmp_path, capsys, args, message):
    args = [str(edata / "ecoli_slice.gff3.gz") if a == "GFF" else a for a in args]
    out = tmp_path / "g.tsv"
    code, _, err = run_cli(
        ["crispr", "design", "--reference", edata / "ecoli_slice.fa.gz", *args, "--out", out], capsys
    )
    assert code == 2
    assert message in err and err.startswith("genolm: error:") and len(err.strip().splitlines()) == 1
    assert not out.exists()
