"""serve.paths: client paths confined to the data dir, result names inside the job dir."""

from __future__ import annotations

import os

import pytest

from genolm.core import registry
from genolm.serve.paths import PathError, confine, default_output_name, output_name


@pytest.fixture()
def root(tmp_path, data_dir):
    r = tmp_path / "data_root"
    (r / "data").mkdir(parents=True)
    (r / "data" / "prom_train.csv").write_bytes((data_dir / "core" / "prom_train.csv").read_bytes())
    outside = tmp_path / "outside.csv"
    outside.write_text("sequence,label\nACGT,1\n")
    os.symlink(outside, r / "data" / "escape.csv")
    os.symlink(tmp_path, r / "data" / "escape_dir")
    os.symlink(r / "data" / "prom_train.csv", r / "data" / "inside_link.csv")
    return r


def test_confine_accepts_paths_inside(root):
    assert confine(root, "data/prom_train.csv", param="train") == (root / "data" / "prom_train.csv").resolve()
    assert confine(root, "./data//prom_train.csv", param="train") == (root / "data" / "prom_train.csv").resolve()
    absolute = str((root / "data" / "prom_train.csv").resolve())
    assert confine(root, absolute, param="train") == (root / "data" / "prom_train.csv").resolve()
    # a link that stays inside is fine (it resolves to the real file); a missing input is the command's to report
    assert confine(root, "data/inside_link.csv", param="train").name == "prom_train.csv"
    assert confine(root, "data/missing.csv", param="train") == (root / "data" / "missing.csv").resolve()
    assert confine(root, "jobs/0123456789abcdef/result.tsv", param="input").parts[-3:] == (
        "jobs",
        "0123456789abcdef",
        "result.tsv",
    )


@pytest.mark.parametrize(
    "value, problem",
    [
        ("../outside.csv", "escapes"),
        ("data/../../outside.csv", "escapes"),
        ("data/../data/prom_train.csv", "'..'"),
        ("/etc/passwd", "absolute path outside"),
        ("data/escape.csv", "escapes"),
        ("data/escape_dir/outside.csv", "escapes"),
        ("data/prom\x00.csv", "NUL"),
        ("~/secret.csv", "'~'"),
        ("~root/x", "'~'"),
        ("", "empty"),
        (".genolm/jobs.db", "private"),
        ("data\\..\\..\\x", "backslash"),
    ],
)
def test_confine_refuses_escapes_naming_the_parameter(root, value, problem):
    with pytest.raises(PathError) as e:
        confine(root, value, param="train")
    assert e.value.param == "train"
    assert str(e.value).startswith("train: ")
    assert problem in str(e.value)


def test_confine_refuses_non_strings(root):
    with pytest.raises(PathError, match="expected a path"):
        confine(root, 12, param="input")  # type: ignore[arg-type]


def test_default_output_names_follow_the_metavar():
    assert default_output_name("DIR") == "run"
    assert default_output_name("TSV") == "result.tsv"
    assert default_output_name("VCF") == "result.vcf"
    assert default_output_name("GFF3") == "result.gff3"
    assert default_output_name("FASTA") == "result.fa"
    assert default_output_name("BEDGRAPH") == "result.bedgraph"
    assert default_output_name("JSON") == "result.json"
    assert default_output_name("CSV") == "result.csv"
    assert default_output_name("FILE|URL") == "result"
    assert default_output_name(None) == "result"


def test_output_name_on_real_task_params():
    off = registry.get("crispr.offtargets")
    assert output_name(None, off.param("out")) == "result.tsv"
    assert output_name("sites.tsv", off.param("out")) == "sites.tsv"
    assert output_name("./sub//sites.tsv", off.param("out")) == "sub/sites.tsv"
    assert output_name(None, registry.get("finetune").param("out")) == "run"
    assert output_name(None, registry.get("variants.score").param("out")) == "result.vcf"
    assert output_name(None, registry.get("annotate.predict").param("out")) == "result.gff3"
    for bad, problem in [("../x.tsv", "'..'"), ("/tmp/x.tsv", "absolute"), ("a/../../x", "'..'"), ("~/x", "'~'")]:
        with pytest.raises(PathError) as e:
            output_name(bad, off.param("out"))
        assert e.value.param == "out" and problem in str(e.value)
    with pytest.raises(PathError, match="URL"):
        output_name("postgresql://host/db", registry.get("lit.kg.build").param("db"))
