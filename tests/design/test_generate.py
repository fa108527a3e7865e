"""`genolm generate` and the generator metrics (design.evaluate) on the bundled GUE prom_core slice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genolm.cli.main import main
from genolm.design.evaluate import (
    dinucleotide_shuffle,
    evaluate_generated,
    gc_content,
    js_divergence,
    kmer_spectrum,
    memorisation,
    nearest_identity,
)
from genolm.design.sampling import filter_logits, load_lm, sample
from genolm.io.fasta import read_fasta

DATA = Path(__file__).resolve().parents[1] / "data" / "core"


def _promoters() -> list[str]:
    d = pd.read_csv(DATA / "prom_train.csv")
    return d[d.label.astype(str) == "1"].sequence.tolist()


def _heldout() -> list[str]:
    d = pd.read_csv(DATA / "prom_valid.csv")
    return d[d.label.astype(str) == "1"].sequence.tolist()


def _run(args, capsys=None):
    code = main(["-q", *[str(a) for a in args]])
    return code


@pytest.fixture(scope="module")
def lm_dirs(tmp_path_factory):
    """A tiny causal and a tiny masked genolm LM pretrained (seconds) on the slice's promoters."""
    d = tmp_path_factory.mktemp("gen_lms")
    fa = d / "promoters.fa"
    fa.write_text("".join(f">p{i}\n{s}\n" for i, s in enumerate(_promoters())))
    out = {}
    for obj in ("clm", "mlm"):
        args = ["pretrain", "--genome", fa, "--out", d / obj, "--objective", obj, "--seq-len", "64"]
        args += ["--max-steps", "60", "--hidden", "32", "--layers", "2", "--batch-size", "16", "--eval-every", "60"]
        assert _run(args) == 0
        out[obj] = d / obj
    out["fasta"] = fa
    return out


def _gen(model, out, *extra, n=12, length=70):
    return _run(["generate", "--model", model, "--n", n, "--length", length, "--out", out, *extra])


def _seqs(path) -> list[str]:
    return [s for _, s in read_fasta(str(path))]


# ---------------------------------------------------------------------------------------------------
# sampling


def test_causal_seeded_exact_length_prompt(lm_dirs, tmp_path):
    a, b, c = tmp_path / "a.fa", tmp_path / "b.fa", tmp_path / "c.fa"
    assert _gen(lm_dirs["clm"], a, "--seed", 3, "--prompt", "tata") == 0
    assert _gen(lm_dirs["clm"], b, "--seed", 3, "--prompt", "TATA") == 0
    assert _gen(lm_dirs["clm"], c, "--seed", 4, "--prompt", "TATA") == 0
    assert a.read_bytes() == b.read_bytes()  # same seed -> same bytes
    names = [n for n, _ in read_fasta(str(a))]
    assert names == [f"gen_{i}" for i in range(12)]
    sa, sc = _seqs(a), _seqs(c)
    assert sa != sc and len(set(sa)) == 12  # seeds differ; samples within a run differ
    for s in sa + sc:
        assert len(s) == 70 and s.startswith("TATA") and set(s) <= set("ACGT")


def test_greedy_limits(lm_dirs):
    lm = load_lm(str(lm_dirs["clm"]), device="cpu")
    greedy = sample(lm, 6, 40, temperature=0, seed=0)
    assert len(set(greedy)) == 1  # no randomness left
    cold = sample(lm, 6, 40, temperature=1e-3, seed=5)
    agree = np.mean([a == b for s in cold for a, b in zip(s, greedy[0])])
    assert agree >= 0.95
    # top-k 1 and a tiny nucleus both keep only the most likely base
    assert sample(lm, 4, 40, top_k=1, seed=1) == greedy[:4]
    assert sample(lm, 4, 40, top_p=1e-6, seed=2) == greedy[:4]
    # a warm model spreads out: many different sequences
    assert len(set(sample(lm, 8, 40, temperature=1.5, seed=0))) == 8


def test_top_p_top_k_filter():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    p = filter_logits(logits, 1.0, 0, 0.7)  # 0.5 + 0.3 reach 0.7: the rest dropped
    assert torch.allclose(p, torch.tensor([[0.625, 0.375, 0.0, 0.0]], dtype=torch.float64))
    p = filter_logits(logits, 1.0, 0, 0.4)
    assert p[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    p = filter_logits(logits, 1.0, 3, 1.0)
    assert p[0, 3] == 0 and abs(float(p.sum()) - 1) < 1e-9
    assert filter_logits(logits, 1.0, 0, 1.0).sub(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).abs().max() < 1e-6


def test_masked_gibbs(lm_dirs, tmp_path, bert_dir):
    a, b = tmp_path / "m1.fa", tmp_path / "m2.fa"
    args = ["--seed", 1, "--prompt", "GGGCGG", "--sweeps", 5, "--batch-size", 5]
    assert _gen(lm_dirs["mlm"], a, *args, length=50) == 0
    assert _gen(lm_dirs["mlm"], b, *args, length=50) == 0
    assert a.read_bytes() == b.read_bytes()
    seqs = _seqs(a)
    assert len(seqs) == 12 and len(set(seqs)) == 12
    assert all(len(s) == 50 and s.startswith("GGGCGG") and set(s) <= set("ACGT") for s in seqs)
    # a local Hugging Face BERT masked LM (no genolm.json) samples the same way
    lm = load_lm(bert_dir, device="cpu")
    assert lm.kind == "masked"
    hf = sample(lm, 3, 33, sweeps=3, seed=0)
    assert [len(s) for s in hf] == [33] * 3 and all(set(s) <= set("ACGT") for s in hf)


def test_hf_causal_with_cache_and_kmer_tokens(tmp_path, monkeypatch):
    """A local HF causal LM (KV cache) with a 3-mer tokenizer: exact lengths in bases, no N, seeded."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from genolm.core.tokenizers import build_dna_tokenizer

    tok = build_dna_tokenizer("kmer:3")
    tok.save_pretrained(tmp_path)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(tmp_path)
    lm = load_lm(str(tmp_path), device="cpu")
    assert lm.kind == "causal" and all(set(b) <= set("ACGT") for b in lm.token_bases.values())
    s1 = sample(lm, 5, 31, prompt="ACG", seed=7, batch_size=2)
    assert s1 == sample(lm, 5, 31, prompt="ACG", seed=7, batch_size=2)
    assert all(len(s) == 31 and s.startswith("ACG") and "N" not in s for s in s1)
    # the key/value cache changes nothing but the speed
    import genolm.design.sampling as sampling

    assert sampling._cache_arg(lm) is not None
    monkeypatch.setattr(sampling, "_cache_arg", lambda lm: None)
    assert sample(lm, 5, 31, prompt="ACG", seed=7, batch_size=2) == s1


# ---------------------------------------------------------------------------------------------------
# metrics


def test_js_and_spectrum_properties():
    prom = _promoters()
    p, q = kmer_spectrum(prom), kmer_spectrum(dinucleotide_shuffle(prom))
    assert p.shape == (4096,) and abs(p.sum() - 1) < 1e-9
    assert js_divergence(p, p) == 0.0
    assert js_divergence(p, q) == pytest.approx(js_divergence(q, p))
    assert 0 < js_divergence(p, q) < 1
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    # N-containing k-mers are skipped; k-mers never span two sequences
    assert kmer_spectrum(["ACGNACG"], k=3).sum() == pytest.approx(1.0)
    assert kmer_spectrum(["AC", "GT"], k=3).sum() == 0.0
    assert kmer_spectrum(["AAAA"], k=2)[0] == 1.0


def test_dinucleotide_shuffle_keeps_dinucleotides():
    prom = _promoters()[:40] + ["ACGTNNACGTAC"]
    sh = dinucleotide_shuffle(prom, seed=4)

    def di(s):
        return Counter(s[i : i + 2] for i in range(len(s) - 1))

    assert all(di(a) == di(b) for a, b in zip(prom, sh))
    assert sum(a != b for a, b in zip(prom, sh)) >= 38
    assert dinucleotide_shuffle(prom, seed=4) == sh
    assert dinucleotide_shuffle(prom[1:], seed=5) == sh[1:]  # per-sequence seeds: independent of the rest
    assert np.allclose(gc_content(prom[:40]), gc_content(sh[:40]))


def test_memorisation():
    prom = _promoters()
    rng = np.random.default_rng(0)
    assert memorisation(prom[:30], prom) == 1.0
    rnd = ["".join(rng.choice(list("ACGT"), 70)) for _ in range(30)]
    assert memorisation(rnd, prom) == 0.0
    assert nearest_identity(rnd, prom).max() < 0.6

    def mutate(s, k):
        pos = rng.choice(len(s), k, replace=False)
        return "".join(("A" if c != "A" else "C") if i in pos else c for i, c in enumerate(s))

    assert memorisation([mutate(s, 7) for s in prom[:10]], prom) == 1.0  # 63/70 = 90%
    assert memorisation([mutate(s, 8) for s in prom[:10]], prom) == 0.0  # 62/70 < 90% (no near copy else)
    # unequal lengths: best ungapped offset of the shorter inside the longer
    assert nearest_identity([prom[5][12:52]], prom)[0] == 1.0
    assert nearest_identity(["TT" + prom[5] + "GG"], prom)[0] == 1.0


def test_evaluate_generated_with_oracle(promoter_clf):
    from genolm.api import load

    sm = load(promoter_clf).sequence_model(device="cpu")
    train, held = _promoters(), _heldout()
    m = evaluate_generated(train[:60], train, held, oracle=sm, oracle_target="1", seed=0)
    keys = {
        "n_generated",
        "js_6mer_generated",
        "js_6mer_shuffled_baseline",
        "gc_generated_mean",
        "gc_heldout_mean",
        "memorised_fraction",
        "oracle_positive_fraction_generated",
        "oracle_positive_fraction_shuffled",
        "oracle_mean_generated",
        "oracle_mean_shuffled",
    }
    assert keys <= set(m)
    assert m["n_generated"] == 60 and m["memorised_fraction"] == 1.0
    # real promoters: closer to held-out promoters than their shuffles, and called promoters more often
    assert m["js_6mer_generated"] < m["js_6mer_shuffled_baseline"]
    assert m["oracle_positive_fraction_generated"] > m["oracle_positive_fraction_shuffled"]
    assert m["oracle_mean_generated"] > m["oracle_mean_shuffled"]
    assert evaluate_generated(train[:60], train, held) == {k: v for k, v in m.items() if not k.startswith("oracle")}


def test_cli_report(lm_dirs, promoter_clf, tmp_path):
    out = tmp_path / "g.fa"
    args = ["--heldout", DATA / "prom_valid.csv", "--train", lm_dirs["fasta"], "--oracle", promoter_clf]
    assert _gen(lm_dirs["clm"], out, *args, "--oracle-class", "1", n=40) == 0
    rdir = tmp_path / "g_report"
    m = json.loads((rdir / "metrics.json").read_text())
    assert m["n_generated"] == 40 and 0 <= m["memorised_fraction"] <= 1
    assert 0 <= m["oracle_positive_fraction_generated"] <= 1 and 0 < m["js_6mer_generated"] < 1
    html = (rdir / "report.html").read_text()
    assert html.count("<img") >= 4 and "memorisation" in html
    assert _seqs(rdir / "generated.fa") == _seqs(out)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--length", "0"], "--length"),
        (["--prompt", "ACGTX"], "--prompt"),
        (["--top-p", "0"], "--top-p"),
        (["--temperature", "-1"], "--temperature"),
        (["--oracle", "x"], "--heldout"),
    ],
)
def test_bad_options(lm_dirs, tmp_path, capsys, extra, needle):
    args = ["generate", "--model", lm_dirs["clm"], "--n", "3", "--length", "20", "--out", tmp_path / "x.fa", *extra]
    assert _run(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err and "Traceback" not in err
    assert not (tmp_path / "x.fa").exists()


def test_classifier_is_not_an_lm(promoter_clf, tmp_path, capsys):
    assert _gen(promoter_clf, tmp_path / "x.fa") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a language model" in err and str(promoter_clf) in err
