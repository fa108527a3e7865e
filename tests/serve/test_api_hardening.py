"""What a hostile web page or client cannot do to a genolm server (found in the issue-14 security review).

Real servers: a token-less loopback server (a researcher's laptop), and the shared token server.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.serve.conftest import TOKEN, api, make_data_dir, start_server, wait_job

GENOME = "data/editing/ecoli_slice.fa.gz"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    server = start_server(make_data_dir(tmp_path_factory.mktemp("api_open") / "dd"), token=None)
    yield server
    server.stop()


def test_a_tokenless_server_answers_only_its_own_pages(open_server):
    u = open_server.url
    ok = httpx.get(f"{u}/v1/data/{GENOME}", headers={"Range": "bytes=0-9"})
    assert ok.status_code == 206 and "access-control-allow-origin" not in ok.headers  # no CORS without a token
    same = httpx.get(f"{u}/v1/tasks", headers={"Origin": u})
    assert same.status_code == 200
    # a page on another site (drive-by fetch, even "simple" text/plain POSTs) and a DNS-rebound name are refused
    for headers in ({"Origin": "https://evil.example"}, {"Host": "attacker.example"}):
        r = httpx.get(f"{u}/v1/data/{GENOME}", headers=headers)
        assert r.status_code == 403 and "refused" in r.json()["error"], headers
        r = httpx.post(
            f"{u}/v1/jobs/crispr.offtargets",
            content=b'{"guides": "x", "genome": "y"}',
            headers={**headers, "Content-Type": "text/plain"},
        )
        assert r.status_code == 403
    assert httpx.get(f"{u}/v1/jobs").json()["jobs"] == []  # nothing was queued


def test_wrong_tokens_are_throttled_per_address(api_server):
    codes = [
        httpx.get(f"{api_server.url}/v1/jobs", headers={"Authorization": f"Bearer guess-{i:04d}"}).status_code
        for i in range(40)
    ]
    assert set(codes[:15]) == {401} and 429 in codes[20:]
    time.sleep(1.5)  # the right token is never throttled by the guess bucket (checked after the burst anyway)
    assert httpx.get(f"{api_server.url}/v1/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_hostile_parameters_are_refused_and_reports_are_sandboxed(api_server):
    c = api(api_server)
    base = {"reference": "data/editing/ecoli_slice.fa.gz", "region": "ecoli_slice:2001-2300"}
    # an output name is shown in the UI and igv.js: markup is not a file name
    r = c.post("/v1/jobs/crispr.design", json={**base, "out": "<img src=x onerror=alert(1)>.tsv"})
    assert r.status_code == 422 and r.json()["param"] == "out"
    r = c.post(
        "/v1/jobs/crispr.design",
        content=b'{"reference": "data/editing/ecoli_slice.fa.gz", "region": "ecoli_slice:2001-2300", "top": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["param"] == "top"
    for out in ("-", "--help", "a/-b.tsv"):
        r = c.post("/v1/jobs/crispr.design", json={**base, "out": out})
        assert r.status_code == 422 and r.json()["param"] == "out", out
    # a job's HTML report opens in its own sandboxed origin and is never content-sniffed
    job = c.post("/v1/jobs/crispr.design", json={**base, "out": "guides.tsv"}).json()
    done = wait_job(c, job["id"])
    assert done["state"] == "succeeded", done
    html = [f for f in c.get(f"/v1/jobs/{job['id']}/files").json()["files"] if f.endswith(".html")]
    assert html
    r = c.get(f"/v1/jobs/{job['id']}/files/{html[0]}")
    assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox")
