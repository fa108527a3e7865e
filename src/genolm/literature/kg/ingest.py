"""Ingestion: documents -> sentences, mentions (gold, NER or dictionary), normalised entities and relations
(gold, RE model or same-sentence co-occurrence), all of one `lit kg build` in one transaction.

Bad records (a JSONL line, a PubTator document) are reported with file and line and skipped, like
`variants score`; with ``strict=True`` the first one raises and the whole run is rolled back. Re-ingesting a
document whose key and text are unchanged adds nothing; a changed text replaces the document's rows,
its full-text row included.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from genolm.io.errors import InputError, UsageError
from genolm.literature.kg.dictionary import load_dictionary, normalize_name, split_sentences
from genolm.literature.kg.documents import InputDocument, canonical_type, read_documents
from genolm.literature.kg.schema import (
    DEFAULT_DB,
    Document,
    Entity,
    EntityName,
    Mention,
    Relation,
    Sentence,
    connect,
    delete_fulltext,
    write_fulltext,
)

log = logging.getLogger("genolm.literature.kg")

# Types the co-occurrence fallback ignores (species like "patients" co-occur with everything).
NO_COOCCURRENCE = {"Species"}
# Bad records logged one by one; the rest are counted.
MAX_REPORTED = 20


@dataclass
class BuildStats:
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    sentences: int = 0
    mentions: int = 0
    entities_added: int = 0
    relations: int = 0
    bad_records: list[dict] = field(default_factory=list)  # {"path", "line", "reason"} per skipped record

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["bad_records"] = [dict(r) for r in self.bad_records]
        return d


class _Ingestor:
    def __init__(
        self,
        session: Session,
        ner=None,
        re_model=None,
        cooccurrence: bool = True,
        fuzzy_threshold: float = 0.85,
        stats: BuildStats | None = None,
    ):
        self.s = session
        self.ner = ner
        self.re_model = re_model
        self.cooccurrence = cooccurrence
        self.fuzzy_threshold = fuzzy_threshold
        self.stats = stats if stats is not None else BuildStats()
        self.entities: dict[tuple[str, str], int] = {
            (t, i): eid for eid, t, i in session.execute(select(Entity.id, Entity.type, Entity.identifier))
        }
        self.names: dict[tuple[int, str], EntityName] = {
            (r.entity_id, r.norm): r for r in session.execute(select(EntityName)).scalars()
        }
        self.skipped_relations = 0
        self.dictionary = load_dictionary(session)

    # entities --------------------------------------------------------------------------------
    def entity(self, etype: str, identifier: str, name: str) -> int:
        key = (etype, identifier)
        eid = self.entities.get(key)
        if eid is None:
            ent = Entity(type=etype, identifier=identifier, name=name.strip())
            self.s.add(ent)
            self.s.flush()
            eid = self.entities[key] = ent.id
            self.stats.entities_added += 1
        return eid

    def add_name(self, eid: int, etype: str, name: str) -> None:
        norm = normalize_name(name)
        if not norm:
            return
        row = self.names.get((eid, norm))
        if row is None:
            row = EntityName(entity_id=eid, norm=norm, name=name.strip(), count=0)
            self.s.add(row)
            self.names[(eid, norm)] = row
        row.count += 1
        if norm not in self.dictionary.by_norm or eid not in self.dictionary.by_norm[norm]:
            self.dictionary.add(eid, etype, name)
        else:
            self.dictionary.by_norm[norm][eid] += 1

    def add_dictionary(self, docs: Iterable[InputDocument]) -> int:
        """Only the names of annotated mentions (no documents): seeds the normalisation dictionary."""
        n = 0
        for doc in docs:
            for m in doc.mentions or []:
                for ident in m.ids or [f"name:{normalize_name(m.text)}"]:
                    eid = self.entity(m.type, ident, m.text)
                    self.add_name(eid, m.type, m.text)
                    n += 1
        return n

    # documents -------------------------------------------------------------------------------
    def ingest(self, doc: InputDocument) -> None:
        sha = hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
        existing = self.s.execute(select(Document).where(Document.key == doc.key)).scalar_one_or_none()
        if existing is not None:
            if existing.sha256 == sha:
                self.stats.documents_unchanged += 1
                return
            delete_fulltext(self.s, existing.id)
            self.s.delete(existing)
            self.s.flush()
            self.stats.documents_updated += 1
        else:
            self.stats.documents_added += 1
        row = Document(key=doc.key, pmid=doc.pmid, title=doc.title, text=doc.text, source=doc.source, sha256=sha)
        title_len = len(doc.title) if doc.title and doc.text.startswith(doc.title) else 0
        spans = split_sentences(doc.text, title_len)
        row.sentences = [Sentence(index=i, start=s, end=e, text=doc.text[s:e]) for i, (s, e) in enumerate(spans)]
        self.s.add(row)
        self.s.flush()
        self.stats.sentences += len(spans)
        write_fulltext(self.s, row.id, doc.title, doc.text[title_len:])

        starts = [s for s, _ in spans]

        def sentence_of(pos: int) -> Sentence | None:
            i = bisect.bisect_right(starts, pos) - 1
            return row.sentences[i] if i >= 0 else None

        # mentions: gold annotations, else the NER model, else the dictionary tagger
        mentions: list[tuple[int, int, str, str, list[int]]] = []  # start, end, text, type, entity ids
        ident_to_eid: dict[str, int] = {}
        if doc.mentions is not None:
            source = "gold"
            for m in doc.mentions:
                ids = []
                for ident in m.ids:
                    ids.append(self.entity(m.type, ident, m.text))
                    ident_to_eid.setdefault(ident, ids[-1])
                if not ids:  # annotated without a concept id ('-1'): exact name match, else its own entity
                    eid = self.dictionary.lookup(m.text, m.type)
                    ids = [eid if eid is not None else self.entity(m.type, f"name:{normalize_name(m.text)}", m.text)]
                for eid in ids:
                    self.add_name(eid, m.type, m.text)
                mentions.append((m.start, m.end, m.text, m.type, ids))
        elif self.ner is not None:
            source = "ner"
            for p in self.ner.predict_text(doc.text):
                etype = canonical_type(str(p["type"]))
                start, end = int(p["start"]), int(p["end"])
                text = doc.text[start:end]
                mentions.append((start, end, text, etype, [self._normalise_new(text, etype)]))
        else:
            source = "dictionary"
            for start, end, eid in self.dictionary.tag(doc.text):
                mentions.append((start, end, doc.text[start:end], self.dictionary.entity_type[eid], [eid]))

        by_entity: dict[int, list[tuple[int, int, Sentence | None]]] = defaultdict(list)
        for start, end, text, etype, ids in mentions:
            sent = sentence_of(start)
            for eid in ids:
                row.mentions.append(
                    Mention(start=start, end=end, text=text, type=etype, source=source, entity_id=eid, sentence=sent)
                )
                by_entity[eid].append((start, end, sent))
        self.stats.mentions += len(row.mentions)

        # relations: gold lines, else the RE model, else same-sentence co-occurrence
        rels: dict[tuple[str, int, int], tuple[str, float | None]] = {}
        if doc.relations:
            for rtype, id1, id2 in doc.relations:
                h, t = ident_to_eid.get(id1), ident_to_eid.get(id2)
                if h is None or t is None:
                    log.debug(
                        "%s: relation %s %s %s names an id not annotated in document %s; skipped",
                        doc.path,
                        rtype,
                        id1,
                        id2,
                        doc.key,
                    )
                    self.skipped_relations += 1
                    continue
                rels[(rtype, h, t)] = ("gold", None)
        elif self.re_model is not None and mentions:
            for rtype, h, t, score in self._predict_relations(doc, title_len, mentions):
                rels[(rtype, h, t)] = ("re", score)
        elif self.cooccurrence:
            for sent in row.sentences:
                ents = sorted(
                    {
                        eid
                        for eid, occ in by_entity.items()
                        for _, _, s in occ
                        if s is sent and self._etype(eid) not in NO_COOCCURRENCE
                    }
                )
                for i, a in enumerate(ents):
                    for b in ents[i + 1 :]:
                        rels.setdefault(("cooccurs", a, b), ("cooccurrence", None))
        for (rtype, h, t), (src, score) in rels.items():
            sid, evidence = self._evidence(doc.text, row, by_entity[h], by_entity[t])
            row.relations.append(
                Relation(
                    type=rtype,
                    head_id=h,
                    tail_id=t,
                    sentence_id=sid,
                    evidence=evidence,
                    pmid=doc.pmid,
                    source=src,
                    score=score,
                )
            )
        self.stats.relations += len(rels)
        self.s.flush()

    def _predict_relations(self, doc: InputDocument, title_len: int, mentions) -> list[tuple[str, int, int, float]]:
        """Run the --re model (genolm.literature.relations) on this document's normalised mentions."""
        from genolm.literature import formats as F

        ident = {eid: ident for (_, ident), eid in self.entities.items()}
        fdoc = F.Document(
            id=doc.key, title=doc.text[:title_len], abstract=doc.text[title_len + 1 :] if title_len else doc.text
        )
        by_ident: dict[str, int] = {}
        for s, e, tx, ty, ids in mentions:
            for eid in ids:
                by_ident[ident[eid]] = eid
            fdoc.mentions.append(F.Mention(s, e, tx, ty, tuple(ident[eid] for eid in ids)))
        out = []
        for r in self.re_model.predict_document(fdoc):
            h, t = by_ident.get(r.id1), by_ident.get(r.id2)
            if h is not None and t is not None:
                out.append((r.type, h, t, r.score))
        return out

    def _etype(self, eid: int) -> str:
        return self.dictionary.entity_type.get(eid) or self.s.get(Entity, eid).type

    def _normalise_new(self, text: str, etype: str) -> int:
        eid = self.dictionary.normalize(text, etype, self.fuzzy_threshold)
        if eid is None:
            eid = self.entity(etype, f"name:{normalize_name(text)}", text)
            self.add_name(eid, etype, text)
        self.dictionary.entity_type.setdefault(eid, etype)
        return eid

    @staticmethod
    def _evidence(text: str, row: Document, h_occ, t_occ) -> tuple[int | None, str]:
        """The first sentence mentioning both; else the closest pair of sentences (their span)."""
        for _, _, s in h_occ:
            if s is not None and any(s2 is s for _, _, s2 in t_occ):
                return s.id, s.text
        best = None
        for hs, _, sh in h_occ:
            for ts, _, st in t_occ:
                if sh is None or st is None:
                    continue
                d = abs(hs - ts)
                if best is None or d < best[0]:
                    best = (d, sh, st)
        if best is None:
            return None, ""
        _, a, b = best
        first, last = (a, b) if a.start <= b.start else (b, a)
        return first.id, text[first.start : last.end]


def build(
    inputs: list[str | os.PathLike],
    db: str | os.PathLike = DEFAULT_DB,
    ner: str | None = None,
    re_model: str | None = None,
    dictionaries: list[str | os.PathLike] = (),
    cooccurrence: bool = True,
    fuzzy_threshold: float = 0.85,
    strict: bool = False,
) -> BuildStats:
    """Ingest JSONL/PubTator files into the knowledge graph at ``db``, in one transaction.

    ``dictionaries``: annotated PubTator files whose mention names (not documents) seed the normalisation
    dictionary. ``ner`` / ``re_model``: model directories of :mod:`genolm.literature.ner` / ``relations``.
    A bad record is logged (file:line: reason), listed in ``BuildStats.bad_records`` and skipped; with
    ``strict`` it raises :class:`InputError` and nothing of the run is kept. When no record of the run could
    be read at all, that is an InputError too.
    """
    from genolm.core.progress import progress

    for p in [*inputs, *dictionaries]:
        if not Path(p).is_file():
            raise InputError("no such file" if not Path(p).is_dir() else "expected a file, got a folder", p)
    ner_model = _load_ner(ner) if ner else None
    rel_model = _load_re(re_model) if re_model else None
    engine = connect(db)
    stats = BuildStats()
    good = 0

    def on_error(err: InputError) -> None:
        if strict:
            raise err
        stats.bad_records.append({"path": err.path, "line": err.line, "reason": err.message})
        if len(stats.bad_records) <= MAX_REPORTED:
            log.warning("skipping bad record: %s", err.format())

    with Session(engine) as session, session.begin():
        ing = _Ingestor(
            session,
            ner=ner_model,
            re_model=rel_model,
            cooccurrence=cooccurrence,
            fuzzy_threshold=fuzzy_threshold,
            stats=stats,
        )
        for d in dictionaries:
            docs = list(read_documents(d, on_error=on_error))
            good += len(docs)
            n = ing.add_dictionary(docs)
            log.info("dictionary %s: %d annotated names", d, n)
        for path in inputs:
            for doc in progress(read_documents(path, on_error=on_error), desc=f"ingest {Path(path).name}", unit="doc"):
                ing.ingest(doc)
                good += 1
        if good == 0 and stats.bad_records:
            where = inputs[0] if len(inputs) == 1 and not dictionaries else None
            raise InputError(
                f"none of the {len(stats.bad_records)} record(s) could be read; nothing was ingested", where
            )
        # commit happens here; any exception above rolls the whole run back
    if len(stats.bad_records) > MAX_REPORTED:
        log.warning("... and %d more bad record(s)", len(stats.bad_records) - MAX_REPORTED)
    if ing.skipped_relations:
        log.warning(
            "%d relation line(s) name ids that no mention of their document carries; skipped", ing.skipped_relations
        )
    return stats


def _load_ner(path: str):
    try:
        from genolm.literature.ner import load_ner
    except ImportError as e:
        raise UsageError(f"--ner needs genolm.literature.ner, which is not available: {e}") from None
    return load_ner(path)


def _load_re(path: str):
    try:
        from genolm.literature.relations import load_re
    except ImportError as e:
        raise UsageError(f"--re needs genolm.literature.relations, which is not available: {e}") from None
    model = load_re(path)
    if not hasattr(model, "predict_document"):
        raise UsageError(f"the relation model at {path} has no predict_document(document) method")
    return model
