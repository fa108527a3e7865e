"""An OpenAI-compatible HTTP server for a genolm text LM (or any local causal-LM folder).

Endpoints: ``GET /v1/models``, ``POST /v1/completions``, ``POST /v1/chat/completions`` (both stream
server-sent events with ``"stream": true``, ending with ``data: [DONE]``) and ``POST /v1/embeddings``
(mean-pooled hidden states of the same model). Errors use OpenAI's ``{"error": {...}}`` shape.

    genolm serve llm --model runs/textlm --port 8000
    curl localhost:8000/v1/completions -d '{"model": "textlm", "prompt": "BRCA1", "max_tokens": 20}'
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from genolm.serve.api_security import token_matches
from genolm.literature.textlm import TextLM

#: request limits (a bounded server: each is a clear 413/400 JSON error, never a 500 or an unbounded job)
MAX_BODY_BYTES = 1_000_000
MAX_PROMPT_CHARS = 100_000
MAX_PROMPTS = 16
MAX_EMBEDDING_INPUTS = 256


class CompletionRequest(BaseModel):
    model: str | None = None
    prompt: str | list[str] = ""
    max_tokens: int = Field(16, ge=0, le=4096)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=8)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    echo: bool = False
    user: str | None = None


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = ""


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=0, le=4096)
    max_completion_tokens: int | None = Field(None, ge=0, le=4096)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=8)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None


class EmbeddingRequest(BaseModel):
    model: str | None = None
    input: str | list[str]
    encoding_format: str | None = "float"
    user: str | None = None


def _error(status: int, message: str, code: str | None = None, etype: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"message": message, "type": etype, "param": None, "code": code}}
    )


def _stops(stop: str | list[str] | None) -> list[str]:
    return [stop] if isinstance(stop, str) else list(stop or [])


def chat_prompt(messages: list[ChatMessage]) -> str:
    """A plain role-prefixed transcript ending with ``assistant:`` (the model has no chat template)."""
    lines = []
    for m in messages:
        content = m.content
        if isinstance(content, list):  # OpenAI content parts: keep the text ones
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        lines.append(f"{m.role}: {content or ''}")
    lines.append("assistant:")
    return "\n".join(lines)


def _sse(obj: dict | str) -> str:
    return f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n"


def create_app(model_dir: str, model_name: str | None = None, api_key: str | None = None) -> FastAPI:
    lm = TextLM(model_dir)
    name = model_name or lm.name
    created = int(time.time())
    app = FastAPI(title="genolm LLM server (OpenAI-compatible)", version="1")
    app.state.lm = lm

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(400, f"invalid request: {where}: {first.get('msg', 'bad value')}")

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY_BYTES):
            return _error(413, f"request body over {MAX_BODY_BYTES:,} bytes", "request_too_large")
        return await call_next(request)

    def check_prompt(prompt: str, max_new: int) -> JSONResponse | None:
        # a prompt longer than the model's context is left-truncated to fit (its last tokens are kept)
        if len(prompt) > MAX_PROMPT_CHARS:
            return _error(413, f"prompt over {MAX_PROMPT_CHARS:,} characters", "request_too_large")
        return None

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if api_key and request.url.path.startswith("/v1/"):
            if not token_matches(request.headers.get("authorization"), f"Bearer {api_key}"):
                return _error(401, "invalid or missing API key", "invalid_api_key", "authentication_error")
        return await call_next(request)

    def check_model(requested: str | None) -> JSONResponse | None:
        if requested and requested != name:
            return _error(
                404, f"the model {requested!r} does not exist; this server serves {name!r}", "model_not_found"
            )
        return None

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "genolm"}]}

    @app.get("/v1/models/{model_id}")
    def model(model_id: str):
        return check_model(model_id) or {"id": name, "object": "model", "created": created, "owned_by": "genolm"}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": name}

    @app.post("/v1/completions")
    def completions(req: CompletionRequest):
        if (err := check_model(req.model)) is not None:
            return err
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if not prompts:
            return _error(400, "invalid request: prompt is empty")
        if len(prompts) > MAX_PROMPTS:
            return _error(413, f"at most {MAX_PROMPTS} prompts per request (got {len(prompts)})", "request_too_large")
        for p in prompts:
            if (err := check_prompt(p, req.max_tokens)) is not None:
                return err
        cid, now = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        kw = dict(
            max_new_tokens=req.max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            stop=_stops(req.stop),
            seed=req.seed,
        )
        if req.stream:

            def events() -> Iterator[str]:
                for i, p in enumerate(prompts):
                    for c in range(req.n):
                        if req.echo:
                            yield _sse(_cmpl_chunk(cid, now, name, i * req.n + c, p, None))
                        info: dict = {}
                        for piece in lm.stream(p, **{**kw, "seed": _seed(req.seed, c)}, info=info):
                            yield _sse(_cmpl_chunk(cid, now, name, i * req.n + c, piece, None))
                        yield _sse(_cmpl_chunk(cid, now, name, i * req.n + c, "", info["finish_reason"]))
                yield _sse("[DONE]")

            return StreamingResponse(events(), media_type="text/event-stream")
        choices, ptok, ctok = [], 0, 0
        for i, p in enumerate(prompts):
            for c in range(req.n):
                info = {}
                text = "".join(lm.stream(p, **{**kw, "seed": _seed(req.seed, c)}, info=info))
                choices.append(
                    {
                        "text": (p + text) if req.echo else text,
                        "index": len(choices),
                        "logprobs": None,
                        "finish_reason": info["finish_reason"],
                    }
                )
                ptok += info["prompt_tokens"]
                ctok += info["completion_tokens"]
        return {
            "id": cid,
            "object": "text_completion",
            "created": now,
            "model": name,
            "choices": choices,
            "usage": {"prompt_tokens": ptok, "completion_tokens": ctok, "total_tokens": ptok + ctok},
        }

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest):
        if (err := check_model(req.model)) is not None:
            return err
        prompt = chat_prompt(req.messages)
        max_tokens = req.max_completion_tokens or req.max_tokens or 128
        if (err := check_prompt(prompt, max_tokens)) is not None:
            return err
        # a new line starting with a role name ends the assistant's turn
        stops = _stops(req.stop) + ["\nuser:", "\nsystem:", "\nassistant:"]
        kw = dict(max_new_tokens=max_tokens, temperature=req.temperature, top_p=req.top_p, stop=stops)
        cid, now = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if req.stream:

            def events() -> Iterator[str]:
                for c in range(req.n):
                    yield _sse(_chat_chunk(cid, now, name, c, {"role": "assistant", "content": ""}, None))
                    info: dict = {}
                    for piece in lm.stream(prompt, **kw, seed=_seed(req.seed, c), info=info):
                        yield _sse(_chat_chunk(cid, now, name, c, {"content": piece}, None))
                    yield _sse(_chat_chunk(cid, now, name, c, {}, info["finish_reason"]))
                yield _sse("[DONE]")

            return StreamingResponse(events(), media_type="text/event-stream")
        choices, ptok, ctok = [], 0, 0
        for c in range(req.n):
            info = {}
            text = "".join(lm.stream(prompt, **kw, seed=_seed(req.seed, c), info=info)).strip()
            choices.append(
                {
                    "index": c,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": info["finish_reason"],
                }
            )
            ptok += info["prompt_tokens"]
            ctok += info["completion_tokens"]
        return {
            "id": cid,
            "object": "chat.completion",
            "created": now,
            "model": name,
            "choices": choices,
            "usage": {"prompt_tokens": ptok, "completion_tokens": ctok, "total_tokens": ptok + ctok},
        }

    @app.post("/v1/embeddings")
    def embeddings(req: EmbeddingRequest):
        if (err := check_model(req.model)) is not None:
            return err
        if req.encoding_format not in (None, "float"):
            return _error(400, "invalid request: only encoding_format 'float' is supported")
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts or any(not isinstance(t, str) or not t for t in texts):
            return _error(400, "invalid request: input must be a non-empty string or list of non-empty strings")
        if len(texts) > MAX_EMBEDDING_INPUTS:
            return _error(
                413, f"at most {MAX_EMBEDDING_INPUTS} inputs per request (got {len(texts)})", "request_too_large"
            )
        if any(len(t) > MAX_PROMPT_CHARS for t in texts):
            return _error(413, f"an input is over {MAX_PROMPT_CHARS:,} characters", "request_too_large")
        vecs = lm.embed(texts)
        ntok = sum(lm.count_tokens(t) for t in texts)
        return {
            "object": "list",
            "model": name,
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vecs)],
            "usage": {"prompt_tokens": ntok, "total_tokens": ntok},
        }

    return app


def _seed(seed: int | None, choice: int) -> int | None:
    return None if seed is None else seed + choice


def _cmpl_chunk(cid: str, created: int, model: str, index: int, text: str, finish: str | None) -> dict:
    return {
        "id": cid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"text": text, "index": index, "logprobs": None, "finish_reason": finish}],
    }


def _chat_chunk(cid: str, created: int, model: str, index: int, delta: dict, finish: str | None) -> dict:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def serve(
    model_dir: str, host: str = "127.0.0.1", port: int = 8000, model_name: str | None = None, api_key: str | None = None
) -> None:
    import uvicorn

    uvicorn.run(create_app(model_dir, model_name, api_key), host=host, port=port, log_level="info")
