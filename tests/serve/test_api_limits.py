"""Every limit of the REST API, on real servers: each client mistake is a 4xx JSON error naming the problem.

The shared ``api_server`` runs with the default limits; a second server (``strict``) runs with small ones set
through the GENOLM_API_* variables: body 20 kB, upload 50 kB, 5 sequences of at most 200 nt, 3 requests per
second with a burst of 8, and a 1 ms timeout for synchronous calls.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import free_port
from tests.serve.conftest import TOKEN, api, make_data_dir, server_env, start_server

GENOME = "data/editing/ecoli_slice.fa.gz"
STRICT = {
    "GENOLM_API_MAX_BODY": "20000",
    "GENOLM_API_MAX_UPLOAD": "50000",
    "GENOLM_API_MAX_SEQUENCES": "5",
    "GENOLM_API_MAX_SEQUENCE_LENGTH": "200",
    "GENOLM_API_RATE": "3",
    "GENOLM_API_BURST": "8",
    "GENOLM_API_TIMEOUT": "0.001",
}


@pytest.fixture(scope="module")
def strict(tmp_path_factory, promoter_clf):
    import shutil

    data_dir = make_data_dir(tmp_path_factory.mktemp("api_strict") / "dd")
    shutil.copytree(promoter_clf, data_dir / "models" / "promoter")
    server = start_server(data_dir, env=STRICT)
    yield server
    server.stop()


def _err(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert isinstance(body["error"], str) and "Traceback" not in body["error"]
    return body


def test_missing_or_wrong_token_is_401(api_server):
    for headers in ({}, {"Authorization": "Bearer wrong-token-xyz"}, {"Authorization": f"Basic {TOKEN}"}):
        for method, path in (("GET", "/v1/tasks"), ("GET", "/v1/jobs"), ("POST", "/v1/jobs/crispr.offtargets")):
            r = httpx.request(method, api_server.url + path, headers=headers, json={})
            assert "token" in _err(r, 401)["error"] and r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(api_server.url + "/v1/health").status_code == 200
    # file links may carry the token as a query parameter (a report opened in a new tab); other routes may not
    assert httpx.get(api_server.url + f"/v1/data/{GENOME}?access_token={TOKEN}").status_code == 200
    assert httpx.get(api_server.url + f"/v1/data/{GENOME}?access_token=nope").status_code == 401
    assert httpx.get(api_server.url + f"/v1/jobs?access_token={TOKEN}").status_code == 401


def test_non_loopback_host_without_a_token_refuses_to_start(tmp_path):
    argv = [sys.executable, "-m", "genolm.cli.main", "serve", "api", "--host", "0.0.0.0", "--port", str(free_port())]
    r = subprocess.run(
        argv + ["--data-dir", str(tmp_path)], env=server_env(), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2
    assert "token" in r.stderr and "Traceback" not in r.stderr
    short = subprocess.run(
        argv + ["--data-dir", str(tmp_path), "--token", "abc"], env=server_env(), capture_output=True, text=True
    )
    assert short.returncode == 2 and "at least 8" in short.stderr


def test_unknown_task_bad_params_and_traversal(api_server):
    with api(api_server) as c:
        assert "crispr.offtargets" in _err(c.post("/v1/jobs/crispr.offtarget", json={}), 404)["error"]  # did you mean
        assert _err(c.get("/v1/tasks/nope"), 404)
        assert "command line only" in _err(c.post("/v1/jobs/serve.api", json={}), 404)["error"]
        ok = {"guides": "data/editing/kim_dev.csv", "genome": GENOME}
        cases = [
            ({**ok, "max_mismatches": "four"}, "max_mismatches"),
            ({**ok, "max_mismach": 3}, "max_mismach"),
            ({"genome": GENOME}, "guides"),
            ({**ok, "genome": "../../etc/passwd"}, "genome"),
            ({**ok, "genome": "/etc/passwd"}, "genome"),
            ({**ok, "genome": "~/x.fa"}, "genome"),
            ({**ok, "genome": ".genolm/jobs.db"}, "genome"),
            ({**ok, "out": "../escape.tsv"}, "out"),
            ({**ok, "out": "/tmp/abs.tsv"}, "out"),
        ]
        for params, param in cases:
            assert _err(c.post("/v1/jobs/crispr.offtargets", json=params), 422)["param"] == param, params
        assert _err(c.post("/v1/jobs/crispr.offtargets", content=b"{not json"), 422)
        assert _err(c.post("/v1/jobs/crispr.offtargets", json=[1, 2]), 422)
        assert _err(c.post("/v1/predict", json={"model": "../x", "sequences": ["ACGT"]}), 422)["param"] == "model"
        assert _err(c.post("/v1/predict", json={"model": "models/none", "sequences": ["ACGT"]}), 404)
        assert _err(c.post("/v1/predict", json={"model": "data", "sequences": []}), 422)["param"] == "sequences"
        assert _err(c.post("/v1/predict", json={"model": "data", "sequences": [{"x": 1}]}), 422)
        assert _err(c.post("/v1/predict", json={"model": "data", "sequences": ["ACGT"]}), 422)  # not a model
        assert _err(c.post("/v1/uploads", content=b"raw"), 422)["param"] == "file"
        assert _err(c.get("/v1/nope"), 404)
    # nothing was queued by any of these
    with api(api_server) as c:
        assert all(j["params"].get("out") not in ("../escape.tsv",) for j in c.get("/v1/jobs").json()["jobs"])


def test_default_limits_on_the_shared_server(api_server):
    with api(api_server) as c:
        r = c.post("/v1/predict", json={"model": "models/promoter", "sequences": ["ACGT"] * 1001})
        assert _err(r, 413)["limit"] == 1000
        r = c.post("/v1/predict", json={"model": "models/promoter", "sequences": ["A" * 100_001]})
        assert _err(r, 413)["limit"] == 100_000
        assert _err(c.post("/v1/predict", content=b"x" * 10_000_001), 413)["limit"] == 10_000_000


def test_small_limits_body_sequences_upload_and_timeout(strict):
    with api(strict) as c:
        big = {"model": "models/promoter", "sequences": ["ACGT" * 50] * 5, "pad": "x" * 30_000}
        assert _err(c.post("/v1/predict", json=big), 413)["limit"] == 20_000

        def chunks():  # no Content-Length: the limit holds while the body streams
            for _ in range(30):
                yield b" " * 1000

        assert _err(c.post("/v1/jobs/crispr.offtargets", content=chunks()), 413)
        assert _err(c.post("/v1/predict", json={"model": "models/promoter", "sequences": ["ACGT"] * 6}), 413)
        assert _err(c.post("/v1/predict", json={"model": "models/promoter", "sequences": ["A" * 201]}), 413)
        r = c.post("/v1/uploads", files={"file": ("big.fa", b">x\n" + b"A" * 60_000)})
        assert _err(r, 413)["limit"] == 50_000
        assert c.post("/v1/uploads", files={"file": ("ok.fa", b">x\nACGT\n")}).status_code == 201
        time.sleep(3)  # refill the bucket
        r = c.post("/v1/predict", json={"model": "models/promoter", "sequences": ["ACGT" * 17]})
        assert "longer than" in _err(r, 504)["error"]


def test_rate_limit_is_429_with_retry_after(strict):
    time.sleep(3)  # a full bucket: 8 at once, then 3 per second
    with api(strict) as c:
        codes = [c.get("/v1/jobs").status_code for _ in range(20)]
        assert codes[:8] == [200] * 8 and 429 in codes[8:]
        r = c.get("/v1/jobs")
        body = _err(r, 429)
        assert int(r.headers["retry-after"]) >= 1 and body["retry_after_s"] > 0
        assert httpx.get(strict.url + "/v1/health").status_code == 200  # the health check is never limited
        time.sleep(1.5)
        assert c.get("/v1/jobs").status_code == 200


def test_a_bug_is_a_json_500_without_traceback(tmp_path):
    """A server-side bug (here a job store that raises) answers JSON 500; the details stay in the server log."""
    import threading

    import uvicorn

    from genolm.serve.api import create_app

    class Broken:
        data_dir = tmp_path

        def start(self):
            pass

        def stop(self):
            pass

        def list(self, limit=100):
            raise RuntimeError("secret detail of a bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Broken()), host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        r = httpx.get(f"http://127.0.0.1:{port}/v1/jobs")
        assert _err(r, 500)["error"].startswith("internal server error") and "secret" not in r.text
    finally:
        server.should_exit = True
        thread.join(10)
