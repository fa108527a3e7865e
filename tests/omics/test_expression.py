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
    rc = main(
        [
            "omics",
            "train",
            "--train",
            str(golub),
            "--label-col",
            "cancer",
            "--genes",
            str(genes),
            "--out",
            str(out),
            "--cv",
            "5",
            "--seed",
            "0",
        ]
    )
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
    assert (
        main(
            [
                "omics",
                "train",
                "--matrix",
                str(golub),
                "--label-col",
                "cancer",
                "--reduce",
                "tsne:2",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    assert "unknown --reduce 'tsne:2'" in capsys.readouterr().err
    assert (
        main(
            [
                "omics",
                "train",
                "--matrix",
                str(golub),
                "--label-col",
                "cancer",
                "--model",
                "xgb",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "omics",
                "train",
                "--matrix",
                str(golub),
                "--label-col",
                "cancer",
                "--cv",
                "12",
                "--out",
                str(tmp_path / "d"),
            ]
        )
        == 2
    )
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
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "genes.csv",
        "report.html",
        "cv_predictions.csv",
        "log.txt",
        "model/config.json",
        "model/classifier.skops",
        "model/preprocess.safetensors",
    ):
        assert (trained / name).is_file(), name
    m = json.loads((trained / "metrics.json").read_text())
    assert m["classes"] == {"ALL": 27, "AML": 11}
    assert m["cv"]["accuracy"] >= 0.9 and m["cv"]["auroc"] >= 0.95  # majority class would be 0.71
    assert {"mcc", "auprc", "balanced_accuracy", "errors"} <= set(m["cv"]) and "roc_auc" not in m["cv"]
    markers = pd.read_csv(trained / "genes.csv")
    assert len(markers) == 1019 and list(markers["rank"][:3]) == [1, 2, 3]
    assert (markers["name"].str.len() > 0).all()  # names joined from the gene table
    assert set(markers["marks_class"]) == {"ALL", "AML"}
    assert markers["snr"].abs().is_monotonic_decreasing
    assert markers["q_value"].iloc[0] < 1e-3
    assert not list(trained.glob("**/*.joblib"))
    html = (trained / "report.html").read_text()
    assert "data:image/png;base64," in html and "Top marker genes" in html and markers["gene"][0] in html


def test_predict_keeps_order_and_gives_probabilities(trained, golub, tmp_path, capsys):
    df = pd.read_csv(golub).drop(columns=["cancer"])
    shuffled = df.sample(frac=1.0, random_state=1)[list(df.columns[:1]) + list(df.columns[1:][::-1])]
    inp = tmp_path / "new.csv"
    shuffled.to_csv(inp, index=False)
    out = tmp_path / "pred.csv"
    assert main(["omics", "predict", "--model", str(trained), "--input", str(inp), "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["sample_id", "prediction", "prob_ALL", "prob_AML"]
    assert pred["sample_id"].tolist() == shuffled["sample_id"].tolist()
    np.testing.assert_allclose(pred[["prob_ALL", "prob_AML"]].sum(axis=1), 1.0, atol=1e-5)
    truth = pd.read_csv(golub).set_index("sample_id")["cancer"]
    assert (pred["prediction"].to_numpy() == truth.loc[pred["sample_id"]].to_numpy()).mean() == 1.0
    # a matrix lacking the model's genes is a one-line error, and no output is written
    short = tmp_path / "short.csv"
    df.iloc[:, :20].to_csv(short, index=False)
    assert (
        main(["omics", "predict", "--model", str(trained), "--matrix", str(short), "--out", str(tmp_path / "p2.csv")])
        == 2
    )
    assert "genes are missing from the matrix" in capsys.readouterr().err
    assert not (tmp_path / "p2.csv").exists()


def test_evaluate(trained, golub, tmp_path, capsys):
    assert main(["omics", "evaluate", "--model", str(trained), "--matrix", str(golub), "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["n"] == 38 and m["accuracy"] == 1.0 and m["confusion"]["matrix"] == [[27, 0], [0, 11]]


def test_h5ad_pca_and_determinism(golub, tmp_path):
    import anndata

    df = pd.read_csv(golub)
    ad = anndata.AnnData(
        X=df.iloc[:, 2:].to_numpy(dtype=np.float32),
        obs=pd.DataFrame({"cancer": df["cancer"].to_numpy()}, index=df["sample_id"].astype(str)),
        var=pd.DataFrame(index=df.columns[2:]),
    )
    h5 = tmp_path / "golub.h5ad"
    ad.write_h5ad(h5)
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert (
            main(
                [
                    "omics",
                    "train",
                    "--train",
                    str(h5),
                    "--label-col",
                    "cancer",
                    "--reduce",
                    "pca:10",
                    "--cv",
                    "3",
                    "--seed",
                    "3",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        outs.append(pd.read_csv(out / "cv_predictions.csv"))
    pd.testing.assert_frame_equal(outs[0], outs[1])  # same seed, same data -> same result
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["cv"]["accuracy"] >= 0.8  # majority class: 0.71
    assert (
        main(["omics", "predict", "--model", str(tmp_path / "a"), "--input", str(h5), "--out", str(tmp_path / "p.csv")])
        == 0
    )
    assert pd.read_csv(tmp_path / "p.csv")["sample_id"].astype(str).tolist() == df["sample_id"].astype(str).tolist()


@pytest.mark.slow
def test_autoencoder_reduction_round_trips(golub, tmp_path):
    from genolm.omics.expression import ExpressionClassifier

    out = tmp_path / "ae"
    assert (
        main(
            [
                "omics",
                "train",
                "--matrix",
                str(golub),
                "--label-col",
                "cancer",
                "--reduce",
                "autoencoder:4",
                "--epochs",
                "60",
                "--top-genes",
                "300",
                "--cv",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
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


def test_marker_q_values_are_benjamini_hochberg_over_p_values(trained):
    """q is BH over all genes' p-values in their own order (not in |SNR| order): q >= p on every row, q is
    monotone in p, and it equals scipy's false_discovery_control."""
    from scipy.stats import false_discovery_control

    markers = pd.read_csv(trained / "genes.csv")
    p, q = markers["p_value"].to_numpy(), markers["q_value"].to_numpy()
    assert (q >= p - 1e-15).all(), int((q < p - 1e-15).sum())
    by_p = np.argsort(p, kind="stable")
    assert (np.diff(q[by_p]) >= -1e-15).all()
    np.testing.assert_allclose(q, false_discovery_control(p, method="bh"), rtol=1e-12)
    # the SNR order is not the p order on this slice: the old |SNR|-order BH got most rows wrong
    assert not (np.diff(p) >= 0).all()


def test_genolm_load_gives_the_cli_predictions(trained, golub, tmp_path):
    import genolm
    from genolm.omics.predictors import ExpressionPredictor

    out = tmp_path / "cli.csv"
    assert main(["omics", "predict", "--model", str(trained), "--input", str(golub), "--out", str(out)]) == 0
    cli = pd.read_csv(out, dtype={"sample_id": str})
    model = genolm.load(trained)
    assert isinstance(model, ExpressionPredictor) and model.classes == ["ALL", "AML"]
    frame = pd.read_csv(golub)  # a DataFrame with the label column still in it, genes in a new order
    frame = frame[["sample_id", "cancer", *frame.columns[2:][::-1]]]
    api = model.predict(frame)
    pd.testing.assert_frame_equal(api, cli)
    pd.testing.assert_frame_equal(genolm.load(trained / "model").predict(str(golub)), cli)
    assert model.embed(frame).shape == (38, len(model.model.pre.keep))
    with pytest.raises(InputError, match="genes are missing"):
        model.predict(frame.iloc[:, :30])


def test_old_option_names_still_work(golub, tmp_path):
    out = tmp_path / "old"
    assert (
        main(
            [
                "omics",
                "train",
                "--matrix",
                str(golub),
                "--label-col",
                "cancer",
                "--model",
                "knn",
                "--cv",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert (
        main(["omics", "predict", "--model", str(out), "--matrix", str(golub), "--out", str(tmp_path / "p.csv")]) == 0
    )
    assert main(["omics", "evaluate", "--model", str(out), "--matrix", str(golub)]) == 0
    # k-NN is stored as its parameters and training points (its metric object is not on the allow-list)
    m = json.loads((out / "metrics.json").read_text())
    pred = pd.read_csv(tmp_path / "p.csv")
    assert m["train"]["accuracy"] == (pred["prediction"] == pd.read_csv(golub)["cancer"]).mean()


def test_a_run_of_another_kind_needs_overwrite(trained, golub, tmp_path, capsys):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(trained, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["command"] = "chem train"
    (other / "manifest.json").write_text(json.dumps(manifest))
    argv = ["omics", "train", "--train", str(golub), "--label-col", "cancer", "--cv", "0", "--out", str(other)]
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0
    assert json.loads((other / "manifest.json").read_text())["command"] == "omics train"


def test_pickled_model_folder_is_refused(trained, tmp_path, capsys):
    import pickle
    import shutil

    old = tmp_path / "old_run"
    shutil.copytree(trained, old)
    marker = tmp_path / "PWNED"
    (old / "model" / "classifier.skops").unlink()
    (old / "model" / "classifier.joblib").write_bytes(pickle.dumps((open, (str(marker), "w"))))
    assert (
        main(
            [
                "omics",
                "predict",
                "--model",
                str(old),
                "--input",
                str(trained / "cv_predictions.csv"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 2
    )
    assert "genolm convert" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "p.csv").exists()


def test_autoencoder_trains_through_core_train_like_the_old_loop(golub):
    """The reducer's code through genolm.core.train equals the plain loop it replaced (same seed, same draws)."""
    import torch

    from genolm.omics.preprocess import AutoencoderReducer

    data = read_matrix(golub, label_col="cancer")
    Z = Preprocessor(PreprocessConfig(top_genes=200)).fit(data.X).transform(data.X)
    new = AutoencoderReducer(3, hidden=32, epochs=15, seed=1).fit(Z)
    # the loop before the move to core.train: AdamW, constant lr, no clipping, noise from one generator
    ref = AutoencoderReducer(3, hidden=32, epochs=15, seed=1)
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    ref.n_in = Z.shape[1]
    ref.model = ref._build(ref.n_in)
    opt = torch.optim.AdamW(ref.model.parameters(), lr=ref.lr, weight_decay=ref.weight_decay)
    xt = torch.as_tensor(Z, dtype=torch.float32)
    for _ in range(15):
        order = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 64):
            xb = xt[order[i : i + 64]]
            noisy = xb + 0.1 * torch.randn(xb.shape, generator=g)
            loss = torch.nn.functional.mse_loss(ref.model["decoder"](ref.model["encoder"](noisy)), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    ref.model.eval()
    np.testing.assert_allclose(new.transform(Z), ref.transform(Z), atol=1e-5)
    assert new.final_loss == pytest.approx(float(loss.detach()), rel=1e-4)


def test_autoencoder_resumes_a_killed_fit_to_the_same_code(golub, tmp_path, monkeypatch):
    """--checkpoint-every/--resume: a fit killed after a checkpoint continues to the weights of an
    uninterrupted fit (the noise generator is replayed along with the data order)."""
    from genolm.omics import preprocess

    data = read_matrix(golub, label_col="cancer")
    Z = Preprocessor(PreprocessConfig(top_genes=100)).fit(data.X).transform(data.X)
    full = preprocess.AutoencoderReducer(2, hidden=16, epochs=12, seed=4).fit(Z)

    class Killed(Exception):
        pass

    real = preprocess._DenoisingBatches

    class DiesAfter7(real):
        served = 0

        def __iter__(self):
            for batch in super().__iter__():
                DiesAfter7.served += 1
                if DiesAfter7.served > 7:
                    raise Killed
                yield batch

    monkeypatch.setattr(preprocess, "_DenoisingBatches", DiesAfter7)
    with pytest.raises(Killed):
        preprocess.AutoencoderReducer(2, hidden=16, epochs=12, seed=4).fit(Z, out_dir=tmp_path, checkpoint_every=5)
    assert (tmp_path / "checkpoint" / "state.json").is_file()
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["step"] == 5
    monkeypatch.setattr(preprocess, "_DenoisingBatches", real)
    resumed = preprocess.AutoencoderReducer(2, hidden=16, epochs=12, seed=4).fit(
        Z, out_dir=tmp_path, resume=True, checkpoint_every=5
    )
    np.testing.assert_allclose(resumed.transform(Z), full.transform(Z), atol=1e-6)
    assert not (tmp_path / "checkpoint").exists()  # finished: nothing left to resume
