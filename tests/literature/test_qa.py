"""PubMedQA: reading, cue features, train/predict/evaluate round trip, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genolm.cli.main import main
from genolm.io.errors import InputError
from genolm.literature import qa as Q

DATA = Path(__file__).parents[1] / "data" / "literature" / "nlp"
TRAIN, DEV = DATA / "pqal_train_100.json", DATA / "pqal_dev_40.json"


def test_read_pubmedqa_fields_and_errors(tmp_path):
    recs = Q.read_pubmedqa(TRAIN)
    assert len(recs) == 100 and {r["answer"] for r in recs} <= set(Q.LABELS)
    assert all(r["question"].strip() and r["contexts"] for r in recs)
    bad = tmp_path / "bad.json"
    bad.write_text('{"1": {"QUESTION": "Q?", "CONTEXTS": ["c"], "final_decision": "perhaps"}}')
    with pytest.raises(InputError, match="not yes, no or maybe"):
        Q.read_pubmedqa(bad)
    bad.write_text('{"1": {"QUESTION": "Q?",\n "CONTEXTS": [}')
    with pytest.raises(InputError, match="not valid JSON") as e:
        Q.read_pubmedqa(bad)
    assert e.value.line == 2


def test_cue_features_read_significance():
    yes = Q._cue_counts("Mortality was significantly lower (p < 0.001) and survival improved.")
    no = Q._cue_counts("There was no significant difference between groups (p = 0.42).")
    names = list(Q._CUES) + ["p_small", "p_big", "more_small", "only_big"]
    y, n = dict(zip(names, yes)), dict(zip(names, no))
    assert y["p_small"] > 0 and y["p_big"] == 0 and y["more_small"] == 1
    assert n["p_big"] > 0 and n["only_big"] == 1 and n["neg_sig"] > 0 and n["no_diff"] > 0


def test_train_predict_evaluate_roundtrip(tmp_path):
    out = tmp_path / "run"
    m = Q.train_qa(TRAIN, out, DEV, encoder=False)
    assert (out / "model" / "genolm_qa.json").is_file() and (out / "report.html").is_file()
    assert m["train"]["accuracy"] > m["train"]["majority_baseline_accuracy"]
    csv = tmp_path / "pred.csv"
    s = Q.predict_file(out, DEV, csv)
    rows = csv.read_text().splitlines()
    assert rows[0] == "id,prediction" and len(rows) == 41 and s["questions"] == 40
    ids = list(json.loads(DEV.read_text()))
    assert [r.split(",")[0] for r in rows[1:]] == ids  # input order kept
    assert all(r.split(",")[1] in Q.LABELS for r in rows[1:])
    from_csv = Q.evaluate_qa(None, DEV, predictions=csv)
    assert from_csv["accuracy"] == pytest.approx(m["dev"]["accuracy"])
    assert from_csv["n"] == 40


def test_cli_qa_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"1": {"QUESTION": "caf\xe9?"}}\n')
    rc = main(["lit", "qa", "train", "--train", str(bad), "--out", str(tmp_path / "r"), "--no-encoder"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"{bad}:1:" in err[0] and "UTF-8" in err[0]
    rc = main(["lit", "qa", "evaluate", "--data", str(DEV)])
    assert rc == 2 and "give --model" in capsys.readouterr().err


@pytest.mark.slow
def test_encoder_features_and_cli_train(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["lit", "qa", "train", "--train", str(DEV), "--out", str(out), "--encoder"])
    assert rc == 0 and "model written" in capsys.readouterr().out
    recs = Q.read_pubmedqa(DEV)[:3]
    emb = Q.embed_records(recs)
    assert emb.shape == (3, 4 * 384 + 2)
    assert Q.load_qa(out).predict(recs, emb) == Q.load_qa(out).predict(recs)


def test_genolm_load_predictor_matches_cli_predict(tmp_path):
    """The QA predictor returns the id,prediction CSV `lit qa predict` writes; the model folder has no pickle."""
    import pandas as pd

    from genolm.literature.predictors import PREDICTORS

    out = tmp_path / "run"
    assert main(["lit", "qa", "train", "--train", str(TRAIN), "--out", str(out), "--no-encoder"]) == 0
    assert (out / "model" / "qa_model.skops").is_file() and not list((out / "model").glob("*.joblib"))
    csv = tmp_path / "pred.csv"
    assert main(["lit", "qa", "predict", "--model", str(out), "--input", str(DEV), "--out", str(csv)]) == 0
    cli = pd.read_csv(csv, dtype=str)
    raw = json.loads(DEV.read_text())
    pred = dict(PREDICTORS)["genolm_qa.json"](out / "model")
    got = pred.predict(raw)
    assert got.equals(cli)
    as_list = pred.predict([{"id": k, **v} for k, v in raw.items()])
    assert as_list.equals(cli)
    s = Q.evaluate_qa(out, DEV)
    assert s["f1"] == s["macro_f1"] and "mcc" in s
