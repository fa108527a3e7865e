"""Issue 12 in the variants domain: genolm.load predictor = CLI, safe model folders, malformed records kept,
one sequence module (identical gene-model tracks), the generic ISM core, --valid."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genolm.cli.main import main
from genolm.genome.variants import score_vcf, train
from genolm.genome.variants.predictors import VARIANT_PREDICTORS, load_predictor
from vhelpers import BRCA1_FA, BRCA1_VCF, MPRA_FA, MPRA_SNV, info, records, write_vcf


@pytest.fixture(scope="module")
def mpra_run(tmp_path_factory) -> Path:
    """A continuous supervised model on the real MPRA slice, with the SNVs of one locus as --valid."""
    tmp = tmp_path_factory.mktemp("mpra")
    recs = [r for r in records(MPRA_SNV) if r[0] == "F9"][:200]
    valid = write_vcf(
        tmp / "valid.vcf",
        ["\t".join(r) for r in recs],
        contigs=("F9",),
        extra_header='##INFO=<ID=EFFECT,Number=1,Type=Float,Description="e">\n'
        '##INFO=<ID=LOCUS,Number=1,Type=String,Description="l">\n',
    )
    run = tmp / "run"
    m = train(
        str(MPRA_SNV),
        str(run),
        reference=str(MPRA_FA),
        label="EFFECT",
        valid=str(valid),
        group_field="LOCUS",
        folds=2,
        seed=0,
    )
    assert m["valid"]["n"] == 200 and m["valid"]["spearman"] > 0.3  # in-sample rows: the model fits them
    assert (run / "predictions_valid.csv").is_file()
    return run


def test_predictor_equals_cli_score_output(mpra_run, tmp_path):
    out = tmp_path / "cli.vcf.gz"
    assert (
        main(
            [
                "-q",
                "variants",
                "score",
                "--model",
                str(mpra_run),
                "--reference",
                str(MPRA_FA),
                "--input",
                str(MPRA_SNV),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cli = records(out)
    assert (mpra_run / "model" / VARIANT_PREDICTORS[0][0]).is_file()
    pred = VARIANT_PREDICTORS[0][1](mpra_run / "model")
    assert pred is not None and type(pred) is type(load_predictor(mpra_run))
    df = pred.predict(str(MPRA_SNV), reference=str(MPRA_FA))
    assert list(df.columns) == ["chrom", "pos", "id", "ref", "alt", "GENOLM_SCORE", "GENOLM_SKIP"]
    assert len(df) == len(cli) == 1726
    want = [float(info(r)["GENOLM_SCORE"]) for r in cli]
    assert df["GENOLM_SCORE"].tolist() == want  # identical values, not approximately
    assert df["pos"].tolist() == [int(r[1]) for r in cli] and df["alt"].tolist() == [r[4] for r in cli]
    # a DataFrame of variants (no VCF) gives the same numbers
    frame = pd.DataFrame(
        {
            "chrom": [r[0] for r in cli[:40]],
            "pos": [int(r[1]) for r in cli[:40]],
            "ref": [r[3] for r in cli[:40]],
            "alt": [r[4] for r in cli[:40]],
        }
    )
    df2 = pred.predict(frame, reference=str(MPRA_FA))
    assert df2["GENOLM_SCORE"].tolist() == want[:40]
    assert (df2["GENOLM_SKIP"] == "").all()


def test_predictor_flags_bad_rows_and_needs_a_reference(mpra_run):
    pred = load_predictor(mpra_run)
    bad = pd.DataFrame(
        {"chrom": ["F9", "F9", "nope"], "pos": [1, "x", 5], "ref": ["N", "A", "A"], "alt": ["A", "G", "G"]}
    )
    df = pred.predict(bad, reference=str(MPRA_FA))
    assert df["GENOLM_SKIP"].tolist() == ["REF_MISMATCH", "MALFORMED", "UNKNOWN_CONTIG"]
    assert df["GENOLM_SCORE"].isna().all()
    from genolm.io.errors import UsageError

    with pytest.raises(UsageError, match="reference"):
        pred.predict(bad)


def test_legacy_pickle_model_refused_and_never_run(mpra_run, tmp_path, capsys):
    """A model folder whose estimator is a pickle (genolm < 0.2, or planted) is refused with exit 2; the pickle
    is never executed."""
    import pickle

    legacy = tmp_path / "legacy"
    shutil.copytree(mpra_run / "model", legacy)
    (legacy / "variant_model.skops").unlink()
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (legacy / "variant_model.joblib").write_bytes(pickle.dumps(Evil()))
    out = tmp_path / "o.vcf"
    rc = main(
        [
            "-q",
            "variants",
            "score",
            "--model",
            str(legacy),
            "--reference",
            str(MPRA_FA),
            "--input",
            str(MPRA_SNV),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "genolm convert" in err and "variant_model.joblib" in err
    assert not marker.exists() and not out.exists()
    # the same pickle under the .skops name: not a skops file, refused, not run
    (legacy / "variant_model.joblib").rename(legacy / "variant_model.skops")
    rc = main(
        [
            "-q",
            "variants",
            "score",
            "--model",
            str(legacy),
            "--reference",
            str(MPRA_FA),
            "--input",
            str(MPRA_SNV),
            "--out",
            str(out),
        ]
    )
    assert rc == 2 and not marker.exists() and not out.exists()


def test_base_lm_with_remote_code_refused(mpra_run, tmp_path, capsys):
    """The base LM inside a variant model loads through core.loading.load_model: a foreign model_type with an
    auto_map to a local .py is refused (exit 2) and that code never runs."""
    model = tmp_path / "m"
    shutil.copytree(mpra_run / "model", model)
    marker = tmp_path / "RAN"
    base = model / "base_lm"
    base.mkdir()
    (base / "config.json").write_text(
        json.dumps(
            {
                "model_type": "evil",
                "architectures": ["EvilForMaskedLM"],
                "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModelForMaskedLM": "evil.EvilForMaskedLM"},
            }
        )
    )
    (base / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    meta = json.loads((model / "variant_model.json").read_text())
    meta["base_lm"] = "base_lm"
    (model / "variant_model.json").write_text(json.dumps(meta))
    rc = main(
        [
            "-q",
            "variants",
            "score",
            "--model",
            str(model),
            "--reference",
            str(MPRA_FA),
            "--input",
            str(MPRA_SNV),
            "--out",
            str(tmp_path / "o.vcf"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--trust-remote-code" in err
    assert not marker.exists()


def test_non_numeric_pos_kept_flagged_and_strict_errors(tmp_path, capsys):
    good = "F9\t100\tg1\tN\tA\t.\t.\tX=1"  # scored or flagged: either way written
    recs = [
        good,
        "F9\tnotanumber\tbad1\tA\tG\t50\tPASS\tX=2",
        "F9\t-3\tbad2\tA\tG\t.\t.\t.",
        "F9\t120\tbad3\t<DEL>\tA\t.\t.\t.",
        "F9\t130\tshort\tA",
    ]
    vcf = write_vcf(tmp_path / "in.vcf", recs, contigs=("F9",))
    for suffix in ("vcf", "vcf.gz"):
        out = tmp_path / f"o.{suffix}"
        s = score_vcf("jaspar", str(MPRA_FA), str(vcf), str(out), method="motif")
        got = records(out)
        assert [r[2] for r in got] == ["g1", "bad1", "bad2", "bad3", "short"]  # nothing dropped, same order
        assert got[1][:7] == recs[1].split("\t")[:7] and info(got[1])["X"] == "2"  # kept as it was
        assert [info(r).get("GENOLM_SKIP") for r in got[1:]] == ["MALFORMED"] * 4
        assert got[4][:5] == ["F9", "130", "short", "A", "."]  # too few columns: padded with '.'
        assert s.malformed == 4 and s.records == 5 and "4 malformed line(s) kept" in s.line()
    out = tmp_path / "strict.vcf"
    capsys.readouterr()  # only the strict run's stderr below
    rc = main(
        [
            "-q",
            "variants",
            "score",
            "--method",
            "motif",
            "--model",
            "jaspar",
            "--reference",
            str(MPRA_FA),
            "--input",
            str(vcf),
            "--out",
            str(out),
            "--strict",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"{vcf}:5:" in err[0] and "POS" in err[0]
    assert not out.exists()


def test_old_option_names_still_work(tmp_path):
    vcf = write_vcf(tmp_path / "in.vcf", ["F9\t100\t.\tA\tG\t.\t.\t."], contigs=("F9",))
    for opt in ("--vcf", "--input"):
        out = tmp_path / f"o{opt}.vcf"
        assert (
            main(
                [
                    "-q",
                    "variants",
                    "score",
                    "--method",
                    "motif",
                    "--model",
                    "jaspar",
                    "--reference",
                    str(MPRA_FA),
                    opt,
                    str(vcf),
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        assert len(records(out)) == 1


# ---- one sequence module: the gene-model tracks and paths are those of the pre-0.2 encoder ----------------


def _old_encode(seq: str) -> np.ndarray:  # the table variants_features.py had before genolm.sequence
    code = np.full(256, 4, dtype=np.int8)
    for i, c in enumerate("ACGT"):
        code[ord(c)] = code[ord(c.lower())] = i
    return code[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


def test_gene_model_tracks_and_paths_unchanged_by_the_sequence_module():
    from genolm.genome.variants import ReferenceCache
    from genolm.genome.variants.genemodel import _tracks, decode  # noqa: PLC2701 (same-domain test)
    from genolm.sequence import encode, reverse_complement

    ref = ReferenceCache(BRCA1_FA)
    seq = ref.fetch("17", 41_190_000, 41_250_000)
    assert any(c.islower() for c in seq)  # soft-masked: the repeat track is exercised
    for s in (seq, reverse_complement(seq)):
        assert np.array_equal(encode(s), _old_encode(s))
        assert np.array_equal(_tracks(s)[6], _old_encode(s.upper()).astype(np.int64))
    digest = hashlib.sha256(decode(seq).tobytes() + decode(reverse_complement(seq)).tobytes()).hexdigest()
    # recorded with the code before the refactor (genefinder.py + variants_features.encode + io.fasta revcomp)
    assert digest == "e4d7f2ed3ca6f585da10ed44b50a429228da04ad734115b5c35341077ca02915"


# ---- the generic ISM core ----------------------------------------------------------------------------------


def test_saturation_mutagenesis_core(tmp_path):
    from genolm.interpret.ism import saturation_mutagenesis, write_ism

    seq = "ACgTN"
    calls = []

    def score_fn(subs):
        calls.append(list(subs))
        return [10 * i + "ACGT".index(a) for i, _, a in subs]

    mat, subs, scores, skipped = saturation_mutagenesis(seq, score_fn)
    assert len(calls) == 1 and len(subs) == 12 and skipped == 1
    assert subs[:3] == [(0, "A", "C"), (0, "A", "G"), (0, "A", "T")]
    assert math.isnan(mat[0, 0]) and mat[1, 0] == 1 and mat[3, 2] == 23 and np.isnan(mat[:, 4]).all()
    write_ism(tmp_path, "c", 99, seq, mat, subs, scores, "llr")
    rows = (tmp_path / "ism.tsv").read_text().splitlines()
    assert rows[1] == "c\t100\tA\tC\t1" and len(rows) == 13
    assert len((tmp_path / "ism.bedGraph").read_text().splitlines()) == 5  # header + 4 ACGT positions


def test_train_refuses_existing_run_of_another_kind(tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"command": "finetune"}))
    (other / "keep.txt").write_text("x")
    args = [
        "-q",
        "variants",
        "train",
        "--train",
        str(BRCA1_VCF),
        "--reference",
        str(BRCA1_FA),
        "--label",
        "LOF",
        "--out",
        str(other),
    ]
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert (other / "keep.txt").is_file()
