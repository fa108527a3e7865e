"""A small client for OpenAI-compatible servers (``genolm serve llm``, vLLM, llama.cpp, Ollama, OpenAI...).

Only the stable core of the API is used: ``GET /v1/models``, ``POST /v1/completions``,
``POST /v1/chat/completions`` (optionally streamed as server-sent events) and ``POST /v1/embeddings``.
The base URL may be given with or without the trailing ``/v1``. The API key comes from ``api_key`` or the
``OPENAI_API_KEY`` environment variable; servers that need none ignore it. The key is only ever sent over
``https://`` or to a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``): a key with a plain
``http://`` URL to any other host is refused before anything is sent (pass ``api_key=""`` to send none).

Connection failures and HTTP errors raise :class:`genolm.io.errors.InputError` with the server's message.
"""

from __future__ import annotations

import ipaddress
import json
import os
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx

from genolm.io.errors import InputError


class LLMError(InputError):
    """The LLM server could not be reached or answered with an error."""


def _base(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise LLMError(f"LLM URL must start with http:// or https://, got {url!r}")
    return url if url.endswith("/v1") else url + "/v1"


def is_loopback(host: str) -> bool:
    """``localhost`` (and ``*.localhost``), 127.0.0.0/8 and ::1: traffic that never leaves the machine."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_transport(url: str, api_key: str | None) -> None:
    """Refuse (LLMError) to send ``api_key`` in clear text: only https:// or a loopback host may get it."""
    if not api_key:
        return
    parts = urlsplit(url)
    if parts.scheme == "https" or is_loopback(parts.hostname or ""):
        return
    raise LLMError(
        f"refusing to send the API key (--llm-key / OPENAI_API_KEY) in clear text to {parts.hostname}: "
        "use an https:// URL, a loopback address (127.0.0.1, ::1, localhost), or unset the key "
        "for a server that needs none"
    )


class LLMClient:
    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None, timeout: float = 120.0):
        self.base_url = _base(base_url)
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        check_key_transport(self.base_url, self.api_key)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        # Redirects are not followed (a server cannot bounce the key to another host or to plain http), and
        # plain-http (loopback) traffic ignores HTTP_PROXY settings, so it never leaves the machine.
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            follow_redirects=False,
            trust_env=self.base_url.startswith("https://"),
        )
        self._model = model

    # plumbing ------------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "LLMClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _error(resp: httpx.Response) -> LLMError:
        try:
            body = resp.json()
            msg = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("error")
            msg = msg or body.get("detail") or resp.text
        except (ValueError, AttributeError):
            msg = resp.text
        return LLMError(f"LLM server {resp.request.url} answered HTTP {resp.status_code}: {str(msg)[:300]}")

    def _request(self, method: str, path: str, **kw) -> dict:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise LLMError(f"cannot reach the LLM server at {self.base_url}: {e}") from None
        if resp.is_redirect:
            raise LLMError(
                f"LLM server {resp.request.url} answered HTTP {resp.status_code} (a redirect to "
                f"{resp.headers.get('location', '?')}); redirects are not followed: use the final URL"
            )
        if resp.status_code >= 400:
            raise self._error(resp)
        try:
            return resp.json()
        except ValueError:
            raise LLMError(f"LLM server {self.base_url}{path} did not answer JSON") from None

    def _stream(self, path: str, payload: dict) -> Iterator[dict]:
        """Yield the JSON events of a server-sent-event stream until ``data: [DONE]``."""
        try:
            with self._http.stream("POST", path, json={**payload, "stream": True}) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._error(resp)
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        yield json.loads(data)
                    except ValueError:
                        raise LLMError(f"LLM server sent a malformed stream event: {data[:100]!r}") from None
        except httpx.HTTPError as e:
            raise LLMError(f"cannot reach the LLM server at {self.base_url}: {e}") from None

    # API -----------------------------------------------------------------------------------------
    def models(self) -> list[str]:
        return [m["id"] for m in self._request("GET", "/models").get("data", [])]

    @property
    def model(self) -> str:
        """The model named at construction, else the server's first model."""
        if self._model is None:
            names = self.models()
            if not names:
                raise LLMError(f"LLM server at {self.base_url} lists no models")
            self._model = names[0]
        return self._model

    def complete(
        self, prompt: str, max_tokens: int = 128, temperature: float = 0.7, stop: list[str] | None = None, **extra: Any
    ) -> str:
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature, **extra}
        if stop:
            body["stop"] = stop
        out = self._request("POST", "/completions", json=body)
        return out["choices"][0]["text"]

    def stream_complete(
        self, prompt: str, max_tokens: int = 128, temperature: float = 0.7, **extra: Any
    ) -> Iterator[str]:
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature, **extra}
        for ev in self._stream("/completions", body):
            for ch in ev.get("choices", []):
                if ch.get("text"):
                    yield ch["text"]

    def chat(self, messages: list[dict], max_tokens: int = 256, temperature: float = 0.2, **extra: Any) -> str:
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            **extra,
        }
        out = self._request("POST", "/chat/completions", json=body)
        try:
            return out["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise LLMError(f"LLM server {self.base_url} sent an unexpected chat answer: {str(out)[:200]}") from None

    def stream_chat(
        self, messages: list[dict], max_tokens: int = 256, temperature: float = 0.2, **extra: Any
    ) -> Iterator[str]:
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            **extra,
        }
        for ev in self._stream("/chat/completions", body):
            for ch in ev.get("choices", []):
                piece = (ch.get("delta") or {}).get("content")
                if piece:
                    yield piece

    def embed(self, texts: str | list[str]) -> list[list[float]]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = self._request("POST", "/embeddings", json={"model": self.model, "input": texts})
        return [d["embedding"] for d in sorted(out["data"], key=lambda d: d["index"])]
