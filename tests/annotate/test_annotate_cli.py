"""`genolm annotate train | predict | evaluate` end to end on real C. elegans loci, and bad input."""

from __future__ import annotations

import json

from genolm.io.gff import GffWarnings, read_gff


def test_train_writes_a_run_directory(ce_run):
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "report.html",
        "log.txt",
        "dev_predictions.gff3",
        "model/model.safetensors",
        "model/genolm.json",
    ):
        assert (ce_run / name).is_file(), name
    m = json.loads((ce_run / "metrics.json").read_text())
    assert m["train"]["steps"] == 40
    assert set(m["dev"]) >= {"base", "cds_exon", "exon", "intron", "gene"}
    meta = json.loads((ce_run / "model/genolm.json").read_text())["extra"]["annotate"]
    assert meta["scheme"] == "eukaryote" and 30 < meta["hmm"]["intron"] < 200  # C. elegans introns are short


def test_predict_gives_valid_consistent_gff3(cli, ce_run, ann_data, tmp_path):
    out = tmp_path / "p.gff3"
    bed = tmp_path / "r.bed"
    bed.write_text("ce.1.212\t0\t500\nce.2.41\t0\t700\n")
    code, stdout, err = cli(
        [
            "annotate",
            "predict",
            "--model",
            str(ce_run),
            "--genome",
            str(ann_data / "celegans_60loci.fa.gz"),
            "--out",
            str(out),
            "--bedgraph",
            str(tmp_path / "p.bedgraph"),
        ]
    )
    assert code == 0, err
    w = GffWarnings()
    feats = read_gff(out, None, w)
    assert not w, dict(w)  # parents exist, children inside parents, no overlapping CDS parts
    by_id = {f.id: f for f in feats if f.id}
    genes = [f for f in feats if f.type == "gene"]
    assert genes, "no genes predicted"
    for f in feats:
        if f.type in ("exon", "CDS", "intron", "five_prime_UTR", "three_prime_UTR"):
            assert by_id[f.parents[0]].type == "mRNA"
        if f.type == "CDS":
            assert f.phase in ("0", "1", "2") and f.strand in "+-"
    # with --regions, features stay inside the regions
    code, _, err = cli(
        [
            "annotate",
            "predict",
            "--model",
            str(ce_run),
            "--genome",
            str(ann_data / "celegans_60loci.fa.gz"),
            "--regions",
            str(bed),
            "--out",
            str(tmp_path / "r.gff3"),
        ]
    )
    assert code == 0, err
    inside = read_gff(tmp_path / "r.gff3")
    assert {f.seqid for f in inside} <= {"ce.1.212", "ce.2.41"}
    assert all(f.end <= (500 if f.seqid == "ce.1.212" else 700) for f in inside)
    # evaluate the whole prediction against the reference
    code, stdout, err = cli(
        [
            "annotate",
            "evaluate",
            "--pred",
            str(out),
            "--truth",
            str(ann_data / "celegans_60loci.gff3.gz"),
            "--out",
            str(tmp_path / "m.json"),
        ]
    )
    assert code == 0, err
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["base"]["CDS"]["n_true"] > 20000
    assert m["base"]["CDS"]["f1"] > 0.5  # far above chance after 40 tiny steps, thanks to the decoder
    assert "base CDS" in stdout and "intron" in stdout


def test_bad_input_one_line_exit_2(cli, ce_run, ann_data, tmp_path):
    fa = str(ann_data / "celegans_60loci.fa.gz")
    bed = tmp_path / "bad.bed"
    bed.write_text("ce.1.212\t0\t99999\n")
    code, _, err = cli(
        [
            "annotate",
            "predict",
            "--model",
            str(ce_run),
            "--genome",
            fa,
            "--regions",
            str(bed),
            "--out",
            str(tmp_path / "x.gff3"),
        ]
    )
    assert code == 2 and err.count("\n") == 1 and "extends past the contig end" in err
    assert not (tmp_path / "x.gff3").exists()
    gff = tmp_path / "bad.gff3"
    gff.write_text("##gff-version 3\nce.1.212\tx\tgene\t1\t100\t.\t+\n")
    code, _, err = cli(
        ["annotate", "evaluate", "--pred", str(gff), "--truth", str(gff), "--out", str(tmp_path / "m.json")]
    )
    assert code == 2 and err.strip() == f"genolm: error: {gff}:2: expected 9 tab-separated columns, found 7"
    code, _, err = cli(
        [
            "annotate",
            "train",
            "--genome",
            fa,
            "--gff",
            str(ann_data / "celegans_60loci.gff3.gz"),
            "--out",
            str(tmp_path / "t"),
            "--scheme",
            "archaea",
        ]
    )
    assert code == 2 and "unknown scheme 'archaea'" in err
    code, _, err = cli(
        [
            "annotate",
            "predict",
            "--model",
            str(ce_run),
            "--genome",
            fa,
            "--out",
            str(tmp_path / "x.gff3"),
            "--bedgraph",
            str(tmp_path / "b"),
            "--bedgraph-class",
            "exonic",
        ]
    )
    assert code == 2 and "--bedgraph-class" in err


def test_unknown_seqids_are_warned_not_silent(cli, tmp_path, ann_data, caplog):
    import logging

    gff = tmp_path / "t.gff3"
    gff.write_text("##gff-version 3\nchrQ\tx\tgene\t1\t100\t.\t+\t.\tID=g\nchrQ\tx\tCDS\t1\t99\t.\t+\t0\tParent=g\n")
    pred = tmp_path / "p.gff3"
    pred.write_text("##gff-version 3\nce.1.212\tx\tCDS\t1\t99\t.\t+\t0\tID=c\n")
    with caplog.at_level(logging.WARNING, logger="genolm"):
        code, _, err = cli(
            [
                "annotate",
                "evaluate",
                "--pred",
                str(pred),
                "--truth",
                str(gff),
                "--out",
                str(tmp_path / "m.json"),
                "--genome",
                str(ann_data / "celegans_60loci.fa.gz"),
            ]
        )
    assert code == 0
    assert "2 feature(s) on a seqid missing from the genome (dropped, e.g. 'chrQ')" in caplog.text
    assert "CDS without Parent" in caplog.text
