"""PubMedQA-style question answering: question + abstract contexts -> yes / no / maybe.

Reasoning-required setting: the input is QUESTION + CONTEXTS (the abstract without its conclusion); the
LONG_ANSWER (the conclusion) is never read, and neither are the annotators' ``*_pred`` fields.

Model: a multinomial logistic regression over
  * TF-IDF word n-grams of the question and of the results part of the contexts (kept apart),
  * statistical-evidence cues counted in the contexts (significance wording, negations, p-values below /
    above 0.05, "no difference", "similar"...), and
  * optionally (``--encoder``) sentence embeddings from the text encoder (the packaged MiniLM
    or any local HF folder): question, mean and question-attended context vectors and their products.
Everything fits in seconds to minutes on a CPU.

Public API::

    train_qa("pqal_train.json", "runs/qa", valid="pqal_dev.json")      # train(train, out, *, valid=...)
    model = load_qa("runs/qa"); model.predict([{"QUESTION": ..., "CONTEXTS": [...]}, ...])
    evaluate_qa("runs/qa", "pqal_dev.json"); predict_file("runs/qa", "in.json", "out.csv")
    cross_validate("pqal_trainval.json", "pqal_cv_folds.json")   # official 10-fold CV figures
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from genolm.io.errors import InputError, UsageError

log = logging.getLogger("genolm.literature.qa")

LABELS = ["yes", "no", "maybe"]
MARKER = "genolm_qa.json"
MODEL_FILE = "qa_model.skops"

__all__ = [
    "QAConfig",
    "QAModel",
    "read_pubmedqa",
    "train_qa",
    "load_qa",
    "evaluate_qa",
    "predict_file",
    "cross_validate",
    "qa_scores",
    "LABELS",
]


@dataclass
class QAConfig:
    C: float = 0.3
    encoder: bool = False  # add frozen sentence-embedding features from the text encoder (--encoder)
    model: str | None = None  # encoder: None = packaged MiniLM, or a local HF folder
    class_weight: str | None = None
    seed: int = 0


# ------------------------------------------------------------------------------------------- reading
def read_pubmedqa(path: str | os.PathLike, require_labels: bool = True) -> list[dict]:
    """PubMedQA JSON ``{id: {QUESTION, CONTEXTS, final_decision, ...}}`` (or a list of such records with
    ``id``) -> records with ``id``, ``question``, ``contexts``, ``labels`` (section names), ``answer``."""
    from genolm.literature.formats import read_lines

    raw = "\n".join(line for _, line in read_lines(path))  # validates UTF-8 with line numbers
    if not raw.strip():
        raise InputError("empty file", path)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}", path, e.lineno) from None
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = [(str(r.get("id", i)) if isinstance(r, dict) else str(i), r) for i, r in enumerate(data)]
    else:
        raise InputError("expected a JSON object {id: record} or a list of records", path)
    return parse_records(items, path, require_labels)


def parse_records(items, path=None, require_labels: bool = False) -> list[dict]:
    """(id, {QUESTION, CONTEXTS[, LABELS, final_decision]}) pairs -> validated records (see read_pubmedqa)."""
    out = []
    for qid, r in items:
        if not isinstance(r, dict):
            raise InputError(f"record {qid}: expected an object", path)
        q = r.get("QUESTION", r.get("question"))
        ctx = r.get("CONTEXTS", r.get("contexts"))
        if isinstance(ctx, str):
            ctx = [ctx]
        if not isinstance(q, str) or not q.strip():
            raise InputError(f"record {qid}: missing QUESTION", path)
        if not isinstance(ctx, list) or not ctx or not all(isinstance(c, str) for c in ctx):
            raise InputError(f"record {qid}: CONTEXTS must be a non-empty list of strings", path)
        ans = r.get("final_decision", r.get("answer"))
        if ans is not None:
            ans = str(ans).strip().lower()
            if ans not in LABELS:
                raise InputError(f"record {qid}: final_decision {ans!r} is not yes, no or maybe", path)
        elif require_labels:
            raise InputError(f"record {qid}: missing final_decision (yes/no/maybe)", path)
        out.append(
            {
                "id": str(qid),
                "question": q,
                "contexts": ctx,
                "labels": r.get("LABELS") or [""] * len(ctx),
                "answer": ans,
            }
        )
    if not out:
        raise InputError("no questions in the file" if path else "no questions given", path)
    return out


# ------------------------------------------------------------------------------------------ features
_CUES = {
    "neg_sig": r"\b(no|not|non)[- ]?(statistically )?significant|\bnot (statistically )?significantly|"
    r"\bdid not (differ|reach|show|change|improve|affect|predict|influence)|\bfailed to\b",
    "no_diff": r"\bno (significant |statistically significant )?(difference|differences|association|correlation|"
    r"relationship|effect|change|benefit|improvement)",
    "similar": r"\b(similar|comparable|equivalent|unchanged|unaffected|independent of)\b",
    "sig": r"(?<!not )(?<!no )\b(statistically )?significant(ly)?\b",
    "assoc": r"\b(associated with|correlated with|predict(ed|s|or)|increase[ds]?|improve[ds]?|reduce[ds]?|"
    r"higher|lower|better|worse)\b",
    "neg": r"\b(no|not|none|neither|nor|without|absence)\b",
    "may": r"\b(may|might|could|unclear|limited|trend|tended|marginal(ly)?|borderline|however)\b",
}
_P = re.compile(r"\bp\s*([<=>≤≥])\s*(0?\.\d+)", re.I)


def _cue_counts(text: str) -> list[float]:
    import math

    t = text.lower()
    f = [math.log1p(len(re.findall(p, t))) for p in _CUES.values()]
    small = big = 0
    for op, v in _P.findall(text):
        v = float(v)
        if op in "<≤" and v <= 0.05 or op in "=" and v < 0.05:
            small += 1
        elif v >= 0.05:
            big += 1
    f += [math.log1p(small), math.log1p(big), float(small > big), float(big > 0 and small == 0)]
    return f


def _results_text(rec: dict) -> str:
    """The contexts labelled RESULTS (or the last context when none is labelled)."""
    res = [c for c, lab in zip(rec["contexts"], rec["labels"]) if "RESULT" in str(lab).upper()]
    return " ".join(res) if res else rec["contexts"][-1]


def _doc_text(rec):
    return " ".join(rec["contexts"])


class QAModel:
    def __init__(self, vec_q, vec_r, scaler, clf, config: dict, encoder=None):
        self.vec_q, self.vec_r, self.scaler, self.clf = vec_q, vec_r, scaler, clf
        self.config = config
        self._encoder = encoder

    # features shared by fit and predict
    def _dense(self, recs, emb=None):
        import numpy as np

        rows = []
        for r in recs:
            rows.append(_cue_counts(_results_text(r)) + _cue_counts(_doc_text(r)) + _cue_counts(r["question"]))
        D = np.array(rows, dtype=float)
        if emb is not None:
            D = np.hstack([D, emb])
        return D

    def features(self, recs, emb=None, fit: bool = False):
        import scipy.sparse as sp
        from sklearn.preprocessing import StandardScaler

        if emb is None and self.config.get("encoder"):
            emb = embed_records(recs, self.config.get("model"), self._encoder)
        qs = [r["question"].lower() for r in recs]
        rs = [_results_text(r).lower() for r in recs]
        if fit:
            self.vec_q.fit(qs)
            self.vec_r.fit(rs)
        D = self._dense(recs, emb)
        if fit:
            self.scaler = StandardScaler().fit(D)
        D = self.scaler.transform(D)
        return sp.hstack([self.vec_q.transform(qs), self.vec_r.transform(rs), sp.csr_matrix(D)]).tocsr()

    def predict_proba(self, recs, emb=None):
        return self.clf.predict_proba(self.features(recs, emb))

    def predict(self, recs, emb=None) -> list[str]:
        p = self.predict_proba(recs, emb)
        return [self.clf.classes_[i] for i in p.argmax(1)]

    def save(self, path):
        from genolm.core.persist import save_estimator
        from genolm.io.atomic import atomic_write_text

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_estimator(
            {"vec_q": self.vec_q, "vec_r": self.vec_r, "scaler": self.scaler, "clf": self.clf}, path / MODEL_FILE
        )
        atomic_write_text(path / MARKER, json.dumps({"task": "qa", "labels": LABELS, "config": self.config}, indent=2))


def _new_model(cfg: QAConfig) -> QAModel:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vq = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    vr = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=20000)
    clf = LogisticRegression(C=cfg.C, max_iter=3000, class_weight=cfg.class_weight)
    return QAModel(vq, vr, None, clf, asdict(cfg))


def find_qa_dir(model_dir: str | os.PathLike) -> Path:
    from genolm.core.loading import find_model_dir

    return find_model_dir(model_dir, MARKER, what="genolm QA model")


def load_qa(model_dir: str | os.PathLike) -> QAModel:
    """Load a trained QA model from a run directory or its model/ folder (nothing in it can run code)."""
    from genolm.core.persist import load_estimator

    p = find_qa_dir(model_dir)
    try:
        meta = json.loads((p / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"corrupt {MARKER} ({e})", p / MARKER) from None
    b = load_estimator(p / MODEL_FILE)
    return QAModel(b["vec_q"], b["vec_r"], b["scaler"], b["clf"], meta.get("config", {}))


# ---------------------------------------------------------------------------------------- embeddings
class _Encoder:
    """Mean-pooled, L2-normalised sentence embeddings from a BERT-style folder (frozen)."""

    def __init__(self, model=None):
        from transformers import AutoModel, AutoTokenizer

        from genolm.literature.textmodels import resolve_model_path, torch_setup

        path = resolve_model_path(model)
        self.device = torch_setup()
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval()

    def encode(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 256):
        import numpy as np
        import torch

        from genolm.literature.textmodels import length_batches

        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for b in length_batches([len(t) for t in texts], batch_size, shuffle=False):
                enc = self.tok(
                    [texts[i] for i in b], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
                ).to(self.device)
                h = self.model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).float()
                v = (h * m).sum(1) / m.sum(1).clamp(min=1)
                out[b] = torch.nn.functional.normalize(v, dim=-1).cpu().numpy()
        return out


_ENCODERS: dict = {}


def embed_records(recs, model=None, encoder=None):
    """Per record: [q, mean(ctx sentences), attention-weighted ctx, q*att, max cos, mean cos] (frozen encoder)."""
    import numpy as np

    from genolm.literature.formats import split_sentences, tokenize_with_offsets

    enc = encoder or _ENCODERS.get(str(model))
    if enc is None:
        enc = _ENCODERS[str(model)] = _Encoder(model)
    sents, owner = [], []
    for i, r in enumerate(recs):
        text = _doc_text(r)
        for s in split_sentences(tokenize_with_offsets(text)):
            sents.append(text[s[0][1] : s[-1][2]])
            owner.append(i)
    Q = enc.encode([r["question"] for r in recs])
    S = enc.encode(sents) if sents else np.zeros((0, Q.shape[1]), dtype=np.float32)
    owner = np.array(owner)
    feats = []
    for i in range(len(recs)):
        Si = S[owner == i]
        if len(Si) == 0:
            Si = np.zeros((1, Q.shape[1]), dtype=np.float32)
        sim = Si @ Q[i]
        w = np.exp((sim - sim.max()) * 10)
        att = (w[:, None] * Si).sum(0) / w.sum()
        feats.append(np.concatenate([Q[i], Si.mean(0), att, Q[i] * att, [sim.max(), sim.mean()]]))
    return np.array(feats, dtype=np.float32)


# ------------------------------------------------------------------------------------------ metrics
def qa_scores(gold: Sequence[str], pred: Sequence[str]) -> dict:
    """``accuracy``, ``f1`` (macro over yes/no/maybe; also under its old name ``macro_f1``), ``mcc``, ``n``,
    the confusion matrix and the majority-class baseline (core metrics vocabulary)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, matthews_corrcoef

    f1 = float(f1_score(gold, pred, labels=LABELS, average="macro", zero_division=0))
    mcc = float(matthews_corrcoef(gold, pred)) if len(gold) else float("nan")
    return {
        "accuracy": float(accuracy_score(gold, pred)) if len(gold) else float("nan"),
        "f1": f1,
        "macro_f1": f1,
        "mcc": mcc,
        "n": len(gold),
        "confusion": {"labels": LABELS, "matrix": confusion_matrix(gold, pred, labels=LABELS).tolist()},
        "majority_baseline_accuracy": max(list(gold).count(label) for label in LABELS) / max(1, len(gold)),
    }


# -------------------------------------------------------------------------------------- train / eval
def _fit(recs, cfg: QAConfig, emb=None) -> QAModel:
    from genolm.core.runs import set_seed

    set_seed(cfg.seed)
    model = _new_model(cfg)
    X = model.features(recs, emb, fit=True)
    model.clf.fit(X, [r["answer"] for r in recs])
    return model


def train_qa(
    train: str | os.PathLike,
    out: str | os.PathLike,
    valid: str | os.PathLike | None = None,
    *,
    config: QAConfig | None = None,
    overwrite: bool = False,
    **overrides,
) -> dict:
    """Fit on a PubMedQA JSON file; writes a run directory (model/, metrics.json, report.html...).

    ``valid`` is scored at the end; ``overrides`` are :class:`QAConfig` fields (``C``, ``encoder``, ``seed``...).
    """
    from genolm.core.runs import RunDir

    cfg = config or QAConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise UsageError(f"unknown QA option {k!r}")
        setattr(cfg, k, v)
    recs = read_pubmedqa(train)
    vrecs = read_pubmedqa(valid) if valid else []
    run = RunDir(
        out,
        command="lit qa train",
        config={**asdict(cfg), "train": str(train), "valid": str(valid) if valid else None},
        inputs=[train, valid],
        seed=cfg.seed,
        overwrite=overwrite,
    )
    with run:
        model = _fit(recs, cfg)
        model.save(run.model_dir)
        metrics: dict = {
            "train_questions": len(recs),
            "train": qa_scores([r["answer"] for r in recs], model.predict(recs)),
        }
        if vrecs:
            pred = model.predict(vrecs)
            metrics["dev"] = qa_scores([r["answer"] for r in vrecs], pred)
            _write_csv(run.path / "dev_predictions.csv", vrecs, pred)
        run.write_metrics(metrics)
        _report(run.path / "report.html", "PubMedQA training", metrics)
    return metrics


def _report(path, title, metrics):
    from genolm.core.report import Report

    flat = {}
    for split in ("train", "dev"):
        if split in metrics:
            flat.update({f"{split}_{k}": v for k, v in metrics[split].items() if isinstance(v, (int, float))})
    flat.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
    r = Report(title)
    r.metrics_table(flat)
    m = (metrics.get("dev") or metrics).get("confusion")
    if m:
        r.table(
            ["gold \\ predicted", *m["labels"]],
            [[g, *row] for g, row in zip(m["labels"], m["matrix"])],
            title="Confusion matrix",
        )
    r.write(path)


def _write_csv(path, recs, pred):
    from genolm.io.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("id,prediction\n")
        for r, p in zip(recs, pred):
            fh.write(f"{r['id']},{p}\n")


def answers_frame(model: QAModel, recs: Sequence[dict]):
    """The id,prediction table predict writes, as a DataFrame (ids as strings, answers in input order)."""
    import pandas as pd

    return pd.DataFrame({"id": [r["id"] for r in recs], "prediction": model.predict(list(recs))})


def predict_file(model_dir, input, out) -> dict:
    recs = read_pubmedqa(input, require_labels=False)
    df = answers_frame(load_qa(model_dir), recs)
    pred = df["prediction"].tolist()
    _write_csv(out, recs, pred)
    return {"questions": len(recs), "counts": {label: pred.count(label) for label in LABELS}}


def evaluate_qa(model_dir, data, predictions=None, out=None, overwrite: bool = False) -> dict:
    recs = read_pubmedqa(data)
    if predictions:
        from genolm.io.tables import read_table

        df = read_table(predictions, required=["id", "prediction"])
        got = dict(zip(df["id"].astype(str), df["prediction"].astype(str).str.lower()))
        missing = [r["id"] for r in recs if r["id"] not in got]
        if missing:
            raise InputError(f"{len(missing)} questions have no prediction (first: {missing[0]})", predictions)
        pred = [got[r["id"]] for r in recs]
    else:
        if model_dir is None:
            raise UsageError("give --model or --predictions")
        pred = load_qa(model_dir).predict(recs)
    scores = qa_scores([r["answer"] for r in recs], pred)
    if out:
        from genolm.core.runs import RunDir

        with RunDir(
            out,
            command="lit qa evaluate",
            config={"model": str(model_dir), "data": str(data)},
            inputs=[data],
            overwrite=overwrite,
        ) as run:
            run.write_metrics(scores)
            _write_csv(run.path / "predictions.csv", recs, pred)
            _report(run.path / "report.html", "PubMedQA evaluation", scores)
    return scores


def cross_validate(
    data: str | os.PathLike, folds: str | os.PathLike, config: QAConfig | None = None, **overrides
) -> dict:
    """Accuracy and macro-F1 over the official PubMedQA 10-fold CV split ({"fold0": [ids], ...})."""
    import numpy as np

    cfg = config or QAConfig()
    for k, v in overrides.items():
        setattr(cfg, k, v)
    recs = read_pubmedqa(data)
    try:
        fold_ids = json.loads(Path(folds).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read folds: {e}", folds) from None
    emb = embed_records(recs, cfg.model) if cfg.encoder else None
    index = {r["id"]: i for i, r in enumerate(recs)}
    accs, f1s, all_gold, all_pred = [], [], [], []
    for name, ids in sorted(fold_ids.items()):
        te = [index[i] for i in ids if i in index]
        tr = [i for i in range(len(recs)) if i not in set(te)]
        model = _fit([recs[i] for i in tr], cfg, emb[tr] if emb is not None else None)
        pred = model.predict([recs[i] for i in te], emb[te] if emb is not None else None)
        gold = [recs[i]["answer"] for i in te]
        s = qa_scores(gold, pred)
        accs.append(s["accuracy"])
        f1s.append(s["macro_f1"])
        all_gold += gold
        all_pred += pred
    return {
        "folds": len(accs),
        "accuracy_mean": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "f1_mean": float(np.mean(f1s)),
        "macro_f1_mean": float(np.mean(f1s)),
        "pooled": qa_scores(all_gold, all_pred),
        "config": asdict(cfg),
    }
