"""NER: training (CRF and transformer), prediction in every format, evaluation and CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genolm.cli.main import main
from genolm.literature import formats as F
from genolm.literature import ner as N

DATA = Path(__file__).parents[1] / "data" / "literature" / "nlp"
TRAIN, DEV = DATA / "ncbi_train_400.tsv", DATA / "ncbi_devel_150.tsv"


@pytest.fixture(scope="module")
def crf_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ner") / "run"
    metrics = N.train_ner(TRAIN, out, valid=DEV, arch="crf", crf_iterations=40)
    return out, metrics


def test_entity_scores_known_values():
    gold = [["B-D", "I-D", "O", "B-C"], ["O", "B-D"]]
    pred = [["B-D", "I-D", "O", "O"], ["O", "B-C"]]
    s = N.entity_scores(gold, pred)
    assert s["precision"] == pytest.approx(1 / 2) and s["recall"] == pytest.approx(1 / 3)
    assert s["per_type"]["D"]["recall"] == pytest.approx(1 / 2) and s["per_type"]["C"]["f1"] == 0
    assert s["entities"] == 3


def test_viterbi_never_emits_invalid_iob():
    import numpy as np

    labels = ["O", "B-D", "I-D"]
    allowed, start = N.allowed_transitions(labels)
    lp = np.log(np.array([[0.1, 0.1, 0.8], [0.6, 0.1, 0.3], [0.1, 0.1, 0.8]]))
    tags = [labels[i] for i in N.viterbi(lp, allowed, start)]
    assert F.repair_iob(tags) == tags and tags[0] != "I-D"


def test_crf_train_better_than_chance_and_run_dir(crf_run):
    out, m = crf_run
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "report.html",
        "log.txt",
        "dev_predictions.tsv",
        "model/genolm_ner.json",
        "model/crf.model",
    ):
        assert (out / name).is_file(), name
    # 400 training sentences; a tagger that learned nothing scores 0
    assert m["dev"]["f1"] > 0.45
    assert set(m["dev"]["per_type"]) == {"Disease"}
    again = N.evaluate_ner(out, DEV)
    assert again["f1"] == pytest.approx(m["dev"]["f1"])


def test_predict_iob_keeps_tokens_and_order(crf_run, tmp_path):
    out, _ = crf_run
    dst = tmp_path / "pred.tsv"
    s = N.predict_file(out, DEV, dst)
    gold, pred = F.read_iob(DEV), F.read_iob(dst)
    assert [g.tokens for g in gold] == [p.tokens for p in pred]
    assert s["sentences"] == 150 and s["entities"] > 0
    assert all(F.repair_iob(p.tags) == p.tags for p in pred)


def test_predict_text_offsets(crf_run, tmp_path):
    out, _ = crf_run
    ner = N.load_ner(out)
    text = "Mutations in BRCA1 predispose to breast cancer and ovarian cancer. No other tumour was seen."
    ents = ner.predict_text(text)
    assert ents, "expected at least one disease mention"
    for e in ents:
        assert text[e["start"] : e["end"]] == e["text"] and e["type"] == "Disease" and 0 <= e["score"] <= 1
    assert any("cancer" in e["text"] for e in ents)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "d1", "text": text}) + "\n" + json.dumps({"id": "d2", "text": "Nothing."}) + "\n")
    dst = tmp_path / "out.jsonl"
    N.predict_file(out, src, dst)
    recs = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [r["id"] for r in recs] == ["d1", "d2"] and recs[0]["entities"] == ents


def test_predict_pubtator(crf_run, tmp_path):
    out, _ = crf_run
    dst = tmp_path / "out.PubTator"
    N.predict_file(out, DATA / "cdr_dev_40.PubTator", dst)
    docs = F.read_pubtator(dst)  # offsets are checked against the text on reading
    assert len(docs) == 40 and sum(len(d.mentions) for d in docs) > 15
    assert {m.type for d in docs for m in d.mentions} == {"Disease"}


def test_cli_ner_bad_input_exit_2(crf_run, tmp_path, capsys):
    out, _ = crf_run
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"word\tO\nw\xffrd\tO\n")
    rc = main(["lit", "ner", "predict", "--model", str(out), "--input", str(bad), "--out", str(tmp_path / "o.tsv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"genolm: error: {bad}:2:") and "UTF-8" in err[0]
    assert not (tmp_path / "o.tsv").exists()
    bad.write_text("word\tO\nword\tB-X\tjunk\n")
    rc = main(["lit", "ner", "train", "--train", str(bad), "--out", str(tmp_path / "r")])
    assert rc == 2 and f"{bad}:2:" in capsys.readouterr().err
    rc = main(["lit", "ner", "predict", "--model", str(tmp_path), "--input", str(DEV), "--out", str(tmp_path / "x")])
    assert rc == 2 and "not a genolm NER model" in capsys.readouterr().err


def test_cli_ner_evaluate(crf_run, capsys):
    out, m = crf_run
    assert main(["lit", "ner", "evaluate", "--model", str(out), "--data", str(DEV), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["f1"] == pytest.approx(m["dev"]["f1"])


def test_crf_is_deterministic(tmp_path):
    a = N.train_ner(DATA / "bc5cdr_devel_80.tsv", tmp_path / "a", arch="crf", crf_iterations=15)
    b = N.train_ner(DATA / "bc5cdr_devel_80.tsv", tmp_path / "b", arch="crf", crf_iterations=15)
    ta = N.load_ner(tmp_path / "a").predict_tokens([s.tokens for s in F.read_iob(DEV)[:40]])
    tb = N.load_ner(tmp_path / "b").predict_tokens([s.tokens for s in F.read_iob(DEV)[:40]])
    assert ta == tb and a["train_sentences"] == b["train_sentences"] == 80


@pytest.mark.slow
def test_transformer_train_predict_roundtrip(tmp_path):
    """Fine-tunes the packaged MiniLM for a few steps; checks saving/loading and word-piece alignment."""
    m = N.train_ner(
        DATA / "bc5cdr_devel_80.tsv",
        tmp_path / "tf",
        valid=DATA / "bc5cdr_devel_80.tsv",
        arch="transformer",
        max_steps=4,
        batch_size=8,
        time_budget=None,
        threads=1,
    )
    assert m["steps"] == 4 and (tmp_path / "tf" / "model" / "model.safetensors").is_file()
    ner = N.load_ner(tmp_path / "tf")
    assert set(ner.labels) == {"O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"}
    long_sentence = ["word"] * 300  # longer than max_length: windows, never truncated
    (tags,) = ner.predict_tokens([long_sentence])
    assert len(tags) == 300 and F.repair_iob(tags) == tags


def test_genolm_load_predictor_matches_cli_predict(crf_run, tmp_path):
    """The NER predictor returns exactly the JSONL rows `lit ner predict` writes for a text file."""
    import pandas as pd

    from genolm.literature.predictors import PREDICTORS

    out, _ = crf_run
    texts = [
        "Mutations in BRCA1 predispose to breast cancer and ovarian cancer.",
        "Cisplatin nephrotoxicity was seen in two patients.",
        "Nothing here.",
    ]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(texts) + "\n")
    dst = tmp_path / "out.jsonl"
    assert main(["lit", "ner", "predict", "--model", str(out), "--input", str(src), "--out", str(dst)]) == 0
    cli = pd.DataFrame([json.loads(x) for x in dst.read_text().splitlines()])
    loader = dict(PREDICTORS)["genolm_ner.json"]
    got = loader(out / "model").predict(texts)
    assert list(got.columns) == list(cli.columns) == ["id", "text", "entities"]
    assert got.equals(cli) and any(got["entities"].tolist())
    assert got.equals(loader(out / "model").predict(pd.DataFrame({"text": texts})))


def test_legacy_pickle_word_types_refused(crf_run, tmp_path, capsys):
    """A CRF folder whose word-type model is a pickle (as genolm < 0.2 wrote it) is refused, never loaded."""
    import pickle
    import shutil

    out, _ = crf_run
    old = tmp_path / "old"
    shutil.copytree(out / "model", old)
    (old / "word_types.skops").unlink()
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (old / "word_types.joblib").write_bytes(pickle.dumps(Boom()))
    rc = main(["lit", "ner", "predict", "--model", str(old), "--input", str(DEV), "--out", str(tmp_path / "o.tsv")])
    assert rc == 2 and "retrain" in capsys.readouterr().err and not marker.exists()
    (old / "word_types.joblib").unlink()
    (old / "word_types.skops").write_bytes(pickle.dumps(Boom()))  # a pickle renamed .skops
    rc = main(["lit", "ner", "predict", "--model", str(old), "--input", str(DEV), "--out", str(tmp_path / "o.tsv")])
    assert rc == 2 and not marker.exists()
