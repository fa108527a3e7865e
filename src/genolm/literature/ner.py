"""Named-entity recognition: fine-tune a BERT-style encoder for IOB token classification.

Public API (stable; the knowledge-graph code calls it)::

    ner = load_ner("runs/ncbi")                 # a run directory or its model/ folder
    ner.predict_text("BRCA1 mutations cause breast cancer.")
    # -> [{"start": 22, "end": 35, "text": "breast cancer", "type": "Disease", "score": 0.98}]
    ner.predict_tokens([["BRCA1", "mutations", ...]])   # -> [["O", "O", ...]]

    train_ner(["train.tsv"], "devel.tsv", "runs/ncbi", time_budget="25m")
    evaluate_ner("runs/ncbi", "devel.tsv")      # seqeval entity-level exact-span P/R/F1, overall and per type
    predict_file("runs/ncbi", "in.jsonl", "out.jsonl")   # IOB / text / JSONL / PubTator

Word pieces: the first sub-token of each word carries the word's label (others are ignored in the loss).
Decoding is constrained Viterbi over the softmax scores, so output tags are always valid IOB2.
Offsets are 0-based, end-exclusive character offsets into the document text.
"""
from __future__ import annotations

import logging
import os
import random
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from genolm.io.errors import InputError, UsageError
from genolm.literature import formats as F
from genolm.literature import textmodels as T

log = logging.getLogger("genolm.literature.ner")

__all__ = ["NERConfig", "NERModel", "load_ner", "train_ner", "evaluate_ner", "predict_file", "entity_scores"]


@dataclass
class NERConfig:
    arch: str = "transformer"         # "transformer" (fine-tune --model; default) or "crf" (CRFsuite, minutes)
    model: str | None = None          # backbone: None = packaged MiniLM, or a local HF folder / run dir
    max_length: int = 128             # word pieces per window
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.01
    epochs: float | None = 20         # upper bound; the time budget usually ends training first
    max_steps: int | None = None
    time_budget: str | float | None = "25m"
    eval_every: int | None = None     # steps between dev evaluations (default: once per epoch)
    seed: int = 0
    threads: int | None = None
    crf_c1: float = 0.05
    crf_c2: float = 0.01
    crf_iterations: int = 100
    crf_folds: int = 4
    crf_word_types: bool = True       # character n-gram word-type model as extra CRF features


# ----------------------------------------------------------------------------------------- encoding
def _word_pieces(tokenizer, words: Sequence[str]) -> list[list[int]]:
    enc = tokenizer(list(words), add_special_tokens=False)["input_ids"]
    unk = tokenizer.unk_token_id
    return [p if p else [unk] for p in enc]


def _windows(word_pieces: list[list[int]], max_pieces: int) -> list[tuple[int, int]]:
    """Split a sentence into word ranges whose pieces fit in max_pieces (prediction never truncates)."""
    out, start, n = [], 0, 0
    for i, p in enumerate(word_pieces):
        L = min(len(p), max_pieces)
        if n + L > max_pieces and i > start:
            out.append((start, i))
            start, n = i, 0
        n += L
    out.append((start, len(word_pieces)))
    return out


def _build_inputs(tokenizer, word_pieces: list[list[int]], max_length: int):
    """[CLS] pieces [SEP] (truncated) and first-piece positions (-1 when truncated away)."""
    ids = [tokenizer.cls_token_id]
    first = []
    for p in word_pieces:
        if len(ids) + 1 >= max_length:
            first.append(-1)
            continue
        p = p[: max_length - 1 - len(ids)]
        first.append(len(ids))
        ids.extend(p)
    ids.append(tokenizer.sep_token_id)
    return ids, first


def _collate(batch_ids: list[list[int]], pad_id: int, labels: list[list[int]] | None = None):
    import torch

    L = max(len(x) for x in batch_ids)
    ids = torch.full((len(batch_ids), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch_ids), L), dtype=torch.long)
    lab = torch.full((len(batch_ids), L), -100, dtype=torch.long) if labels is not None else None
    for i, x in enumerate(batch_ids):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
        if lab is not None:
            lab[i, : len(labels[i])] = torch.tensor(labels[i])
    return ids, mask, lab


# -------------------------------------------------------------------------------------- decoding
def _allowed(labels: list[str]):
    import numpy as np

    n = len(labels)
    allowed = np.ones((n, n), dtype=bool)   # prev -> next
    start = np.ones(n, dtype=bool)
    for j, t in enumerate(labels):
        if t.startswith("I-"):
            start[j] = False
            for i, p in enumerate(labels):
                allowed[i, j] = p[2:] == t[2:] and p != "O"
    return allowed, start


def viterbi(logp, allowed, start):
    """Best valid IOB2 path through per-word log-probabilities (words x labels)."""
    import numpy as np

    neg = -1e9
    trans = np.where(allowed, 0.0, neg)
    score = logp[0] + np.where(start, 0.0, neg)
    back = []
    for t in range(1, len(logp)):
        cand = score[:, None] + trans
        back.append(cand.argmax(0))
        score = cand.max(0) + logp[t]
    path = [int(score.argmax())]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return path[::-1]


# ----------------------------------------------------------------------------------------- model
class _TextPrediction:
    """Text -> entities on top of ``predict_tokens`` (shared by the transformer and CRF taggers)."""

    # -- text -> entities
    def predict_texts(self, texts: Sequence[str], batch_size: int = 32) -> list[list[dict]]:
        """Entities with character offsets for each text (sentence-split and tokenised internally)."""
        sent_tokens, owner = [], []
        for ti, text in enumerate(texts):
            for sent in F.split_sentences(F.tokenize_with_offsets(text)):
                sent_tokens.append(sent)
                owner.append(ti)
        tags, scores = self.predict_tokens([[t[0] for t in s] for s in sent_tokens], batch_size,
                                           with_scores=True)
        out: list[list[dict]] = [[] for _ in texts]
        for s, tg, sc, ti in zip(sent_tokens, tags, scores, owner):
            for a, b, typ in F.iob_to_spans(tg):
                start, end = s[a][1], s[b - 1][2]
                out[ti].append({"start": start, "end": end, "text": texts[ti][start:end], "type": typ,
                                "score": round(float(min(sc[a:b])), 4)})
        return out

    def predict_text(self, text: str) -> list[dict]:
        return self.predict_texts([text])[0]



class NERModel(_TextPrediction):
    """A trained token classifier with its tokenizer and label set."""

    def __init__(self, model, tokenizer, labels: list[str], max_length: int = 128, device=None):
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_length = max_length
        self.device = device or next(model.parameters()).device
        self._allowed, self._start = _allowed(labels)
        self.types = sorted({t[2:] for t in labels if t != "O"})

    # -- tokens -> tags
    def predict_tokens(self, sentences: Sequence[Sequence[str]], batch_size: int = 32,
                       with_scores: bool = False):
        """IOB2 tags (and per-token confidence when with_scores) for pre-tokenised sentences, order kept."""
        import numpy as np
        import torch

        items = []  # (sentence index, word offset, ids, first)
        for si, words in enumerate(sentences):
            wp = _word_pieces(self.tokenizer, words) if words else []
            for a, b in _windows(wp, self.max_length - 2) if wp else []:
                ids, first = _build_inputs(self.tokenizer, wp[a:b], self.max_length)
                items.append((si, a, ids, first))
        logps: list[np.ndarray | None] = [np.zeros((len(w), len(self.labels)), dtype=np.float32)
                                          for w in sentences]
        self.model.eval()
        order = T.length_batches([len(x[2]) for x in items], batch_size, shuffle=False)
        with torch.inference_mode():
            for bidx in order:
                ids, mask, _ = _collate([items[i][2] for i in bidx], self.tokenizer.pad_token_id)
                out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                lp = torch.log_softmax(out.float(), -1).cpu().numpy()
                for row, i in enumerate(bidx):
                    si, a, _, first = items[i]
                    for k, pos in enumerate(first):
                        if pos >= 0:
                            logps[si][a + k] = lp[row, pos]
                        else:  # cannot happen with windows; keep 'O'
                            logps[si][a + k] = np.log(np.eye(len(self.labels))[self.labels.index("O")] + 1e-9)
        tags, scores = [], []
        for lp in logps:
            if len(lp) == 0:
                tags.append([])
                scores.append([])
                continue
            path = viterbi(lp, self._allowed, self._start)
            tags.append([self.labels[j] for j in path])
            scores.append([float(np.exp(lp[t, j])) for t, j in enumerate(path)])
        return (tags, scores) if with_scores else tags

    def save(self, path: str | os.PathLike, config: dict | None = None) -> None:
        import json

        path = Path(path)
        self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        (path / "genolm_ner.json").write_text(json.dumps({"task": "ner", "labels": self.labels,
                                                           "max_length": self.max_length,
                                                           "train_config": config or {}}, indent=2))


def load_ner(model_dir: str | os.PathLike, device=None) -> NERModel:
    """Load a trained NER model from a run directory or its model/ folder."""
    import json

    path = Path(model_dir)
    if (path / "model" / "genolm_ner.json").is_file():
        path = path / "model"
    meta_path = path / "genolm_ner.json"
    if not meta_path.is_file():
        raise UsageError(f"{model_dir} is not a genolm NER model (no genolm_ner.json); train one with "
                         "'genolm lit ner train'")
    meta = json.loads(meta_path.read_text())
    if meta.get("arch") == "crf":
        return _load_crf(path, meta)
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    device = device or T.torch_setup()
    model = AutoModelForTokenClassification.from_pretrained(path).to(device)
    tok = AutoTokenizer.from_pretrained(path)
    return NERModel(model, tok, meta["labels"], meta.get("max_length", 128), device)


# --------------------------------------------------------------------------------------- metrics
def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """seqeval entity-level exact-span precision/recall/F1, overall (micro) and per type."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    gold = [F.repair_iob(g) for g in gold]
    pred = [F.repair_iob(p) for p in pred]
    kw = dict(mode="strict", scheme=IOB2, zero_division=0)
    rep = classification_report(gold, pred, output_dict=True, **kw)
    per_type = {k: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1-score"],
                    "support": int(v["support"])}
                for k, v in rep.items() if not k.endswith(" avg")}
    return {"precision": precision_score(gold, pred, **kw), "recall": recall_score(gold, pred, **kw),
            "f1": f1_score(gold, pred, **kw), "per_type": per_type,
            "sentences": len(gold), "entities": sum(v["support"] for v in per_type.values())}


# ----------------------------------------------------------------------------------------- train
def _label_ids(sentences, labels):
    idx = {t: i for i, t in enumerate(labels)}
    return [[idx[t] for t in s.tags] for s in sentences]


def train_ner(train: str | os.PathLike | Sequence[str | os.PathLike], valid: str | os.PathLike | None,
              out: str | os.PathLike, config: NERConfig | None = None, **overrides) -> dict:
    """Fine-tune a token classifier on IOB files; writes a run directory; returns the metrics dict.

    The dev file (``valid``) picks the best checkpoint (by entity F1) and is scored at the end.
    """
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    from genolm.core.progress import progress
    from genolm.core.runs import RunDir, parse_duration, set_seed

    cfg = config or NERConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise UsageError(f"unknown NER option {k!r}")
        setattr(cfg, k, v)
    budget = parse_duration(cfg.time_budget) if cfg.time_budget not in (None, "", "0", 0) else None
    train_files = [train] if isinstance(train, (str, os.PathLike)) else list(train)
    train_sents = [s for f in train_files for s in F.read_iob(f)]
    valid_sents = F.read_iob(valid) if valid else []
    labels = ["O"] + sorted({t for s in train_sents + valid_sents for t in s.tags if t != "O"})
    if cfg.arch not in ("transformer", "crf"):
        raise UsageError(f"unknown --arch {cfg.arch!r}: use transformer or crf")
    backbone = T.resolve_model_path(cfg.model) if cfg.arch == "transformer" else None

    run = RunDir(out, command="lit ner train", config={**asdict(cfg), "backbone": str(backbone),
                                                       "train": [str(f) for f in train_files],
                                                       "valid": str(valid) if valid else None,
                                                       "labels": labels},
                 inputs=[*train_files, valid], seed=cfg.seed)
    with run:
        set_seed(cfg.seed)
        if cfg.arch == "crf":
            ner, info = _train_crf(cfg, train_sents, valid_sents, labels, run, budget)
            metrics = {"train_sentences": len(train_sents), **info}
            return _finish_training(run, ner, valid_sents, metrics, [])
        device = T.torch_setup(cfg.threads)
        tok = AutoTokenizer.from_pretrained(backbone)
        hf_cfg = AutoConfig.from_pretrained(backbone, num_labels=len(labels),
                                            id2label=dict(enumerate(labels)),
                                            label2id={t: i for i, t in enumerate(labels)})
        model = AutoModelForTokenClassification.from_pretrained(backbone, config=hf_cfg,
                                                                ignore_mismatched_sizes=True).to(device)
        ner = NERModel(model, tok, labels, cfg.max_length, device)

        # encode training sentences (long ones are cut into windows so every word is trained on)
        lab_ids = _label_ids(train_sents, labels)
        ex_ids, ex_lab = [], []
        for s, li in zip(train_sents, lab_ids):
            wp = _word_pieces(tok, s.tokens)
            for a, b in _windows(wp, cfg.max_length - 2):
                ids, first = _build_inputs(tok, wp[a:b], cfg.max_length)
                lab = [-100] * len(ids)
                for k, pos in enumerate(first):
                    if pos >= 0:
                        lab[pos] = li[a + k]
                ex_ids.append(ids)
                ex_lab.append(lab)
        rng = random.Random(cfg.seed)
        n_per_epoch = (len(ex_ids) + cfg.batch_size - 1) // cfg.batch_size
        max_steps = T.plan_steps(n_per_epoch, cfg.epochs, cfg.max_steps)
        eval_every = cfg.eval_every or n_per_epoch
        no_decay = ("bias", "LayerNorm.weight", "layer_norm", "norm")
        groups = [
            {"params": [p for n, p in model.named_parameters() if not any(x in n for x in no_decay)],
             "weight_decay": cfg.weight_decay},
            {"params": [p for n, p in model.named_parameters() if any(x in n for x in no_decay)],
             "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
        sched = T.BudgetSchedule(opt, cfg.lr, max_steps, budget)
        # leave time for the last dev evaluation and saving
        log.info("NER: %d training windows, %d labels, up to %d steps, budget %s", len(ex_ids), len(labels),
                 max_steps, f"{budget:.0f}s" if budget else "none")

        best = {"f1": -1.0, "step": 0}
        best_state = None
        history, losses = [], []
        bar = progress(total=max_steps, desc="ner train", unit="step")
        step = 0
        t0 = time.monotonic()
        while step < max_steps and not sched.done():
            for bidx in T.length_batches([len(x) for x in ex_ids], cfg.batch_size, True, rng):
                model.train()
                ids, mask, lab = _collate([ex_ids[i] for i in bidx], tok.pad_token_id, [ex_lab[i] for i in bidx])
                loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=lab.to(device)).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                sched.step()
                opt.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                losses.append(loss.item())
                bar.update(1)
                finished = step >= max_steps or sched.done()
                if valid_sents and (step % eval_every == 0 or finished):
                    pred = ner.predict_tokens([s.tokens for s in valid_sents])
                    sc = entity_scores([s.tags for s in valid_sents], pred)
                    history.append({"step": step, "seconds": round(time.monotonic() - t0, 1),
                                    "train_loss": float(np.mean(losses[-eval_every:])), "dev_f1": sc["f1"]})
                    log.info("step %d: dev F1 %.4f (loss %.4f)", step, sc["f1"], history[-1]["train_loss"])
                    if sc["f1"] > best["f1"]:
                        best = {"f1": sc["f1"], "step": step}
                        best_state = T.state_dict_copy(model)
                if finished:
                    break
        bar.close()
        train_seconds = time.monotonic() - t0
        if best_state is not None:
            model.load_state_dict(best_state)
        ner.save(run.model_dir, asdict(cfg))
        metrics: dict = {"train_sentences": len(train_sents), "train_windows": len(ex_ids), "steps": step,
                         "epochs": round(step / n_per_epoch, 2), "train_seconds": round(train_seconds, 1),
                         "best_step": best["step"]}
        return _finish_training(run, ner, valid_sents, metrics, history)


def _finish_training(run, ner, valid_sents, metrics: dict, history: list) -> dict:
    if valid_sents:
        pred = ner.predict_tokens([s.tokens for s in valid_sents])
        metrics["dev"] = entity_scores([s.tags for s in valid_sents], pred)
        F.write_iob(run.path / "dev_predictions.tsv", [(s.tokens, p) for s, p in zip(valid_sents, pred)])
    run.write_metrics(metrics)
    run.write_json("history.json", history)
    _report(run.path / "report.html", "NER training", metrics, history)
    return metrics


def _report(path, title, metrics, history=None):
    flat = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    dev = metrics.get("dev") or metrics
    for k in ("precision", "recall", "f1"):
        if k in dev:
            flat[f"{'dev_' if 'dev' in metrics else ''}{k}"] = dev[k]
    rows = [{"type": t, **{k: v for k, v in s.items()}} for t, s in dev.get("per_type", {}).items()]
    curves = {"dev F1": [(h["step"], h["dev_f1"]) for h in history or []],
              "train loss": [(h["step"], h["train_loss"]) for h in history or []]}
    T.write_report(path, title, flat, curves, [("Per entity type", rows)])


# ------------------------------------------------------------------------------------- evaluate
def evaluate_ner(model_dir: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike | None = None,
                 predictions: str | os.PathLike | None = None) -> dict:
    """Entity-level exact-span P/R/F1 of a model on a gold IOB file (or of a predictions IOB file)."""
    gold = F.read_iob(data)
    if predictions:
        pred_s = F.read_iob(predictions)
        if len(pred_s) != len(gold) or any(p.tokens != g.tokens for p, g in zip(pred_s, gold)):
            raise InputError("predictions do not have the same sentences/tokens as the gold file", predictions)
        pred = [p.tags for p in pred_s]
    else:
        pred = load_ner(model_dir).predict_tokens([s.tokens for s in gold])
    scores = entity_scores([s.tags for s in gold], pred)
    if out:
        from genolm.core.runs import RunDir

        with RunDir(out, command="lit ner evaluate", config={"model": str(model_dir), "data": str(data)},
                    inputs=[data]) as run:
            run.write_metrics(scores)
            F.write_iob(run.path / "predictions.tsv", [(s.tokens, p) for s, p in zip(gold, pred)])
            _report(run.path / "report.html", "NER evaluation", scores)
    return scores


# -------------------------------------------------------------------------------------- predict
def predict_file(model_dir: str | os.PathLike, input: str | os.PathLike, out: str | os.PathLike,
                 input_format: str = "auto", ner: NERModel | None = None) -> dict:
    """Tag a file. IOB in -> IOB out (tags replaced, tokens/order kept); JSONL/text in -> JSONL out
    ({"id", "text", "entities": [{start, end, text, type, score}]}); PubTator in -> PubTator out (mentions
    replaced by predictions). Returns counts."""
    fmt = F.detect_format(input) if input_format == "auto" else input_format
    if fmt not in ("iob", "jsonl", "text", "pubtator"):
        raise UsageError(f"unknown input format {fmt!r}: use auto, iob, text, jsonl or pubtator")
    # read (and validate) the input before loading the model
    if fmt == "iob":
        sents = F.read_iob(input, require_tags=False)
    elif fmt == "pubtator":
        docs = F.read_pubtator(input)
    elif fmt == "jsonl":
        recs = F.read_jsonl_texts(input)
    else:
        recs = F.read_text_documents(input)
    ner = ner or load_ner(model_dir)
    n_ent = 0
    if fmt == "iob":
        tags = ner.predict_tokens([s.tokens for s in sents])
        F.write_iob(out, [(s.tokens, t) for s, t in zip(sents, tags)])
        n_ent = sum(len(F.iob_to_spans(t)) for t in tags)
        return {"format": fmt, "sentences": len(sents), "entities": n_ent}
    if fmt == "pubtator":
        ents = ner.predict_texts([d.text for d in docs])
        for d, es in zip(docs, ents):
            d.mentions = [F.Mention(e["start"], e["end"], e["text"], e["type"]) for e in es]
            n_ent += len(es)
        F.write_pubtator(out, docs)
        return {"format": fmt, "documents": len(docs), "entities": n_ent}
    ents = ner.predict_texts([r["text"] for r in recs])
    for r, es in zip(recs, ents):
        r["entities"] = es
        n_ent += len(es)
    F.write_jsonl(out, recs)
    return {"format": fmt, "documents": len(recs), "entities": n_ent}


# ------------------------------------------------------------------------------------ CRF tagger
_SHAPE = [(re.compile(r"[A-Z]"), "X"), (re.compile(r"[a-z]"), "x"), (re.compile(r"[0-9]"), "d")]


def _shape(w: str) -> str:
    for rx, c in _SHAPE:
        w = rx.sub(c, w)
    return re.sub(r"(.)\1+", r"\1\1", w)


class Gazetteer:
    """Entity surface forms (lower-cased token tuples) by type, matched longest-first."""

    def __init__(self, entries: dict[tuple[str, ...], str] | None = None, max_len: int = 8):
        self.entries = entries or {}
        self.max_len = max_len

    @classmethod
    def from_sentences(cls, sentences) -> "Gazetteer":
        counts: dict = {}
        for s in sentences:
            low = [t.lower() for t in s.tokens]
            for a, b, typ in F.iob_to_spans(s.tags):
                counts.setdefault(tuple(low[a:b]), Counter())[typ] += 1
        return cls({k: c.most_common(1)[0][0] for k, c in counts.items() if len(k) <= 8})

    def match(self, tokens: Sequence[str]) -> list[str]:
        """Per token 'B-T' / 'I-T' / '' for the longest dictionary matches (left to right)."""
        low = [t.lower() for t in tokens]
        out = [""] * len(low)
        i = 0
        while i < len(low):
            for L in range(min(self.max_len, len(low) - i), 0, -1):
                typ = self.entries.get(tuple(low[i:i + L]))
                if typ and not (L == 1 and len(low[i]) < 3 and not low[i].isalpha()):
                    out[i] = "B-" + typ
                    for k in range(i + 1, i + L):
                        out[k] = "I-" + typ
                    i += L
                    break
            else:
                i += 1
        return out


class WordTypeModel:
    """Character n-gram logistic regression: how likely is a word (type) part of an entity of each type?

    Generalises word shape to unseen names (``-coxib``, ``-sartan``, ``-itis``, ``-emia``); its binned
    probabilities are CRF features."""

    def __init__(self, vectorizer=None, classifier=None):
        self.vec, self.clf = vectorizer, classifier
        self._cache: dict[str, str] = {}

    @classmethod
    def fit(cls, sentences, seed: int = 0) -> "WordTypeModel":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        counts: dict[str, Counter] = {}
        for s in sentences:
            for w, t in zip(s.tokens, s.tags):
                if len(w) > 1 and any(c.isalpha() for c in w):
                    counts.setdefault(w.lower(), Counter())[t[2:] if t != "O" else "O"] += 1
        words = sorted(counts)
        labels = [counts[w].most_common(1)[0][0] for w in words]
        if len(set(labels)) < 2:
            return cls()
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
        X = vec.fit_transform(words)
        clf = LogisticRegression(C=4.0, max_iter=1000, random_state=seed).fit(X, labels)
        return cls(vec, clf)

    def feature(self, word: str) -> str:
        w = word.lower()
        if self.clf is None or len(w) < 2 or not any(c.isalpha() for c in w):
            return ""
        f = self._cache.get(w)
        if f is None:
            p = self.clf.predict_proba(self.vec.transform([w]))[0]
            feats = [f"{c}{int(q * 4)}" for c, q in zip(self.clf.classes_, p) if c != "O" and q >= 0.25]
            f = self._cache[w] = "|".join(feats)
        return f

    def prime(self, words) -> None:
        """Score many new word types in one batch (much faster than one by one)."""
        if self.clf is None:
            return
        new = sorted({w.lower() for w in words if len(w) > 1 and any(c.isalpha() for c in w)} - set(self._cache))
        if not new:
            return
        P = self.clf.predict_proba(self.vec.transform(new))
        for w, p in zip(new, P):
            self._cache[w] = "|".join(f"{c}{int(q * 4)}" for c, q in zip(self.clf.classes_, p)
                                      if c != "O" and q >= 0.25)


def _crf_features(tokens: Sequence[str], gaz: Gazetteer | None, wtm: WordTypeModel | None = None) -> list[list[str]]:
    dic = gaz.match(tokens) if gaz else [""] * len(tokens)
    morph = [wtm.feature(t) for t in tokens] if wtm is not None else [""] * len(tokens)
    low = [t.lower() for t in tokens]
    shp = [_shape(t) for t in tokens]
    feats = []
    n = len(tokens)
    for i, w in enumerate(tokens):
        lw = low[i]
        f = ["b", "w=" + lw, "sh=" + shp[i], "p2=" + lw[:2], "p3=" + lw[:3], "p4=" + lw[:4],
             "s2=" + lw[-2:], "s3=" + lw[-3:], "s4=" + lw[-4:], "len=%d" % min(len(w), 12)]
        if w[:1].isupper():
            f.append("cap")
        if w.isupper() and len(w) > 1:
            f.append("allcap")
        if any(c.isdigit() for c in w):
            f.append("dig")
        if any(c.isupper() for c in w[1:]):
            f.append("midcap")
        if dic[i]:
            f += ["d=" + dic[i], "dt=" + dic[i][2:]]
        if morph[i]:
            f += ["m=" + x for x in morph[i].split("|")]
        for off in (-2, -1, 1, 2):
            j = i + off
            if 0 <= j < n:
                f += [f"{off}w={low[j]}", f"{off}sh={shp[j]}", f"{off}s3={low[j][-3:]}"]
                if dic[j]:
                    f.append(f"{off}d={dic[j]}")
                if off in (-1, 1) and morph[j]:
                    f += [f"{off}m=" + x for x in morph[j].split("|")]
            else:
                f.append(f"{off}pad")
        if i > 0:
            f.append(f"bg-={low[i - 1]}|{lw}")
        if i + 1 < n:
            f.append(f"bg+={lw}|{low[i + 1]}")
        feats.append(f)
    return feats


class CRFNERModel(_TextPrediction):
    """A linear-chain CRF (CRFsuite) over lexical, shape, context and dictionary features: fast on CPU."""

    def __init__(self, tagger_path: str | os.PathLike, labels: list[str], gazetteer: Gazetteer,
                 word_types: WordTypeModel | None = None):
        import pycrfsuite

        self.tagger = pycrfsuite.Tagger()
        self.tagger.open(str(tagger_path))
        self.labels = labels
        self.gaz = gazetteer
        self.word_types = word_types
        self.types = sorted({t[2:] for t in labels if t != "O"})

    def predict_tokens(self, sentences: Sequence[Sequence[str]], batch_size: int = 0, with_scores: bool = False):
        if self.word_types is not None:
            self.word_types.prime(w for s in sentences for w in s)
        tags, scores = [], []
        for words in sentences:
            if not words:
                tags.append([])
                scores.append([])
                continue
            t = F.repair_iob(self.tagger.tag(_crf_features(words, self.gaz, self.word_types)))
            tags.append(t)
            if with_scores:
                scores.append([self.tagger.marginal(tag, i) for i, tag in enumerate(t)])
        return (tags, scores) if with_scores else tags


def _train_crf(cfg: NERConfig, train_sents, valid_sents, labels, run, budget) -> tuple[CRFNERModel, dict]:
    """Dictionary features are computed out of fold on the training data (k folds), so the CRF learns
    how much to trust a dictionary match on unseen text."""
    import json

    import pycrfsuite

    rng = random.Random(cfg.seed)
    folds = [rng.randrange(cfg.crf_folds) for _ in train_sents]
    trainer = pycrfsuite.Trainer(verbose=False)
    for k in range(cfg.crf_folds):
        others = [s for s, f in zip(train_sents, folds) if f != k]
        gaz_k = Gazetteer.from_sentences(others)
        wtm_k = WordTypeModel.fit(others, cfg.seed) if cfg.crf_word_types else None
        mine = [s for s, f in zip(train_sents, folds) if f == k]
        if wtm_k is not None:
            wtm_k.prime(w for s in mine for w in s.tokens)
        for s in mine:
            trainer.append(_crf_features(s.tokens, gaz_k, wtm_k), s.tags)
    iters = cfg.crf_iterations
    trainer.set_params({"c1": cfg.crf_c1, "c2": cfg.crf_c2, "max_iterations": iters,
                        "feature.possible_transitions": True})
    gaz = Gazetteer.from_sentences(train_sents)
    wtm = WordTypeModel.fit(train_sents, cfg.seed) if cfg.crf_word_types else None
    model_dir = Path(run.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    trainer.train(str(model_dir / "crf.model"))
    (model_dir / "gazetteer.json").write_text(json.dumps([[list(k), v] for k, v in gaz.entries.items()]))
    if wtm is not None and wtm.clf is not None:
        import joblib

        joblib.dump({"vectorizer": wtm.vec, "classifier": wtm.clf}, model_dir / "word_types.joblib")
    (model_dir / "genolm_ner.json").write_text(json.dumps({"task": "ner", "arch": "crf", "labels": labels,
                                                            "train_config": asdict(cfg)}, indent=2))
    info = {"iterations": iters, "train_seconds": round(time.monotonic() - t0, 1)}
    return CRFNERModel(model_dir / "crf.model", labels, gaz, wtm), info


def _load_crf(path: Path, meta: dict) -> CRFNERModel:
    import json

    entries = {tuple(k): v for k, v in json.loads((path / "gazetteer.json").read_text())}
    wtm = None
    if (path / "word_types.joblib").is_file():
        import joblib

        b = joblib.load(path / "word_types.joblib")
        wtm = WordTypeModel(b["vectorizer"], b["classifier"])
    return CRFNERModel(path / "crf.model", meta["labels"], Gazetteer(entries), wtm)
