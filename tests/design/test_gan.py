"""The DNA GAN (WGAN-GP, Feedback-GAN) on the bundled GUE prom_core slice (70-nt promoters)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genolm.cli.main import main
from genolm.design import gan as gan_mod
from genolm.design.evaluate import gc_content, js_divergence, kmer_spectrum
from genolm.design.gan import WGAN, GanConfig, gan_step, load_gan, train_wgan

DATA = Path(__file__).resolve().parents[1] / "data" / "core"
TINY = dict(latent=32, channels=16, blocks=1, batch_size=32)
TINY_CLI = ["--latent", "32", "--channels", "16", "--blocks", "1", "--batch-size", "32"]


def _positives(name: str) -> list[str]:
    df = pd.read_csv(DATA / name)
    return df.loc[df["label"] == 1, "sequence"].tolist()


@pytest.fixture(scope="module")
def promoters() -> list[str]:
    return _positives("prom_train.csv")


@pytest.fixture(scope="module")
def heldout() -> list[str]:
    return _positives("prom_valid.csv")


@pytest.fixture(scope="module")
def pos_fasta(tmp_path_factory, promoters) -> Path:
    p = tmp_path_factory.mktemp("gan_data") / "promoters.fa"
    p.write_text("".join(f">p{i}\n{s}\n" for i, s in enumerate(promoters)))
    return p


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory, pos_fasta) -> Path:
    out = tmp_path_factory.mktemp("gan_run") / "run"
    args = ["-q", "gan", "train", "--input", str(pos_fasta), "--out", str(out), "--max-steps", "30", "--seed", "1"]
    assert main(args + TINY_CLI + ["--n-eval", "200"]) == 0
    return out


def err_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1] if lines else ""


# ---- training ----------------------------------------------------------------------------------------


def test_training_moves_samples_toward_real_promoters(promoters, heldout):
    cfg = GanConfig(**TINY, max_steps=150, seed=0, log_every=25)
    torch.manual_seed(0)
    untrained = WGAN(np.zeros((4, 70), dtype=np.uint8), cfg).generator.sample(300, seed=5)
    model, summary = train_wgan(promoters, cfg)
    trained = model.generator.sample(300, seed=5)
    assert summary["generator_steps"] == 150 and summary["core_steps"] == 150 * (cfg.n_critic + 1)
    hist = summary["history"]
    assert [h["gen_steps"] for h in hist] == [25, 50, 75, 100, 125, 150]
    assert all(np.isfinite(h["wasserstein"]) and h["gradient_penalty"] >= 0 for h in hist)
    # past the critic's warm-up peak, the Wasserstein estimate and the 4-mer monitor both come down
    assert hist[-1]["wasserstein"] < 0.9 * max(h["wasserstein"] for h in hist)
    assert hist[-1]["js_4mer_train"] < 0.7 * max(h["js_4mer_train"] for h in hist)
    ref2, ref4 = kmer_spectrum(heldout, 2), kmer_spectrum(heldout, 4)
    js2_before, js2_after = (
        js_divergence(kmer_spectrum(untrained, 2), ref2),
        js_divergence(kmer_spectrum(trained, 2), ref2),
    )
    js4_before, js4_after = (
        js_divergence(kmer_spectrum(untrained, 4), ref4),
        js_divergence(kmer_spectrum(trained, 4), ref4),
    )
    assert js2_after < 0.5 * js2_before, (js2_before, js2_after)
    assert js4_after < js4_before, (js4_before, js4_after)
    gc_real = float(np.mean(gc_content(heldout)))
    assert abs(np.mean(gc_content(trained)) - gc_real) < abs(np.mean(gc_content(untrained)) - gc_real) + 0.02


def test_each_step_updates_only_its_network(promoters):
    from genolm.sequence import encode_batch

    cfg = GanConfig(**TINY, n_critic=2)
    m = WGAN(encode_batch(promoters[:64]), cfg)
    batch = {"idx": torch.arange(32)}
    loss = gan_step(m, batch)  # critic step: the fake batch was made without gradients
    gens = torch.autograd.grad(loss, list(m.generator.parameters()), allow_unused=True, retain_graph=True)
    assert all(g is None for g in gens)
    assert all(g is not None for g in torch.autograd.grad(loss, list(m.critic.parameters())))
    gan_step(m, batch)
    loss = gan_step(m, batch)  # third step = generator step
    assert int(m.gen_steps) == 1 and all(not p.requires_grad for p in m.critic.parameters())
    assert all(g is not None for g in torch.autograd.grad(loss, list(m.generator.parameters())))
    gan_step(m, batch)  # back to the critic
    assert all(p.requires_grad for p in m.critic.parameters())


def test_resume_after_a_kill_ends_with_the_same_weights(tmp_path, promoters, monkeypatch):
    seqs = promoters[:120]
    cfg = dict(**TINY, max_steps=30, seed=3, log_every=10, checkpoint_every=60)
    ref, ref_summary = train_wgan(seqs, GanConfig(**cfg))

    calls = {"n": 0}

    def dies_at_130(model, batch):
        calls["n"] += 1
        if calls["n"] > 130:
            raise KeyboardInterrupt
        return gan_step(model, batch)

    monkeypatch.setattr(gan_mod, "gan_step", dies_at_130)
    with pytest.raises(KeyboardInterrupt):
        train_wgan(seqs, GanConfig(**cfg), out_dir=tmp_path)
    assert (tmp_path / "checkpoint" / "state.json").is_file()
    monkeypatch.setattr(gan_mod, "gan_step", gan_step)
    model, summary = train_wgan(seqs, GanConfig(**cfg), out_dir=tmp_path, resume=True)
    assert summary["core_steps"] == 180 and summary["generator_steps"] == 30  # 120 before the kill + 60 after
    assert [h["gen_steps"] for h in summary["history"]] == [10, 20, 30]
    for a, b in zip(ref.generator.state_dict().values(), model.generator.state_dict().values()):
        assert torch.equal(a, b)
    assert model.generator.sample(20, seed=0) == ref.generator.sample(20, seed=0)


def test_feedback_puts_high_scorers_into_the_pool(promoters, promoter_clf):
    import genolm.api

    sm = genolm.api.load(promoter_clf).sequence_model(device="cpu")
    cfg = GanConfig(**TINY, max_steps=30, feedback_every=5, feedback_threshold=0.0, feedback_n=16, log_every=10)
    cfg.feedback_max_fraction = 0.1  # 29 of the 299 pool slots; 80 sequences are fed back
    cfg.feedback_target = sm.target_index("1")
    model, summary = train_wgan(promoters, cfg, feedback=sm)
    assert summary["feedback_fed_total"] == 5 * 16  # rounds before generator steps 5, 10, 15, 20, 25
    hist = summary["history"]
    assert [h["feedback_rounds"] for h in hist] == [1, 2, 2] and sum(h["feedback_fed"] for h in hist) == 80
    assert all(0.0 <= h["feedback_mean_score"] <= 1.0 for h in hist)
    slots = int(0.1 * len(promoters))
    assert [h["feedback_pool_fraction"] for h in hist] == [16 / 299, slots / 299, slots / 299]
    assert summary["feedback_pool_fraction"] == slots / 299
    from genolm.sequence import encode_batch

    start = WGAN(encode_batch(promoters), cfg).pool.numpy()
    now = model.pool.numpy()
    assert (now[slots:] == start[slots:]).all()  # the cap: 90% of the pool is still the real sequences
    fed = {"".join("ACGT"[c] for c in row) for row in now[:slots]}
    assert len(fed - set(promoters)) > slots // 2  # the capped part is generated sequences


def test_feedback_cli_reports_what_was_fed_back(tmp_path, pos_fasta, promoter_clf):
    out = tmp_path / "fb"
    args = ["-q", "gan", "train", "--input", str(pos_fasta), "--out", str(out), "--max-steps", "20"]
    args += ["--feedback", str(promoter_clf), "--feedback-class", "1", "--feedback-every", "4"]
    args += ["--feedback-threshold", "0.2", "--oracle", str(promoter_clf)]
    assert main(args + TINY_CLI + ["--n-eval", "100"]) == 0
    import json

    m = json.loads((out / "metrics.json").read_text())
    assert m["feedback_fed_total"] >= 0 and m["generator_steps"] == 20
    assert 0.0 <= m["oracle_positive_fraction_generated"] <= 1.0
    hist = json.loads((out / "history.json").read_text())
    assert sum(h["feedback_rounds"] for h in hist) == 4  # before generator steps 4, 8, 12, 16
    assert "Feedback-GAN" in (out / "report.html").read_text()


# ---- the model folder and sampling -------------------------------------------------------------------


def test_run_directory_and_seeded_sampling(tmp_path, gan_run, heldout):
    import json

    assert {"gan.json", "generator.safetensors", "critic.safetensors"} <= {
        p.name for p in (gan_run / "model").iterdir()
    }
    marker = json.loads((gan_run / "model" / "gan.json").read_text())
    assert marker["length"] == 70 and marker["latent"] == 32 and marker["training"]["generator_steps"] == 30
    m = json.loads((gan_run / "metrics.json").read_text())
    assert m["n_generated"] == 200 and 0 < m["js_6mer_generated"] <= 1 and m["memorised_fraction"] is not None
    html = (gan_run / "report.html").read_text()
    assert "Wasserstein" in html and "6-mer" in html

    a, b, c = tmp_path / "a.fa", tmp_path / "b.fa", tmp_path / "c.fa"
    assert main(["-q", "gan", "sample", "--model", str(gan_run), "--n", "50", "--out", str(a), "--seed", "7"]) == 0
    args_b = ["-q", "gan", "sample", "--model", str(gan_run / "model"), "--n", "50", "--out", str(b)]
    assert main(args_b + ["--seed", "7", "--batch-size", "7"]) == 0
    assert main(["-q", "gan", "sample", "--model", str(gan_run), "--n", "50", "--out", str(c), "--seed", "8"]) == 0
    assert a.read_bytes() == b.read_bytes()  # same seed, any batch size: same bytes
    assert a.read_bytes() != c.read_bytes()
    seqs = a.read_text().split()[1::2]
    assert len(seqs) == 50 and all(len(s) == 70 and set(s) <= set("ACGT") for s in seqs)
    assert load_gan(gan_run).sample(50, seed=7) == seqs
    hot = load_gan(gan_run).sample(50, seed=7, temperature=1.0)
    assert hot == load_gan(gan_run).sample(50, seed=7, temperature=1.0, batch_size=9) and hot != seqs


def test_pickle_in_the_model_folder_is_refused(tmp_path, gan_run, capsys):
    bad = tmp_path / "model"
    shutil.copytree(gan_run / "model", bad)
    (bad / "extra.dat").write_bytes(pickle.dumps({"x": 1}))
    assert main(["gan", "sample", "--model", str(bad), "--n", "5", "--out", str(tmp_path / "x.fa")]) == 2
    assert "pickle" in err_line(capsys) and not (tmp_path / "x.fa").exists()


# ---- bad input ---------------------------------------------------------------------------------------


def test_mixed_lengths_are_refused_with_a_clear_line(tmp_path, capsys):
    fa = tmp_path / "mixed.fa"
    fa.write_text(">a\n" + "ACGT" * 10 + "\n>b\n" + "ACGT" * 9 + "\n")
    out = tmp_path / "run"
    assert main(["gan", "train", "--input", str(fa), "--out", str(out), "--max-steps", "2"]) == 2
    line = err_line(capsys)
    assert str(fa) in line and "different lengths" in line and "--length" in line and not out.exists()


def test_length_option_crops_and_skips():
    seqs = gan_mod.check_lengths(["a", "b", "c"], ["A" * 40, "C" * 44, "G" * 30], "x.fa", length=40)
    assert seqs == ["A" * 40, "C" * 40]


def test_sampling_without_a_trained_model_is_a_clear_error(tmp_path, capsys, promoter_clf):
    args = ["gan", "sample", "--n", "5", "--out", str(tmp_path / "x.fa"), "--model"]
    assert main(args + [str(tmp_path / "missing")]) == 2
    assert "no such GAN model folder" in err_line(capsys)
    assert main(args + [str(promoter_clf)]) == 2
    line = err_line(capsys)
    assert "not a GAN model folder" in line and "genolm gan train" in line
