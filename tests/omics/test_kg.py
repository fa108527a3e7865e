"""genolm linkpred (was `genolm kg`): link prediction on a real Hetionet v1.0 subgraph (tests/data/omics/kg_*)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genolm.cli.main import main
from genolm.omics.graph import Graph, sample_negatives


@pytest.fixture(scope="module")
def kg_files(data_dir):
    d = data_dir / "omics"
    return d / "kg_nodes.tsv.gz", d / "kg_edges_train.tsv.gz", d / "kg_edges_dev.tsv"


@pytest.fixture(scope="module")
def kg_run(kg_files, tmp_path_factory):
    nodes, train, dev = kg_files
    out = tmp_path_factory.mktemp("kg") / "run"
    rc = main(
        [
            "linkpred",
            "train",
            "--nodes",
            str(nodes),
            "--train",
            str(train),
            "--valid",
            str(dev),
            "--targets",
            "CtD,DaG,CbG",
            "--folds",
            "3",
            "--neg-ratio",
            "3",
            "--max-path-length",
            "2",
            "--combiner",
            "logistic",
            "--seed",
            "0",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    return out


def _toy_graph():
    nodes = pd.DataFrame(
        {
            "id": ["C::a", "C::b", "G::1", "G::2", "D::x", "D::y"],
            "name": ["alpha", "beta", "g1", "g2", "dx", "dy"],
            "kind": ["Compound", "Compound", "Gene", "Gene", "Disease", "Disease"],
        }
    )
    edges = pd.DataFrame(
        {
            "source": ["C::a", "C::a", "C::b", "D::x", "D::y", "C::a"],
            "metaedge": ["CbG", "CbG", "CbG", "DaG", "DaG", "CtD"],
            "target": ["G::1", "G::2", "G::2", "G::1", "G::2", "D::x"],
        }
    )
    return Graph(nodes, edges)


def test_metapaths_exclude_the_target_edge_and_respect_kinds():
    g = _toy_graph()
    paths = g.metapaths("CtD", max_length=3)
    assert (("CtD", True),) not in paths
    assert (("CbG", True), ("DaG", False)) in paths  # Compound-binds-Gene-associates-Disease
    for p in paths:
        assert g.step_kinds(p[0])[0] == "Compound" and g.step_kinds(p[-1])[1] == "Disease"
        for a, b in zip(p, p[1:]):
            assert g.step_kinds(a)[1] == g.step_kinds(b)[0]


def test_path_counts_and_dwpc_known_values():
    g = _toy_graph()
    path = [(("CbG", True), ("DaG", False))]
    loc = lambda i: int(g.local[g.index[i]])  # noqa: E731
    s = np.array([loc("C::a"), loc("C::b"), loc("C::b")])
    t = np.array([loc("D::y"), loc("D::y"), loc("D::x")])
    counts = g.pair_features("CtD", s, t, path, damping=0.0)[:, 0]
    assert counts.tolist() == [1.0, 1.0, 0.0]  # a-G2-y, b-G2-y; b reaches no gene of x
    dw = g.pair_features("CtD", s, t, path, damping=0.5)[:, 0]
    # a-G2-y: deg(a,CbG)=2, deg(G2,CbG)=2, deg(G2,DaG)=1, deg(y,DaG)=1 -> (2*2*1*1)^-0.5
    assert dw[0] == pytest.approx(0.5)


def test_edge_removal_and_negatives():
    g = _toy_graph()
    loc = lambda i: int(g.local[g.index[i]])  # noqa: E731
    g2 = g.with_edges_removed("CtD", np.array([loc("C::a")]), np.array([loc("D::x")]))
    assert g.adj["CtD"].nnz == 1 and g2.adj["CtD"].nnz == 0
    rng = np.random.default_rng(0)
    forbidden = {(0, 0), (0, 1)}
    s, t = sample_negatives(2, 2, 2, forbidden, rng)
    assert sorted(zip(s.tolist(), t.tolist())) == [(1, 0), (1, 1)]


def test_train_beats_chance_on_dev_edges(kg_run):
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "report.html",
        "log.txt",
        "model/config.json",
        "model/graph.safetensors",
        "model/nodes.parquet",
        "model/combiner_CtD.skops",
    ):
        assert (kg_run / name).is_file(), name
    m = json.loads((kg_run / "metrics.json").read_text())
    for target, floor in (("CtD", 0.85), ("DaG", 0.7), ("CbG", 0.8)):
        e = m["targets"][target]
        # a small subgraph and short metapaths: well above chance (0.5), and about the degree-product
        # baseline of the same run or better
        assert e["valid"]["auroc"] >= floor, (target, e)
        assert e["valid"]["auroc"] > e["valid_baseline_degree_product"]["auroc"] - 0.02
    assert "ROC (validation)" in (kg_run / "report.html").read_text()


def test_score_preserves_order_and_explains_missing(kg_run, kg_files, tmp_path):
    _, _, dev = kg_files
    d = pd.read_csv(dev, sep="\t")
    ctd = d[d.metaedge == "CtD"]
    rows = [
        (ctd.source.iat[0], "CtD", "Disease::DOID:0000000"),  # unknown target
        (d.source.iat[0], d.metaedge.iat[0], d.target.iat[0]),
        ("Compound::NOPE", "CbG", "Gene::7157"),  # unknown source
        (d.source.iat[0], "GiG", d.target.iat[0]),  # metaedge not trained
        ("Gene::7157", "CtD", "Disease::DOID:1612"),
    ]  # wrong kinds
    pairs = pd.DataFrame(rows, columns=["source", "metaedge", "target"])
    pairs.insert(0, "note", [f"r{i}" for i in range(len(pairs))])
    inp, out = tmp_path / "pairs.tsv", tmp_path / "scored.tsv"
    pairs.to_csv(inp, sep="\t", index=False)
    assert main(["linkpred", "score", "--model", str(kg_run), "--input", str(inp), "--out", str(out)]) == 0
    res = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert res["note"].tolist() == ["r0", "r1", "r2", "r3", "r4"]
    assert list(res.columns) == ["note", "source", "metaedge", "target", "score", "reason"]
    assert res["score"].iat[1] != "" and res["reason"].iat[1] == ""
    assert [res["score"].iat[i] for i in (0, 2, 3, 4)] == ["", "", "", ""]
    assert "unknown target node" in res["reason"].iat[0] and "unknown source node" in res["reason"].iat[2]
    assert "not trained" in res["reason"].iat[3] and "joins Compound -> Disease" in res["reason"].iat[4]


def test_scores_rank_dev_edges_above_random_pairs(kg_run, kg_files, tmp_path):
    from sklearn.metrics import roc_auc_score

    nodes, _, dev = kg_files
    d = pd.read_csv(dev, sep="\t")
    d = d[d.metaedge == "CtD"]
    n = pd.read_csv(nodes, sep="\t")
    rng = np.random.default_rng(1)
    comp = n[n.kind == "Compound"].id.to_numpy()
    dis = n[n.kind == "Disease"].id.to_numpy()
    neg = pd.DataFrame({"source": rng.choice(comp, 300), "metaedge": "CtD", "target": rng.choice(dis, 300)})
    known = set(zip(d.source, d.target))
    neg = neg[[(s, t) not in known for s, t in zip(neg.source, neg.target)]]
    pairs = pd.concat([d, neg], ignore_index=True)
    inp, out = tmp_path / "p.tsv", tmp_path / "s.tsv"
    pairs.to_csv(inp, sep="\t", index=False)
    assert main(["kg", "score", "--model", str(kg_run), "--pairs", str(inp), "--out", str(out)]) == 0  # old names
    s = pd.read_csv(out, sep="\t")["score"].to_numpy()
    y = np.r_[np.ones(len(d)), np.zeros(len(neg))]
    assert roc_auc_score(y, s) >= 0.8


def test_predict_by_name_and_id(kg_run, tmp_path, capsys):
    out = tmp_path / "top.tsv"
    assert (
        main(
            [
                "linkpred",
                "predict",
                "--model",
                str(kg_run),
                "--node",
                "hypertension",
                "--metaedge",
                "CtD",
                "--top",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    top = pd.read_csv(out, sep="\t")
    assert len(top) == 5 and top["rank"].tolist() == [1, 2, 3, 4, 5]
    assert (top["target_name"] == "hypertension").all() and top["source"].str.startswith("Compound::").all()
    assert top["score"].is_monotonic_decreasing and (top["source_name"].str.len() > 0).all()
    capsys.readouterr()
    # from the compound side: diseases a compound may treat; novel-only leaves known edges out
    assert (
        main(
            [
                "linkpred",
                "predict",
                "--model",
                str(kg_run),
                "--node",
                "Compound::DB00091",
                "--metaedge",
                "CtD",
                "--top",
                "3",
                "--novel-only",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split("\t")[:3] == ["rank", "source", "source_name"] and len(lines) == 4
    assert all(line.split("\t")[-1] == "False" for line in lines[1:])


def test_bad_input_is_one_line_exit_2(kg_run, kg_files, tmp_path, capsys):
    nodes, train, _ = kg_files
    assert main(["kg", "predict", "--model", str(kg_run), "--node", "no such disease", "--metaedge", "CtD"]) == 2
    assert "no node with id or name 'no such disease'" in capsys.readouterr().err
    assert main(["kg", "predict", "--model", str(kg_run), "--node", "Disease::DOID:10763", "--metaedge", "CbG"]) == 2
    assert "is a Disease; CbG joins Compound and Gene" in capsys.readouterr().err
    # 'hypertension' names a Disease and a Side Effect: ambiguous unless the metaedge picks the kind
    assert main(["kg", "predict", "--model", str(kg_run), "--node", "hypertension", "--metaedge", "CbG"]) == 2
    assert "is ambiguous: Disease::DOID:10763, Side Effect::C0020538" in capsys.readouterr().err
    bad = tmp_path / "bad_edges.tsv"
    bad.write_text(
        "source\tmetaedge\ttarget\nCompound::DB00091\tCtD\tDisease::DOID:7148\n"
        "Compound::DB00091\tCtD\tDisease::NOT_A_NODE\n"
    )
    assert (
        main(
            [
                "linkpred",
                "train",
                "--nodes",
                str(nodes),
                "--edges",
                str(bad),
                "--targets",
                "CtD",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"genolm: error: {bad}:3: unknown node 'Disease::NOT_A_NODE' (not in the nodes table)"]
    assert (
        main(
            [
                "linkpred",
                "train",
                "--nodes",
                str(nodes),
                "--train",
                str(train),
                "--targets",
                "XyZ",
                "--out",
                str(tmp_path / "o2"),
            ]
        )
        == 2
    )
    assert "target metaedge 'XyZ' has no edges" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()


def test_genolm_load_scores_pairs_like_the_cli(kg_run, kg_files, tmp_path):
    import genolm
    from genolm.omics.predictors import LinkPredictorPredictor

    _, _, dev = kg_files
    d = pd.read_csv(dev, sep="\t").groupby("metaedge").head(5).reset_index(drop=True)
    pairs = pd.concat(
        [d, pd.DataFrame([("Compound::NOPE", "CtD", d.target.iat[0])], columns=d.columns)], ignore_index=True
    )
    inp, out = tmp_path / "pairs.tsv", tmp_path / "scored.tsv"
    pairs.to_csv(inp, sep="\t", index=False)
    assert main(["linkpred", "score", "--model", str(kg_run), "--input", str(inp), "--out", str(out)]) == 0
    cli = pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False)
    model = genolm.load(kg_run)
    assert isinstance(model, LinkPredictorPredictor) and set(model.targets) == {"CtD", "DaG", "CbG"}

    def as_file(df: pd.DataFrame) -> pd.DataFrame:  # what the CLI's TSV holds, read back as text
        import io

        return pd.read_csv(
            io.StringIO(df.to_csv(sep="\t", index=False, na_rep="")), sep="\t", dtype=str, keep_default_na=False
        )

    triples = list(zip(pairs.source, pairs.metaedge, pairs.target))
    api = model.predict(triples)
    pd.testing.assert_frame_equal(as_file(api), cli)
    assert api["score"].notna().sum() == len(d) and api["reason"].iat[-1] == "unknown source node 'Compound::NOPE'"
    pd.testing.assert_frame_equal(as_file(model.predict(pairs)), cli)
    # (source, target) pairs: the metaedge is the one trained target joining the two kinds
    two = model.predict(list(zip(d.source, d.target)))
    np.testing.assert_array_equal(two["score"].to_numpy(), api["score"].to_numpy()[: len(d)])
    ctd = d[d.metaedge == "CtD"]
    one = model.predict(list(zip(ctd.source, ctd.target)), metaedge="CtD")
    assert one["metaedge"].eq("CtD").all() and one["score"].notna().all()
    # the ranking is `linkpred predict --node`
    top = tmp_path / "top.tsv"
    assert (
        main(
            [
                "linkpred",
                "predict",
                "--model",
                str(kg_run),
                "--node",
                "hypertension",
                "--metaedge",
                "CtD",
                "--top",
                "5",
                "--out",
                str(top),
            ]
        )
        == 0
    )
    pd.testing.assert_frame_equal(
        model.rank("hypertension", "CtD", top=5), pd.read_csv(top, sep="\t"), check_dtype=False
    )


def test_pickled_link_model_is_refused(kg_run, tmp_path, capsys):
    import pickle
    import shutil

    old = tmp_path / "old"
    shutil.copytree(kg_run, old)
    marker = tmp_path / "PWNED"
    for f in (old / "model").glob("combiner_*.skops"):
        f.unlink()
        f.with_suffix(".joblib").write_bytes(pickle.dumps((open, (str(marker), "w"))))
    assert main(["linkpred", "predict", "--model", str(old), "--node", "hypertension", "--metaedge", "CtD"]) == 2
    assert "genolm convert" in capsys.readouterr().err and not marker.exists()


def test_group_names_are_distinguishable(capsys):
    from typer.testing import CliRunner

    from genolm.cli.main import app

    res = CliRunner().invoke(app, ["--help"])
    assert "linkpred" in res.output
    res = CliRunner().invoke(app, ["linkpred", "--help"])
    assert res.exit_code == 0 and "lit kg" in res.output  # says which is the literature database
