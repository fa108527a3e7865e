"""`genolm serve mcp` driven by the official MCP SDK client, over stdio and over streamable HTTP.

Real processes: the server is `python -m genolm.cli.main serve mcp` and each tool call runs a genolm job
(a subprocess of the server). The quick tool's TSVs are compared byte for byte with the CLI's.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from tests.conftest import free_port
from genolm.core import registry

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
ENV = {k: v for k, v in os.environ.items() if k not in ("GENOLM_QUIET", "GENOLM_API_TOKEN")}
ENV.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # progress bars on: they become progress notifications
JOB_TOOLS = {"jobs.status", "jobs.wait", "jobs.cancel", "jobs.files", "jobs.list"}
OFFTARGET_ARGS = {"guides": "guides.txt", "genome": "ecoli_slice.fa.gz", "max_mismatches": 3, "out": "sites.tsv"}
# a small CNN fine-tune: a few seconds of training, long enough to be a job that outlives a 1 s quick_s
FINETUNE_ARGS = {
    "train": "prom_train.csv",
    "out": "run",
    "max_steps": 40,
    "hidden": 32,
    "conv_layers": 1,
    "batch_size": 32,
    "eval_every": 20,
}


def _guides_from_slice(n: int = 4) -> list[str]:
    """Protospacers (20 nt before an NGG) taken from the E. coli slice, so each has a perfect site."""
    with gzip.open(DATA / "editing" / "ecoli_slice.fa.gz", "rt") as f:
        seq = "".join(line.strip() for line in f if not line.startswith(">")).upper()
    out, i = [], 500
    while len(out) < n:
        j = seq.find("GG", i)
        g = seq[j - 21 : j - 1]
        if set(g) <= set("ACGT"):
            out.append(g)
        i = j + len(seq) // (n + 1)
    return out


@pytest.fixture(scope="module")
def mcp_data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("mcp_data")
    shutil.copy(DATA / "editing" / "ecoli_slice.fa.gz", d)
    shutil.copy(DATA / "core" / "prom_train.csv", d)
    (d / "guides.txt").write_text("".join(f"g{i} {g}\n" for i, g in enumerate(_guides_from_slice())))
    return d


@pytest.fixture(scope="module")
def cli_sites(mcp_data, tmp_path_factory) -> Path:
    """The CLI's own crispr offtargets output for OFFTARGET_ARGS."""
    out = tmp_path_factory.mktemp("cli_offtargets")
    argv = ["crispr", "offtargets", "--guides", str(mcp_data / "guides.txt")]
    argv += ["--genome", str(mcp_data / "ecoli_slice.fa.gz"), "--max-mismatches", "3", "--out", "sites.tsv"]
    subprocess.run([sys.executable, "-m", "genolm.cli.main", *argv], cwd=out, env=ENV, check=True, capture_output=True)
    return out


class _Progress:
    def __init__(self):
        self.events: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))


def _file_links(result) -> dict[str, str]:
    return {c.name: c.uri for c in result.content if c.type == "resource_link" and "/files/" in c.uri}


async def _check_quick_call(session: ClientSession, cli_sites: Path) -> str:
    progress = _Progress()
    res = await session.call_tool("crispr.offtargets", OFFTARGET_ARGS, progress_callback=progress)
    assert not res.is_error, res.content[0].text
    job = res.structured_content
    assert job["state"] == "succeeded" and job["task"] == "crispr.offtargets"
    assert {"sites.tsv", "sites.summary.tsv"} <= set(job["files"])
    links = _file_links(res)
    assert links["sites.tsv"] == f"genolm://jobs/{job['id']}/files/sites.tsv"
    assert "4 guides" in res.content[0].text  # the task's own one-line summary
    for name in ("sites.tsv", "sites.summary.tsv"):
        read = await session.read_resource(links[name])
        (contents,) = read.contents
        assert contents.text.encode("utf-8") == (cli_sites / name).read_bytes(), name
    embedded = [c for c in res.content if c.type == "resource"]
    assert embedded and embedded[0].resource.text.encode() == (cli_sites / "sites.tsv").read_bytes()
    assert progress.events and progress.events[-1][0] == 100.0
    return job["id"]


async def _check_errors(session: ClientSession) -> None:
    bad = await session.call_tool("crispr.offtargets", {**OFFTARGET_ARGS, "max_mismatches": "four"})
    assert bad.is_error and "max_mismatches: expected an integer" in bad.content[0].text
    bad = await session.call_tool("crispr.offtargets", {**OFFTARGET_ARGS, "guides": "../../etc/passwd"})
    assert bad.is_error and "guides" in bad.content[0].text and "escapes" in bad.content[0].text
    bad = await session.call_tool("crispr.offtargets", {**OFFTARGET_ARGS, "max_mismatch": 2})
    assert bad.is_error and "did you mean 'max_mismatches'" in bad.content[0].text
    bad = await session.call_tool("crispr.offtargets", {"genome": "ecoli_slice.fa.gz"})
    assert bad.is_error and "guides: required" in bad.content[0].text
    bad = await session.call_tool("jobs.status", {"id": "0123456789abcdef"})
    assert bad.is_error and "unknown job" in bad.content[0].text
    with pytest.raises(MCPError, match="unknown tool 'crispr.offtarget'.*did you mean 'crispr.offtargets'"):
        await session.call_tool("crispr.offtarget", {})
    with pytest.raises(MCPError, match="not offered as a tool"):
        await session.call_tool("serve.api", {})
    with pytest.raises(MCPError, match="unknown job"):
        await session.read_resource("genolm://jobs/0123456789abcdef")


def test_stdio_tools_quick_call_errors_and_resources(mcp_data, cli_sites):
    async def main():
        server = StdioServerParameters(
            command=sys.executable,
            args=["-m", "genolm.cli.main", "serve", "mcp", "--data-dir", str(mcp_data)],
            env=ENV,
            cwd=str(mcp_data),
        )
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            tasks = registry.tasks()
            assert len(tasks) > 40 and set(tools) == {t.name for t in tasks} | JOB_TOOLS
            for task in tasks:
                assert tools[task.name].input_schema == task.json_schema(), task.name
                assert tools[task.name].description.startswith(task.summary)
            assert "max_mismatches" in tools["crispr.offtargets"].input_schema["properties"]

            job_id = await _check_quick_call(session, cli_sites)
            await _check_errors(session)

            status = await session.call_tool("jobs.status", {"id": job_id})
            assert (
                status.structured_content["state"] == "succeeded" and "sites" in status.structured_content["log_tail"]
            )
            read = await session.read_resource(f"genolm://jobs/{job_id}")
            assert json.loads(read.contents[0].text)["params"]["max_mismatches"] == 3
            listed = {r.uri for r in (await session.list_resources()).resources}
            assert {f"genolm://jobs/{job_id}", f"genolm://jobs/{job_id}/files/sites.tsv"} <= listed
            templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
            assert templates == {"genolm://jobs/{id}", "genolm://jobs/{id}/files/{path}"}

    anyio.run(main)


@pytest.fixture(scope="module")
def http_server(mcp_data, tmp_path_factory):
    port, token = free_port(), "mcp-test-token-1234"
    log = tmp_path_factory.mktemp("mcp_http") / "server.log"
    argv = [sys.executable, "-m", "genolm.cli.main", "serve", "mcp", "--transport", "http"]
    argv += ["--port", str(port), "--token", token, "--workers", "1", "--data-dir", str(mcp_data)]
    proc = subprocess.Popen(argv, env=dict(ENV, GENOLM_MCP_QUICK_S="1"), stderr=log.open("w"))
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"MCP HTTP server did not start: {log.read_text()}")
            time.sleep(0.3)
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_http_token_required(http_server):
    url, token = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    r = httpx.post(url, json=body, headers=headers)
    assert r.status_code == 401 and r.json() == {"error": "missing bearer token"}
    r = httpx.post(url, json=body, headers={**headers, "Authorization": "Bearer wrong-token"})
    assert r.status_code == 401 and r.json() == {"error": "wrong bearer token"}


def test_http_long_job_progress_result_and_cancel(http_server):
    url, token = http_server

    async def main():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300))
        async with http, streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                assert "finetune" in {t.name for t in (await session.list_tools()).tools}
                # quick_s is 1 s here: the call comes back with the job id while the job runs
                res = await session.call_tool("finetune", FINETUNE_ARGS)
                assert not res.is_error, res.content[0].text
                job = res.structured_content
                assert job["state"] in ("queued", "running") and "jobs.wait" in res.content[0].text
                assert f"genolm://jobs/{job['id']}" in {c.uri for c in res.content if c.type == "resource_link"}

                other = await session.call_tool("finetune", {**FINETUNE_ARGS, "seed": 1})  # queued: 1 worker
                assert other.structured_content["state"] == "queued"
                cancelled = await session.call_tool("jobs.cancel", {"id": other.structured_content["id"]})
                assert cancelled.structured_content["state"] == "cancelled"

                progress = _Progress()
                done = await session.call_tool(
                    "jobs.wait", {"id": job["id"], "timeout": 240}, progress_callback=progress
                )
                assert not done.is_error, done.content[0].text
                assert done.structured_content["state"] == "succeeded"
                values = [p for p, _, _ in progress.events]
                assert len(values) >= 2 and values == sorted(values) and len(set(values)) == len(values)
                assert values[-1] == 100.0 and all(t == 100.0 for _, t, _ in progress.events)
                assert any("train" in (m or "") for _, _, m in progress.events), progress.events

                links = _file_links(done)
                metrics = json.loads((await session.read_resource(links["run/metrics.json"])).contents[0].text)
                assert metrics["valid"]["n"] == 60 and 0.0 <= metrics["valid"]["auroc"] <= 1.0
                blob = (await session.read_resource(links["run/model/model.safetensors"])).contents[0]
                assert blob.mime_type == "application/octet-stream" and len(blob.blob) > 1000
                state = json.loads((await session.read_resource(f"genolm://jobs/{job['id']}")).contents[0].text)
                assert state["state"] == "succeeded" and "run/metrics.json" in state["files"]

        # the SDK's high-level Client negotiates the 2026 protocol era (server/discover): same tools, same job
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300))
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            assert client.protocol_version in MODERN_PROTOCOL_VERSIONS
            status = await client.call_tool("jobs.status", {"id": job["id"]})
            assert status.structured_content["state"] == "succeeded"
            assert "validation mcc" in status.structured_content["summary"]

    anyio.run(main)


def test_http_off_loopback_needs_token(tmp_path):
    argv = [sys.executable, "-m", "genolm.cli.main", "serve", "mcp", "--transport", "http", "--host", "0.0.0.0"]
    r = subprocess.run([*argv, "--data-dir", str(tmp_path)], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "reachable from other machines" in r.stderr and "--token" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
