"""Text LM: byte-level BPE + GPT-2-style model trained for a few steps on real abstracts."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from genolm.cli.main import main
from genolm.literature import textlm

DATA = Path(__file__).resolve().parents[1] / "data" / "literature" / "kg"
ABSTRACTS = DATA / "abstracts_72.jsonl"
TINY = ["--vocab-size", "600", "--layers", "1", "--dim", "32", "--heads", "2", "--block-size", "64",
        "--batch-size", "8", "--valid-fraction", "0.15", "--seed", "3"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("textlm") / "run"
    assert main(["lit", "textlm", "train", "--corpus", str(ABSTRACTS), "--out", str(out), "--max-steps", "40",
                 *TINY]) == 0
    return out


def test_run_directory_and_heldout_metrics(run_dir):
    for name in ("config.yaml", "manifest.json", "metrics.json", "report.html", "log.txt", "curve.json",
                 "samples.json", "model/config.json", "model/model.safetensors", "model/tokenizer.json"):
        assert (run_dir / name).is_file(), name
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["steps"] == 40
    assert m["heldout_docs"] > 0 and m["train_docs"] + m["heldout_docs"] == 72
    # better than a uniform guess over the vocabulary, and consistent with the loss
    assert 1 < m["heldout_perplexity"] < m["vocab_size"]
    assert math.isclose(math.log(m["heldout_perplexity"]), m["heldout_loss"], rel_tol=1e-6)
    curve = json.loads((run_dir / "curve.json").read_text())
    assert curve[-1]["loss"] < curve[0]["loss"]          # it learned something
    assert "<img src=\"data:image/png;base64," in (run_dir / "report.html").read_text()


def test_heldout_split_is_by_id_and_stable():
    keys = [f"doc{i}" for i in range(2000)]
    held = [k for k in keys if textlm.is_heldout(k, 0.05)]
    assert 60 < len(held) < 140
    assert held == [k for k in keys if textlm.is_heldout(k, 0.05)]


def test_same_seed_same_model(run_dir, tmp_path):
    other = tmp_path / "again"
    assert main(["lit", "textlm", "train", "--corpus", str(ABSTRACTS), "--out", str(other), "--max-steps", "40",
                 *TINY]) == 0
    a = json.loads((run_dir / "metrics.json").read_text())
    b = json.loads((other / "metrics.json").read_text())
    assert a["heldout_perplexity"] == pytest.approx(b["heldout_perplexity"], rel=1e-5)


def test_generate_cli_is_seeded(run_dir, capsys):
    args = ["lit", "generate", "--model", str(run_dir), "--prompt", "The gene", "--max-new-tokens", "12"]
    assert main(args + ["--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert main(args + ["--seed", "1"]) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("The gene") and len(first.strip()) > len("The gene")
    lm = textlm.TextLM(run_dir)
    greedy = [lm.generate("Mutations in", max_new_tokens=8, temperature=0) for _ in range(2)]
    assert greedy[0] == greedy[1]


def test_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "text": "fine"}\n{"id": "b", "text": "\xff"}\n')
    assert main(["lit", "textlm", "train", "--corpus", str(bad), "--out", str(tmp_path / "o"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"genolm: error: {bad}:2: not valid UTF-8")
    assert main(["lit", "generate", "--model", str(tmp_path), "--prompt", "x"]) == 2
    assert "not a genolm run directory" in capsys.readouterr().err
    assert main(["lit", "textlm", "train", "--corpus", str(ABSTRACTS), "--out", str(tmp_path / "o2"),
                 "--time-budget", "soon"]) == 2
    assert "cannot read time budget" in capsys.readouterr().err
