"""The one-hot view of sequence models (genolm.core.seqmodel): the differentiable path gives the same numbers as
the model's own inference path, for a DNA classifier and for the CRISPR on-target ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import genolm
from genolm.io.errors import InputError
from genolm.sequence import one_hot

from tests.conftest import DATA


def test_dna_classifier_forward_equals_score(promoter_clf):
    sm = genolm.load(promoter_clf).sequence_model()
    seqs = pd.read_csv(DATA / "core" / "prom_valid.csv").sequence.tolist()[:16]
    seqs[0] = seqs[0][:10] + "N" + seqs[0][11:]  # N reads as the model's N token on both paths
    raw = sm.score(seqs)
    x = torch.from_numpy(one_hot(seqs)).requires_grad_()
    out = sm.forward(x)
    np.testing.assert_allclose(out.detach().numpy(), raw, atol=1e-4)
    sm.objective(out, 1).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    probs = sm.predict_objective(seqs, sm.target_index("1"))
    np.testing.assert_allclose(probs, genolm.load(promoter_clf).predict(seqs)["score"].to_numpy(), atol=1e-6)
    assert sm.outputs == ["0", "1"] and sm.target_index(None) == 1
    with pytest.raises(InputError, match="unknown target"):
        sm.target_index("promoter")


def test_ontarget_forward_equals_score(ontarget_run):
    sm = genolm.load(ontarget_run).sequence_model()
    seqs = pd.read_csv(DATA / "editing" / "kim_dev.csv").target_context_30mer.tolist()[:16]
    raw = sm.score(seqs)
    np.testing.assert_allclose(raw[:, 0], genolm.load(ontarget_run).predict(seqs)["score"].to_numpy())
    out = sm.forward(torch.from_numpy(one_hot(seqs)))
    np.testing.assert_allclose(out.detach().numpy(), raw, rtol=1e-4, atol=1e-3)
    with pytest.raises(InputError, match="30-nt"):
        sm.score(["ACGT" * 5])


def test_kmer_model_has_no_gradient_path(tmp_path):
    from genolm.cli.main import main

    core = DATA / "core"
    out = tmp_path / "kmer"
    args = ["-q", "finetune", "--train", str(core / "prom_train.csv"), "--valid", str(core / "prom_valid.csv")]
    assert (
        main([*args, "--out", str(out), "--tokenizer", "kmer:3", "--hidden", "16", "--layers", "1", "--max-steps", "2"])
        == 0
    )
    sm = genolm.load(out).sequence_model()
    assert not sm.differentiable and "kmer:3" in sm.gradient_note
    assert sm.score(["ACGT" * 10]).shape == (1, 2)
    with pytest.raises(InputError, match="use --method ism"):
        sm.forward(torch.zeros(1, 4, 40))


def test_non_sequence_models_refuse():
    from genolm.core.predictor import Predictor

    with pytest.raises(InputError, match="do not score DNA sequences"):
        Predictor("x").sequence_model()


def test_local_hugging_face_classifier(tmp_path):
    """A local HF BertForSequenceClassification folder (no genolm.json): one-hot path == tokenizer path, and
    attributions run through it (a stand-in for a downloaded Nucleotide Transformer / DNABERT classifier)."""
    from transformers import BertConfig, BertForSequenceClassification

    from genolm.core.tokenizers import build_dna_tokenizer
    from genolm.interpret.attributions import attribute

    tok = build_dna_tokenizer("base")
    tok.save_pretrained(tmp_path)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4)
    cfg.update(dict(intermediate_size=64, max_position_embeddings=128, num_labels=2))
    torch.manual_seed(0)
    BertForSequenceClassification(cfg).save_pretrained(tmp_path)
    sm = genolm.load(tmp_path).sequence_model()
    assert sm.task == "classification" and sm.outputs == ["LABEL_0", "LABEL_1"] and sm.differentiable
    seqs = pd.read_csv(DATA / "core" / "prom_valid.csv").sequence.tolist()[:4]
    np.testing.assert_allclose(sm.forward(torch.from_numpy(one_hot(seqs))).detach().numpy(), sm.score(seqs), atol=1e-4)
    att = attribute(sm, seqs, target="LABEL_1", method="saliency")
    assert att.scores.shape == (4, 4, 70) and np.abs(att.scores).sum() > 0


def test_device_names_are_checked_in_one_place(promoter_clf, data_dir, tmp_path, capsys):
    from genolm.cli.main import main
    from genolm.core.seqmodel import pick_device
    from genolm.io.errors import UsageError

    assert pick_device("cpu").type == "cpu" and pick_device(None).type in ("cpu", "cuda")
    with pytest.raises(UsageError, match="unknown --device 'gpu'"):
        pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA device"):
            pick_device("cuda:0")
    fa = data_dir / "core" / "prom_20.fa"
    code = main(
        ["-q", "explain", "--model", str(promoter_clf), "--input", str(fa), "--out", str(tmp_path / "e")]
        + ["--device", "tpu"]
    )
    assert code == 2 and "unknown --device 'tpu'" in capsys.readouterr().err and not (tmp_path / "e").exists()
