"""`genolm explain-run`: facts from real run dirs / result files, the template, the grounding check, a real LLM server."""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from genolm.cli.main import main
from genolm.core import registry
from genolm.core.runsummary_text import fact_numbers, fmt, ground, numbers_in, support
from genolm.core.runsummary_write import explain, summary_body

DATA = Path(__file__).resolve().parents[1] / "data"
ED = DATA / "editing"
VAR = DATA / "variants"


def _cli(args: list) -> int:
    return main(["-q", *[str(a) for a in args]])


def _all_numbers_grounded(md: str, facts: dict) -> list[str]:
    """The numbers of the summary body that no fact supports (must be [])."""
    nums = list(fact_numbers(facts))
    return [n.text for n in numbers_in(summary_body(md)) if support(n, nums) is None]


def _explain_cli(src, out: Path, *extra) -> tuple[str, dict]:
    assert _cli(["explain-run", src, "--out", out, *extra]) == 0
    return out.read_text(), json.loads(out.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def guides_tsv(ontarget_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explain_design") / "guides.tsv"
    ref = ED / "ecoli_slice.fa.gz"
    args = ["crispr", "design", "--reference", ref, "--region", "ecoli_slice:2289-3701", "--genome", ref]
    assert _cli([*args, "--model", ontarget_run, "--out", out]) == 0
    return out


@pytest.fixture(scope="module")
def scored_vcf(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explain_vcf") / "scored.vcf"
    args = ["variants", "score", "--method", "motif", "--model", "jaspar", "--reference", VAR / "mpra_elements.fa"]
    assert _cli([*args, "--vcf", VAR / "mpra_snv.vcf.gz", "--out", out]) == 0
    return out


# --- templates on real runs ------------------------------------------------------------------------------
def test_classifier_run_template_quotes_metrics_and_baselines(promoter_clf, tmp_path):
    md, js = _explain_cli(promoter_clf, tmp_path / "summary.md", "--suggest")
    metrics = json.loads((promoter_clf / "metrics.json").read_text())["valid"]
    assert f"MCC {fmt(metrics['mcc'])} (better than the chance level of 0" in md
    assert f"AUROC {fmt(metrics['auroc'])} (better than the chance level of 0.5" in md
    assert f"On the valid split ({metrics['n']} examples)" in md
    # labels of the valid file are known: accuracy against the majority-class rate, AUPRC against the positive rate
    with open(DATA / "core" / "prom_valid.csv") as fh:
        labels = [r["label"] for r in csv.DictReader(fh)]
    major = max(labels.count("0"), labels.count("1")) / len(labels)
    assert f"better than the majority-class rate of {fmt(major)}" in md
    assert "prom_train.csv" in md and "## Next experiments" in md and "Evidence:" in md
    assert js["writer"] == "template" and js["unsupported"] == [] and js["cited_numbers"]
    assert _all_numbers_grounded(md, js["facts"]) == []
    run = js["facts"]["parts"][0]
    assert run["command"] == "finetune" and {i["role"] for i in run["inputs"]} == {"train", "valid"}
    assert next(i for i in run["inputs"] if i["role"] == "valid")["records"] == len(labels)


def test_guides_template_names_the_best_guides(guides_tsv, tmp_path):
    md, js = _explain_cli(guides_tsv.parent, tmp_path / "g.md", "--suggest")  # the design output folder
    with open(guides_tsv) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    best = min(rows, key=lambda r: int(r["rank"]))
    unflagged = [r for r in sorted(rows, key=lambda r: int(r["rank"])) if not r["flags"]]
    assert f"holds {len(rows)} candidate guides" in md and f"{len(unflagged)} carry no flag" in md
    assert f"The best-ranked guide is {best['guide_id']} ({best['spacer']} {best['pam']}" in md
    assert f"final score {fmt(float(best['final_score']))}" in md
    tests_first = md.split("Test these guides first:")[1].split("(Evidence")[0]
    assert [g.split(" (")[0].strip() for g in tests_first.split(";")] == [r["guide_id"] for r in unflagged[:3]]
    assert _all_numbers_grounded(md, js["facts"]) == [] and js["unsupported"] == []


def test_variants_template_ranks_by_abs_score(scored_vcf, tmp_path):
    md, js = _explain_cli(scored_vcf, tmp_path / "v.md", "--suggest")
    scores = []
    for line in scored_vcf.read_text().splitlines():
        if line.startswith("#"):
            continue
        c = line.split("\t")
        info = dict(kv.partition("=")[::2] for kv in c[7].split(";"))
        scores.append((c[2], float(info["GENOLM_SCORE"])))
    top = max(scores, key=lambda s: abs(s[1]))
    assert f"holds {len(scores)} records" in md and "method motif, model jaspar" in md
    assert f"are {top[0]} ({fmt(top[1])})" in md
    assert f"{sum(s < 0 for _, s in scores)} are negative" in md
    assert "Validate the strongest predicted effects first: " + top[0] in md
    assert _all_numbers_grounded(md, js["facts"]) == []


def test_job_directory_explains_each_result(promoter_clf, guides_tsv, tmp_path):
    job = tmp_path / "data" / "jobs" / "0123abcd"
    shutil.copytree(promoter_clf, job / "run")
    shutil.copy(guides_tsv, job / "result.tsv")
    md, js = _explain_cli(job, tmp_path / "job.md")
    assert [p["kind"] for p in js["facts"]["parts"]] == ["guides", "run"]
    assert "## result.tsv" in md and "## run" in md and "`genolm finetune`" in md
    assert _all_numbers_grounded(md, js["facts"]) == []


def test_bad_run_dir_is_one_line_exit_2(tmp_path, capsys):
    for bad in (tmp_path / "missing", DATA / "core", DATA / "core" / "prom_train.csv", VAR / "mpra_snv.vcf.gz"):
        assert _cli(["explain-run", bad, "--out", tmp_path / "x.md"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("genolm: error:") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "x.md").exists()


def test_registry_offers_explain_run_to_rest_and_mcp():
    t = registry.get("explain-run")
    assert t in registry.tasks() and not t.cli_only
    schema = t.json_schema()
    assert schema["properties"]["run_dir"]["x-genolm-path"] == "in" and schema["required"] == ["run_dir", "out"]
    assert schema["properties"]["out"]["x-genolm-path"] == "out"
    p = t.validate({"run_dir": "jobs/abc", "out": "summary.md", "suggest": True})
    assert t.argv(p) == ["explain-run", "--out", "summary.md", "--suggest", "--", "jobs/abc"]  # positional last


# --- the grounding check -----------------------------------------------------------------------------------
def test_grounding_removes_made_up_numbers():
    facts = {"metrics": [{"name": "mcc", "value": 0.4745461, "n": 200}, {"name": "accuracy", "value": 0.72}]}
    facts["top"] = [{"id": "F9:137:T>G", "score": -8.16953}, {"guide_id": "bglB_101", "gc": 65}]
    text = (
        "The model reached MCC 0.47 on 200 examples. Accuracy was 72% and the MCC rounds to 0.475.\n"
        "It beat a published model by 0.31 points. Guide bglB_101 has GC 65 and F9:137:T>G scores -8.17.\n"
        "- An MCC of 0 would be chance."
    )
    g = ground(text, facts)
    assert g.removed == ["It beat a published model by 0.31 points.", "- An MCC of 0 would be chance."] or (
        g.removed == ["It beat a published model by 0.31 points.", "An MCC of 0 would be chance."]
    )
    assert "0.31" not in g.text and "MCC 0.47 on 200" in g.text and "scores -8.17" in g.text
    assert {c["number"] for c in g.cited} >= {"0.47", "200", "72%", "0.475", "65", "-8.17"[1:]}
    # rounding is to the shown precision: 0.48 is not 0.4745, 0.4745 does not support 0 or 1
    assert ground("MCC 0.48.", facts).removed == ["MCC 0.48."]
    assert ground("MCC 1.", facts).removed == ["MCC 1."]
    # a minus sign must match the fact's sign; the dash of a name or a range is no sign
    assert ground("The MCC is -0.47. F9:137:T>G fell by 8.17.", facts).removed == ["The MCC is -0.47."]
    # digits inside names are not numbers; thousands separators and percentages are read
    assert [n.text for n in numbers_in("bglB_101 off_4mm IL-1 had 1,726 reads (72.0%)")] == ["1", "1,726", "72.0%"]


def test_llm_answer_with_a_made_up_number_keeps_the_rest(promoter_clf):
    metrics = json.loads((promoter_clf / "metrics.json").read_text())["valid"]
    seen = []

    def fake_llm(messages):
        seen.append(messages)
        return (
            f"# Summary\n\nThe classifier reached an MCC of {metrics['mcc']:.2f} on {metrics['n']} validation "
            f"sequences. Its AUROC of {metrics['auroc']:.3f} is well above 0.5. "
            "This is 12.5 points better than DeepPromoter.\n"
        )

    md, js = explain(promoter_clf, complete=fake_llm, llm_name="fake")
    assert js["writer"] == "llm" and "12.5" not in summary_body(md)
    assert "Removed (unsupported numbers):** “This is 12.5 points better than DeepPromoter.”" in md
    assert f"MCC of {metrics['mcc']:.2f}" in summary_body(md)
    assert (
        '"mcc"' in seen[0][1]["content"] and "Every number you write must appear in the facts" in seen[0][0]["content"]
    )
    assert _all_numbers_grounded(md, js["facts"]) == []

    md, js = explain(promoter_clf, complete=lambda m: "It improved by 0.31. It has 9,999 parameters.")
    assert js["writer"] == "template" and "The LLM's answer was not used (2 of 2 sentences" in md


# --- against genolm's own `serve llm` ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    import uvicorn

    from genolm.literature import textlm
    from genolm.serve.llm_server import create_app

    model = tmp_path_factory.mktemp("explain_llm") / "textlm"
    cfg = textlm.TextLMConfig(
        vocab_size=600, n_layer=1, n_head=2, n_embd=32, block_size=64, batch_size=8, max_steps=30,
        time_budget=None, valid_fraction=0.1, seed=0,
    )  # fmt: skip
    textlm.train_textlm(DATA / "literature" / "kg" / "abstracts_72.jsonl", model, cfg)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(str(model), model_name="tiny", api_key="k"), host="127.0.0.1", port=port)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "serve llm did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_llm_path_end_to_end_is_grounded(llm_server, guides_tsv, tmp_path):
    out = tmp_path / "llm.md"
    args = ["--llm-url", llm_server, "--llm-model", "tiny", "--llm-key", "k", "--suggest", "--max-tokens", "48"]
    md, js = _explain_cli(guides_tsv, out, *args)
    assert js["llm"]["model"] == "tiny" and isinstance(js["llm"]["raw"], str) and js["llm"]["raw"]
    assert js["writer"] in ("llm", "template")
    assert _all_numbers_grounded(md, js["facts"]) == [] and js["unsupported"] == []
    # the final text quotes the table: its best guide and that guide's final score, as written in the TSV
    with open(guides_tsv) as fh:
        best = next(csv.DictReader(fh, delimiter="\t"))
    body = summary_body(md)
    assert best["guide_id"] in body and fmt(float(best["final_score"])) in body and re.search(r"\b\d+\b", body)
    removed = js["llm"]["removed"]
    for sentence in removed:  # what the grounding check dropped really had a number the run lacks
        assert any(support(n, list(fact_numbers(js["facts"]))) is None for n in numbers_in(sentence))
    if js["writer"] == "template":
        assert "The LLM's answer was not used" in md
    # a wrong key is one clear error, exit 2
    assert (
        _cli(["explain-run", guides_tsv, "--out", tmp_path / "bad.md", "--llm-url", llm_server, "--llm-key", "x"]) == 2
    )


def test_gz_vcf_streams(scored_vcf, tmp_path):
    gz = tmp_path / "scored.vcf.gz"
    with open(scored_vcf, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    md_gz, js_gz = explain(gz)
    md, js = explain(scored_vcf)
    assert js_gz["facts"]["parts"][0]["top"] == js["facts"]["parts"][0]["top"]


@pytest.mark.slow
def test_rest_job_explains_an_earlier_job(tmp_path):
    """What the web UI's "Explain this run" button does: explain-run on jobs/<id> of a finished design job."""
    from genolm.serve.jobs import JobManager

    shutil.copy(ED / "ecoli_slice.fa.gz", tmp_path / "ecoli.fa.gz")
    m = JobManager(tmp_path, workers=1)
    m.start()
    try:
        design = m.submit("crispr.design", {"reference": "ecoli.fa.gz", "region": "ecoli_slice:2289-3701"})
        design = m.wait(design.id, timeout=180)
        assert design.state == "succeeded", m.log_tail(design.id)
        job = m.wait(m.submit("explain-run", {"run_dir": f"jobs/{design.id}", "suggest": True}).id, timeout=180)
        assert job.state == "succeeded", m.log_tail(job.id)
        assert set(m.files(job.id)) == {"result.md", "result.json"}
        md = m.file_path(job.id, "result.md").read_text()
        js = json.loads(m.file_path(job.id, "result.json").read_text())
        with open(m.file_path(design.id, "result.tsv")) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        assert f"holds {len(rows)} candidate guides" in md and "Test these guides first:" in md
        assert "No on-target model was given" in md and _all_numbers_grounded(md, js["facts"]) == []
        bad = m.wait(m.submit("explain-run", {"run_dir": f"jobs/{job.id}"}).id, timeout=180)
        assert bad.state == "failed" and "is not a genolm run" in bad.error
    finally:
        m.stop()


def test_regression_run_and_metrics_file_get_baselines(ontarget_run, tmp_path):
    md, js = _explain_cli(ontarget_run, tmp_path / "r.md")
    with open(ontarget_run / "dev_predictions.csv") as fh:
        y = [float(r["target"]) for r in csv.DictReader(fh)]
    mean = sum(y) / len(y)
    sd = (sum((v - mean) ** 2 for v in y) / len(y)) ** 0.5
    rmse = json.loads((ontarget_run / "metrics.json").read_text())["dev"]["rmse"]
    assert f"RMSE {fmt(rmse)} (better than the predict-the-mean baseline of {fmt(sd)})" in md
    assert f"kim_train.csv ({len(open(ED / 'kim_train.csv').readlines()) - 1} records" in md
    assert _all_numbers_grounded(md, js["facts"]) == []
    ev = tmp_path / "eval.json"
    args = ["--sequence-col", "target_context_30mer", "--label-col", "indel_freq_background_subtracted_pct"]
    assert _cli(["crispr", "evaluate", "--model", ontarget_run, "--input", ED / "kim_dev.csv", *args, "--out", ev]) == 0
    md, js = _explain_cli(ev, tmp_path / "e.md")
    spearman = json.loads(ev.read_text())["spearman"]
    assert "The metrics file eval.json records an evaluation" in md and f"Spearman {fmt(spearman)}" in md
    assert _all_numbers_grounded(md, js["facts"]) == []
