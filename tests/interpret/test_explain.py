"""`genolm explain` and interpret.attributions on the bundled promoter / CRISPR slices."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from genolm.cli.main import main
from genolm.interpret.attributions import Attributions, attribute, ism_batched, ism_one_by_one


def _positives(data_dir, n=12):
    df = pd.read_csv(data_dir / "core" / "prom_valid.csv")
    return df[df.label == 1].sequence.tolist()[:n]


@pytest.fixture(scope="module")
def sm(promoter_clf):
    from genolm.api import load

    return load(promoter_clf).sequence_model("cpu")


@pytest.fixture(scope="module")
def atts(sm, data_dir):
    seqs = _positives(data_dir)
    ids = [f"p{i}" for i in range(len(seqs))]
    return seqs, {m: attribute(sm, seqs, method=m, ids=ids, n_baselines=4) for m in ("saliency", "ig", "ism")}


def test_shapes_order_and_methods_agree(atts):
    seqs, a = atts
    for m, att in a.items():
        assert att.scores.shape == (len(seqs), 4, 70) and att.ids == [f"p{i}" for i in range(len(seqs))]
        assert att.seqs == seqs and np.all(att.lengths == 70)
        # scores = hypothetical at the observed base only
        assert np.allclose(att.scores, att.hypothetical * att.one_hot)
        assert np.allclose(att.one_hot.sum(1), 1)
    assert a["ig"].method == "ig", a["ig"].notes  # IG passes its completeness check on this CNN
    ig, ism, sal = (np.concatenate(a[m].per_base()) for m in ("ig", "ism", "saliency"))
    assert spearmanr(ig, ism).statistic > 0.3
    assert spearmanr(ig, sal).statistic > 0.3
    # the top IG positions have the same sign under ISM
    top = np.argsort(-np.abs(ig))[:50]
    assert np.mean(np.sign(ig[top]) == np.sign(ism[top])) > 0.7


def test_ig_completeness_small(atts, sm):
    import torch

    from genolm.interpret.attributions import explained_values

    seqs, a = atts
    c = a["ig"].stats["completeness"]
    assert c["passed"] and c["median_relative_delta"] < 0.01
    # zeros baseline: summed scores = f(x) - f(0), checked independently of the module's own check
    att = attribute(sm, seqs, method="ig", baseline="zeros", steps=48)
    with torch.no_grad():
        f0 = float(explained_values(sm, sm.forward(torch.zeros(1, 4, 70)), 1)[0])
    gap = att.values - f0
    assert np.abs(att.scores.sum((1, 2)) - gap).max() < 0.02 * np.abs(gap).max()


def test_ism_batched_equals_one_by_one(sm, data_dir):
    seqs = _positives(data_dir, 3)
    batched = ism_batched(sm, seqs, 1, batch_size=97)
    for i, s in enumerate(seqs):
        assert np.abs(batched[i] - ism_one_by_one(sm, s, 1)).max() < 1e-5
    assert np.all(batched[np.arange(3)[:, None], np.argmax(_oh(seqs), 1), np.arange(70)[None]] == 0)


def _oh(seqs):
    from genolm.sequence import one_hot

    return one_hot(seqs)


def test_variable_lengths_and_n(sm):
    seqs = ["ACGTNACGTAGGCTAGCTAGGATCGATCGTAGCTA", "TTGACAGGCTAGCTAGCATCGATCGATTATAATGCGCGCAT" * 2]
    att = attribute(sm, seqs, method="ism")
    assert att.scores.shape == (2, 4, len(seqs[1])) and list(att.lengths) == [35, 82]
    assert np.all(att.scores[0, :, 35:] == 0) and np.all(att.hypothetical[0, :, 4] == 0)  # N = zero column
    assert len(att.per_base()[0]) == 35


def test_explain_cli_deeplift_and_bedgraph(promoter_clf, data_dir, tmp_path):
    seqs = _positives(data_dir, 6)
    fa = tmp_path / "regions.fa"
    fa.write_text("".join(f">chr1:{1001 + 100 * i}-{1070 + 100 * i}\n{s}\n" for i, s in enumerate(seqs)))
    out = tmp_path / "dl"
    args = ["-q", "explain", "--model", str(promoter_clf), "--input", str(fa), "--method", "deeplift_shap"]
    assert main(args + ["--n-baselines", "4", "--top", "2", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    html = (out / "report.html").read_text()
    assert m["n"] == 6 and m["method"] == "deeplift_shap"
    if m["method_used"] != "deeplift_shap":  # the check failed: the report says so and IG was used
        assert m["method_used"] in ("ig", "ism") and "completeness check FAILED" in html and "fell back" in html
    else:
        assert m["completeness_passed"]
    assert html.count("<img") == 2
    att = Attributions.load(out)
    assert att.ids[0] == "chr1:1001-1070" and att.method == m["method_used"]
    lines = [ln.split("\t") for ln in (out / "attributions.bedgraph").read_text().splitlines()[1:]]
    # 1-based closed name chr1:1001-1070 -> 0-based BED 1000..1070, per-base values summed over bases
    assert lines[0][0] == "chr1" and int(lines[0][1]) == 1000
    first = [ln for ln in lines if 1000 <= int(ln[1]) < 1070]
    assert int(first[-1][2]) == 1070
    track = np.zeros(70)
    for c, s, e, v in first:
        track[int(s) - 1000 : int(e) - 1000] = float(v)
    assert np.allclose(track, att.per_base()[0], atol=1e-5)


def test_crispr_ism_and_gradient(ontarget_run, data_dir, tmp_path):
    df = pd.read_csv(data_dir / "editing" / "kim_dev.csv").head(8)
    csv = tmp_path / "guides.csv"
    df[["target_context_30mer"]].rename(columns={"target_context_30mer": "sequence"}).to_csv(csv, index=False)
    for method in ("ism", "saliency"):
        out = tmp_path / method
        assert main(["-q", "explain", "--model", str(ontarget_run), "--input", str(csv), "--method", method,
                     "--top", "1", "--out", str(out)]) == 0  # fmt: skip
        att = Attributions.load(out)
        assert att.scores.shape == (8, 4, 30) and att.method == method and att.target == "score"
        assert np.abs(att.scores).sum() > 0


def test_bad_inputs_exit_2(promoter_clf, ontarget_run, data_dir, tmp_path, capsys):
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    short = tmp_path / "short.fa"
    short.write_text(">g1\nACGTACGTACGTACGTACGTA\n")
    base = ["-q", "explain", "--out", str(tmp_path / "x")]
    cases = [
        (["--model", str(promoter_clf), "--input", str(empty)], "empty"),
        (["--model", str(ontarget_run), "--input", str(short)], "30-nt"),
        (
            ["--model", str(promoter_clf), "--input", str(data_dir / "core" / "prom_20.fa"), "--target", "7x"],
            "unknown target",
        ),  # fmt: skip
        (
            ["--model", str(promoter_clf), "--input", str(data_dir / "core" / "prom_20.fa"), "--method", "lime"],
            "unknown --method",
        ),  # fmt: skip
    ]
    for args, needle in cases:
        capsys.readouterr()
        assert main(base + args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "x").exists()


def test_kmer_model_needs_ism(data_dir, tmp_path, capsys):
    core = data_dir / "core"
    run = tmp_path / "kmer"
    assert main(["-q", "finetune", "--train", str(core / "prom_train.csv"), "--valid", str(core / "prom_valid.csv"),
                 "--out", str(run), "--arch", "cnn", "--hidden", "16", "--layers", "2", "--max-steps", "10",
                 "--tokenizer", "kmer:3"]) == 0  # fmt: skip
    args = ["-q", "explain", "--model", str(run), "--input", str(core / "prom_20.fa"), "--top", "1"]
    capsys.readouterr()
    assert main(args + ["--method", "ig", "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "use --method ism" in err and "gradient" in err
    assert main(args + ["--method", "ism", "--out", str(tmp_path / "i")]) == 0
    att = Attributions.load(tmp_path / "i")
    assert att.method == "ism" and len(att) == 20 and np.abs(att.scores).sum() > 0
