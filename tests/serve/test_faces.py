"""One registry, three faces: the same inputs give byte-identical result files through the CLI, REST and MCP.

For every domain case of faces_cases.py (a cheap real invocation on tests/data) the module runs the task
(1) through the CLI in-process (``genolm.cli.main.main(Task.argv(...))`` in a fresh directory, input paths
confined to the data dir exactly as a job does), (2) through a real ``genolm serve api`` process
(``POST /v1/jobs/{task}``, poll, download every file of ``GET /v1/jobs/{id}/files``) and (3) through a real
``genolm serve mcp --transport stdio`` process driven by the MCP SDK's ClientSession (``call_tool``, then
``jobs.wait`` when the job outlived the quick wait, then ``read_resource`` on every result-file link), all on
one data directory, and compares the files byte for byte. One test per domain, so a failure names it.

The two servers share the data dir (and so its job store): both start before the first job is submitted, since
a JobManager that starts fails the jobs it finds running (restart recovery).
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import shutil
import sys
import time
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from genolm.core import registry
from genolm.serve.paths import confine
from tests.serve import faces_cases as F
from tests.serve.conftest import api, make_data_dir, server_env, start_server

pytestmark = pytest.mark.slow

JOB_TIMEOUT_S = 300.0  # the whole batch of jobs (2 workers per server on a small shared machine)


def _cli(argv: list[str], cwd: Path) -> tuple[int, str]:
    """``genolm -q ARGV`` in-process with ``cwd`` as working directory; (exit code, stderr)."""
    from genolm.cli.main import main

    err = io.StringIO()
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["-q", *argv])
    finally:
        os.chdir(old)
    return code, err.getvalue()


def _job_argv(task: registry.Task, params: dict, data_dir: Path, cwd: Path) -> list[str]:
    """The argv a job runs for ``params``: validated, input paths confined to the data dir and given relative to
    ``cwd`` (a folder two levels under the data dir, like a job's ``jobs/<id>.partial``)."""
    v = task.validate(params)
    for p in task.params:
        val = v.get(p.key)
        if p.path == "in" and val is not None and val not in p.keywords:
            items = [
                os.path.relpath(confine(data_dir, str(x), param=p.key), cwd)
                for x in (val if isinstance(val, list) else [val])
            ]
            v[p.key] = items if isinstance(val, list) else items[0]
    return task.argv(v)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def _torch_threads(n: int):
    """The jobs run with OMP_NUM_THREADS=1 (server_env); the in-process CLI face computes with as many threads."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(scope="module")
def faces_data(tmp_path_factory, promoter_clf) -> Path:
    """A data dir: tests/data as data/, the case models (trained once here, through the CLI) and inputs in faces/."""
    d = make_data_dir(tmp_path_factory.mktemp("faces") / "dd")
    F.write_inputs(d)
    models = d / F.MODEL_DIR
    shutil.copytree(promoter_clf, models / "promoter_clf")
    work = tmp_path_factory.mktemp("faces_train")
    with _torch_threads(1):
        for name, argv in F.MODELS.items():
            args = [a.replace("{out}", str(models / name)) for a in argv]
            args = [str(d / a) if a.startswith("data/") else a for a in args]
            code, err = _cli(args, work)
            assert code == 0, f"training {name} failed: {err[-2000:]}"
    return d


async def _mcp_face(session: ClientSession, case: F.Case) -> dict[str, bytes]:
    res = await session.call_tool(case.task, case.params)
    assert not res.is_error, f"MCP {case.task}: {res.content[0].text}"
    job = res.structured_content
    if job["state"] != "succeeded":  # outlived the quick wait: follow it
        res = await session.call_tool("jobs.wait", {"id": job["id"], "timeout": JOB_TIMEOUT_S})
        assert not res.is_error, f"MCP {case.task}: {res.content[0].text}"
        job = res.structured_content
    assert job["state"] == "succeeded", job
    links = {c.name: c.uri for c in res.content if c.type == "resource_link" and "/files/" in c.uri}
    assert sorted(links) == sorted(job["files"])
    out = {}
    for name, uri in links.items():
        (contents,) = (await session.read_resource(uri)).contents
        text = getattr(contents, "text", None)
        out[name] = text.encode("utf-8") if text is not None else base64.b64decode(contents.blob)
    return out


@pytest.fixture(scope="module")
def faces(faces_data, tmp_path_factory) -> dict[str, dict]:
    """{domain: {"cli"|"rest"|"mcp": {file: bytes} or an error string}} for every case."""
    results: dict[str, dict] = {c.domain: {} for c in F.CASES}

    # (1) CLI, in-process, each case in its own working directory (as a job's directory)
    for case in F.CASES:
        cwd = faces_data / "cli" / case.domain  # two levels down, as a job's jobs/<id>.partial
        cwd.mkdir(parents=True)
        try:
            argv = _job_argv(registry.get(case.task), case.params, faces_data, cwd)
            with _torch_threads(1):
                code, err = _cli(argv, cwd)
            results[case.domain]["cli"] = _files(cwd) if code == 0 else f"CLI exited {code}: {err[-1500:]}"
        except Exception as e:  # reported by the domain's own test
            results[case.domain]["cli"] = f"CLI: {type(e).__name__}: {e}"

    rest = start_server(faces_data)
    try:

        async def run_all() -> None:
            params = StdioServerParameters(
                command=sys.executable,
                args=["-m", "genolm.cli.main", "serve", "mcp", "--workers", "2", "--data-dir", str(faces_data)],
                env=server_env(),
                cwd=str(faces_data),
            )
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()  # the MCP server's JobManager has started: now submit jobs
                with api(rest) as client:
                    submitted = {}
                    for case in F.CASES:
                        r = client.post(f"/v1/jobs/{case.task}", json=case.params)
                        if r.status_code == 202:
                            submitted[case.domain] = r.json()["id"]
                        else:
                            results[case.domain]["rest"] = f"REST submit {r.status_code}: {r.text[:500]}"

                    async def one(case: F.Case) -> None:
                        try:
                            results[case.domain]["mcp"] = await _mcp_face(session, case)
                        except Exception as e:
                            results[case.domain]["mcp"] = f"MCP: {type(e).__name__}: {e}"

                    async with anyio.create_task_group() as tg:
                        for case in F.CASES:
                            tg.start_soon(one, case)
                        tg.start_soon(anyio.to_thread.run_sync, _rest_collect, client, submitted, results)

        anyio.run(run_all)
    finally:
        rest.stop()
    return results


def _rest_collect(client, submitted: dict[str, str], results: dict) -> None:
    """Poll the REST jobs until they end; download each succeeded job's files."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    pending = dict(submitted)
    while pending and time.monotonic() < deadline:
        for domain, job_id in list(pending.items()):
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["state"] not in ("succeeded", "failed", "cancelled"):
                continue
            del pending[domain]
            if job["state"] != "succeeded":
                results[domain]["rest"] = f"REST job {job['state']}: {job.get('error')}\n{job.get('log_tail', '')}"
                continue
            names = client.get(f"/v1/jobs/{job_id}/files").json()["files"]
            files = {}
            for name in names:
                r = client.get(f"/v1/jobs/{job_id}/files/{name}")
                assert r.status_code == 200, (name, r.status_code, r.text[:200])
                files[name] = r.content
            results[domain]["rest"] = files
        time.sleep(0.5)
    for domain in pending:
        results[domain]["rest"] = f"REST job still running after {JOB_TIMEOUT_S:g} s"


@pytest.mark.parametrize("case", F.CASES, ids=[c.domain for c in F.CASES])
def test_same_result_files_through_cli_rest_and_mcp(faces, case):
    got = faces[case.domain]
    for face in ("cli", "rest", "mcp"):
        assert isinstance(got.get(face), dict), f"{case.domain} via {face}: {got.get(face)}"
    cli, rest, mcp = got["cli"], got["rest"], got["mcp"]
    assert set(case.compare) <= set(cli), f"{case.domain}: CLI wrote {sorted(cli)}, expected {case.compare}"
    assert sorted(rest) == sorted(cli), f"{case.domain}: REST files {sorted(rest)} != CLI files {sorted(cli)}"
    assert sorted(mcp) == sorted(cli), f"{case.domain}: MCP files {sorted(mcp)} != CLI files {sorted(cli)}"
    for name in sorted(set(cli) - set(case.excluded)):
        assert rest[name] == cli[name], f"{case.domain}: {name} differs between REST and the CLI"
        assert mcp[name] == cli[name], f"{case.domain}: {name} differs between MCP and the CLI"
    for name in case.compare:  # real results, not empty files
        assert cli[name].strip(), f"{case.domain}: {name} is empty"
    if case.rows:
        name, n = case.rows
        lines = [ln for ln in cli[name].decode().splitlines() if not ln.startswith("#")]
        assert len(lines) == n, f"{case.domain}: {name} has {len(lines)} lines, expected {n}"
