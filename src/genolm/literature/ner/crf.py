"""The CRF tagger (CRFsuite): lexical, shape, context, dictionary and character n-gram word-type features.

Stored as native, code-free files: ``crf.model`` (CRFsuite), ``gazetteer.json`` and ``word_types.skops``
(the scikit-learn word-type model, read back under :mod:`genolm.core.persist`'s allow-list).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from genolm.literature import formats as F
from genolm.literature.ner.encoding import TextPrediction

WORD_TYPES_FILE = "word_types.skops"
_SHAPE = [(re.compile(r"[A-Z]"), "X"), (re.compile(r"[a-z]"), "x"), (re.compile(r"[0-9]"), "d")]


def word_shape(w: str) -> str:
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
                typ = self.entries.get(tuple(low[i : i + L]))
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
            self._cache[w] = "|".join(
                f"{c}{int(q * 4)}" for c, q in zip(self.clf.classes_, p) if c != "O" and q >= 0.25
            )


def crf_features(tokens: Sequence[str], gaz: Gazetteer | None, wtm: WordTypeModel | None = None) -> list[list[str]]:
    dic = gaz.match(tokens) if gaz else [""] * len(tokens)
    morph = [wtm.feature(t) for t in tokens] if wtm is not None else [""] * len(tokens)
    low = [t.lower() for t in tokens]
    shp = [word_shape(t) for t in tokens]
    feats = []
    n = len(tokens)
    for i, w in enumerate(tokens):
        lw = low[i]
        f = [
            "b",
            "w=" + lw,
            "sh=" + shp[i],
            "p2=" + lw[:2],
            "p3=" + lw[:3],
            "p4=" + lw[:4],
            "s2=" + lw[-2:],
            "s3=" + lw[-3:],
            "s4=" + lw[-4:],
            "len=%d" % min(len(w), 12),
        ]
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


class CRFNERModel(TextPrediction):
    """A linear-chain CRF (CRFsuite) over lexical, shape, context and dictionary features: fast on CPU."""

    def __init__(
        self,
        tagger_path: str | os.PathLike,
        labels: list[str],
        gazetteer: Gazetteer,
        word_types: WordTypeModel | None = None,
    ):
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
            t = F.repair_iob(self.tagger.tag(crf_features(words, self.gaz, self.word_types)))
            tags.append(t)
            if with_scores:
                scores.append([self.tagger.marginal(tag, i) for i, tag in enumerate(t)])
        return (tags, scores) if with_scores else tags


def train_crf(cfg, train_sents, labels, model_dir: Path) -> tuple[CRFNERModel, dict]:
    """Dictionary features are computed out of fold on the training data (k folds), so the CRF learns
    how much to trust a dictionary match on unseen text."""
    import pycrfsuite

    from genolm.core.persist import save_estimator
    from genolm.io.atomic import atomic_write_text

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
            trainer.append(crf_features(s.tokens, gaz_k, wtm_k), s.tags)
    iters = cfg.crf_iterations
    trainer.set_params(
        {"c1": cfg.crf_c1, "c2": cfg.crf_c2, "max_iterations": iters, "feature.possible_transitions": True}
    )
    gaz = Gazetteer.from_sentences(train_sents)
    wtm = WordTypeModel.fit(train_sents, cfg.seed) if cfg.crf_word_types else None
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    trainer.train(str(model_dir / "crf.model"))
    atomic_write_text(model_dir / "gazetteer.json", json.dumps([[list(k), v] for k, v in gaz.entries.items()]))
    if wtm is not None and wtm.clf is not None:
        save_estimator({"vectorizer": wtm.vec, "classifier": wtm.clf}, model_dir / WORD_TYPES_FILE)
    atomic_write_text(
        model_dir / "genolm_ner.json",
        json.dumps({"task": "ner", "arch": "crf", "labels": labels, "train_config": asdict(cfg)}, indent=2),
    )
    info = {"iterations": iters, "train_seconds": round(time.monotonic() - t0, 1)}
    return CRFNERModel(model_dir / "crf.model", labels, gaz, wtm), info


def load_crf(path: Path, meta: dict) -> CRFNERModel:
    from genolm.core.persist import load_estimator
    from genolm.io.errors import InputError

    wtm = None
    if any(path.glob("word_types.*")):  # an older folder's non-skops file is refused by load_estimator
        b = load_estimator(path / WORD_TYPES_FILE)
        wtm = WordTypeModel(b["vectorizer"], b["classifier"])
    try:
        entries = {tuple(k): v for k, v in json.loads((path / "gazetteer.json").read_text(encoding="utf-8"))}
    except (OSError, ValueError, TypeError) as e:
        raise InputError(f"cannot read the CRF dictionary ({e})", path / "gazetteer.json") from None
    if not (path / "crf.model").is_file():
        raise InputError("CRF model file missing", path / "crf.model")
    return CRFNERModel(path / "crf.model", meta["labels"], Gazetteer(entries), wtm)
