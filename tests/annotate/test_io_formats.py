"""GFF3 and BED/bedGraph readers and writers: round trips, one-line errors, counted warnings."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from genolm.io.bed import Region, check_regions, merge_regions, read_bed, read_bedgraph, write_bed, write_bedgraph
from genolm.io.errors import InputError
from genolm.io.gff import Feature, GffWarnings, read_gff, write_gff


def test_read_real_gff(ann_data):
    feats = read_gff(ann_data / "ecoli_40kb.gff3.gz", {"NC_000913.3": 40000})
    cds = [f for f in feats if f.type == "CDS"]
    assert len(cds) > 30
    thr_l = next(f for f in cds if f.attributes.get("gene") == "thrL")
    assert (thr_l.start, thr_l.end, thr_l.strand, thr_l.phase) == (190, 255, "+", "0")
    assert thr_l.parents == ["gene-b0001"]


def test_gff_round_trip(tmp_path):
    feats = [
        Feature("chr1", "t", "gene", 10, 99, ".", "-", ".", {"ID": "g1", "Note": "a;b=c"}),
        Feature("chr1", "t", "CDS", 10, 99, ".", "-", "2", {"ID": "c1", "Parent": "g1"}),
    ]
    write_gff(tmp_path / "x.gff3", feats, {"chr1": 500})
    back = read_gff(tmp_path / "x.gff3", {"chr1": 500})
    assert [(f.type, f.start, f.end, f.strand, f.phase) for f in back] == [
        ("gene", 10, 99, "-", "."),
        ("CDS", 10, 99, "-", "2"),
    ]
    assert back[0].attributes["Note"] == "a;b=c"  # escaped on write, unescaped on read
    assert (tmp_path / "x.gff3").read_text().startswith("##gff-version 3\n##sequence-region chr1 1 500\n")


@pytest.mark.parametrize(
    "line,msg",
    [
        ("chr1\tt\tgene\t10\t20\t.\t+\t.", "expected 9 tab-separated columns, found 8"),
        ("chr1\tt\tgene\tten\t20\t.\t+\t.\tID=a", "start/end must be integers"),
        ("chr1\tt\tgene\t30\t20\t.\t+\t.\tID=a", "invalid coordinates 30-20"),
        ("chr1\tt\tCDS\t10\t20\t.\tx\t0\tID=a", "strand must be"),
        ("chr1\tt\tCDS\t10\t20\t.\t+\t3\tID=a", "phase must be"),
    ],
)
def test_gff_errors_name_file_and_line(tmp_path, line, msg):
    p = tmp_path / "bad.gff3"
    p.write_text("##gff-version 3\nchr1\tt\tgene\t1\t5\t.\t+\t.\tID=ok\n" + line + "\n")
    with pytest.raises(InputError) as e:
        read_gff(p)
    assert e.value.line == 3 and msg in e.value.message and e.value.path == str(p)


def test_gff_warnings_are_counted(tmp_path, caplog):
    p = tmp_path / "w.gff3"
    p.write_text(
        "##gff-version 3\n"
        "chrX\tt\tgene\t1\t50\t.\t+\t.\tID=g0\n"  # unknown seqid
        "chr1\tt\tCDS\t1\t30\t.\t+\t0\tID=c1\n"  # no parent
        "chr1\tt\tCDS\t40\t60\t.\t+\t0\tID=c2\n"  # no parent
        "chr1\tt\tgene\t100\t200\t.\t+\t.\tID=g1\n"
        "chr1\tt\tCDS\t90\t150\t.\t+\t0\tParent=g1\n"  # outside parent
        "chr1\tt\tCDS\t140\t160\t.\t+\t0\tParent=g1\n"  # overlaps its sibling
        "chr1\tt\texon\t100\t120\t.\t+\t.\tParent=nope\n"
    )  # undefined parent
    with caplog.at_level(logging.WARNING, logger="genolm"):
        feats = read_gff(p, {"chr1": 1000})
    assert all(f.seqid == "chr1" for f in feats) and len(feats) == 6
    text = caplog.text
    assert "1 feature(s) on a seqid missing from the genome" in text
    assert "2 feature(s) CDS without Parent" in text
    assert "extending outside their parent" in text
    assert "CDS overlapping another CDS part of the same parent" in text
    assert "Parent ID that is not defined" in text
    w = GffWarnings()
    read_gff(p, {"chr1": 1000}, w)
    assert w["CDS without Parent"] == 2


def test_bed_read_validate_write(tmp_path):
    p = tmp_path / "r.bed"
    p.write_text("track name=x\nchr1\t0\t100\tr1\t5\t+\nchr1\t50\t150\nchr2\t10\t20\n")
    regs = read_bed(p)
    assert [(r.chrom, r.start, r.end, r.strand) for r in regs] == [
        ("chr1", 0, 100, "+"),
        ("chr1", 50, 150, "."),
        ("chr2", 10, 20, "."),
    ]
    assert [(r.start, r.end) for r in merge_regions(regs) if r.chrom == "chr1"] == [(0, 150)]
    check_regions(regs, {"chr1": 150, "chr2": 20})
    with pytest.raises(InputError, match="unknown contig 'chr2'") as e:
        check_regions(regs, {"chr1": 150}, p)
    assert e.value.line == 4
    with pytest.raises(InputError, match="extends past the contig end"):
        check_regions(regs, {"chr1": 120, "chr2": 20}, p)
    write_bed(tmp_path / "o.bed", [Region("c", 1, 5, "p1", 950, "-")])
    assert (tmp_path / "o.bed").read_text() == "c\t1\t5\tp1\t950\t-\n"


@pytest.mark.parametrize(
    "text,msg",
    [
        ("chr1\t5\n", "at least 3 columns"),
        ("chr1\t10\t5\n", "invalid region"),
        ("chr1\ta\t5\n", "must be integers"),
        ("chr1\t1\t5\tn\t0\t*\n", "strand"),
    ],
)
def test_bed_errors(tmp_path, text, msg):
    p = tmp_path / "b.bed"
    p.write_text("chr1\t0\t1\n" + text)
    with pytest.raises(InputError, match=msg) as e:
        read_bed(p)
    assert e.value.line == 2


def test_bedgraph_merges_equal_runs(tmp_path):
    starts = np.arange(0, 10)
    vals = np.array([0, 0, 0.5, 0.5, 0.5, 1, 1, 0, 0, 0.25])
    n = write_bedgraph(tmp_path / "t.bedgraph", [("c", starts, starts + 1, vals)], name="t")
    rows = read_bedgraph(tmp_path / "t.bedgraph")
    assert n == 5 == len(rows)
    assert rows[1] == ("c", 2, 5, 0.5) and rows[-1] == ("c", 9, 10, 0.25)
