"""genolm.io.vcf: streaming reader with file:line errors, atomic bgzip + tabix writer."""

from __future__ import annotations

import gzip

import pysam
import pytest

from genolm.io.errors import InputError
from genolm.io.vcf import VcfHeader, VcfReader, VcfWriter

from vhelpers import BRCA1_VCF, write_vcf


def test_reads_real_vcf_in_order_with_info():
    reader = VcfReader(BRCA1_VCF)
    assert "LOF" in reader.header.ids("INFO")
    assert reader.header.info_number("FUNC_SCORE") == "1"
    recs = list(reader)
    assert len(recs) == 917
    assert recs[0].chrom == "17" and recs[0].pos == 41197722 and recs[0].ref == "T" and recs[0].alts == ["A"]
    assert recs[0].id == "17:41197722:T>A"
    assert recs[0].info()["FUNC_CLASS"] == "FUNC"
    assert [r.pos for r in recs] == sorted(r.pos for r in recs)
    assert recs[0].line == len(reader.header.meta) + 2  # 1-based line numbers


def test_missing_header_names_line_1(tmp_path):
    p = tmp_path / "nohead.vcf"
    p.write_text("17\t100\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(InputError) as e:
        VcfReader(p)
    assert e.value.line == 1 and "##fileformat" in e.value.message


def test_truncated_gzip_is_a_clear_error(tmp_path):
    data = BRCA1_VCF.read_bytes()
    p = tmp_path / "cut.vcf.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        list(VcfReader(p))
    assert "truncated" in e.value.message and e.value.path == str(p)


def test_malformed_record_strict_and_lenient(tmp_path):
    p = write_vcf(tmp_path / "bad.vcf", ["17\t100\t.\tA\tG\t.\t.\t.", "17\tx\t.\tA\tG\t.\t.\t.", "17\t200\t.\tC\tT"])
    with pytest.raises(InputError) as e:
        list(VcfReader(p))
    assert e.value.line == 5 and "POS" in e.value.message
    errors = []
    recs = list(VcfReader(p, on_error=errors.append))
    assert [r.pos for r in recs] == [100]
    assert [err.line for err in errors] == [5, 6]


def test_writer_bgzip_tabix_and_declared_info(tmp_path):
    reader = VcfReader(BRCA1_VCF)
    header = VcfHeader(meta=list(reader.header.meta), columns=reader.header.columns)
    header.add_info("GENOLM_SCORE", "A", "Float", 'a "quoted" score')
    out = tmp_path / "o.vcf.gz"
    with VcfWriter(out, header) as w:
        for i, rec in enumerate(reader):
            w.write_text(rec.with_info({"GENOLM_SCORE": [i / 7]}))
    assert w.indexed and (tmp_path / "o.vcf.gz.tbi").is_file()
    vf = pysam.VariantFile(str(out))
    assert "GENOLM_SCORE" in vf.header.info
    got = list(vf.fetch("17", 41197721, 41197722))  # tabix region query works
    assert len(got) == 3 and got[0].info["GENOLM_SCORE"][0] == pytest.approx(0.0)
    assert got[1].info["FUNC_CLASS"] == "FUNC"


def test_writer_is_atomic_on_error(tmp_path):
    out = tmp_path / "o.vcf.gz"
    with pytest.raises(RuntimeError):
        with VcfWriter(out, VcfHeader(meta=["##fileformat=VCFv4.2"])) as w:
            w.write_text("17\t1\t.\tA\tG\t.\t.\t.\n")
            raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unsorted_input_still_written_without_index(tmp_path):
    out = tmp_path / "u.vcf.gz"
    with VcfWriter(out, VcfHeader(meta=["##fileformat=VCFv4.2"])) as w:
        w.write_text("17\t200\t.\tA\tG\t.\t.\t.\n17\t100\t.\tA\tG\t.\t.\t.\n")
    assert out.is_file() and not w.indexed
    with gzip.open(out, "rt") as fh:
        assert fh.read().count("\n") == 4
