"""genolm variants ism / evaluate / train on real slices."""

from __future__ import annotations

import json

import pysam
import pytest

from genolm.cli.main import main
from genolm.genome.variants import evaluate_scores, ism, score_vcf
from vhelpers import BRCA1_FA, BRCA1_VCF, MPRA_FA, MPRA_SNV, info, records, write_vcf


def test_ism_matches_score_and_writes_tsv_bedgraph_png(mlm_dir, tmp_path):
    out = tmp_path / "ism"
    s = ism(str(mlm_dir), str(BRCA1_FA), "17:41,197,720-41,197,739", str(out))
    assert s["positions"] == 20 and s["alleles"] == 60
    rows = (out / "ism.tsv").read_text().splitlines()
    assert rows[0] == "chrom\tpos\tref\talt\tscore" and len(rows) == 61
    bg = (out / "ism.bedGraph").read_text().splitlines()
    assert bg[0].startswith("track type=bedGraph") and len(bg) == 21
    assert bg[1].split("\t")[:3] == ["17", "41197719", "41197720"]  # BED: 0-based half-open
    assert (out / "ism_heatmap.png").read_bytes()[:4] == b"\x89PNG"
    # the same substitutions scored through a VCF give the same numbers
    tsv = {(int(r.split("\t")[1]), r.split("\t")[3]): float(r.split("\t")[4]) for r in rows[1:]}
    ref = pysam.FastaFile(str(BRCA1_FA)).fetch("17", 41197721, 41197722).upper()
    alt = "G" if ref != "G" else "A"
    vcf = write_vcf(tmp_path / "v.vcf", [f"17\t41197722\t.\t{ref}\t{alt}\t.\t.\t."])
    score_vcf(str(mlm_dir), str(BRCA1_FA), str(vcf), str(tmp_path / "o.vcf"))
    assert float(info(records(tmp_path / "o.vcf")[0])["GENOLM_SCORE"]) == pytest.approx(tsv[(41197722, alt)], abs=1e-4)


def test_ism_bad_region_exit_2(mlm_dir, tmp_path, capsys):
    rc = main(
        [
            "-q",
            "variants",
            "ism",
            "--model",
            str(mlm_dir),
            "--reference",
            str(BRCA1_FA),
            "--region",
            "17:500-100",
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert rc == 2 and "--region" in capsys.readouterr().err


def _scored(tmp_path, values: dict, name="s.vcf"):
    recs = [f"{c}\t{p}\t.\t{r}\t{a}\t.\t.\tGENOLM_SCORE={v}" for (c, p, r, a), v in values.items()]
    return write_vcf(
        tmp_path / name,
        recs,
        contigs=("17",),
        extra_header='##INFO=<ID=GENOLM_SCORE,Number=A,Type=Float,Description="s">\n',
    )


def test_evaluate_binary_known_values_and_join(tmp_path):
    truth = [r for r in records(BRCA1_VCF)]
    lof = {(r[0], int(r[1]), r[3], r[4]): int(info(r)["LOF"]) for r in truth}
    keys = list(lof)
    perfect = {k: float(lof[k]) + 0.001 * i for i, k in enumerate(keys)}  # ranks every LOF first
    s = _scored(tmp_path, dict(reversed(list(perfect.items()))))  # order does not matter: joined by key
    m = evaluate_scores(str(s), str(BRCA1_VCF), "LOF", str(tmp_path / "m.json"))
    assert m["joined"] == 917 and m["type"] == "binary" and m["auroc"] == pytest.approx(1.0)
    assert m["positives"] == sum(lof.values())
    neg = evaluate_scores(str(s), str(BRCA1_VCF), "LOF", str(tmp_path / "n.json"), negate=True)
    assert neg["auroc"] == pytest.approx(0.0)
    assert json.loads((tmp_path / "m.json").read_text())["auroc"] == pytest.approx(1.0)
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_continuous_per_element(tmp_path):
    recs = records(MPRA_SNV)
    eff = {(r[0], int(r[1]), r[3], r[4]): float(info(r)["EFFECT"]) for r in recs}
    s = _scored(tmp_path, {k: round(-v, 6) for k, v in eff.items()})
    m = evaluate_scores(str(s), str(MPRA_SNV), "EFFECT", str(tmp_path / "m.json"), by_chrom=True)
    assert m["type"] == "continuous" and m["spearman"] == pytest.approx(-1.0, abs=1e-3)
    assert set(m["by_chrom"]) == {"F9", "HBG1"}


def test_evaluate_unknown_label_exit_2(tmp_path, capsys):
    s = _scored(tmp_path, {("17", 41197722, "T", "A"): 0.5})
    rc = main(
        [
            "-q",
            "variants",
            "evaluate",
            "--scores",
            str(s),
            "--truth",
            str(BRCA1_VCF),
            "--label",
            "NOPE",
            "--out",
            str(tmp_path / "m.json"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "NOPE" in err and "not declared" in err


@pytest.mark.slow
def test_train_score_evaluate_end_to_end(mlm_dir, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(
        [
            "-q",
            "variants",
            "train",
            "--reference",
            str(BRCA1_FA),
            "--vcf",
            str(BRCA1_VCF),
            "--label",
            "LOF",
            "--group-field",
            "EXON",
            "--out",
            str(run),
            "--model",
            str(mlm_dir),
            "--seed",
            "3",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    m = json.loads((run / "metrics.json").read_text())
    assert m["n"] == 917 and m["groups"] == 3 and m["task"] == "binary"
    assert m["cv"]["auroc"] > 0.6  # better than chance on held-out exon groups
    for f in (
        "config.yaml",
        "manifest.json",
        "report.html",
        "predictions_cv.csv",
        "model/variant_model.json",
        "model/base_lm/config.json",
    ):
        assert (run / f).is_file(), f
    out = tmp_path / "scored.vcf.gz"
    assert (
        main(
            [
                "-q",
                "variants",
                "score",
                "--model",
                str(run),
                "--reference",
                str(BRCA1_FA),
                "--vcf",
                str(BRCA1_VCF),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    vals = [float(info(r)["GENOLM_SCORE"]) for r in records(out)]
    assert all(0 <= v <= 1 for v in vals) and "GENOLM_LLR" in info(records(out)[0])
    assert (
        main(
            [
                "-q",
                "variants",
                "evaluate",
                "--scores",
                str(out),
                "--truth",
                str(BRCA1_VCF),
                "--label",
                "LOF",
                "--out",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "m.json").read_text())["auroc"] > 0.7  # (training data: fits)


def test_train_uses_no_info_fields_but_the_label(tmp_path):
    """Scrambling every other INFO field must not change the trained model's CV predictions."""
    import gzip

    from genolm.genome.variants import train_variant_model

    lines = gzip.open(BRCA1_VCF, "rt").read().splitlines()
    head = [x for x in lines if x.startswith("#")]
    body = [x.split("\t") for x in lines if not x.startswith("#")][:300]
    scrambled = []
    for f in body:
        inf = dict(p.split("=", 1) for p in f[7].split(";"))
        f = f[:7] + [f"LOF={inf['LOF']};CADD=0;FUNC_SCORE=0;CONSEQ=x"]
        scrambled.append("\t".join(f))
    a = write_vcf(
        tmp_path / "a.vcf",
        ["\t".join(f) for f in body],
        extra_header="".join(h + "\n" for h in head if h.startswith("##INFO")),
    )
    b = write_vcf(tmp_path / "b.vcf", scrambled, extra_header="".join(h + "\n" for h in head if h.startswith("##INFO")))
    ma = train_variant_model(str(BRCA1_FA), str(a), "LOF", str(tmp_path / "ra"), folds=3, group_gap=0, seed=1)
    train_variant_model(str(BRCA1_FA), str(b), "LOF", str(tmp_path / "rb"), folds=3, group_gap=0, seed=1)
    assert ma["groups"] > 50 and ma["cv"]["n"] == 300  # group_gap 0: one group per position
    # identical out-of-fold predictions: the label is the only INFO field read (and same seed = same result)
    assert (tmp_path / "ra" / "predictions_cv.csv").read_text() == (tmp_path / "rb" / "predictions_cv.csv").read_text()


def test_train_continuous_label_on_short_elements(tmp_path):
    """MPRA EFFECT (continuous) on two ~300-bp elements: the gene-model features are empty there (no coding
    SNV at all), which must not break gradient boosting; the saved model fits its training data."""
    from scipy.stats import spearmanr

    from genolm.genome.variants import train_variant_model

    m = train_variant_model(
        str(MPRA_FA), str(MPRA_SNV), "EFFECT", str(tmp_path / "run"), group_field="LOCUS", folds=2, seed=0
    )
    assert m["task"] == "continuous" and m["n"] == 1726 and m["groups"] == 2
    out = tmp_path / "scored.vcf.gz"
    assert (
        main(
            [
                "-q",
                "variants",
                "score",
                "--model",
                str(tmp_path / "run"),
                "--reference",
                str(MPRA_FA),
                "--vcf",
                str(MPRA_SNV),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    recs = records(out)
    pred = [float(info(r)["GENOLM_SCORE"]) for r in recs]
    eff = [float(info(r)["EFFECT"]) for r in recs]
    assert spearmanr(pred, eff)[0] > 0.3  # in-sample: the regression learned the labels, not a constant
