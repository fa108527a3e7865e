"""`genolm motifs discover` / `genolm motifs scan` on real promoter sequences (tests/data/core) with JASPAR motifs
implanted: discovery recovers the implanted motif, scan finds it at the right place and strand and agrees with a
brute-force log-odds computation."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from genolm.cli.main import main
from genolm.interpret.motifscan import default_motif_file, fimo_scan, log_odds, score_distribution
from genolm.io.meme import Motif, read_meme
from genolm.sequence import reverse_complement

CTCF = "MA0139.1"


@pytest.fixture(scope="module")
def jaspar():
    return read_meme(default_motif_file())


def _motif(jaspar, mid):
    return next(m for m in jaspar if m.name.split()[0] == mid)


def _implanted(data_dir, motif: Motif, n=None, seed=0):
    """Real 70-nt promoter sequences; every other one gets a sample of ``motif``'s PWM at a random position.
    Returns (seqs, labels, positions) with position -1 for the unchanged ones."""
    df = pd.concat([pd.read_csv(data_dir / "core" / f) for f in ("prom_train.csv", "prom_valid.csv")])
    seqs = [s for s in df.sequence if set(s) <= set("ACGT")][:n]
    rng = np.random.default_rng(seed)
    p = motif.probs / motif.probs.sum(1, keepdims=True)
    w = len(p)
    out, labels, pos = [], [], []
    for i, s in enumerate(seqs):
        if i % 2:
            out.append(s)
            labels.append(0)
            pos.append(-1)
            continue
        site = "".join("ACGT"[rng.choice(4, p=row)] for row in p)
        at = int(rng.integers(5, len(s) - w - 5))
        out.append(s[:at] + site + s[at + w :])
        labels.append(1)
        pos.append(at)
    return out, np.array(labels), np.array(pos)


def _synthetic_attributions(seqs, pos, motif, seed=0):
    """Attributions whose hypothetical contributions are the motif's log-odds on the implanted sites plus noise."""
    from genolm.interpret.attributions import Attributions
    from genolm.sequence import one_hot

    rng = np.random.default_rng(seed)
    oh = one_hot(seqs)
    hyp = rng.normal(0, 0.05, oh.shape).astype(np.float32)
    lo = log_odds(motif.probs).T.astype(np.float32) * 0.3
    for i, at in enumerate(pos):
        if at >= 0:
            hyp[i, :, at : at + lo.shape[1]] += lo
    hyp -= hyp.mean(1, keepdims=True)
    n, L = len(seqs), oh.shape[2]
    return Attributions(
        ids=[f"s{i}" for i in range(n)],
        seqs=list(seqs),
        one_hot=oh,
        hypothetical=hyp,
        scores=hyp * oh,
        lengths=np.full(n, L),
        method="synthetic",
        target="1",
    )


# -- scan --------------------------------------------------------------------------------------------------------


def test_scan_finds_implanted_site_on_both_strands(tmp_path, data_dir, jaspar):
    df = pd.read_csv(data_dir / "core" / "prom_train.csv")
    ctcf = _motif(jaspar, CTCF)
    site = "".join("ACGT"[i] for i in ctcf.probs.argmax(1))
    s1, s2 = df.sequence[3], df.sequence[4]
    fwd = s1[:20] + site + s1[20 + len(site) :]
    rev = s2[:33] + reverse_complement(site) + s2[33 + len(site) :]
    fa = tmp_path / "in.fa"
    fa.write_text(f">fwd\n{fwd}\n>chr2:1001-1070\n{rev}\n")
    out = tmp_path / "hits.tsv"
    assert main(["motifs", "scan", "--input", str(fa), "--out", str(out)]) == 0
    hits = pd.read_csv(out, sep="\t")
    assert list(hits.columns) == [
        "motif_id",
        "motif_alt_id",
        "sequence_name",
        "start",
        "stop",
        "strand",
        "score",
        "p-value",
        "q-value",
        "matched_sequence",
    ]
    assert (np.diff(hits["p-value"]) >= 0).all()  # sorted by p-value like FIMO
    c = hits[hits.motif_id == CTCF].set_index("sequence_name")
    assert c.loc["fwd", "start"] == 21 and c.loc["fwd", "stop"] == 20 + len(site) and c.loc["fwd", "strand"] == "+"
    r = c.loc["chr2:1001-1070"]
    assert (r.start, r.stop, r.strand) == (34, 33 + len(site), "-")
    assert r.matched_sequence == site and c.loc["fwd", "matched_sequence"] == site
    assert c.loc["fwd", "p-value"] < 1e-9 and ((hits["q-value"] >= 0) & (hits["q-value"] <= 1)).all()
    # BED6: genomic coordinates for chr:start-end names (0-based start)
    bed = tmp_path / "hits.bed"
    assert main(["motifs", "scan", "--input", str(fa), "--out", str(bed)]) == 0
    rows = [line.split("\t") for line in bed.read_text().splitlines()]
    assert ["chr2", "1033", str(1033 + len(site)), f"{CTCF}_CTCF"] in [x[:4] for x in rows]
    assert all(len(x) == 6 for x in rows)


def test_scan_scores_and_pvalues_match_brute_force(data_dir, jaspar):
    seq = pd.read_csv(data_dir / "core" / "prom_valid.csv").sequence[0]
    arnt = _motif(jaspar, "MA0004.1")  # 6 columns: every 6-mer can be enumerated
    lo = log_odds(arnt.probs)
    hits = fimo_scan([arnt], ["s"], [seq], threshold=1.0)
    assert len(hits) == 2 * (len(seq) - 5)  # every window, both strands, at threshold 1
    idx = {b: i for i, b in enumerate("ACGT")}
    kmers = np.array(list(itertools.product(range(4), repeat=6)))
    all_scores = lo[np.arange(6), kmers].sum(1)
    for h in hits:
        word = h["matched_sequence"]  # on the hit's strand
        brute = sum(lo[j, idx[b]] for j, b in enumerate(word))
        assert h["score"] == pytest.approx(brute, abs=1e-9)
        fwd = seq[h["start"] - 1 : h["stop"]]
        assert word == (fwd if h["strand"] == "+" else reverse_complement(fwd))
        exact = np.mean(all_scores >= brute - 1e-9)
        assert h["p-value"] == pytest.approx(exact, rel=0.05, abs=2e-4)
    # q-values: in [0, 1], monotone in p
    p = np.array([h["p-value"] for h in hits])
    q = np.array([h["q-value"] for h in hits])
    assert ((q >= p - 1e-12) & (q <= 1)).all()
    o = np.argsort(p, kind="stable")
    assert (np.diff(q[o]) >= -1e-12).all()


def test_score_distribution_is_a_survival_function(jaspar):
    m, sf = score_distribution(log_odds(_motif(jaspar, CTCF).probs))
    assert sf[0] == pytest.approx(1.0) and (np.diff(sf) <= 1e-15).all() and sf[-1] == pytest.approx(0.25**19, rel=0.5)


def test_scan_bad_meme_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.meme"
    bad.write_text(
        "MEME version 4\n\nMOTIF m1 x\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0.5 0.5\n0.25 0.25 0.25 0.25\n"
    )
    fa = tmp_path / "in.fa"
    fa.write_text(">a\nACGTACGTAC\n")
    assert main(["motifs", "scan", "--input", str(fa), "--motifs", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.meme:5:" in err and "Traceback" not in err
    assert main(["motifs", "scan", "--input", str(fa), "--threshold", "0"]) == 2


# -- discover ----------------------------------------------------------------------------------------------------


def test_discover_recovers_implanted_motif(tmp_path, data_dir, jaspar):
    ctcf = _motif(jaspar, CTCF)
    seqs, _, pos = _implanted(data_dir, ctcf)
    npz = tmp_path / "attributions.npz"
    _synthetic_attributions(seqs, pos, ctcf).save(npz)
    out = tmp_path / "motifs"
    assert main(["motifs", "discover", "--attributions", str(tmp_path), "--out", str(out), "--min-seqlets", "30"]) == 0
    tsv = pd.read_csv(out / "motifs.tsv", sep="\t")
    assert list(tsv.columns) == ["motif", "n_seqlets", "best_match", "best_match_name", "q_value", "matches", "pattern"]
    assert (np.diff(tsv.n_seqlets) <= 0).all() and tsv.motif[0] == "pattern_0"
    top = tsv.head(2)
    assert CTCF in set(top.best_match[top.q_value < 0.05])
    assert ((tsv.q_value >= 0) & (tsv.q_value <= 1)).all()
    first = tsv.matches[0].split(";")
    qs = [float(m.rsplit(":", 1)[1]) for m in first]
    assert len(first) == 3 and qs == sorted(qs)
    meme = read_meme(out / "motifs.meme")
    assert [m.name.split()[0] for m in meme] == list(tsv.motif)
    assert all(np.allclose(m.probs.sum(1), 1, atol=1e-3) for m in meme)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_motifs"] == len(tsv) and metrics["n_seqlets"] == tsv.n_seqlets.sum()
    html = (out / "report.html").read_text()
    assert "pattern_0" in html and "data:image/png;base64" in html and CTCF in html


def test_discover_too_few_seqlets_is_an_error_and_writes_nothing(tmp_path, data_dir, jaspar, capsys):
    ctcf = _motif(jaspar, CTCF)
    seqs, _, pos = _implanted(data_dir, ctcf, n=40)
    a = _synthetic_attributions(seqs, pos, ctcf)
    a.save(tmp_path / "attributions.npz")
    out = tmp_path / "out"
    assert main(["motifs", "discover", "--attributions", str(tmp_path / "attributions.npz"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "too few seqlets" in err and "positive" in err and "more sequences" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    a.hypothetical[:] = 0
    a.scores[:] = 0
    a.save(tmp_path / "zero.npz")
    assert main(["motifs", "discover", "--attributions", str(tmp_path / "zero.npz"), "--out", str(out)]) == 2
    assert "0 positive and 0 negative seqlets" in capsys.readouterr().err and not out.exists()
    assert main(["motifs", "discover", "--attributions", str(tmp_path / "missing"), "--out", str(out)]) == 2


@pytest.fixture(scope="module")
def implanted_clf(tmp_path_factory, data_dir, jaspar):
    """A tiny CNN trained (< 60 s) on real promoter sequences where the positives carry a sampled CTCF site."""
    ctcf = _motif(jaspar, CTCF)
    seqs, labels, pos = _implanted(data_dir, ctcf)
    d = tmp_path_factory.mktemp("implanted")
    pd.DataFrame({"sequence": seqs, "label": labels}).to_csv(d / "train.csv", index=False)
    run = d / "clf"
    argv = ["finetune", "--train", str(d / "train.csv"), "--out", str(run), "--arch", "cnn", "--hidden", "32"]
    argv += [
        "--layers",
        "2",
        "--max-steps",
        "300",
        "--time-budget",
        "10m",  # the step count decides (a short time budget made the model depend on the machine's load)
        "--pooling",
        "max",
        "--lr",
        "3e-3",
        "--seed",
        "0",
    ]
    assert main(argv) == 0
    return run, seqs, labels, pos


@pytest.mark.slow
def test_explain_then_discover_recovers_ctcf_from_a_trained_cnn(tmp_path, implanted_clf):
    from genolm.api import load
    from genolm.core.metrics import auprc
    from genolm.interpret.attributions import attribute

    run, seqs, labels, pos = implanted_clf
    sm = load(run).sequence_model("cpu")
    keep = np.flatnonzero(labels == 1)
    a = attribute(sm, [seqs[i] for i in keep], method="saliency")
    truth = np.zeros(a.scores.shape[::2], dtype=int)
    for r, i in enumerate(keep):
        truth[r, pos[i] : pos[i] + 19] = 1
    assert auprc(truth.ravel(), a.scores.sum(1).ravel()) > 0.6
    a.save(tmp_path / "attributions.npz")
    out = tmp_path / "motifs"
    assert main(["motifs", "discover", "--attributions", str(tmp_path), "--out", str(out), "--min-seqlets", "20"]) == 0
    tsv = pd.read_csv(out / "motifs.tsv", sep="\t").head(2)
    assert CTCF in set(tsv.best_match[tsv.q_value < 0.05]), tsv
