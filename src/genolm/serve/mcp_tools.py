"""The MCP tools: every registry task (run as a job) and the ``jobs.*`` tools that follow a job.

A task call submits a job to the :class:`~genolm.serve.jobs.JobManager` (the same validation, path
confinement and subprocess as a REST job, so the result files are byte-identical to the CLI's), then
follows it for up to ``quick_s`` seconds, sending MCP progress notifications from the job's progress bars
when the client gave a ``progressToken``. A job that finishes in time returns its summary and its result
files as resource links (``genolm://jobs/<id>/files/<path>``); one that does not returns its id and
``genolm://jobs/<id>`` at once, so an assistant is never blocked past its tool-call timeout and can
follow it with ``jobs.wait``.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from genolm.core import registry
from genolm.serve.jobs import Job, JobManager, QueueFull
from genolm.serve.mcp_resources import EMBED_MAX_BYTES, file_uri, job_uri, mime_type, read_text
from genolm.serve.paths import PathError

FINAL_STATES = ("succeeded", "failed", "cancelled")
POLL_S = 0.5  # how often a followed job's state and progress are re-read
MAX_WAIT_S = 600.0  # the longest one jobs.wait call may block
LOG_TAIL_LINES = 20
MAX_LINKS = 200  # resource links in one result (jobs.files / resources/list name the rest)

_ID = {"type": "string", "description": "A job id, as returned by a task tool."}
JOB_TOOLS: dict[str, tuple[str, dict]] = {
    "jobs.status": (
        "The state of a job (queued/running/succeeded/failed/cancelled), its progress, parameters, "
        "result files and the tail of its log.",
        {"type": "object", "properties": {"id": _ID}, "required": ["id"], "additionalProperties": False},
    ),
    "jobs.wait": (
        "Wait until a job ends (or `timeout` seconds pass), with progress notifications; returns its summary "
        "and result files once it ended, else its state.",
        {
            "type": "object",
            "properties": {
                "id": _ID,
                "timeout": {
                    "type": "number",
                    "description": "Seconds to wait at most.",
                    "default": 60,
                    "minimum": 0,
                    "maximum": MAX_WAIT_S,
                },
            },
            "required": ["id"],
            "additionalProperties": False,
        },
    ),
    "jobs.cancel": (
        "Cancel a queued or running job (a running one is killed); its partial files are discarded.",
        {"type": "object", "properties": {"id": _ID}, "required": ["id"], "additionalProperties": False},
    ),
    "jobs.files": (
        "The result files of a succeeded job, as resource links genolm://jobs/<id>/files/<path>.",
        {"type": "object", "properties": {"id": _ID}, "required": ["id"], "additionalProperties": False},
    ),
    "jobs.list": (
        "The most recent jobs, newest first (id, task, state, created).",
        {
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "description": "How many.", "default": 20, "minimum": 1, "maximum": 100}
            },
            "additionalProperties": False,
        },
    ),
}


def describe_task(task: registry.Task, quick_s: float) -> str:
    """The tool description: the task's summary and the rest of its help, then how the call behaves."""
    paragraphs = [p.strip() for p in task.help.strip().split("\n\n") if p.strip()]
    parts = [task.summary, *paragraphs[1:]]
    parts.append(
        "Input paths are relative to the server's data directory (or 'jobs/<id>/<file>' for an earlier job's "
        "result); output parameters name files inside the new job's directory. The call runs as a job: when it "
        f"ends within {quick_s:g} s the summary and result files (resources genolm://jobs/<id>/files/<path>) "
        "come back, otherwise the job id; follow it with jobs.wait."
    )
    return "\n\n".join(parts)


def _error(message: str, job: Job | None = None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=message)],
        structured_content=job.to_json() if job is not None else None,
        is_error=True,
    )


def _progress_text(job: Job) -> str:
    p = job.progress or {}
    if not p:
        return job.state
    n, total = p.get("n"), p.get("total")
    count = f"{n}/{total}" if total else f"{n}"
    return f"{job.state}: {p.get('desc') or 'progress'} {count}"


class _ProgressReporter:
    """Turns a job's latest bar into MCP progress notifications (a value that only grows, out of 100).

    A job may run several bars in turn (epochs, then evaluation); the value never goes back, the message
    names the bar. Without a progressToken from the client :meth:`report_progress` sends nothing.
    """

    def __init__(self, ctx: ServerRequestContext[Any]):
        self.ctx, self.value, self.message = ctx, 0.0, ""

    async def update(self, job: Job) -> None:
        message = _progress_text(job)
        fraction = (job.progress or {}).get("fraction")
        value = 100.0 if job.state == "succeeded" else min(99.0, 100.0 * float(fraction)) if fraction else self.value
        if message == self.message and value <= self.value:
            return
        self.value = max(value, self.value + 0.01)
        self.message = message
        await self.ctx.session.report_progress(round(self.value, 2), 100.0, message)


class McpTools:
    """The tool list and the tool calls of the genolm MCP server (one per server, shared by sessions)."""

    def __init__(self, manager: JobManager, quick_s: float = 20.0, owner: str | None = "mcp"):
        self.manager, self.quick_s, self.owner = manager, float(quick_s), owner
        self._schemas: dict[str, dict] = {}
        self._tools: list[types.Tool] = []
        for task in registry.tasks():
            schema = task.json_schema()
            self._schemas[task.name] = schema
            self._tools.append(
                types.Tool(name=task.name, description=describe_task(task, self.quick_s), input_schema=schema)
            )
        for name, (description, schema) in JOB_TOOLS.items():
            self._schemas[name] = schema
            self._tools.append(
                types.Tool(
                    name=name,
                    description=description,
                    input_schema=schema,
                    annotations=types.ToolAnnotations(read_only_hint=name != "jobs.cancel"),
                )
            )

    def list(self) -> list[types.Tool]:
        return list(self._tools)

    def schema(self, name: str) -> dict | None:
        return self._schemas.get(name)

    async def call(self, ctx: ServerRequestContext[Any], name: str, arguments: dict | None) -> types.CallToolResult:
        args = dict(arguments or {})
        if name in JOB_TOOLS:
            return await self._job_tool(ctx, name, args)
        if name not in self._schemas:
            try:
                registry.get(name)
                problem = f"task {name!r} is not offered as a tool"
            except KeyError as e:
                problem = str(e.args[0]).replace("unknown task", "unknown tool")
            raise MCPError(types.INVALID_PARAMS, problem)
        try:
            job = await anyio.to_thread.run_sync(lambda: self.manager.submit(name, args, owner=self.owner))
        except (registry.ParamError, PathError) as e:
            return _error(str(e))
        except QueueFull as e:
            return _error(f"the job queue is full, try again later ({e})")
        except KeyError as e:
            return _error(str(e.args[0]) if e.args else f"unknown task {name!r}")
        job = await self.follow(ctx, job.id, self.quick_s)
        return await self.result(job)

    # --- following a job ---------------------------------------------------------------------------
    async def follow(self, ctx: ServerRequestContext[Any], job_id: str, timeout: float) -> Job:
        """Wait up to ``timeout`` s for the job to end, sending progress notifications as it moves."""
        reporter = _ProgressReporter(ctx)
        deadline = anyio.current_time() + max(0.0, timeout)
        job = await anyio.to_thread.run_sync(self.manager.get, job_id)
        assert job is not None
        while job.state not in FINAL_STATES:
            await reporter.update(job)
            left = deadline - anyio.current_time()
            if left <= 0:
                break
            step = min(POLL_S, left)
            job = await anyio.to_thread.run_sync(lambda: self.manager.wait(job_id, timeout=step))
        await reporter.update(job)
        return job

    async def result(self, job: Job) -> types.CallToolResult:
        """A finished job's summary and result files, a failed one's error, a running one's id and URI."""
        return await anyio.to_thread.run_sync(self._result_sync, job)

    def _result_sync(self, job: Job) -> types.CallToolResult:
        data = job.to_json()
        if job.state == "succeeded":
            files = list(data.get("files") or self.manager.files(job.id))
            data["files"] = files
            lines = [f"job {job.id} ({job.task}) succeeded: {job.summary or 'done'}"]
            lines.append(f"{len(files)} result file(s), readable as resources genolm://jobs/{job.id}/files/<path>:")
            lines += [f"  {f}" for f in files[:50]] + ([f"  ... and {len(files) - 50} more"] if len(files) > 50 else [])
            content: list[types.ContentBlock] = [types.TextContent(text="\n".join(lines))]
            for rel in files[:MAX_LINKS]:
                try:
                    size = self.manager.file_path(job.id, rel).stat().st_size
                except (FileNotFoundError, PathError):
                    continue
                content.append(
                    types.ResourceLink(uri=file_uri(job.id, rel), name=rel, mime_type=mime_type(rel), size=size)
                )
            for rel in self._primary_outputs(job, files):
                try:
                    text = read_text(self.manager.file_path(job.id, rel), EMBED_MAX_BYTES)
                except (FileNotFoundError, PathError):
                    continue
                if text is not None:
                    content.append(
                        types.EmbeddedResource(
                            resource=types.TextResourceContents(
                                uri=file_uri(job.id, rel), mime_type=mime_type(rel), text=text
                            )
                        )
                    )
            return types.CallToolResult(content=content, structured_content=data)
        link = types.ResourceLink(uri=job_uri(job.id), name=f"job {job.id}", mime_type="application/json")
        if job.state in ("failed", "cancelled"):
            tail = self.manager.log_tail(job.id, LOG_TAIL_LINES).rstrip()
            text = f"job {job.id} ({job.task}) {job.state}: {job.error or job.state}"
            if tail:
                text += f"\n--- last lines of its log ---\n{tail}"
            return types.CallToolResult(
                content=[types.TextContent(text=text), link], structured_content=data, is_error=True
            )
        text = (
            f"job {job.id} ({job.task}) is {_progress_text(job)}; it keeps running on the server. "
            f'Follow it with jobs.wait {{"id": "{job.id}"}} (or jobs.status), or read the resource {job_uri(job.id)}.'
        )
        return types.CallToolResult(content=[types.TextContent(text=text), link], structured_content=data)

    def _primary_outputs(self, job: Job, files: list[str]) -> list[str]:
        """The files the task's output parameters name (embedded in the result when small text)."""
        try:
            task = registry.get(job.task)
        except KeyError:
            return []
        names = [str(job.params.get(p.key)) for p in task.params if p.path == "out" and job.params.get(p.key)]
        return [n for n in names if n in files]

    # --- the jobs.* tools --------------------------------------------------------------------------
    async def _job_tool(self, ctx: ServerRequestContext[Any], name: str, args: dict) -> types.CallToolResult:
        schema = self._schemas[name]
        unknown = sorted(set(args) - set(schema["properties"]))
        if unknown:
            return _error(f"{name}: {unknown[0]}: unknown parameter")
        if name == "jobs.list":
            limit = args.get("limit", 20)
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
                return _error(f"{name}: limit: expected an integer from 1 to 100, got {limit!r}")
            jobs = await anyio.to_thread.run_sync(lambda: self.manager.list(limit=limit))
            rows = [{k: j.to_json().get(k) for k in ("id", "task", "state", "created", "summary")} for j in jobs]
            text = "\n".join(f"{r['id']}  {r['task']}  {r['state']}  {r['created']}" for r in rows) or "no jobs"
            return types.CallToolResult(content=[types.TextContent(text=text)], structured_content={"jobs": rows})
        job_id = args.get("id")
        if not isinstance(job_id, str) or not job_id:
            return _error(f"{name}: id: required (a job id string)")
        job = await anyio.to_thread.run_sync(self.manager.get, job_id)
        if job is None:
            return _error(f"{name}: id: unknown job {job_id!r}")
        if name == "jobs.status":
            data = job.to_json()
            data["log_tail"] = await anyio.to_thread.run_sync(self.manager.log_tail, job_id, LOG_TAIL_LINES)
            return types.CallToolResult(
                content=[types.TextContent(text=json.dumps(data, indent=1))], structured_content=data
            )
        if name == "jobs.cancel":
            job = await anyio.to_thread.run_sync(self.manager.cancel, job_id) or job
            return types.CallToolResult(
                content=[types.TextContent(text=f"job {job.id} is {job.state}")], structured_content=job.to_json()
            )
        if name == "jobs.files":
            if job.state != "succeeded":
                return _error(f"job {job.id} is {job.state}: files are served once it succeeded", job)
            return await self.result(job)
        timeout = args.get("timeout", 60)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= MAX_WAIT_S:
            return _error(f"{name}: timeout: expected a number of seconds from 0 to {MAX_WAIT_S:g}, got {timeout!r}")
        job = await self.follow(ctx, job_id, float(timeout))
        return await self.result(job)
