"""`genolm serve mcp`: every registry task as an MCP tool, jobs as resources, over stdio or streamable HTTP.

Built on the official ``mcp`` SDK's low-level :class:`mcp.server.lowlevel.Server`, because the tools are
dynamic (one per :func:`genolm.core.registry.tasks` entry) and carry their registry JSON schema as is.
The tools and their job model live in :mod:`genolm.serve.mcp_tools`, the resources in
:mod:`genolm.serve.mcp_resources`; this module wires them into a server and runs a transport.

Security: the HTTP transport refuses a non-loopback host without a token (``UsageError``, exit 2) and,
when a token is set, answers 401 to any request without ``Authorization: Bearer TOKEN`` (constant-time
comparison). On loopback the SDK's DNS-rebinding protection checks Host and Origin.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from genolm.io.errors import UsageError
from genolm.serve.api import read_token
from genolm.serve.api_security import check_token_setup, presented_token, token_matches
from genolm.serve.jobs import JobManager
from genolm.serve.mcp_resources import TEMPLATES, McpResources
from genolm.serve.mcp_tools import McpTools

log = logging.getLogger("genolm.serve.mcp")
DEFAULT_QUICK_S = 20.0
QUICK_S_ENV = "GENOLM_MCP_QUICK_S"  # how long a tool call waits for its job before returning the job id

INSTRUCTIONS = """genolm: genomics/biomedical language-model tasks as tools.
Every tool runs a genolm command as a job on the server. Input paths are relative to the server's data
directory; output parameters (out, ...) name files inside the job's own directory. A quick job returns its
summary and result files (resources genolm://jobs/<id>/files/<path>); a long one returns its job id at once:
follow it with jobs.wait (progress notifications) or jobs.status, read files with resources/read or
jobs.files, stop it with jobs.cancel. A later job can read an earlier job's result as 'jobs/<id>/<file>'."""


def build_server(manager: JobManager, quick_s: float = DEFAULT_QUICK_S) -> Server[Any]:
    """The MCP server: the registry tasks and ``jobs.*`` as tools, jobs and their files as resources."""
    from genolm import __version__

    tools = McpTools(manager, quick_s=quick_s)
    resources = McpResources(manager)

    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None):
        return types.ListToolsResult(tools=tools.list())

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams):
        try:
            return await tools.call(ctx, params.name, params.arguments)
        except MCPError:
            raise
        except Exception as e:  # a bug must reach the assistant as one line, the traceback only the server log
            log.exception("tool %s failed", params.name)
            return types.CallToolResult(
                content=[types.TextContent(text=f"internal error in genolm ({type(e).__name__}: {e})")], is_error=True
            )

    async def list_resources(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None):
        return types.ListResourcesResult(resources=await resources.list())

    async def list_templates(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None):
        return types.ListResourceTemplatesResult(resource_templates=list(TEMPLATES))

    async def read_resource(ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams):
        return await resources.read(str(params.uri))

    return Server(
        "genolm",
        version=__version__,
        instructions=INSTRUCTIONS,
        get_tool_input_schema=tools.schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


def quick_seconds(value: float | None = None) -> float:
    """The tool-call wait: the argument, else $GENOLM_MCP_QUICK_S, else 20 s."""
    if value is not None:
        return float(value)
    raw = os.environ.get(QUICK_S_ENV, "")
    if not raw:
        return DEFAULT_QUICK_S
    try:
        v = float(raw)
    except ValueError:
        v = -1.0
    if not 0 <= v <= 3600:
        raise UsageError(f"{QUICK_S_ENV}={raw!r}: expected a number of seconds from 0 to 3600")
    return v


class BearerAuth:
    """ASGI middleware: 401 JSON unless ``Authorization: Bearer TOKEN`` matches (constant time)."""

    def __init__(self, app: Any, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = presented_token(scope)
            if not token_matches(given, self.token):
                problem = "missing bearer token" if given is None else "wrong bearer token"
                body = json.dumps({"error": problem}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="genolm"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(server: Server[Any], host: str, token: str | None) -> Any:
    """The streamable-HTTP ASGI app at /mcp, behind the bearer check when a token is set."""
    app = server.streamable_http_app(host=host)
    return BearerAuth(app, token) if token else app


def serve(
    transport: str = "stdio",
    host: str = "127.0.0.1",
    port: int = 8001,
    token: str | None = None,
    token_file: Path | str | None = None,
    db: str | None = None,
    workers: int = 2,
    data_dir: Path | str = ".",
    quick_s: float | None = None,
) -> None:
    """Run the MCP server until the client disconnects (stdio) or it is interrupted (http)."""
    if transport not in ("stdio", "http"):
        raise UsageError(f"--transport must be stdio or http, got {transport!r}")
    token = read_token(token, token_file)
    if transport == "http":
        check_token_setup(host, token)
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise UsageError(f"--data-dir {data_dir} is not a directory")
    data_dir.mkdir(parents=True, exist_ok=True)
    wait_s = quick_seconds(quick_s)
    manager = JobManager(data_dir.resolve(), db_url=db, workers=workers)
    manager.start()
    try:
        server = build_server(manager, quick_s=wait_s)
        if transport == "stdio":
            _run_stdio(server)
        else:
            import uvicorn

            print(f"genolm MCP server at http://{host}:{port}/mcp (data {data_dir})", file=sys.stderr, flush=True)
            app = http_app(server, host, token)
            # open SSE streams must not hold a SIGTERM'd server forever
            uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        manager.stop()


def _run_stdio(server: Server[Any]) -> None:
    import anyio
    from mcp.server.stdio import stdio_server

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)
