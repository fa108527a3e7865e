"""Synchronous endpoints: ``POST /v1/predict`` and ``POST /v1/crispr/score`` for a few sequences.

They run in the server process on a small LRU cache of loaded models (:func:`genolm.api.load`), in a
bounded thread pool, with a timeout (504). Results are exactly what ``genolm predict`` /
``genolm crispr predict`` write for the same sequences, as JSON rows.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import anyio
from anyio.to_thread import run_sync

from genolm.io.errors import InputError
from genolm.serve.api_security import APIError, Limits


class ModelCache:
    """At most ``size`` loaded models, least recently used dropped first; one lock per model."""

    def __init__(self, size: int = 4):
        self.size = size
        self._models: OrderedDict[tuple, tuple[Any, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}

    def get(self, folder: Path) -> tuple[Any, threading.Lock]:
        try:
            key = (str(folder), folder.stat().st_mtime_ns)
        except OSError:
            raise APIError(404, f"model not found: {folder.name}", param="model") from None
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per model, however many requests ask for it at once
            with self._lock:
                if key in self._models:
                    return self._models[key]
            from genolm.api import load

            model = (load(folder), threading.Lock())
            with self._lock:
                self._models[key] = model
                self._loading.pop(key, None)
                while len(self._models) > self.size:
                    self._models.popitem(last=False)
            return model


def _rows(frame) -> list[dict]:
    """DataFrame rows as JSON-safe dicts (NaN -> null, numpy scalars -> Python)."""
    out = []
    for rec in frame.to_dict(orient="records"):
        row = {}
        for k, v in rec.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float) and math.isnan(v):
                v = None
            row[str(k)] = v
        out.append(row)
    return out


class SyncService:
    """The state behind the synchronous endpoints: the data dir, limits, model cache and a thread limiter."""

    def __init__(self, data_dir: Path, limits: Limits, threads: int = 2, cache_size: int = 4):
        self.data_dir, self.limits = data_dir, limits
        self.cache = ModelCache(cache_size)
        self.limiter = anyio.CapacityLimiter(threads)

    def model_folder(self, value: Any) -> Path:
        if not isinstance(value, str) or not value:
            raise APIError(422, "model: a data-dir relative path to a run directory is required", param="model")
        from genolm.serve.paths import PathError, confine

        try:
            folder = confine(self.data_dir, value, param="model")
        except PathError as e:
            raise APIError(422, str(e), param=getattr(e, "param", "model")) from None
        if not folder.is_dir():
            raise APIError(404, f"model: no run directory {value!r} in the data directory", param="model")
        return folder

    def items(self, body: dict, field: str) -> tuple[list[str] | None, list[str]]:
        """The ids (None when only strings were sent) and sequences of ``body[field]``, within the limits."""
        raw = body.get(field)
        if not isinstance(raw, list) or not raw:
            raise APIError(422, f"{field}: a non-empty list of sequences is required", param=field)
        lim = self.limits
        if len(raw) > lim.max_sequences:
            raise APIError(
                413,
                f"{field}: at most {lim.max_sequences} per request (got {len(raw)})",
                param=field,
                limit=lim.max_sequences,
            )
        ids: list[str] = []
        seqs: list[str] = []
        for i, item in enumerate(raw):
            if isinstance(item, dict):
                seq, ident = item.get("sequence"), item.get("id", str(i))
            else:
                seq, ident = item, None
            if not isinstance(seq, str) or not isinstance(ident, (str, int, type(None))):
                raise APIError(422, f"{field}[{i}]: expected a string or {{'id', 'sequence'}}", param=field, index=i)
            if len(seq) > lim.max_sequence_length:
                raise APIError(
                    413,
                    f"{field}[{i}]: sequence longer than {lim.max_sequence_length:,} characters",
                    param=field,
                    index=i,
                    limit=lim.max_sequence_length,
                )
            ids.append(str(i) if ident is None else str(ident))
            seqs.append(seq)
        named = any(isinstance(x, dict) for x in raw)
        return (ids if named else None), seqs

    async def call(self, fn: Callable[[], Any]) -> Any:
        """``fn`` in the thread pool, within the timeout (504); an InputError is a 422."""
        try:
            return await asyncio.wait_for(
                run_sync(fn, abandon_on_cancel=True, limiter=self.limiter), timeout=self.limits.timeout
            )
        except asyncio.TimeoutError:
            raise APIError(
                504, f"the request took longer than {self.limits.timeout:g} s", timeout_s=self.limits.timeout
            ) from None
        except InputError as e:
            raise APIError(422, str(e)) from None

    async def predict(self, body: dict) -> dict:
        ids, seqs = self.items(body, "sequences")
        folder = self.model_folder(body.get("model"))

        def work():
            import pandas as pd

            model, lock = self.cache.get(folder)
            frame = pd.DataFrame({"id": ids, "sequence": seqs}) if ids is not None else seqs
            with lock:
                return _rows(model.predict(frame))

        return {"predictions": await self.call(work)}

    async def crispr_score(self, body: dict) -> dict:
        ids, guides = self.items(body, "guides")
        folder = self.model_folder(body.get("model"))

        def work():
            import pandas as pd

            model, lock = self.cache.get(folder)
            if getattr(model, "kind", "") != "crispr-ontarget":
                raise APIError(
                    422,
                    f"model: {body['model']!r} is a {model.kind} model, not a CRISPR on-target model",
                    param="model",
                )
            frame = pd.DataFrame({"id": ids, "sequence": guides}) if ids is not None else guides
            with lock:
                return _rows(model.predict(frame, sequence_col="sequence") if ids is not None else model.predict(frame))

        return {"scores": await self.call(work)}
