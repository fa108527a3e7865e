"""Motif scanning (bundled JASPAR 2022) and the zero-shot `--method motif` scorer, on real MPRA elements."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genolm.cli.main import main
from genolm.genome.variants.motifs import HIT, motif_features
from genolm.interpret.motifscan import MotifScanner, default_motif_file
from genolm.io.meme import read_meme
from genolm.io.errors import InputError
from vhelpers import MPRA_FA, MPRA_SNV, info, records


def test_bundled_jaspar_reads_all_841_matrices():
    motifs = read_meme(default_motif_file())
    assert len(motifs) == 841
    arnt = next(m for m in motifs if m.name == "MA0004.1 Arnt")
    assert arnt.probs.shape == (6, 4) and np.allclose(arnt.probs.sum(1), 1.0)


def test_consensus_scores_one_and_a_snv_in_it_loses_the_site():
    arnt = [m for m in read_meme(default_motif_file()) if m.name == "MA0004.1 Arnt"]
    sc = MotifScanner(arnt)
    window = "TTTTTTTTCACGTGTTTTTTTT"  # Arnt consensus CACGTG (a palindrome: both strands)
    at = window.index("CACGTG") + 2  # the C of CGTG
    eff = sc.variant_effect(window, at, "C", "T")
    assert eff[0, 0] == pytest.approx(1.0)
    assert eff[0, 1] < HIT  # one mismatch in a 6-mer: 0.83 of the score range, no longer a site
    f = motif_features(sc, window, at, "C", "T")
    assert f["motif_sites_ref"] == 1 and f["motif_sites_alt"] == 0
    assert f["motif_delta_ref_sites"] == pytest.approx(eff[0, 1] - 1.0) and f["motif_loss_max"] > 0.15
    # a substitution outside the site changes nothing
    far = motif_features(sc, window, 2, "T", "A")
    assert far["motif_sites_ref"] == 0 and far["motif_delta_ref_sites"] == 0.0


def test_malformed_meme_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.meme"
    bad.write_text(
        "MEME version 4\n\nMOTIF M1 x\nletter-probability matrix: alength= 4 w= 2\n 0.5 0.5 0.0 0.0\n 0.9 0.9 0.0 0.0\n"
    )
    with pytest.raises(InputError) as e:
        read_meme(bad)
    assert e.value.path == str(bad) and e.value.line == 6
    for header, bad_line in (("w= x", 4), ("w=", 4)):
        f = tmp_path / "w.meme"
        f.write_text(f"MOTIF M1 x\nletter-probability matrix: alength= 4 {header}\n 0.5 0.5 0.0 0.0\n")
        with pytest.raises(InputError, match="bad w=") as e:
            read_meme(f)
        assert e.value.line == 2
    nospace = tmp_path / "nospace.meme"  # w=2 without a space is still read: the matrix ends after 2 rows
    nospace.write_text("MOTIF M1 x\nletter-probability matrix: alength= 4 w=2\n 1 0 0 0\n 0 1 0 0\n 0 0 1 0\n")
    assert read_meme(nospace)[0].probs.shape == (2, 4)
    short = tmp_path / "short.meme"
    short.write_text("MOTIF M1 x\nletter-probability matrix: alength= 4 w=3\n 1 0 0 0\n 0 1 0 0\n")
    with pytest.raises(InputError, match="2 matrix rows, header says w= 3"):
        read_meme(short)
    flat = tmp_path / "flat.meme"
    flat.write_text("MOTIF M1 x\nletter-probability matrix: alength= 4 w= 1\n 0.25 0.25 0.25 0.25\n")
    with pytest.raises(InputError, match="uniform"):
        read_meme(flat)
    nan = tmp_path / "nan.meme"
    nan.write_text("MOTIF M1 x\nletter-probability matrix: alength= 4 w= 1\n nan nan nan nan\n")
    with pytest.raises(InputError) as e:
        read_meme(nan)
    assert e.value.line == 3
    empty = tmp_path / "empty.meme"
    empty.write_text("MEME version 4\n")
    with pytest.raises(InputError, match="no MEME motifs"):
        read_meme(empty)


def test_motif_method_scores_mpra_effects(tmp_path):
    """F9 promoter SNVs: weakening motif sites goes with lower expression (Kircher 2019 EFFECT)."""
    out = tmp_path / "m.vcf.gz"
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
                "--vcf",
                str(MPRA_SNV),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    recs = records(out)
    assert len(recs) == 1726 and "GENOLM_MOTIF_SITES" in info(recs[0])
    m = tmp_path / "m.json"
    assert (
        main(
            [
                "-q",
                "variants",
                "evaluate",
                "--scores",
                str(out),
                "--truth",
                str(MPRA_SNV),
                "--label",
                "EFFECT",
                "--out",
                str(m),
                "--by-chrom",
            ]
        )
        == 0
    )
    got = json.loads(m.read_text())
    assert got["by_chrom"]["F9"]["spearman"] > 0.15  # measured 0.23
    assert got["mean_by_chrom"] > 0.08  # F9 0.23, HBG1 0.05


def test_motif_method_missing_file_exit_2(tmp_path, capsys):
    rc = main(
        [
            "-q",
            "variants",
            "score",
            "--method",
            "motif",
            "--model",
            str(tmp_path / "nope.meme"),
            "--reference",
            str(MPRA_FA),
            "--vcf",
            str(MPRA_SNV),
            "--out",
            str(tmp_path / "o.vcf.gz"),
        ]
    )
    assert rc == 2 and "nope.meme" in capsys.readouterr().err
