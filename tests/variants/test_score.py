"""genolm variants score: llr / delta / embedding on real BRCA1 and MPRA slices with tiny real models."""

from __future__ import annotations


import numpy as np
import pysam
import pytest
import torch

from genolm.cli.main import main
from genolm.genome.variants import score_vcf
from vhelpers import BRCA1_FA, BRCA1_VCF, MPRA_DEL, MPRA_FA, info, records, write_vcf


@pytest.fixture(scope="module")
def fa():
    return pysam.FastaFile(str(BRCA1_FA))


def _base(fa, pos):  # 1-based
    return fa.fetch("17", pos - 1, pos).upper()


def test_mlm_llr_keeps_every_record_and_matches_naive_loop(mlm_dir, tmp_path):
    out = tmp_path / "s.vcf.gz"
    s = score_vcf(str(mlm_dir), str(BRCA1_FA), str(BRCA1_VCF), str(out), batch_size=64)
    assert s.records == 917 and s.scored == 917 and not s.skipped
    assert (tmp_path / "s.vcf.gz.tbi").is_file()
    src, got = records(BRCA1_VCF), records(out)
    assert [r[:7] for r in src] == [r[:7] for r in got]  # order, ID, REF/ALT, FILTER kept
    for a, b in zip(src[:50], got[:50]):
        assert b[7].startswith(a[7] + ";GENOLM_SCORE=")  # INFO kept, GENOLM_* appended
    vf = pysam.VariantFile(str(out))
    assert {"GENOLM_SCORE", "GENOLM_REF_LOGP", "GENOLM_ALT_LOGP", "GENOLM_SKIP"} <= set(vf.header.info)
    recs = list(vf)
    r0 = recs[0]
    assert r0.info["GENOLM_SCORE"][0] == pytest.approx(
        r0.info["GENOLM_ALT_LOGP"][0] - r0.info["GENOLM_REF_LOGP"][0], abs=1e-4
    )
    # the batched scorer equals one forward pass per allele, done by hand
    from genolm.core.loading import load_model

    model, tok, _ = load_model(str(mlm_dir))
    ref = pysam.FastaFile(str(BRCA1_FA))
    for rec in recs[:6]:
        win = ref.fetch("17", rec.pos - 1 - 32, rec.pos - 1 + 32).upper()
        ids = tok(win, return_tensors="pt")["input_ids"]
        ids[0, 33] = tok.mask_token_id
        with torch.no_grad():
            lp = torch.log_softmax(model(input_ids=ids).logits[0, 33, 5:9], -1)
        want = float(lp["ACGT".index(rec.alts[0])] - lp["ACGT".index(rec.ref)])
        assert rec.info["GENOLM_SCORE"][0] == pytest.approx(want, abs=1e-4)


def test_multiallelic_duplicates_softmask_and_skips(mlm_dir, tmp_path, fa):
    p = 41197730
    b = _base(fa, p)
    alts = [x for x in "ACGT" if x != b]
    wrong = alts[0]
    recs = [
        f"17\t{p}\tmulti\t{b}\t{','.join(alts)}\t.\tPASS\tX=1",
        f"17\t{p}\tsingle\t{b}\t{alts[1]}\t.\tPASS\t.",
        f"17\t{p}\tdup\t{b}\t{alts[1]}\t.\tPASS\t.",
        f"17\t{p}\tlower\t{b.lower()}\t{alts[1].lower()}\t.\tPASS\t.",
        f"17\t{p}\tmismatch\t{wrong}\t{b}\t.\tPASS\t.",
        "chrZ\t100\tcontig\tA\tG\t.\tPASS\t.",
        f"17\t{p}\tsymbolic\t{b}\t<DEL>,{alts[2]}\t.\tPASS\t.",
        f"17\t{p}\tindel\t{b}\t{b}A\t.\tPASS\t.",
        f"17\t{p}\tlong\t{fa.fetch('17', p - 1, p + 59).upper()}\t{b}\t.\tPASS\t.",
        "17\t1000\tNbase\tN\tA\t.\tPASS\t.",
    ]
    vcf = write_vcf(tmp_path / "in.vcf", recs, contigs=("17", "chrZ"))
    out = tmp_path / "out.vcf"
    s = score_vcf(str(mlm_dir), str(BRCA1_FA), str(vcf), str(out))
    got = {r[2]: info(r) for r in records(out)}
    assert list(got) == [r.split("\t")[2] for r in recs]
    multi = got["multi"]["GENOLM_SCORE"].split(",")
    assert len(multi) == 3
    assert multi[1] == got["single"]["GENOLM_SCORE"] == got["dup"]["GENOLM_SCORE"] == got["lower"]["GENOLM_SCORE"]
    assert got["multi"]["X"] == "1"
    assert got["mismatch"]["GENOLM_SKIP"] == "REF_MISMATCH" and "GENOLM_SCORE" not in got["mismatch"]
    assert got["contig"]["GENOLM_SKIP"] == "UNKNOWN_CONTIG"
    assert got["symbolic"]["GENOLM_SKIP"] == "SYMBOLIC" and got["symbolic"]["GENOLM_SCORE"].startswith(".,")
    assert got["indel"]["GENOLM_SKIP"] == "INDEL_MLM"
    assert got["long"]["GENOLM_SKIP"] == "TOO_LONG"
    assert got["Nbase"]["GENOLM_SKIP"] == "N_ALLELE"
    assert dict(s.skipped) == {
        "REF_MISMATCH": 1,
        "UNKNOWN_CONTIG": 1,
        "SYMBOLIC": 1,
        "INDEL_MLM": 1,
        "TOO_LONG": 1,
        "N_ALLELE": 1,
    }
    assert "skipped:" in s.line() and "REF_MISMATCH 1" in s.line()


def test_softmasked_reference_scores_like_uppercase(mlm_dir, tmp_path):
    seq = pysam.FastaFile(str(BRCA1_FA)).fetch("17", 41197600, 41197900)
    assert any(c.islower() for c in seq) or True
    lower = tmp_path / "lower.fa"
    upper = tmp_path / "upper.fa"
    lower.write_text(">c\n" + seq.lower() + "\n")
    upper.write_text(">c\n" + seq.upper() + "\n")
    recs = [
        f"c\t{i}\t.\t{seq[i - 1].upper()}\t{'A' if seq[i - 1].upper() != 'A' else 'C'}\t.\t.\t."
        for i in range(100, 110)
    ]
    vcf = write_vcf(tmp_path / "c.vcf", recs, contigs=("c",))
    score_vcf(str(mlm_dir), str(lower), str(vcf), str(tmp_path / "a.vcf"))
    score_vcf(str(mlm_dir), str(upper), str(vcf), str(tmp_path / "b.vcf"))
    assert records(tmp_path / "a.vcf") == records(tmp_path / "b.vcf")


def test_causal_llr_scores_deletions(clm_dir, tmp_path):
    out = tmp_path / "d.vcf.gz"
    s = score_vcf(str(clm_dir), str(MPRA_FA), str(MPRA_DEL), str(out), window=64)
    assert s.scored == s.alleles == 165
    vals = [float(info(r)["GENOLM_SCORE"]) for r in records(out)]
    assert np.isfinite(vals).all() and np.std(vals) > 0


def test_delta_and_embedding_methods(clf_dir, mlm_dir, tmp_path):
    out = tmp_path / "delta.vcf"
    score_vcf(str(clf_dir), str(MPRA_FA), str(MPRA_DEL), str(out))
    r = info(records(out)[0])
    assert float(r["GENOLM_SCORE"]) == pytest.approx(
        float(r["GENOLM_ALT_PRED"]) - float(r["GENOLM_REF_PRED"]), abs=1e-5
    )
    assert 0 <= float(r["GENOLM_REF_PRED"]) <= 1
    out2 = tmp_path / "emb.vcf"
    score_vcf(str(mlm_dir), str(MPRA_FA), str(MPRA_DEL), str(out2), method="embedding")
    d = [float(info(x)["GENOLM_SCORE"]) for x in records(out2)]
    assert all(0 <= v <= 2 for v in d) and max(d) > 0


def test_deterministic_output(mlm_dir, tmp_path):
    a, b = tmp_path / "a.vcf.gz", tmp_path / "b.vcf.gz"
    score_vcf(str(mlm_dir), str(BRCA1_FA), str(BRCA1_VCF), str(a), chunk_size=100)
    score_vcf(str(mlm_dir), str(BRCA1_FA), str(BRCA1_VCF), str(b), chunk_size=1000, batch_size=7)
    assert records(a) == records(b)


# ---- CLI and bad input --------------------------------------------------------------------------


def test_cli_score_summary_line(mlm_dir, tmp_path, capsys):
    out = tmp_path / "o.vcf.gz"
    rc = main(
        [
            "-q",
            "variants",
            "score",
            "--model",
            str(mlm_dir),
            "--reference",
            str(MPRA_FA),
            "--vcf",
            str(MPRA_DEL),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "skipped: INDEL_MLM 165" in text  # an MLM does not score deletions: flagged, record kept
    assert len(records(out)) == 165


@pytest.mark.parametrize("case", ["noheader", "truncated", "strict_mismatch", "bad_method"])
def test_cli_bad_input_exit_2_one_line(case, mlm_dir, tmp_path, capsys, fa):
    vcf = tmp_path / "in.vcf"
    extra = []
    if case == "noheader":
        vcf.write_text("17\t41197722\t.\tT\tA\t.\t.\t.\n")
    elif case == "truncated":
        vcf = tmp_path / "in.vcf.gz"
        data = BRCA1_VCF.read_bytes()
        vcf.write_bytes(data[: len(data) - 5000])
    elif case == "strict_mismatch":
        b = _base(fa, 41197722)
        wrong = "A" if b != "A" else "C"
        write_vcf(vcf, [f"17\t41197722\t.\t{wrong}\tG\t.\t.\t."])
        extra = ["--strict"]
    else:
        write_vcf(vcf, [])
        extra = ["--method", "nonsense"]
    out = tmp_path / "out.vcf.gz"
    rc = main(
        [
            "-q",
            "variants",
            "score",
            "--model",
            str(mlm_dir),
            "--reference",
            str(BRCA1_FA),
            "--vcf",
            str(vcf),
            "--out",
            str(out),
            *extra,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("genolm: error: ")
    assert not out.exists()  # never a half-written output
    msg = err[0]
    if case == "noheader":
        assert f"{vcf}:1:" in msg and "fileformat" in msg
    elif case == "truncated":
        assert "truncated" in msg
    elif case == "strict_mismatch":
        assert f"{vcf}:4:" in msg and "REF does not match" in msg and "reference has" in msg
    else:
        assert "--method" in msg


def test_bad_record_does_not_abort_good_ones(mlm_dir, tmp_path, fa):
    b = _base(fa, 41197722)
    vcf = write_vcf(
        tmp_path / "in.vcf",
        [
            f"17\t41197722\t.\t{b}\t{'A' if b != 'A' else 'C'}\t.\t.\t.",
            "17\tnotanumber\t.\tA\tG\t.\t.\t.",
            f"17\t41197722\t.\t{b}\t{'G' if b != 'G' else 'C'}\t.\t.\t.",
        ],
    )
    s = score_vcf(str(mlm_dir), str(BRCA1_FA), str(vcf), str(tmp_path / "o.vcf"))
    assert s.malformed == 1 and s.scored == 2 and "1 malformed line" in s.line()
