"""The job store: one SQLAlchemy Core table, SQLite by default (WAL), PostgreSQL (or any SQLAlchemy URL) by URL.

Every state change is a compare-and-set ``UPDATE ... WHERE id = :id AND state = :expected`` so several worker
threads, a cancel request and a second process reading (or recovering) the same database never race a job
into two final states: whoever changes the row first wins, the others see ``rowcount == 0``.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

FINAL_STATES = ("succeeded", "failed", "cancelled")


def now_iso() -> str:
    """The current time, ISO-8601 UTC with microseconds (``2025-01-02T03:04:05.123456Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def normalize_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` through psycopg 3 (genolm's driver) unless psycopg2 is installed."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None:
            return f"postgresql+psycopg://{rest}"
    return url


class JobStore:
    """CRUD and compare-and-set transitions on the ``<table>`` table."""

    def __init__(self, url: str | None, default_sqlite: Path, table: str = "genolm_jobs"):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", table):
            raise ValueError(f"bad job table name {table!r}")
        if url is None:
            default_sqlite.parent.mkdir(parents=True, exist_ok=True)
            url = _sqlite_url(default_sqlite)
        self.url = url = normalize_url(url)
        self.is_sqlite = url.startswith("sqlite")
        kw: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            kw["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kw["pool_pre_ping"] = True
        self.engine = sa.create_engine(url, **kw)
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        meta = sa.MetaData()
        self.table = sa.Table(
            table,
            meta,
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("id", sa.String(40), nullable=False, unique=True),
            sa.Column("task", sa.String(200), nullable=False),
            sa.Column("params", sa.Text, nullable=False),
            sa.Column("state", sa.String(16), nullable=False, index=True),
            sa.Column("created", sa.String(40), nullable=False),
            sa.Column("started", sa.String(40)),
            sa.Column("finished", sa.String(40)),
            sa.Column("error", sa.Text),
            sa.Column("summary", sa.Text, nullable=False, default=""),
            sa.Column("owner", sa.String(200), index=True),
            sa.Column("pid", sa.Integer),
            sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
        )
        self._lock = threading.Lock()  # SQLite: one writer at a time inside this process (others wait on the file)
        meta.create_all(self.engine)

    # --- reading ---------------------------------------------------------------------------------------
    def get(self, job_id: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(self.table).where(self.table.c.id == job_id)).mappings().first()
        return _decode(row) if row else None

    def list(self, owner: str | None = None, limit: int = 100, state: str | None = None, oldest_first=False) -> list:
        t = self.table
        q = sa.select(t)
        if owner is not None:
            q = q.where(t.c.owner == owner)
        if state is not None:
            q = q.where(t.c.state == state)
        q = q.order_by(t.c.seq.asc() if oldest_first else t.c.seq.desc())
        if limit:
            q = q.limit(int(limit))
        with self.engine.connect() as c:
            return [_decode(r) for r in c.execute(q).mappings()]

    def count(self, state: str) -> int:
        t = self.table
        with self.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(t).where(t.c.state == state)).scalar() or 0)

    # --- writing ---------------------------------------------------------------------------------------
    def insert(self, row: dict) -> None:
        row = dict(row, params=json.dumps(row["params"], sort_keys=True))
        with self._lock, self.engine.begin() as c:
            c.execute(sa.insert(self.table).values(**row))

    def delete(self, job_id: str) -> None:
        with self._lock, self.engine.begin() as c:
            c.execute(sa.delete(self.table).where(self.table.c.id == job_id))

    def transition(self, job_id: str, expected: str | tuple[str, ...], **values: Any) -> bool:
        """Set ``values`` only if the job is still in ``expected``; True when this call made the change."""
        t = self.table
        exp = (expected,) if isinstance(expected, str) else tuple(expected)
        with self._lock, self.engine.begin() as c:
            res = c.execute(sa.update(t).where(t.c.id == job_id, t.c.state.in_(exp)).values(**values))
        return (res.rowcount or 0) > 0

    def update(self, job_id: str, **values: Any) -> None:
        t = self.table
        with self._lock, self.engine.begin() as c:
            c.execute(sa.update(t).where(t.c.id == job_id).values(**values))

    def drop(self) -> None:
        """Drop the table (tests on a shared PostgreSQL clean up after themselves)."""
        self.table.drop(self.engine, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _decode(row) -> dict:
    d = dict(row)
    d["params"] = json.loads(d["params"]) if d.get("params") else {}
    d["summary"] = d.get("summary") or ""
    d["cancel_requested"] = bool(d.get("cancel_requested"))
    return d
