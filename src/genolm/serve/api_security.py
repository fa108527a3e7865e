"""Limits, errors and the security middleware of the REST API (bearer token, rate limit, body size).

Every client mistake becomes a JSON ``{"error": "...", ...}`` with a 4xx status; a bug is a JSON 500 without
a traceback (the traceback goes to the server's log). The middleware are plain ASGI callables, so a body
that grows past its limit while it streams is stopped with a 413 without reading the rest.

Limits can be tuned per server with environment variables (``GENOLM_API_RATE=0`` turns the rate limit off):

=================================  =============  =====================================================
variable                           default        meaning
=================================  =============  =====================================================
``GENOLM_API_MAX_BODY``            10000000       bytes of one JSON request body (413 beyond)
``GENOLM_API_MAX_UPLOAD``          1000000000     bytes of one upload (413 beyond)
``GENOLM_API_MAX_SEQUENCES``       1000           sequences/guides per synchronous request (413 beyond)
``GENOLM_API_MAX_SEQUENCE_LENGTH`` 100000         characters of one sequence (413 beyond)
``GENOLM_API_RATE``                200            requests per second per token (token bucket; 429)
``GENOLM_API_BURST``               1000           bucket size: requests a client may make at once
``GENOLM_API_TIMEOUT``             60             seconds a synchronous predict/score may take (504)
=================================  =============  =====================================================
"""

from __future__ import annotations

import hmac
import json
import math
import os
import threading
import time
from dataclasses import dataclass, fields
from typing import Any

from genolm.literature.llm import is_loopback
from genolm.io.errors import UsageError


@dataclass(frozen=True)
class Limits:
    """The bounds of one server; every one is enforced with a clear JSON error."""

    max_body: int = 10_000_000  # bytes of a JSON body
    max_upload: int = 1_000_000_000  # bytes of an upload
    max_sequences: int = 1000  # per synchronous request
    max_sequence_length: int = 100_000  # characters per sequence
    rate: float = 200.0  # requests per second per token; 0 = no rate limit
    burst: int = 1000
    timeout: float = 60.0  # seconds for a synchronous request

    @classmethod
    def from_env(cls, env: dict | None = None) -> Limits:
        """Defaults overridden by ``GENOLM_API_<FIELD>`` variables (a bad value is a UsageError, exit 2)."""
        env = os.environ if env is None else env
        kw: dict[str, Any] = {}
        for f in fields(cls):
            name = "GENOLM_API_" + f.name.upper()
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            typ = float if f.type in ("float", float) else int
            try:
                value = typ(raw)
            except ValueError:
                raise UsageError(f"{name}={raw!r} is not a number") from None
            if value < 0 or (value == 0 and f.name not in ("rate",)):
                raise UsageError(f"{name} must be positive, got {raw}")
            kw[f.name] = value
        return cls(**kw)


class APIError(Exception):
    """A client mistake: ``status`` + message (+ extra JSON fields such as ``param``)."""

    def __init__(self, status: int, message: str, headers: dict | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra

    def body(self) -> dict:
        return {"error": self.message, **self.extra}


def error_body(status: int, message: str, headers: dict | None = None, **extra: Any) -> tuple[int, bytes, list]:
    """A JSON error as ASGI parts: status, body bytes and raw headers."""
    body = json.dumps({"error": message, **extra}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
    return status, body, raw


async def send_error(send, status: int, message: str, headers: dict | None = None, **extra: Any) -> None:
    status, body, raw = error_body(status, message, headers, **extra)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: dict, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _host_of(value: str) -> str:
    v = value.strip().lower()
    if v.startswith("["):  # [::1]:8000
        return v[: v.find("]") + 1] if "]" in v else v
    return v.rsplit(":", 1)[0] if v.count(":") == 1 else v


def _foreign_request(scope: dict) -> str | None:
    """Why a request to a token-less (loopback) server comes from elsewhere, or None."""
    host = _header(scope, b"host")
    if host is not None and _host_of(host) not in _LOOPBACK_HOSTS:
        return f"host {host!r} refused: a server without a token answers only loopback names (use --token)"
    origin = _header(scope, b"origin")
    if origin and origin != "null":
        netloc = origin.split("://", 1)[-1].split("/", 1)[0]
        if _host_of(netloc) not in _LOOPBACK_HOSTS:
            return f"origin {origin!r} refused: a server without a token serves only its own pages (use --token)"
    return None


def _protected(path: str) -> bool:
    """Routes behind the token: every /v1 route but the health check."""
    return path.startswith("/v1/") and path.rstrip("/") != "/v1/health"


def presented_token(scope: dict) -> str | None:
    """The bearer token of a request (``Authorization: Bearer T``, or ``?access_token=T`` on file GETs,
    for links a browser opens without headers, such as a job's report.html)."""
    auth = _header(scope, b"authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    path = scope.get("path", "")
    if scope.get("method") in ("GET", "HEAD") and ("/files/" in path or path.startswith("/v1/data/")):
        from urllib.parse import parse_qs

        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if qs.get("access_token"):
            return qs["access_token"][0]
    return None


class TokenBuckets:
    """A token bucket per client key: ``rate`` requests per second, at most ``burst`` at once."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000):
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0.0 when the request may go ahead, else the seconds until one more is allowed."""
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - last) * self.rate)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (level, now)
                wait = (1.0 - level) / self.rate
            if len(self._buckets) > self.max_keys:  # forget the idlest clients (full buckets again)
                for k in sorted(self._buckets, key=lambda k: self._buckets[k][1])[: self.max_keys // 2]:
                    del self._buckets[k]
        return wait


class GuardMiddleware:
    """Token check (constant time), per-token rate limit and body-size limit, before any route runs."""

    def __init__(self, app, token: str | None, limits: Limits):
        self.app, self.token, self.limits = app, token, limits
        self.buckets = TokenBuckets(limits.rate, limits.burst) if limits.rate > 0 else None
        self.guesses = TokenBuckets(5.0, 20)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if scope.get("method") == "OPTIONS" or not _protected(path):
            return await self.app(scope, receive, send)
        if self.token is None:
            # no token is only allowed on loopback; there, a web page elsewhere (a cross-site request) or a
            # DNS-rebound name must not drive the server: the Host must be loopback and an Origin the same
            problem = _foreign_request(scope)
            if problem:
                return await send_error(send, 403, problem)
        given = presented_token(scope)
        if self.token is not None:
            if given is None:
                return await send_error(
                    send,
                    401,
                    "missing bearer token (send 'Authorization: Bearer TOKEN')",
                    {"WWW-Authenticate": "Bearer"},
                )
            if not token_matches(given, self.token):
                client = scope.get("client") or ("?", 0)
                if self.guesses.take(f"bad:{client[0]}") > 0:  # wrong tokens: a few a second per address
                    return await send_error(send, 429, "too many invalid tokens; slow down", {"Retry-After": "1"})
                return await send_error(send, 401, "invalid bearer token", {"WWW-Authenticate": "Bearer"})
        if self.buckets is not None:
            client = scope.get("client") or ("?", 0)
            key = "token" if self.token is not None else f"ip:{client[0]}"
            wait = self.buckets.take(key)
            if wait > 0:
                return await send_error(
                    send,
                    429,
                    f"rate limit: at most {self.limits.rate:g} requests per second (burst {self.limits.burst})",
                    {"Retry-After": max(1, math.ceil(wait))},
                    retry_after_s=round(wait, 3),
                )
        limit = self.limits.max_upload if path.rstrip("/") == "/v1/uploads" else self.limits.max_body
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await send_error(send, 413, f"request body over {limit:,} bytes", limit=limit)
        return await self.app(scope, _counting(receive, limit), send)


class BodyTooLarge(Exception):
    """Raised while a route reads a body that grew past its limit (no Content-Length); the app answers 413."""

    def __init__(self, limit: int):
        self.limit = limit


def _counting(receive, limit: int):
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped


def check_token_setup(host: str, token: str | None) -> None:
    """Refuse a server reachable from other machines without a token."""
    if token is None and not is_loopback(host):
        raise UsageError(
            f"--host {host} is reachable from other machines: set a token (--token, --token-file or GENOLM_API_TOKEN)"
        )


def token_matches(given: str | None, token: str) -> bool:
    """``given`` is ``token`` (constant-time comparison: no timing hints for a guesser)."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())
