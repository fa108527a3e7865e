"""`genolm scan` and `genolm discover` end to end on small real data with small real models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genolm.io.bed import read_bed, read_bedgraph
from genolm.io.fasta import normalize, read_fasta, reverse_complement

AUROC_MIN = 0.9


@pytest.fixture(scope="module")
def promoter_model(tmp_path_factory, ann_data):
    from genolm.genome.lm import ModelShape, finetune

    out = tmp_path_factory.mktemp("prom") / "run"
    finetune(
        str(ann_data / "prom_core_train.csv"),
        str(ann_data / "prom_core_dev.csv"),
        str(out),
        shape=ModelShape(arch="cnn", hidden=32, layers=2, kernel=9, dropout=0.1),
        max_steps=15,
        seed=0,
        batch_size=32,
        eval_every=15,
    )
    return str(out)


@pytest.fixture(scope="module")
def ecoli_lm(tmp_path_factory, ann_data):
    from genolm.genome.lm import ModelShape, pretrain

    out = tmp_path_factory.mktemp("lm") / "run"
    pretrain(
        str(ann_data / "ecoli_40kb.fa.gz"),
        str(out),
        objective="clm",
        shape=ModelShape(arch="cnn", hidden=32, layers=2),
        seq_len=128,
        max_steps=30,
        batch_size=16,
        eval_every=30,
        seed=0,
    )
    return str(out)


def test_batched_scan_equals_naive_loop_and_strands(promoter_model, ann_data):
    from genolm.genome.scan import Scanner, scan_naive

    sc = Scanner.load(promoter_model, window=70, stride=35)
    seq = normalize(next(iter(read_fasta(ann_data / "ecoli_40kb.fa.gz")))[1])[:3000]
    starts, plus, minus = sc.scan_sequence(seq)
    naive = scan_naive(sc.model, sc.tokenizer, seq, 70, 35, sc.positive)
    assert len(starts) == (3000 - 70) // 35 + 1
    np.testing.assert_allclose(np.stack([plus, minus], 1).reshape(-1), naive, atol=1e-4)
    # the minus strand of a sequence is the plus strand of its reverse complement, mirrored
    s2, p2, m2 = sc.scan_sequence(reverse_complement(seq[: 35 * 20 + 70 - 35]))
    n = len(s2)
    np.testing.assert_allclose(p2[::-1], minus[:n], atol=1e-4)


def test_scan_cli_writes_bedgraph_and_peaks(cli, promoter_model, ann_data, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("NC_000913.3\t1000\t4000\nNC_000913.3\t10000\t12000\n")
    code, out, err = cli(
        [
            "scan",
            "--model",
            promoter_model,
            "--genome",
            str(ann_data / "ecoli_40kb.fa.gz"),
            "--regions",
            str(bed),
            "--window",
            "70",
            "--stride",
            "35",
            "--out",
            str(tmp_path / "s.bedgraph"),
            "--peaks",
            str(tmp_path / "p.bed"),
            "--threshold",
            "0.5",
        ]
    )
    assert code == 0, err
    bg = read_bedgraph(tmp_path / "s.bedgraph")
    assert bg and all((1000 <= a and b <= 4000) or (10000 <= a and b <= 12000) for _, a, b, _ in bg)
    assert all(0 <= v <= 1 for *_, v in bg)
    assert (tmp_path / "s.bedgraph").read_text().startswith("track type=bedGraph")
    peaks = read_bed(tmp_path / "p.bed")
    assert all(p.strand in "+-" and 500 <= p.score <= 1000 and p.end - p.start >= 70 for p in peaks)
    assert "Mb/min" in out


def test_scan_bad_input(cli, promoter_model, ecoli_lm, ann_data, tmp_path):
    bed = tmp_path / "bad.bed"
    bed.write_text("chrZ\t0\t100\n")
    code, _, err = cli(
        [
            "scan",
            "--model",
            promoter_model,
            "--genome",
            str(ann_data / "ecoli_40kb.fa.gz"),
            "--regions",
            str(bed),
            "--out",
            str(tmp_path / "x.bedgraph"),
        ]
    )
    assert code == 2 and err.strip().count("\n") == 0
    assert err.startswith(f"genolm: error: {bed}:1: region on unknown contig 'chrZ'")
    assert not (tmp_path / "x.bedgraph").exists()
    code, _, err = cli(
        [
            "scan",
            "--model",
            ecoli_lm,
            "--genome",
            str(ann_data / "ecoli_40kb.fa.gz"),
            "--out",
            str(tmp_path / "x.bedgraph"),
        ]
    )
    assert code == 2 and "needs a sequence classifier" in err


def test_discover_flags_foreign_sequences(cli, ecoli_lm, ann_data, tmp_path):
    """E. coli windows plus C. elegans loci (1:10): results.tsv columns, report, deterministic, and the
    worm sequences score higher than the E. coli ones on average."""
    eco = normalize(next(iter(read_fasta(ann_data / "ecoli_40kb.fa.gz")))[1])
    cel = [(n, normalize(s)[:300]) for n, s in read_fasta(ann_data / "celegans_60loci.fa.gz")][:8]
    fa = tmp_path / "in.fa"
    with open(fa, "w") as fh:
        for i in range(80):
            fh.write(f">eco{i}\n{eco[i * 450 : i * 450 + 300]}\n")
        for n, s in cel:
            fh.write(f">cel_{n}\n{s}\n")
    code, out, err = cli(["discover", "--model", ecoli_lm, "--input", str(fa), "--out", str(tmp_path / "d")])
    assert code == 0, err
    df = pd.read_csv(tmp_path / "d" / "results.tsv", sep="\t")
    assert list(df.columns[:6]) == ["id", "cluster", "anomaly_score", "perplexity", "excess_nll", "embed_outlier"]
    assert len(df) == 88 and df.id.iloc[0] == "eco0" and df.id.iloc[-1].startswith("cel_")
    assert abs(df.anomaly_score.median()) < 0.5 and (df.perplexity > 1).all()
    is_cel = df.id.str.startswith("cel_")
    assert df.anomaly_score[is_cel].mean() > df.anomaly_score[~is_cel].mean()
    # even this 30-step LM ranks the worm loci above the E. coli windows (likelihood ratio vs complexity)
    from genolm.genome.discover import auroc

    assert auroc(is_cel.astype(int), df.anomaly_score) > AUROC_MIN
    html = (tmp_path / "d" / "report.html").read_text()
    assert "2-D map of the embeddings" in html and "silhouette" in html
    code, _, _ = cli(["discover", "--model", ecoli_lm, "--input", str(fa), "--out", str(tmp_path / "d2")])
    df2 = pd.read_csv(tmp_path / "d2" / "results.tsv", sep="\t")
    pd.testing.assert_frame_equal(df, df2)


def test_discover_genome_windows_and_errors(cli, ecoli_lm, ann_data, tmp_path, promoter_model):
    code, _, err = cli(
        [
            "discover",
            "--model",
            ecoli_lm,
            "--genome",
            str(ann_data / "ecoli_40kb.fa.gz"),
            "--window",
            "2000",
            "--out",
            str(tmp_path / "g"),
            "--cluster",
            "hdbscan",
        ]
    )
    assert code == 0, err
    df = pd.read_csv(tmp_path / "g" / "results.tsv", sep="\t")
    assert len(df) == 20 and df.id.iloc[1] == "NC_000913.3:2000-4000"
    code, _, err = cli(["discover", "--model", ecoli_lm, "--out", str(tmp_path / "e")])
    assert code == 2 and "exactly one of --input" in err
    code, _, err = cli(
        [
            "discover",
            "--model",
            promoter_model,
            "--input",
            str(ann_data / "prom_core_dev.csv"),
            "--out",
            str(tmp_path / "e2"),
        ]
    )
    assert code == 2 and "needs a language model" in err


def test_complexity_is_a_code_length_and_lower_for_biased_sequence(ann_data):
    """complexity(): adaptive order-1 Markov (KT) code length per base, equal to a direct sequential
    computation; the AT-rich C. elegans loci are simpler than E. coli windows; N runs are skipped."""
    from genolm.genome.discover import complexity

    eco = normalize(next(iter(read_fasta(ann_data / "ecoli_40kb.fa.gz")))[1])
    cel = [normalize(s)[:400] for _, s in read_fasta(ann_data / "celegans_60loci.fa.gz")][:20]
    wins = [eco[i * 1000 : i * 1000 + 400] for i in range(20)]

    def direct(s):  # the definition, one base at a time
        counts, total = {}, 0.0
        for i, b in enumerate(s):
            ctx = s[i - 1] if i else ""
            c = counts.setdefault(ctx, {})
            total -= np.log((c.get(b, 0) + 0.5) / (sum(c.values()) + 2.0))
            c[b] = c.get(b, 0) + 1
        return total / len(s)

    got = complexity(wins[:3])
    np.testing.assert_allclose(got, [direct(w) for w in wins[:3]], rtol=1e-12)
    assert (np.abs(complexity(wins) - np.log(4)) < 0.06).all()  # E. coli is close to random at order 1
    assert np.median(complexity(cel)) < np.median(complexity(wins))
    np.testing.assert_allclose(complexity([wins[0][:200] + "N" * 30 + wins[0][200:]]), complexity([wins[0]]), atol=0.01)


def test_robust_distance_flags_worm_windows_and_handles_few_rows(ann_data):
    """20 worm loci among 200 E. coli windows, in dinucleotide-frequency space: the robust Mahalanobis
    distance ranks the worm windows far out; with very few rows it still returns finite distances."""
    from genolm.genome.discover import auroc, robust_distance

    eco = normalize(next(iter(read_fasta(ann_data / "ecoli_40kb.fa.gz")))[1])
    cel = [normalize(s)[:300] for _, s in read_fasta(ann_data / "celegans_60loci.fa.gz")][:20]
    seqs = [eco[i * 190 : i * 190 + 300] for i in range(200)] + [s for s in cel if len(s) == 300]
    dn = [a + b for a in "ACGT" for b in "ACGT"][:15]
    x = np.array([[sum(s[i : i + 2] == d for i in range(len(s) - 1)) / (len(s) - 1) for d in dn] for s in seqs])
    y = np.r_[np.zeros(200), np.ones(len(seqs) - 200)]
    d = robust_distance(x, n_components=15)
    assert auroc(y, d) > 0.85 and np.median(d[y == 1]) > 1.4 * np.median(d[y == 0])
    np.testing.assert_array_equal(d, robust_distance(x, n_components=15))  # seeded: deterministic
    few = robust_distance(x[:4], n_components=15)
    assert few.shape == (4,) and np.isfinite(few).all()


def test_stride_zero_is_a_usage_error_not_silently_replaced(cli, promoter_model, ecoli_lm, ann_data, tmp_path):
    fa = str(ann_data / "ecoli_40kb.fa.gz")
    for args in (
        ["scan", "--model", promoter_model, "--input", fa, "--stride", "0", "--out", str(tmp_path / "s.bg")],
        ["scan", "--model", promoter_model, "--genome", fa, "--window", "4", "--out", str(tmp_path / "s.bg")],
        ["discover", "--model", ecoli_lm, "--genome", fa, "--stride", "0", "--out", str(tmp_path / "d")],
    ):
        code, _, err = cli(args)
        assert code == 2 and err.count("\n") == 1, err
        assert ("--stride must be >= 1, got 0" in err) or ("--window must be >= 8, got 4" in err)
    assert not (tmp_path / "s.bg").exists() and not (tmp_path / "d").exists()


def test_scan_shows_progress_within_a_long_region(promoter_model, ann_data, monkeypatch, capsys):
    from genolm.genome import scan as S

    sc = S.Scanner.load(promoter_model, window=70, stride=35)
    seq = normalize(next(iter(read_fasta(ann_data / "ecoli_40kb.fa.gz")))[1])[:3000]
    monkeypatch.setattr(S, "PROGRESS_MIN_BASES", 100)
    monkeypatch.delenv("GENOLM_QUIET", raising=False)
    capsys.readouterr()
    starts, plus, minus = sc.scan_sequence(seq)
    err = capsys.readouterr().err
    assert "scan windows" in err and f"{2 * len(starts)}" in err
