"""Word pieces, windows and batches for the transformer tagger; constrained IOB2 decoding; text -> entities.

Word pieces: the first sub-token of each word carries the word's label (others are ignored in the loss).
Decoding is constrained Viterbi over the softmax scores, so output tags are always valid IOB2.
"""

from __future__ import annotations

from typing import Sequence

from genolm.literature import formats as F


# ----------------------------------------------------------------------------------------- encoding
def word_pieces(tokenizer, words: Sequence[str]) -> list[list[int]]:
    enc = tokenizer(list(words), add_special_tokens=False)["input_ids"]
    unk = tokenizer.unk_token_id
    return [p if p else [unk] for p in enc]


def windows(pieces: list[list[int]], max_pieces: int) -> list[tuple[int, int]]:
    """Split a sentence into word ranges whose pieces fit in max_pieces (prediction never truncates)."""
    out, start, n = [], 0, 0
    for i, p in enumerate(pieces):
        L = min(len(p), max_pieces)
        if n + L > max_pieces and i > start:
            out.append((start, i))
            start, n = i, 0
        n += L
    out.append((start, len(pieces)))
    return out


def build_inputs(tokenizer, pieces: list[list[int]], max_length: int):
    """[CLS] pieces [SEP] (truncated) and first-piece positions (-1 when truncated away)."""
    ids = [tokenizer.cls_token_id]
    first = []
    for p in pieces:
        if len(ids) + 1 >= max_length:
            first.append(-1)
            continue
        p = p[: max_length - 1 - len(ids)]
        first.append(len(ids))
        ids.extend(p)
    ids.append(tokenizer.sep_token_id)
    return ids, first


def collate(batch_ids: list[list[int]], pad_id: int, labels: list[list[int]] | None = None):
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
def allowed_transitions(labels: list[str]):
    """(prev -> next allowed matrix, allowed first tags) of IOB2 over ``labels``."""
    import numpy as np

    n = len(labels)
    allowed = np.ones((n, n), dtype=bool)  # prev -> next
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


# ------------------------------------------------------------------------------ text -> entities
class TextPrediction:
    """Text -> entities on top of ``predict_tokens`` (shared by the transformer and CRF taggers)."""

    def predict_tokens(self, sentences, batch_size: int = 32, with_scores: bool = False):  # pragma: no cover
        raise NotImplementedError

    def predict_texts(self, texts: Sequence[str], batch_size: int = 32) -> list[list[dict]]:
        """Entities with character offsets for each text (sentence-split and tokenised internally)."""
        sent_tokens, owner = [], []
        for ti, text in enumerate(texts):
            for sent in F.split_sentences(F.tokenize_with_offsets(text)):
                sent_tokens.append(sent)
                owner.append(ti)
        tags, scores = self.predict_tokens([[t[0] for t in s] for s in sent_tokens], batch_size, with_scores=True)
        out: list[list[dict]] = [[] for _ in texts]
        for s, tg, sc, ti in zip(sent_tokens, tags, scores, owner):
            for a, b, typ in F.iob_to_spans(tg):
                start, end = s[a][1], s[b - 1][2]
                out[ti].append(
                    {
                        "start": start,
                        "end": end,
                        "text": texts[ti][start:end],
                        "type": typ,
                        "score": round(float(min(sc[a:b])), 4),
                    }
                )
        return out

    def predict_text(self, text: str) -> list[dict]:
        return self.predict_texts([text])[0]
