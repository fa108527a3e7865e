"""Models, tokenizers and Hugging Face interoperability (both directions, offline)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from genolm.core.loading import ModelInfo, load_model, save_model
from genolm.core.models import (
    GenolmConfig,
    GenolmForCausalLM,
    GenolmForMaskedLM,
    GenolmForSequenceClassification,
    GenolmForTokenClassification,
)
from genolm.core.tokenizers import build_dna_tokenizer, parse_tokenizer_spec
from genolm.io.errors import UsageError


def test_tokenizers_base_kmer_bpe():
    t = build_dna_tokenizer("base")
    ids = t("ACGTNacgt")["input_ids"]
    assert ids[0] == t.cls_token_id and ids[-1] == t.sep_token_id and len(ids) == 11
    assert ids[1:5] == ids[6:10]  # lowercase = same bases
    k = build_dna_tokenizer("kmer:3")
    assert k.convert_ids_to_tokens(k("ACGTACGT")["input_ids"])[1:-1] == ["ACG", "TAC", "GT"]
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 300)) + "TATAAA" * 20 for _ in range(50)]
    b = build_dna_tokenizer("bpe:64", seqs)
    assert len(b) == 64
    toks = b.convert_ids_to_tokens(b("TATAAATATAAA")["input_ids"])[1:-1]
    assert len(toks) < 12 and "".join(toks) == "TATAAATATAAA"
    with pytest.raises(UsageError):
        parse_tokenizer_spec("kmer")
    with pytest.raises(UsageError):
        parse_tokenizer_spec("words")


@pytest.mark.parametrize("arch", ["cnn", "transformer", "hybrid"])
def test_padding_does_not_change_outputs(arch):
    torch.manual_seed(0)
    cfg = GenolmConfig(
        vocab_size=10,
        arch=arch,
        hidden_size=32,
        num_layers=2,
        num_heads=4,
        num_labels=2,
        dropout=0.0,
        classifier_dropout=0.0,
    )
    m = GenolmForSequenceClassification(cfg).eval()
    x = torch.randint(5, 10, (1, 12))
    padded = torch.cat([x, torch.zeros(1, 5, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 12), torch.zeros(1, 5)], 1).long()
    a = m(x).logits
    b = m(padded, attention_mask=mask).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_causal_lm_does_not_see_the_future():
    torch.manual_seed(0)
    cfg = GenolmConfig(vocab_size=10, arch="hybrid", hidden_size=32, num_layers=2, num_heads=4, dropout=0.0)
    m = GenolmForCausalLM(cfg).eval()
    x = torch.randint(5, 10, (1, 16))
    y = x.clone()
    y[0, 10:] = 5 + (y[0, 10:] - 4) % 5
    la, lb = m(x).logits, m(y).logits
    assert torch.allclose(la[0, :10], lb[0, :10], atol=1e-5)
    assert not torch.allclose(la[0, 10:], lb[0, 10:])


def test_genolm_model_loads_with_plain_transformers(tmp_path):
    """A saved genolm model loads through AutoModel... with trust_remote_code, in a process without genolm."""
    tok = build_dna_tokenizer("base")
    cfg = GenolmConfig(vocab_size=len(tok), arch="hybrid", hidden_size=32, num_layers=1, num_heads=4, num_labels=2)
    m = GenolmForSequenceClassification(cfg).eval()
    save_model(m, tok, ModelInfo(task="classification", label_names=["0", "1"]), tmp_path / "m")
    x = tok(["ACGTACGTTTGA"], return_tensors="pt")["input_ids"]
    expected = m(x).logits.detach().numpy().tolist()
    code = f"""
import json, sys, torch
from transformers import AutoModelForSequenceClassification, AutoModel, AutoTokenizer
assert 'genolm' not in sys.modules
d = {str(tmp_path / "m")!r}
tok = AutoTokenizer.from_pretrained(d, trust_remote_code=True)
m = AutoModelForSequenceClassification.from_pretrained(d, trust_remote_code=True).eval()
x = tok(["ACGTACGTTTGA"], return_tensors="pt")["input_ids"]
base = AutoModel.from_pretrained(d, trust_remote_code=True)
assert 'genolm' not in sys.modules, 'genolm imported'
print(json.dumps(m(x).logits.tolist()))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONNOUSERSITE": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert np.allclose(got, expected, atol=1e-5)


def test_load_external_hf_bert_folder(tmp_path, bert_dir):
    model, tok, info = load_model(bert_dir, task="classification", num_labels=2)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert info.task == "classification"
    base, _, _ = load_model(bert_dir)
    assert type(base).__name__ == "BertForMaskedLM"


def test_mlm_head_from_pretrained_backbone_transfers_weights(tmp_path):
    tok = build_dna_tokenizer("base")
    cfg = GenolmConfig(vocab_size=len(tok), arch="cnn", hidden_size=16, num_layers=2, num_heads=4)
    mlm = GenolmForMaskedLM(cfg)
    save_model(mlm, tok, ModelInfo(task="masked-lm"), tmp_path / "lm")
    clf, _, _ = load_model(tmp_path / "lm", task="classification", num_labels=3)
    assert torch.equal(clf.genolm.embeddings.weight, mlm.genolm.embeddings.weight)
    tag, _, _ = load_model(tmp_path / "lm", task="token-classification", num_labels=5)
    assert isinstance(tag, GenolmForTokenClassification)
