"""Queries over the knowledge graph: table counts, entity lookup by name or identifier, and neighbours of
an entity with relation types, document counts and evidence sentences (PMIDs)."""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from genolm.io.errors import InputError, UsageError
from genolm.literature.kg.dictionary import load_dictionary, normalize_name
from genolm.literature.kg.documents import TYPE_ALIASES
from genolm.literature.kg.schema import Document, Entity, EntityName, Mention, Relation, Sentence, connect


def counts(db: str | os.PathLike) -> dict[str, int]:
    engine = connect(db, create=False)
    with Session(engine) as s:
        return {
            name: s.execute(select(sa.func.count()).select_from(model)).scalar_one()
            for name, model in (
                ("documents", Document),
                ("sentences", Sentence),
                ("mentions", Mention),
                ("entities", Entity),
                ("relations", Relation),
            )
        }


def resolve_entity(session: Session, name: str) -> list[Entity]:
    """Entities named ``name``: by identifier (``D003000``, ``Chemical:D003000``) or any surface form."""
    name = name.strip()
    if not name:
        raise UsageError("--entity is empty")
    q = select(Entity)
    if ":" in name and name.split(":", 1)[0] in {t for t in TYPE_ALIASES.values()}:
        etype, ident = name.split(":", 1)
        ents = session.execute(q.where(Entity.type == etype, Entity.identifier == ident)).scalars().all()
    else:
        ents = session.execute(q.where(Entity.identifier == name)).scalars().all()
    if ents:
        return list(ents)
    norm = normalize_name(name)
    ids = session.execute(select(EntityName.entity_id).where(EntityName.norm == norm).distinct()).scalars().all()
    if ids:
        return list(session.execute(select(Entity).where(Entity.id.in_(ids))).scalars())
    return []


def query(
    db: str | os.PathLike, entity: str, relation: str | None = None, limit: int = 50, evidence_per_neighbour: int = 3
) -> dict:
    """Neighbours of ``entity`` with relation types, document counts and evidence sentences (PMIDs).

    Raises :class:`InputError` (with close names as suggestions) when no entity has that name."""
    engine = connect(db, create=False)
    with Session(engine) as s:
        ents = resolve_entity(s, entity)
        if not ents:
            d = load_dictionary(s)
            sugg = [n for n, _ in d.fuzzy(entity, threshold=0.5, n=5)]
            hint = f"; did you mean: {', '.join(sugg)}?" if sugg else ""
            raise InputError(f"unknown entity {entity!r} in the knowledge graph{hint}", str(db))
        ids = [e.id for e in ents]
        stmt = select(Relation).where(sa.or_(Relation.head_id.in_(ids), Relation.tail_id.in_(ids)))
        if relation:
            stmt = stmt.where(sa.func.lower(Relation.type) == relation.lower())
        groups: dict[tuple[int, str], dict] = {}
        for r in s.execute(stmt.order_by(Relation.id)).scalars():
            other = r.tail if r.head_id in ids else r.head
            direction = "out" if r.head_id in ids else "in"
            g = groups.setdefault(
                (other.id, r.type),
                {
                    "entity": other.name,
                    "type": other.type,
                    "identifier": other.identifier,
                    "relation": r.type,
                    "direction": direction,
                    "documents": 0,
                    "evidence": [],
                    "_pmids": set(),
                },
            )
            key = r.pmid or f"doc{r.document_id}"
            if key not in g["_pmids"]:
                g["_pmids"].add(key)
                g["documents"] += 1
                if len(g["evidence"]) < evidence_per_neighbour:
                    g["evidence"].append({"pmid": r.pmid, "sentence": r.evidence, "source": r.source})
        neighbours = sorted(groups.values(), key=lambda g: (-g["documents"], g["entity"].lower()))[:limit]
        for g in neighbours:
            g.pop("_pmids")
        return {
            "query": entity,
            "matches": [{"name": e.name, "type": e.type, "identifier": e.identifier} for e in ents],
            "relation": relation,
            "neighbours": neighbours,
        }
