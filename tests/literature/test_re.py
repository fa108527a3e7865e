"""Relation extraction on real CDR abstracts: candidates, scoring, train/predict/evaluate, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genolm.cli.main import main
from genolm.literature import formats as F
from genolm.literature import relations as R

DATA = Path(__file__).parents[1] / "data" / "literature" / "nlp"
TRAIN, DEV = DATA / "cdr_train_80.PubTator", DATA / "cdr_dev_40.PubTator"


@pytest.fixture(scope="module")
def re_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("re") / "run"
    return out, R.train_re(TRAIN, out, valid=DEV, folds=3)


def test_candidates_cover_gold_and_skip_missing_ids():
    docs = F.read_pubtator(TRAIN)
    d = docs[0]  # 227508: naloxone / clonidine / alpha-methyldopa vs hypertensive / hypotensive
    pairs, concepts = R.candidate_pairs(d, [("Chemical", "Disease")])
    keys = {(a.id, b.id) for a, b in pairs}
    assert ("D008750", "D007022") in keys  # the gold CID pair of this abstract
    assert all("-1" not in k for k in keys)  # 'nalozone' has no id
    n_chem = len({c.id for c in concepts.values() if c.type == "Chemical"})
    n_dis = len({c.id for c in concepts.values() if c.type == "Disease"})
    assert len(pairs) == n_chem * n_dis
    covered = sum(
        1
        for d in docs
        for r in d.relations
        if (r.id1, r.id2) in {(a.id, b.id) for a, b in R.candidate_pairs(d, [("Chemical", "Disease")])[0]}
    )
    assert covered == sum(len(d.relations) for d in docs)


def test_relation_scores_known_values():
    gold = [F.Document("1", "t", relations=[F.Relation("CID", "C1", "D1"), F.Relation("CID", "C2", "D1")])]
    pred = [[F.Relation("CID", "C1", "D1"), F.Relation("CID", "C3", "D1")]]
    s = R.relation_scores(gold, pred)
    assert (s["tp"], s["precision"], s["recall"], s["f1"]) == (1, 0.5, 0.5, 0.5)


def test_train_beats_all_pairs_baseline(re_run):
    out, m = re_run
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "report.html",
        "model/genolm_re.json",
        "model/re_model.skops",
        "dev_predictions.PubTator",
    ):
        assert (out / name).is_file(), name
    dev = F.read_pubtator(DEV)
    all_pairs = [
        [F.Relation("CID", a.id, b.id) for a, b in R.candidate_pairs(d, [("Chemical", "Disease")])[0]] for d in dev
    ]
    baseline = R.relation_scores(dev, all_pairs)
    assert m["dev"]["f1"] > baseline["f1"] + 0.1
    assert m["relation_types"] == [["CID", "Chemical", "Disease"]]


def test_predict_writes_relation_lines_and_evaluate_agrees(re_run, tmp_path):
    out, m = re_run
    dev = F.read_pubtator(DEV)
    stripped = tmp_path / "nogold.PubTator"
    for d in dev:
        d.relations = []
    F.write_pubtator(stripped, dev)
    pred_path = tmp_path / "pred.PubTator"
    s = R.predict_file(out, stripped, pred_path)
    lines = [x.split("\t") for x in pred_path.read_text().splitlines() if "\tCID\t" in x]
    assert len(lines) == s["relations"] > 0 and all(len(x) == 4 for x in lines)
    assert R.evaluate_re(None, DEV, predictions=pred_path)["f1"] == pytest.approx(m["dev"]["f1"])
    model = R.load_re(out)
    rels = model.predict_document(dev[0])
    assert all(r.type == "CID" and 0 <= r.score <= 1 for r in rels)


def test_cli_re(re_run, tmp_path, capsys):
    out, m = re_run
    assert main(["lit", "re", "evaluate", "--model", str(out), "--data", str(DEV), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == pytest.approx(m["dev"]["f1"])
    bad = tmp_path / "bad.PubTator"
    bad.write_text("1|t|Aspirin and headache.\n1|a|x\n1\t0\t7\tAspirin\n")
    rc = main(["lit", "re", "predict", "--model", str(out), "--input", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"{bad}:3:" in err[0]
    plain = tmp_path / "plain.PubTator"
    plain.write_text("1|t|Aspirin and headache.\n1|a|No annotations.\n")
    rc = main(["lit", "re", "predict", "--model", str(out), "--input", str(plain), "--out", str(tmp_path / "o")])
    assert rc == 2 and "no entity mention lines" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_rerank_context_features_and_saved_model(re_run):
    keys = [("CID", "C1", "D1"), ("CID", "C1", "D2"), ("CID", "C2", "D1")]
    ctx = R.context_features(keys, [0.8, 0.5, 0.2])
    lg = [1.3863, 0.0, -1.3863]  # log-odds
    assert ctx[:, 0] == pytest.approx(lg, abs=1e-3)
    assert ctx[:, 1] == pytest.approx([0.0, -1.3863, -2.7726], abs=1e-3)  # vs the document's best pair
    assert ctx[:, 2] == pytest.approx([0.0, -1.3863, 0.0], abs=1e-3)  # vs the best pair of the same chemical
    assert ctx[:, 3] == pytest.approx([0.0, 0.0, -2.7726], abs=1e-3)  # vs the best pair of the same disease
    assert list(ctx[:, 4]) == [0, 1, 2] and list(ctx[:, 5]) == [1, 0, 0]
    out, m = re_run
    model = R.load_re(out)
    assert set(model.rerankers) == {"CID"} and 0.05 <= model.thresholds["CID"] <= 0.95
    assert 0 < m["train_oof_document_f1"]["CID"] <= 1
    dev = F.read_pubtator(DEV)
    scores = model.score_documents(dev[:3])
    assert all(0 <= r.score <= 1 for rs in scores for r in rs)


def test_genolm_load_predictor_matches_cli_predict(re_run, tmp_path):
    """The relation predictor gives the relation lines `lit re predict` writes, in the same order."""
    from genolm.literature.predictors import PREDICTORS

    out, _ = re_run
    dst = tmp_path / "pred.PubTator"
    assert main(["lit", "re", "predict", "--model", str(out), "--input", str(DEV), "--out", str(dst)]) == 0
    cli = [tuple(x.split("\t")) for x in dst.read_text().splitlines() if x.count("\t") == 3]
    got = dict(PREDICTORS)["genolm_re.json"](out / "model").predict(F.read_pubtator(DEV))
    assert list(got.columns) == ["pmid", "type", "id1", "id2"]
    assert [tuple(r) for r in got.itertuples(index=False)] == cli and cli


def test_model_is_stored_without_pickle(re_run, tmp_path, capsys):
    out, _ = re_run
    assert not list((out / "model").glob("*.joblib"))
    meta = json.loads((out / "model" / "genolm_re.json").read_text())
    assert meta["priors"]["pair"]  # the concept priors are plain JSON
    old = tmp_path / "old"
    old.mkdir()
    (old / "genolm_re.json").write_text((out / "model" / "genolm_re.json").read_text())
    (old / "re_model.joblib").write_bytes(b"\x80\x04K\x01.")
    rc = main(["lit", "re", "predict", "--model", str(old), "--input", str(DEV), "--out", str(tmp_path / "o")])
    assert rc == 2 and "retrain" in capsys.readouterr().err
