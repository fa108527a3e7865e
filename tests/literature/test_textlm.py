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
TINY = [
    "--vocab-size",
    "600",
    "--layers",
    "1",
    "--dim",
    "32",
    "--heads",
    "2",
    "--block-size",
    "64",
    "--batch-size",
    "8",
    "--valid-fraction",
    "0.15",
    "--seed",
    "3",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("textlm") / "run"
    assert (
        main(["lit", "textlm", "train", "--corpus", str(ABSTRACTS), "--out", str(out), "--max-steps", "40", *TINY]) == 0
    )
    return out


def test_run_directory_and_heldout_metrics(run_dir):
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "report.html",
        "log.txt",
        "curve.json",
        "samples.json",
        "model/config.json",
        "model/model.safetensors",
        "model/tokenizer.json",
    ):
        assert (run_dir / name).is_file(), name
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["steps"] == 40
    assert m["heldout_docs"] > 0 and m["train_docs"] + m["heldout_docs"] == 72
    # better than a uniform guess over the vocabulary, and consistent with the loss
    assert 1 < m["heldout_perplexity"] < m["vocab_size"]
    assert math.isclose(math.log(m["heldout_perplexity"]), m["heldout_loss"], rel_tol=1e-6)
    curve = json.loads((run_dir / "curve.json").read_text())
    assert curve[-1]["loss"] < curve[0]["loss"]  # it learned something
    assert "src='data:image/png;base64," in (run_dir / "report.html").read_text()  # core Report figure


def test_heldout_split_is_by_id_and_stable():
    keys = [f"doc{i}" for i in range(2000)]
    held = [k for k in keys if textlm.is_heldout(k, 0.05)]
    assert 60 < len(held) < 140
    assert held == [k for k in keys if textlm.is_heldout(k, 0.05)]


def test_same_seed_same_model(run_dir, tmp_path):
    other = tmp_path / "again"
    assert (
        main(["lit", "textlm", "train", "--corpus", str(ABSTRACTS), "--out", str(other), "--max-steps", "40", *TINY])
        == 0
    )
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
    assert (
        main(
            [
                "lit",
                "textlm",
                "train",
                "--corpus",
                str(ABSTRACTS),
                "--out",
                str(tmp_path / "o2"),
                "--time-budget",
                "soon",
            ]
        )
        == 2
    )
    assert "cannot read time budget" in capsys.readouterr().err


def test_genolm_load_predictor_matches_generate_cli(run_dir, capsys):
    from genolm.literature.predictors import PREDICTORS

    assert (
        main(
            [
                "lit",
                "generate",
                "--model",
                str(run_dir),
                "--prompt",
                "The gene",
                "--max-new-tokens",
                "12",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    cli = capsys.readouterr().out.rstrip("\n")
    pred = dict(PREDICTORS)["genolm_textlm.json"](run_dir / "model")
    df = pred.predict(["The gene"], max_new_tokens=12, seed=1)
    assert list(df.columns) == ["prompt", "text"] and df["text"].tolist() == [cli]
    emb = pred.embed(["The gene", "Mutations in"])
    assert emb.shape[0] == 2 and abs(float((emb[0] ** 2).sum()) - 1) < 1e-4


def test_resume_without_checkpoint_trains_from_start(tmp_path):
    """--resume with nothing to resume (no staging folder) trains from step 0: same result as a fresh run."""
    from genolm.core.runs import staging_path

    cfg = dict(
        vocab_size=600,
        n_layer=1,
        n_head=2,
        n_embd=32,
        block_size=64,
        batch_size=8,
        valid_fraction=0.15,
        seed=3,
        max_steps=30,
        time_budget=None,
        checkpoint_every=10,
    )
    full = textlm.train_textlm(ABSTRACTS, tmp_path / "full", **cfg)
    assert full["steps"] == 30 and not (tmp_path / "full" / "checkpoint").exists()  # removed when finished
    again = textlm.train_textlm(ABSTRACTS, tmp_path / "again", resume=True, **cfg)
    assert again["steps"] == 30
    assert again["heldout_perplexity"] == pytest.approx(full["heldout_perplexity"], rel=1e-5)
    assert not staging_path(tmp_path / "again").exists()
