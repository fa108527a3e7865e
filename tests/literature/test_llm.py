"""The OpenAI-compatible server, started for real (uvicorn on a free port), and the client over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from genolm.literature import textlm
from genolm.literature.llm import LLMClient, LLMError

DATA = Path(__file__).resolve().parents[1] / "data" / "literature" / "kg"
ABSTRACTS = DATA / "abstracts_72.jsonl"
NAME = "tiny-textlm"
KEY = "test-key"


def _start(app) -> tuple[str, object, threading.Thread]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("llm") / "run"
    cfg = textlm.TextLMConfig(
        vocab_size=600,
        n_layer=1,
        n_head=2,
        n_embd=32,
        block_size=64,
        batch_size=8,
        max_steps=30,
        time_budget=None,
        valid_fraction=0.1,
        seed=0,
    )
    textlm.train_textlm(ABSTRACTS, out, cfg)
    return out


@pytest.fixture(scope="module")
def server(model_dir):
    from genolm.serve.llm_server import create_app

    url, srv, thread = _start(create_app(str(model_dir), model_name=NAME))
    yield url
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture()
def client(server):
    with LLMClient(server) as c:
        yield c


def test_models_and_default_model(client, server):
    assert client.models() == [NAME]
    assert client.model == NAME
    assert LLMClient(server + "/v1/").base_url == server + "/v1"  # with or without /v1


def test_completion_is_seeded_and_stream_matches(client):
    a = client.complete("The gene", max_tokens=12, temperature=0.9, seed=7)
    b = client.complete("The gene", max_tokens=12, temperature=0.9, seed=7)
    assert a == b and a
    streamed = list(client.stream_complete("The gene", max_tokens=12, temperature=0.9, seed=7))
    assert len(streamed) > 1 and "".join(streamed) == a


def test_raw_http_shapes(server):
    r = httpx.post(
        f"{server}/v1/completions",
        json={"model": NAME, "prompt": ["A", "B"], "max_tokens": 5, "n": 2, "seed": 1},
        timeout=60,
    )
    body = r.json()
    assert r.status_code == 200 and body["object"] == "text_completion"
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert all(c["finish_reason"] in ("stop", "length") for c in body["choices"])
    with httpx.stream(
        "POST",
        f"{server}/v1/chat/completions",
        timeout=60,
        json={
            "model": NAME,
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 6,
            "stream": True,
            "seed": 2,
        },
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln]
    assert all(ln.startswith("data: ") for ln in lines) and lines[-1] == "data: [DONE]"
    events = [json.loads(ln[6:]) for ln in lines[:-1]]
    assert events[0]["object"] == "chat.completion.chunk"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_chat_and_stream_chat(client):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is BRCA1?"}]
    text = client.chat(msgs, max_tokens=10, temperature=0.5, seed=3)
    assert isinstance(text, str)
    pieces = list(client.stream_chat(msgs, max_tokens=10, temperature=0.5, seed=3))
    assert "".join(pieces).strip() == text


def test_embeddings(client):
    vecs = client.embed(["BRCA1 mutation", "breast cancer", "BRCA1 mutation"])
    assert len(vecs) == 3 and len(vecs[0]) == 32
    assert sum(x * x for x in vecs[0]) == pytest.approx(1.0, abs=1e-4)
    assert vecs[0] == pytest.approx(vecs[2])


def test_errors_are_openai_shaped(client, server):
    with pytest.raises(LLMError, match="HTTP 404: the model 'gpt-4' does not exist"):
        LLMClient(server, model="gpt-4").complete("x")
    r = httpx.post(f"{server}/v1/completions", json={"prompt": "x", "max_tokens": -1}, timeout=30)
    assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]
    r = httpx.post(f"{server}/v1/chat/completions", json={"messages": []}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(LLMError, match="cannot reach the LLM server"):
        LLMClient(f"http://127.0.0.1:{free_port()}").models()
    with pytest.raises(LLMError, match="must start with http"):
        LLMClient("localhost:8000")


def test_api_key_is_enforced(model_dir):
    from genolm.serve.llm_server import create_app

    url, srv, thread = _start(create_app(str(model_dir), model_name=NAME, api_key=KEY))
    try:
        with pytest.raises(LLMError, match="HTTP 401"):
            LLMClient(url, api_key="wrong").models()
        assert LLMClient(url, api_key=KEY).models() == [NAME]
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_serve_cli_rejects_a_folder_without_a_model(tmp_path, capsys):
    from genolm.cli.main import main

    assert main(["serve", "llm", "--model", str(tmp_path), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: not a genolm run directory or" in err and "Hugging Face model folder" in err


# ------------------------------------------------------------------ the API key never travels in clear text


class _Recorder:
    """A real HTTP server on a given address that records each request's path and Authorization header."""

    def __init__(self, host: str = "127.0.0.1", redirect: str | None = None):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                seen.append((self.path, self.headers.get("Authorization")))
                if redirect:
                    self.send_response(302)
                    self.send_header("Location", redirect)
                    self.end_headers()
                    return
                body = json.dumps({"object": "list", "data": [{"id": "rec", "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _non_loopback_ip() -> str | None:
    """An address of this machine that is not loopback (traffic to it is treated as leaving the host)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent for a UDP connect
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


@pytest.fixture()
def sent(monkeypatch):
    """Every request httpx puts on the wire in this test."""
    calls = []
    real = httpx.HTTPTransport.handle_request

    def spy(self, request):
        calls.append((str(request.url), request.headers.get("authorization")))
        return real(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", spy)
    return calls


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_api_key_is_refused_over_plain_http_to_another_host(monkeypatch, sent, how):
    if how == "environment":
        monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
        kwargs = {}
    else:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        kwargs = {"api_key": "sk-secret"}
    for url in ("http://example.org", "http://example.org:8000/v1", "http://10.1.2.3:8000", "http://[2001:db8::1]"):
        with pytest.raises(LLMError, match="refusing to send the API key .* in clear text"):
            LLMClient(url, **kwargs)
    assert sent == []
    # https is fine (nothing is sent at construction), and so is plain http without a key
    LLMClient("https://example.org", **kwargs).close()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    LLMClient("http://example.org").close()
    assert sent == []


def test_api_key_is_not_sent_to_a_real_non_loopback_server(monkeypatch):
    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    rec = _Recorder(ip)
    try:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
        with pytest.raises(LLMError, match="refusing to send the API key"):
            LLMClient(rec.url).models()
        monkeypatch.delenv("OPENAI_API_KEY")
        assert LLMClient(rec.url).models() == ["rec"]  # without a key the same server is used
    finally:
        rec.close()
    assert rec.seen == [("/v1/models", None)]


def test_api_key_is_sent_to_loopback(monkeypatch):
    rec = _Recorder("127.0.0.1")
    try:
        port = rec.url.rsplit(":", 1)[1]
        assert LLMClient(rec.url, api_key="sk-arg").models() == ["rec"]
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
        assert LLMClient(f"http://localhost:{port}/v1").models() == ["rec"]
    finally:
        rec.close()
    assert rec.seen == [("/v1/models", "Bearer sk-arg"), ("/v1/models", "Bearer sk-env")]


def test_redirects_are_not_followed(monkeypatch):
    target = _Recorder("127.0.0.1")
    bouncer = _Recorder("127.0.0.1", redirect=target.url + "/v1/models")
    try:
        with pytest.raises(LLMError, match="HTTP 302 .*redirects are not followed"):
            LLMClient(bouncer.url, api_key="sk-secret").models()
    finally:
        bouncer.close()
        target.close()
    assert bouncer.seen == [("/v1/models", "Bearer sk-secret")] and target.seen == []


def test_lit_ask_refuses_the_key_before_doing_anything(monkeypatch, sent, tmp_path, capsys):
    from genolm.cli.main import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    rc = main(
        ["lit", "ask", "--db", str(tmp_path / "none.sqlite"), "Does X cause Y?", "--llm-url", "http://example.org/v1"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "refusing to send the API key" in err and "example.org" in err
    rc = main(
        [
            "lit",
            "ask",
            "--db",
            str(tmp_path / "none.sqlite"),
            "Does X cause Y?",
            "--llm-url",
            "http://example.org/v1",
            "--llm-key",
            "sk-other",
        ]
    )
    assert rc == 2 and "refusing to send the API key" in capsys.readouterr().err
    assert sent == [] and not (tmp_path / "none.sqlite").exists()


def test_requests_are_bounded(server):
    """Oversized bodies, prompts and embedding batches get a 413 JSON error, never a 500 or a long job."""
    from genolm.serve import llm_server as S

    big = httpx.post(f"{server}/v1/completions", json={"prompt": "A" * (S.MAX_BODY_BYTES + 10)}, timeout=30)
    assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"
    long_prompt = httpx.post(f"{server}/v1/completions", json={"prompt": "A" * (S.MAX_PROMPT_CHARS + 1)}, timeout=30)
    assert long_prompt.status_code == 413 and "characters" in long_prompt.json()["error"]["message"]
    many = httpx.post(f"{server}/v1/embeddings", json={"input": ["BRCA1"] * (S.MAX_EMBEDDING_INPUTS + 1)}, timeout=30)
    assert many.status_code == 413 and f"at most {S.MAX_EMBEDDING_INPUTS}" in many.json()["error"]["message"]
    prompts = httpx.post(f"{server}/v1/completions", json={"prompt": ["a"] * (S.MAX_PROMPTS + 1)}, timeout=30)
    assert prompts.status_code == 413
    ok = httpx.post(f"{server}/v1/embeddings", json={"input": ["BRCA1"] * 4}, timeout=30)
    assert ok.status_code == 200 and len(ok.json()["data"]) == 4


def test_a_dropped_streaming_client_does_not_block_others(server):
    """A client that reads one event of a long stream and then hangs up must not hold the model: the next
    completion is served at once (the model lock is held per forward pass, never across a yield)."""
    body = {"prompt": "BRCA1", "max_tokens": 4000, "stream": True, "temperature": 1.0, "seed": 0}
    with httpx.Client(timeout=30) as c:
        with c.stream("POST", f"{server}/v1/completions", json=body) as r:
            assert r.status_code == 200
            next(r.iter_lines())
        # the stream is abandoned here, mid-generation, without reading further
        t0 = time.perf_counter()
        r2 = c.post(f"{server}/v1/completions", json={"prompt": "BRCA1", "max_tokens": 8, "seed": 0})
        assert r2.status_code == 200 and r2.json()["choices"][0]["text"]
        assert time.perf_counter() - t0 < 10


def test_a_completion_past_the_context_length_is_answered_not_a_500(server):
    """The model's context is 64 tokens: a 2,000-word prompt with max_tokens past the context still gets a 200
    (the prompt is left-truncated to leave room; generation stops at the context), streamed or not."""
    text = json.loads(ABSTRACTS.read_text().splitlines()[0])["text"]
    words = " ".join(text.split() * 20)[:12_000]
    for body in (
        {"prompt": words, "max_tokens": 500},
        {"prompt": words, "max_tokens": 40, "stream": True},
        {"messages": [{"role": "user", "content": words}], "max_tokens": 500},
    ):
        path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
        r = httpx.post(f"{server}{path}", json=body, timeout=120)
        assert r.status_code == 200, r.text[:300]
        if body.get("stream"):
            assert r.text.rstrip().endswith("data: [DONE]")
        else:
            choice = r.json()["choices"][0]
            assert choice["finish_reason"] in ("length", "stop")
            assert r.json()["usage"]["completion_tokens"] <= 64
