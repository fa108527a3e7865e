"""Unit tests for genolm.chem: tokenizer, featurisation, metrics, arch names, label checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genolm.chem.featurize import FeatureConfig, feature_names, featurize, parse_smiles, random_smiles
from genolm.chem.metrics import classification_metrics, regression_metrics
from genolm.chem.model import resolve_arch
from genolm.chem.tokenizer import SmilesTokenizer, tokenize
from genolm.io.errors import InputError, UsageError


def test_tokenize_bracket_atoms_two_letter_elements_and_ring_numbers():
    assert tokenize("C[C@@H](Cl)c1ccccc1Br") == [
        "C",
        "[C@@H]",
        "(",
        "Cl",
        ")",
        "c",
        "1",
        "c",
        "c",
        "c",
        "c",
        "c",
        "1",
        "Br",
    ]
    assert tokenize("C%12CC%12[NH3+]") == ["C", "%12", "C", "C", "%12", "[NH3+]"]
    # every character is kept: joining the tokens gives the input back
    for s in ["CC(=O)Oc1ccccc1C(=O)O", "[Na+].[Cl-]", "O=C(N)C#N", "CC/C=C\\C"]:
        assert "".join(tokenize(s)) == s


def test_tokenizer_vocab_unknown_and_truncation():
    tok = SmilesTokenizer.fit(["CCO", "c1ccccc1"], max_length=4)
    ids = tok.encode("CCBr")  # Br unseen
    assert ids[0] == tok.index["<cls>"] and tok.index["<unk>"] in ids
    assert len(tok.encode("CCCCCCCCCC")) == 4
    batch, pad = tok.batch(["C", "CCO"])
    assert batch.shape == (2, 4) and pad[0].tolist() == [False, False, True, True]


def test_parse_smiles_reports_invalid_and_empty_entries():
    mols, errors = parse_smiles(["CCO", "not_a_smiles", "", None, "C1CC"])
    assert mols[0] is not None and errors[0] == ""
    assert mols[1] is None and "invalid SMILES" in errors[1]
    assert errors[2] == "empty SMILES" and errors[3] == "empty SMILES"
    assert mols[4] is None  # unclosed ring


def test_featurize_known_values_and_invalid_rows():
    cfg = FeatureConfig(morgan_bits=256)
    mols, _ = parse_smiles(["CCO", "xx"])
    X = featurize(mols, cfg)
    names = feature_names(cfg)
    assert X.shape == (2, len(names)) and X.dtype == np.float32
    assert np.isnan(X[1]).all()  # invalid molecule: all NaN
    assert X[0, :256].sum() > 0 and (X[0, :256] >= 0).all()  # Morgan counts
    assert X[0, names.index("HeavyAtomCount")] == 3
    assert abs(X[0, names.index("MolWt")] - 46.069) < 0.01


def test_random_smiles_is_the_same_molecule():
    from rdkit import Chem

    mol = parse_smiles(["CC(=O)Oc1ccccc1C(=O)O"])[0][0]
    rng = np.random.default_rng(0)
    variants = {random_smiles(mol, rng) for _ in range(10)}
    assert len(variants) > 1
    canon = {Chem.MolToSmiles(Chem.MolFromSmiles(v)) for v in variants}
    assert canon == {Chem.MolToSmiles(mol)}


def test_metrics_missing_labels_and_single_class_tasks():
    Y = np.array([[1, 0, np.nan], [0, 0, 1], [1, np.nan, 0], [0, 0, np.nan]], dtype=float)
    P = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.7, 0.5, 0.1], [0.4, 0.2, 0.3]])
    m = classification_metrics(Y, P, ["a", "b", "c"])
    assert m["per_task"]["a"]["auroc"] == 1.0 and m["per_task"]["a"]["n"] == 4
    assert m["per_task"]["a"]["auprc"] == 1.0 and m["per_task"]["a"]["n_pos"] == 2
    assert np.isnan(m["per_task"]["b"]["auroc"]) and np.isnan(m["per_task"]["b"]["auprc"])  # one class only
    assert m["per_task"]["c"]["n"] == 2
    assert m["mean_auroc"] == pytest.approx(1.0)  # the undefined task is left out of the mean
    assert set(m) == {"task", "mean_auroc", "mean_auprc", "per_task"}
    r = regression_metrics(np.array([[1.0], [2.0], [np.nan]]), np.array([[1.5], [2.5], [9.0]]), ["y"])
    assert r["per_task"]["y"]["rmse"] == pytest.approx(0.5) and r["per_task"]["y"]["mae"] == pytest.approx(0.5)
    assert r["per_task"]["y"]["n"] == 2 and np.isnan(r["per_task"]["y"]["pearson"])  # too few points: NaN
    assert r["mean_rmse"] == pytest.approx(0.5)
    empty = regression_metrics(np.array([[np.nan]]), np.array([[1.0]]), ["y"])
    assert empty["per_task"]["y"]["n"] == 0 and np.isnan(empty["mean_rmse"])


def test_resolve_arch_aliases_and_errors():
    assert resolve_arch("ensemble") == ["rf", "et", "transformer"]
    assert resolve_arch("forests") == ["rf", "et"]
    assert resolve_arch("trees") == resolve_arch("auto") == ["rf", "et", "svm"]  # the default
    assert resolve_arch("all") == ["rf", "et", "hgb", "svm", "transformer"]
    assert resolve_arch("rf, transformer,rf") == ["rf", "transformer"]
    with pytest.raises(UsageError, match="unknown --arch 'gnn'"):
        resolve_arch("gnn")


def test_read_labels_rejects_non_binary_and_non_numeric(tmp_path):
    from genolm.chem.api import read_labels

    df = pd.DataFrame({"smiles": ["C", "CC", "CCC"], "y": [0, 2, None]})
    with pytest.raises(InputError) as e:
        read_labels(df, ["y"], "classification", "t.csv")
    assert e.value.line == 3 and "must be 0 or 1" in e.value.message
    df = pd.DataFrame({"smiles": ["C", "CC"], "y": ["1.5", "abc"]})
    with pytest.raises(InputError, match="'abc' is not a number"):
        read_labels(df, ["y"], "regression", "t.csv")
    Y = read_labels(pd.DataFrame({"y": [1.5, None]}), ["y"], "regression", "t.csv")
    assert Y[0, 0] == 1.5 and np.isnan(Y[1, 0])


def test_forest_stops_growing_at_the_deadline(data_dir):
    import time

    from genolm.chem.trees import TreeModel

    df = pd.read_csv(data_dir / "chem" / "esol_train.csv").head(60)
    mols, _ = parse_smiles(df["smiles"].tolist())
    X = featurize(mols, FeatureConfig(morgan_bits=128, descriptors=False))
    Y = df[["logSolubility"]].to_numpy(dtype=float)
    late = TreeModel("rf", "regression", 1, n_estimators=300).fit(X, Y, deadline=time.monotonic() - 1)
    assert late.estimators[0].n_estimators == 30  # past the deadline: one small chunk only
    full = TreeModel("rf", "regression", 1, n_estimators=300).fit(X, Y)
    assert full.estimators[0].n_estimators == 300
    assert np.isfinite(full.predict(X)).all()


def test_minmax_kernel_is_count_tanimoto_on_real_fingerprints(data_dir):
    from genolm.chem.trees import minmax_kernel

    df = pd.read_csv(data_dir / "chem" / "bbbp_train.csv").head(12)
    mols, _ = parse_smiles(df["smiles"].tolist())
    F = featurize(mols, FeatureConfig(morgan_bits=512, descriptors=False))
    F = F[~np.isnan(F).any(axis=1)]
    K = minmax_kernel(F[:7], F)
    brute = np.array([[np.minimum(a, b).sum() / np.maximum(a, b).sum() for b in F] for a in F[:7]])
    np.testing.assert_allclose(K, brute, atol=1e-12)
    np.testing.assert_allclose(np.diag(K), 1.0)  # a molecule is identical to itself
    assert (K >= 0).all() and (K <= 1).all()


def test_svm_member_learns_bbbp_and_keeps_invalid_rows_nan(data_dir):
    from genolm.chem.metrics import compute_metrics
    from genolm.chem.trees import TreeModel

    d = data_dir / "chem"
    tr, dv = pd.read_csv(d / "bbbp_train.csv"), pd.read_csv(d / "bbbp_dev.csv")
    cfg = FeatureConfig(morgan_bits=1024)
    X = featurize(parse_smiles(tr["smiles"].tolist())[0], cfg)
    vX = featurize(parse_smiles(dv["smiles"].tolist() + ["not a smiles"])[0], cfg)
    Y, vY = tr[["p_np"]].to_numpy(float), dv[["p_np"]].to_numpy(float)
    m = TreeModel("svm", "classification", 1, fp_columns=1024).fit(X, Y)
    P = m.predict(vX)
    assert np.isnan(P[-1]).all() and ((P[:-1] > 0) & (P[:-1] < 1)).all()  # Platt probabilities
    assert compute_metrics("classification", vY, P[:-1], ["p_np"])["mean_auroc"] > 0.75  # chance is 0.5
    np.testing.assert_array_equal(P, TreeModel("svm", "classification", 1, fp_columns=1024).fit(X, Y).predict(vX))
