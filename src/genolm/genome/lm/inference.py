"""Evaluation, prediction and embedding with DNA models: `genolm evaluate / predict / embed`."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from genolm.core import metrics as M
from genolm.core.infer import embed as embed_seqs
from genolm.core.infer import predict_logits
from genolm.core.loading import ModelInfo, load_model
from genolm.core.report import Report, confusion_figure, loss_curve_figure, roc_pr_figure, scatter_figure
from genolm.io.atomic import atomic_path, atomic_write_text
from genolm.io.errors import InputError
from genolm.io.tables import read_labelled, read_sequences

log = logging.getLogger("genolm")


# ---------------------------------------------------------------------------------------------------
# evaluation / prediction / embedding


def encode_labels(labels, label_names: list) -> list[int]:
    index = {str(n): i for i, n in enumerate(label_names)}
    return [index[str(v)] for v in labels]


def predict_table(model, tok, info: ModelInfo, seqs: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """(n, n_classes) probabilities, or (n,) values on the original regression scale."""
    logits = predict_logits(model, tok, seqs, batch_size, info.max_length)
    if info.task == "classification":
        return torch.softmax(torch.from_numpy(logits), -1).numpy()
    if info.task == "regression":
        return logits.reshape(len(seqs), -1)[:, 0] * info.target_std + info.target_mean
    raise InputError(f"model was trained for {info.task!r}, not classification or regression; fine-tune it first")


def metrics_from_predictions(info: ModelInfo, labels, scores) -> dict:
    if info.task == "classification":
        unknown = sorted({str(v) for v in labels} - set(map(str, info.label_names)))
        if unknown:
            raise InputError(f"labels {unknown[:5]} were not seen in training (model labels: {info.label_names})")
        return M.classification_metrics(encode_labels(labels, info.label_names), scores)
    return M.regression_metrics(np.asarray(labels, dtype=float), scores)


def predictions_frame(ids, scores, info: ModelInfo):
    """The `genolm predict` table: id, prediction, score (binary/regression) or score_<label> per class."""
    import pandas as pd

    df = pd.DataFrame({"id": list(ids)})
    if info.task == "classification":
        names = [str(n) for n in info.label_names]
        df["prediction"] = [names[i] for i in scores.argmax(1)]
        if len(names) == 2:
            df["score"] = scores[:, 1]
        else:
            for i, n in enumerate(names):
                df[f"score_{n}"] = scores[:, i]
    else:
        df["prediction"] = scores
        df["score"] = scores
    return df


def predict_frame(net, tok, info: ModelInfo, ids, seqs, batch_size: int = 256):
    return predictions_frame(ids, predict_table(net, tok, info, seqs, batch_size), info)


def write_prediction_table(path, ids, scores, info: ModelInfo) -> None:
    write_predictions(path, predictions_frame(ids, scores, info))


def write_predictions(path, df) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def write_report(path, title, metrics, history, info, labels, scores, subtitle=""):
    rep = Report(title, subtitle)
    rep.metrics_table({k: v for k, v in metrics.items() if not isinstance(v, (list, dict))})
    if history:
        rep.figure(loss_curve_figure(history), "loss curves (validation loss at each evaluation)")
    if info.task == "classification":
        y = np.asarray(encode_labels(labels, info.label_names))
        if len(info.label_names) == 2 and len(set(y.tolist())) == 2:
            rep.figure(roc_pr_figure(y, scores[:, 1]), "ROC and precision-recall curves (validation)")
        rep.figure(confusion_figure(y, scores.argmax(1), [str(n) for n in info.label_names]), "confusion matrix")
    else:
        rep.figure(scatter_figure(np.asarray(labels, float), scores), "predicted vs measured")
    rep.write(path)


def evaluate(
    model: str,
    data: str,
    out: str,
    label_column: str = "label",
    batch_size: int = 256,
    report: str | None = None,
    sequence_column: str = "sequence",
    trust_remote_code: bool = False,
) -> dict:
    net, tok, info = load_model(model, trust_remote_code=trust_remote_code)
    seqs, labels = read_labelled(data, label_column, sequence_column)
    scores = predict_table(net, tok, info, seqs, batch_size)
    metrics = metrics_from_predictions(info, labels, scores)
    import json

    atomic_write_text(out, json.dumps(metrics, indent=2))
    if report:
        write_report(report, "genolm evaluate", metrics, [], info, labels, scores, subtitle=f"{model} on {data}")
    return metrics


def predict(
    model: str,
    input: str,
    out: str,
    batch_size: int = 256,
    sequence_column: str = "sequence",
    trust_remote_code: bool = False,
) -> int:
    net, tok, info = load_model(model, trust_remote_code=trust_remote_code)
    ids, seqs = read_sequences(input, column=sequence_column)
    write_predictions(out, predict_frame(net, tok, info, ids, seqs, batch_size))
    return len(ids)


def embeddings_frame(net, tok, info: ModelInfo, ids, seqs, pooling: str = "mean", batch_size: int = 128):
    """id + one float32 column per dimension (`genolm embed`'s Parquet table)."""
    import pandas as pd

    vecs = embed_seqs(net, tok, seqs, pooling=pooling, batch_size=batch_size, max_length=info.max_length)
    df = pd.DataFrame(vecs.astype(np.float32), columns=[f"e{i}" for i in range(vecs.shape[1])])
    df.insert(0, "id", list(ids))
    return df


def embed(
    model: str,
    input: str,
    out: str,
    pooling: str = "mean",
    batch_size: int = 128,
    sequence_column: str = "sequence",
    trust_remote_code: bool = False,
) -> tuple[int, int]:
    net, tok, info = load_model(model, task="base", trust_remote_code=trust_remote_code)
    ids, seqs = read_sequences(input, column=sequence_column)
    df = embeddings_frame(net, tok, info, ids, seqs, pooling, batch_size)
    vecs = df.iloc[:, 1:].to_numpy()
    with atomic_path(out) as tmp:
        df.to_parquet(tmp, index=False)
    return vecs.shape
