"""genolm omics: expression classification on a real slice of the Golub ALL/AML training set."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genolm.cli.main import main
from genolm.io.errors import InputError
from genolm.omics.matrix import read_matrix
from genolm.omics.preprocess import PreprocessConfig, Preprocessor, parse_reduce


@pytest.fixture(scope="module")
def golub(data_dir):
    return data_dir / "omics" / "golub_train_slice.csv"


@pytest.fixture(scope="module")
def genes(data_dir):
    return data_dir / "omics" / "golub_genes_slice.csv"


@pytest.fixture(scope="module")
def trained(golub, genes, tmp_path_factory):
    out = tmp_path_factory.mktemp("omics") / "run"
    rc = main(["omics", "train", "--matrix", str(golub), "--label-col", "cancer", "--genes", str(genes),
               "--out", str(out), "--cv", "5", "--seed", "0"])
    assert rc == 0
    return out


def test_read_matrix_detects_ids_labels_and_genes(golub):
    m = read_matrix(golub, label_col="cancer", require_label=True)
    assert m.X.shape == (38, 1019)
    assert m.samples[:3] == ["1", "2", "3"] and m.id_col == "sample_id"
    assert m.labels.count("ALL") == 27 and m.labels.count("AML") == 11
    assert m.genes[0] == "AFFX-BioB-5_at" and "cancer" not in m.genes


def test_non_numeric_value_names_line_and_column(tmp_path, golub, capsys):
    df = pd.read_csv(golub)
    df = df.astype({df.columns[5]: object})
    df.iloc[4, 5] = "high"
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(InputError) as e:
        read_matrix(bad, label_col="cancer")
    assert e.value.line == 6 and df.columns[5] in e.value.message
    rc = main(["omics", "train", "--matrix", str(bad), "--label-col", "cancer", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"genolm: error: {bad}:6: non-numeric value 'high'")
    assert not (tmp_path / "o").exists()


def test_missing_label_column_and_bad_options_exit_2(tmp_path, golub, capsys):
    assert main(["omics", "train", "--matrix", str(golub), "--label-col", "subtype", "--out", str(tmp_path / "a")]) == 2
    assert "missing label column 'subtype'" in capsys.readouterr().err
    assert main(["omics", "train", "--matrix", str(golub), "--label-col", "cancer", "--reduce", "tsne:2",
                 "--out", str(tmp_path / "b")]) == 2
    assert "unknown --reduce 'tsne:2'" in capsys.readouterr().err
    assert main(["omics", "train", "--matrix", str(golub), "--label-col", "cancer", "--model", "xgb",
                 "--out", str(tmp_path / "c")]) == 2
    assert main(["omics", "train", "--matrix", str(golub), "--label-col", "cancer", "--cv", "12",
                 "--out", str(tmp_path / "d")]) == 2
    assert "smallest class has only 11" in capsys.readouterr().err


def test_parse_reduce():
    assert parse_reduce("pca:7") == ("pca", 7)
    assert parse_reduce("autoencoder:3") == ("autoencoder", 3)
    assert parse_reduce(None) == ("none", 0) and parse_reduce("none") == ("none", 0)


def test_preprocessor_fits_on_training_values_only():
    rng = np.random.default_rng(0)
    X = rng.lognormal(6, 1, size=(10, 50))
    p = Preprocessor(PreprocessConfig(top_genes=20)).fit(X)
    assert p.use_log and p.floor_value == pytest.approx(np.median(X))
    Z = p.transform(X)
    assert Z.shape == (10, 20)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-9)  # standardised with the training mean/sd
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-9)


def test_train_run_directory_cv_and_markers(trained):
    for name in ("config.yaml", "manifest.json", "metrics.json", "genes.csv", "report.html", "cv_predictions.csv",
                 "log.txt", "model/config.json", "model/classifier.joblib", "model/preprocess.safetensors"):
        assert (trained / name).is_file(), name
    m = json.loads((trained / "metrics.json").read_text())
    assert m["classes"] == {"ALL": 27, "AML": 11}
    assert m["cv"]["accuracy"] >= 0.9 and m["cv"]["roc_auc"] >= 0.95  # majority class would be 0.71
    markers = pd.read_csv(trained / "genes.csv")
    assert len(markers) == 1019 and list(markers["rank"][:3]) == [1, 2, 3]
    assert (markers["name"].str.len() > 0).all()  # names joined from the gene table
    assert set(markers["marks_class"]) == {"ALL", "AML"}
    assert markers["snr"].abs().is_monotonic_decreasing
    assert markers["q_value"].iloc[0] < 1e-3
    html = (trained / "report.html").read_text()
    assert "data:image/png;base64," in html and "Top marker genes" in html and markers["gene"][0] in html


def test_predict_keeps_order_and_gives_probabilities(trained, golub, tmp_path, capsys):
    df = pd.read_csv(golub).drop(columns=["cancer"])
    shuffled = df.sample(frac=1.0, random_state=1)[list(df.columns[:1]) + list(df.columns[1:][::-1])]
    inp = tmp_path / "new.csv"
    shuffled.to_csv(inp, index=False)
    out = tmp_path / "pred.csv"
    assert main(["omics", "predict", "--model", str(trained), "--matrix", str(inp), "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["sample_id", "prediction", "prob_ALL", "prob_AML"]
    assert pred["sample_id"].tolist() == shuffled["sample_id"].tolist()
    np.testing.assert_allclose(pred[["prob_ALL", "prob_AML"]].sum(axis=1), 1.0, atol=1e-5)
    truth = pd.read_csv(golub).set_index("sample_id")["cancer"]
    assert (pred["prediction"].to_numpy() == truth.loc[pred["sample_id"]].to_numpy()).mean() == 1.0
    # a matrix lacking the model's genes is a one-line error, and no output is written
    short = tmp_path / "short.csv"
    df.iloc[:, :20].to_csv(short, index=False)
    assert main(["omics", "predict", "--model", str(trained), "--matrix", str(short),
                 "--out", str(tmp_path / "p2.csv")]) == 2
    assert "genes are missing from the matrix" in capsys.readouterr().err
    assert not (tmp_path / "p2.csv").exists()


def test_evaluate(trained, golub, tmp_path, capsys):
    assert main(["omics", "evaluate", "--model", str(trained), "--matrix", str(golub), "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["n"] == 38 and m["accuracy"] == 1.0 and m["confusion"]["matrix"] == [[27, 0], [0, 11]]


def test_h5ad_pca_and_determinism(golub, tmp_path):
    import anndata

    df = pd.read_csv(golub)
    ad = anndata.AnnData(X=df.iloc[:, 2:].to_numpy(dtype=np.float32),
                         obs=pd.DataFrame({"cancer": df["cancer"].to_numpy()}, index=df["sample_id"].astype(str)),
                         var=pd.DataFrame(index=df.columns[2:]))
    h5 = tmp_path / "golub.h5ad"
    ad.write_h5ad(h5)
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert main(["omics", "train", "--matrix", str(h5), "--label-col", "cancer", "--reduce", "pca:10",
                     "--cv", "3", "--seed", "3", "--out", str(out)]) == 0
        outs.append(pd.read_csv(out / "cv_predictions.csv"))
    pd.testing.assert_frame_equal(outs[0], outs[1])  # same seed, same data -> same result
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["cv"]["accuracy"] >= 0.8  # majority class: 0.71
    assert main(["omics", "predict", "--model", str(tmp_path / "a"), "--matrix", str(h5),
                 "--out", str(tmp_path / "p.csv")]) == 0
    assert pd.read_csv(tmp_path / "p.csv")["sample_id"].astype(str).tolist() == df["sample_id"].astype(str).tolist()


@pytest.mark.slow
def test_autoencoder_reduction_round_trips(golub, tmp_path):
    from genolm.omics.expression import ExpressionClassifier

    out = tmp_path / "ae"
    assert main(["omics", "train", "--matrix", str(golub), "--label-col", "cancer", "--reduce", "autoencoder:4",
                 "--epochs", "60", "--top-genes", "300", "--cv", "0", "--out", str(out)]) == 0
    assert (out / "model" / "autoencoder.safetensors").is_file()
    m = json.loads((out / "metrics.json").read_text())
    assert m["train"]["accuracy"] >= 0.85
    data = read_matrix(golub, label_col="cancer")
    clf = ExpressionClassifier.load(out)
    z = clf.features(data.align(clf.genes))
    assert z.shape == (38, 4)
    pred = tmp_path / "p.csv"
    assert main(["omics", "predict", "--model", str(out), "--matrix", str(golub), "--out", str(pred)]) == 0
    np.testing.assert_allclose(pd.read_csv(pred)["prob_AML"], np.round(clf.predict_proba(data.X)[:, 1], 6), atol=1e-6)
