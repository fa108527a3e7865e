"""`genolm variants explain` on the bundled MPRA F9/HBG1 element slice."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd

from genolm.cli.main import main
from genolm.interpret.attributions import Attributions


def _vcf(data_dir, tmp_path, n_snv=9, extra: list[str] | None = None):
    lines = gzip.open(data_dir / "variants" / "mpra_snv.vcf.gz", "rt").read().splitlines()
    head = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    dels = [ln for ln in gzip.open(data_dir / "variants" / "mpra_deletions.vcf.gz", "rt").read().splitlines()
            if not ln.startswith("#")]  # fmt: skip
    picked = body[300 : 300 + n_snv] + dels[5:7] + (extra or [])
    p = tmp_path / "slice.vcf"
    p.write_text("\n".join(head + picked) + "\n")
    return p, len(head)


def test_variants_explain(promoter_clf, data_dir, tmp_path):
    vcf, _ = _vcf(data_dir, tmp_path)
    fa = data_dir / "variants" / "mpra_elements.fa"
    out = tmp_path / "run"
    args = ["-q", "variants", "explain", "--model", str(promoter_clf), "--reference", str(fa), "--vcf", str(vcf)]
    assert main(args + ["--window", "70", "--top", "3", "--out", str(out)]) == 0
    tsv = pd.read_csv(out / "variants.tsv", sep="\t")
    assert len(tsv) == 11 and list(tsv.columns[:8]) == [
        "chrom",
        "pos",
        "id",
        "ref",
        "alt",
        "score_ref",
        "score_alt",
        "delta",
    ]
    assert np.allclose(tsv.delta, tsv.score_alt - tsv.score_ref, atol=1e-5)
    att = Attributions.load(out)
    assert len(att) == 22 and att.ids[0].endswith("|ref") and att.ids[1].endswith("|alt")
    # the REF window is the reference centred on the variant; ALT differs only at the variant (SNVs)
    seq = "".join(ln.strip() for ln in open(fa) if not ln.startswith(">"))[:303]  # F9 is the first record
    r = tsv.iloc[0]
    p0 = int(r.pos) - 1
    s = p0 - 34  # (window - len(REF)) // 2 bases on the left
    assert att.seqs[0] == seq[s : s + 70] and att.seqs[1][34] == r.alt and att.seqs[0][34] == r.ref
    assert sum(a != b for a, b in zip(att.seqs[0], att.seqs[1])) == 1
    # ISM attribution at the variant base changes; the largest loss is at a real window position
    assert (tsv.top_lost <= 0).all() and ((tsv.top_lost_position - tsv.pos).abs() < 35).all()
    bg = [
        ln.split("\t")
        for ln in (out / "ref_attributions.bedgraph").read_text().splitlines()
        if not ln.startswith("track")
    ]
    assert bg[0][0] == "F9" and int(bg[0][1]) == s  # 0-based BED start of the first window
    html = (out / "report.html").read_text()
    assert html.count("<img") == 3 and "REF over ALT" in html
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_variants"] == 11 and m["method_used"] == "ism"


def test_variants_explain_ref_mismatch(promoter_clf, data_dir, tmp_path, capsys):
    fa = data_dir / "variants" / "mpra_elements.fa"
    seq = "".join(ln.strip() for ln in open(fa) if not ln.startswith(">")).upper()
    wrong = next(b for b in "ACGT" if b != seq[99])  # F9:100 is not this base
    bad = f"F9\t100\tbad\t{wrong}\tG\t.\tPASS\t."
    vcf, n_head = _vcf(data_dir, tmp_path, n_snv=3, extra=[bad])
    capsys.readouterr()
    code = main(["-q", "variants", "explain", "--model", str(promoter_clf), "--reference", str(fa), "--vcf", str(vcf),
                 "--window", "70", "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"{vcf}:{n_head + 6}:" in err[0] and "does not match the reference" in err[0]
    assert not (tmp_path / "o").exists()
    unknown = tmp_path / "chr.vcf"
    unknown.write_text(vcf.read_text().replace("F9\t100\tbad", "chrZ\t100\tbad"))
    assert main(["-q", "variants", "explain", "--model", str(promoter_clf), "--reference", str(fa), "--vcf",
                 str(unknown), "--window", "70", "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "chrZ" in capsys.readouterr().err
