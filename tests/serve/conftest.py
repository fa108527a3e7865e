"""A real `genolm serve api` process for the serve tests (REST, web UI, MCP-vs-REST comparisons).

``api_server`` (session-scoped, shared by every test module): a server on a free loopback port with a token and
a fresh data dir holding a copy of tests/data as ``data/`` (paths in requests: ``data/editing/kim_dev.csv``).
``api(server)`` -> an ``httpx.Client`` on its URL with the bearer header. ``start_server(...)`` starts another
one (own data dir, limits through ``env``: ``{"GENOLM_API_RATE": "2"}``) for tests that restart or strain it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port

DATA = Path(__file__).resolve().parents[1] / "data"
TOKEN = "test-token-0123456789"
START_TIMEOUT_S = 90.0  # the test machine is small and shared


def make_data_dir(root: Path) -> Path:
    """``root`` with tests/data copied to ``root/data`` (a copy, not a link: links out of the data dir are refused)."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "data").exists():
        shutil.copytree(DATA, root / "data")
    return root


@dataclass
class Server:
    url: str
    token: str | None
    data_dir: Path
    proc: subprocess.Popen
    log: Path
    port: int = 0
    argv: list = field(default_factory=list)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful: running jobs are failed, queued ones stay queued), SIGKILL after ``timeout``."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def server_env(env: dict | None = None) -> dict:
    out = dict(os.environ)
    out.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GENOLM_QUIET": "1", "TOKENIZERS_PARALLELISM": "false"})
    out.update(env or {})
    return out


def start_server(
    data_dir: Path,
    token: str | None = TOKEN,
    *,
    port: int | None = None,
    workers: int = 2,
    args: tuple = (),
    env: dict | None = None,
    log_name: str = "server.log",
) -> Server:
    """Start `genolm serve api` and wait until /v1/health answers (or fail with the server's log)."""
    port = port or free_port()
    argv = [sys.executable, "-m", "genolm.cli.main", "serve", "api", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--data-dir", str(data_dir), "--workers", str(workers), *args]
    if token is not None:
        argv += ["--token", token]
    log = Path(data_dir).parent / f"{Path(data_dir).name}.{log_name}"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=server_env(env))
    server = Server(f"http://127.0.0.1:{port}", token, Path(data_dir), proc, log, port, argv)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"genolm serve api exited {proc.returncode}:\n{server.log_text()[-3000:]}")
        try:
            if httpx.get(server.url + "/v1/health", timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop(timeout=5)
    raise RuntimeError(f"genolm serve api did not answer within {START_TIMEOUT_S:.0f} s:\n{server.log_text()[-3000:]}")


def api(server: Server, timeout: float = 60.0) -> httpx.Client:
    """An httpx client on ``server`` sending its bearer token."""
    headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=timeout)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 180.0) -> dict:
    """Poll GET /v1/jobs/{id} until a final state; the job JSON."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


@pytest.fixture(scope="session")
def api_server(tmp_path_factory) -> Server:
    """One `genolm serve api` for the whole session (token ``TOKEN``, data dir with tests/data as data/)."""
    data_dir = make_data_dir(tmp_path_factory.mktemp("api_server") / "dd")
    server = start_server(data_dir)
    yield server
    server.stop()


@pytest.fixture()
def api_client(api_server):
    with api(api_server) as client:
        yield client
