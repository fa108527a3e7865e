"""Sentences and the normalisation dictionary: surface forms -> entity ids, exact then fuzzy matching, and
the longest-match dictionary tagger used for documents without annotations or an NER model."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from genolm.literature.kg.schema import Entity, EntityName


def normalize_name(name: str) -> str:
    """Lower-case, NFKC, whitespace collapsed, outer punctuation stripped: the dictionary key."""
    s = unicodedata.normalize("NFKC", name).lower()
    s = re.sub(r"\s+", " ", s)
    return s.strip(" .,;:\"'")


_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9(\[\"'])")


def split_sentences(text: str, title_len: int = 0) -> list[tuple[int, int]]:
    """0-based half-open sentence spans; the title (first ``title_len`` chars) is its own sentence."""
    spans = []
    pieces = [(0, title_len), (title_len, len(text))] if 0 < title_len < len(text) else [(0, len(text))]
    for lo, hi in pieces:
        pos = lo
        chunk = text[lo:hi]
        for m in _SENT_END.finditer(chunk):
            end = lo + m.start()
            # "e.g. Xyz", "Fig. 2", "vs. B": a short word before the dot is an abbreviation, not an end.
            prev = re.search(r"(\S+)$", text[pos:end])
            if (
                prev
                and re.fullmatch(r"(?:[A-Za-z]{1,3}|e\.g|i\.e|et al|approx|vs|Dr|Fig|no)\.", prev.group(1))
                and not re.fullmatch(r"[A-Z]{2,3}\.", prev.group(1))
            ):
                continue
            spans.append((pos, end))
            pos = lo + m.end()
        spans.append((pos, hi))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


_TOKEN = re.compile(r"\w+|[^\w\s]")
_TRAILING_PUNCT = {".", ",", ";", ":", "(", "[", "-", "/"}
_STOP_NAMES = {
    "and",
    "or",
    "the",
    "a",
    "an",
    "of",
    "in",
    "to",
    "for",
    "with",
    "was",
    "were",
    "is",
    "are",
    "that",
    "this",
    "these",
    "as",
    "by",
    "on",
    "at",
    "be",
    "not",
    "no",
    "all",
    "can",
    "may",
}


class Dictionary:
    """Surface form -> entity ids, from annotated corpora; exact, then character-3-gram fuzzy matching."""

    def __init__(self) -> None:
        self.by_norm: dict[str, Counter] = defaultdict(Counter)  # norm -> Counter(entity_id -> count)
        self.case: dict[str, set[str]] = defaultdict(set)  # norm -> exact surface forms
        self.entity_type: dict[int, str] = {}
        self._fuzzy = None
        self._first: dict[str, int] = {}

    def add(self, entity_id: int, etype: str, name: str, count: int = 1) -> None:
        norm = normalize_name(name)
        if not norm:
            return
        new_name = norm not in self.by_norm
        self.by_norm[norm][entity_id] += count
        self.case[norm].add(name.strip())
        self.entity_type[entity_id] = etype
        if new_name and self._first:
            toks = _TOKEN.findall(norm)
            if toks:
                self._first[toks[0]] = max(self._first.get(toks[0], 0), len(toks))

    def __len__(self) -> int:
        return len(self.by_norm)

    def lookup(self, name: str, etype: str | None = None) -> int | None:
        """Most frequent entity with exactly this (normalised) name, optionally of one type."""
        cands = self.by_norm.get(normalize_name(name))
        if not cands:
            return None
        for eid, _ in cands.most_common():
            if etype is None or self.entity_type.get(eid) == etype:
                return eid
        return None

    def _build_fuzzy(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        names = sorted(self.by_norm)
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=1, sublinear_tf=True)
        mat = vec.fit_transform(names) if names else None
        self._fuzzy = (names, vec, mat)

    def fuzzy(self, name: str, etype: str | None = None, threshold: float = 0.8, n: int = 5) -> list[tuple[str, float]]:
        """(dictionary name, cosine similarity) of the closest names, best first."""
        if not self.by_norm:
            return []
        # rebuilt when the dictionary grew by a fifth since the last build (not on every new name)
        if self._fuzzy is None or len(self.by_norm) > 1.2 * len(self._fuzzy[0]):
            self._build_fuzzy()
        names, vec, mat = self._fuzzy
        q = vec.transform([normalize_name(name)])
        sims = (mat @ q.T).toarray().ravel()
        order = sims.argsort()[::-1]
        out = []
        for i in order[: n * 20]:
            if sims[i] < threshold or len(out) >= n:
                break
            if etype is None or any(self.entity_type.get(e) == etype for e in self.by_norm[names[i]]):
                out.append((names[i], float(sims[i])))
        return out

    def normalize(self, name: str, etype: str | None = None, threshold: float = 0.8) -> int | None:
        """Exact match, else the best fuzzy match above ``threshold`` (same type when given)."""
        eid = self.lookup(name, etype)
        if eid is not None:
            return eid
        for cand, _ in self.fuzzy(name, etype, threshold, n=1):
            return self.lookup(cand, etype)
        return None

    def tag(self, text: str, max_tokens: int = 8) -> list[tuple[int, int, int]]:
        """Longest-match dictionary tagging: non-overlapping (start, end, entity_id), left to right.

        Names of 4 characters or fewer must match case-sensitively (gene symbols such as 'CAT', 'MAP')."""
        if not self._first:
            first: dict[str, int] = {}
            for norm in self.by_norm:
                toks = _TOKEN.findall(norm)
                if toks:
                    first[toks[0]] = max(first.get(toks[0], 0), len(toks))
            self._first = first
        toks = [(m.start(), m.end(), m.group(0).lower()) for m in _TOKEN.finditer(text)]
        out = []
        i = 0
        while i < len(toks):
            longest = min(self._first.get(unicodedata.normalize("NFKC", toks[i][2]), 0), max_tokens)
            hit = None
            for j in range(min(len(toks), i + longest), i, -1):
                if toks[j - 1][2] in _TRAILING_PUNCT:
                    continue
                s, e = toks[i][0], toks[j - 1][1]
                surface = text[s:e]
                norm = normalize_name(surface)
                if len(norm) < 3 or norm in _STOP_NAMES or norm not in self.by_norm:
                    continue
                if len(norm) <= 4 and surface not in self.case[norm]:
                    continue
                hit = (s, e, self.by_norm[norm].most_common(1)[0][0], j)
                break
            if hit:
                out.append(hit[:3])
                i = hit[3]
            else:
                i += 1
        return out


def load_dictionary(session: Session) -> Dictionary:
    d = Dictionary()
    rows = session.execute(
        select(EntityName.entity_id, Entity.type, EntityName.name, EntityName.count).join(
            Entity, Entity.id == EntityName.entity_id
        )
    )
    for eid, etype, name, count in rows:
        d.add(eid, etype, name, count)
    return d
