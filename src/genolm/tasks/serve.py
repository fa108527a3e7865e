"""`genolm serve llm`: an OpenAI-compatible server for a genolm text LM."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from genolm.core.registry import Opt, group, task

group("serve", help="Servers: the REST API + web UI, the MCP server, an OpenAI-compatible LLM API.")


@task("serve.llm", cli_only=True)
def llm(
    model: Path = Opt(..., "--model", help="Text LM run directory (lit textlm train) or HF causal-LM folder."),
    port: int = Opt(8000, "--port", min=1, max=65535),
    host: str = Opt("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for all)."),
    name: Optional[str] = Opt(None, "--name", help="Model id the API reports (default: the folder name)."),
    api_key: Optional[str] = Opt(
        None, "--api-key", envvar="GENOLM_LLM_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1 routes."
    ),
) -> None:
    """Serve /v1/models, /v1/completions, /v1/chat/completions (SSE streaming) and /v1/embeddings."""
    from genolm.serve.llm_server import serve

    import sys

    print(f"serving {model} at http://{host}:{port}/v1", file=sys.stderr)
    serve(str(model), host=host, port=port, model_name=name, api_key=api_key)


@task("serve.api", cli_only=True)
def api(
    host: str = Opt("127.0.0.1", "--host", help="Interface to bind; anything but loopback requires a token."),
    port: int = Opt(8000, "--port", min=1, max=65535),
    token: Optional[str] = Opt(
        None, "--token", envvar="GENOLM_API_TOKEN", help="Require 'Authorization: Bearer TOKEN' (or use --token-file)."
    ),
    token_file: Optional[Path] = Opt(None, "--token-file", metavar="FILE", help="File holding the token (one line)."),
    db: Optional[str] = Opt(
        None, "--db", metavar="URL", help="Job store: a SQLAlchemy URL (default: sqlite in DATA_DIR/.genolm/jobs.db)."
    ),
    workers: int = Opt(2, "--workers", min=1, max=64, help="Jobs run at once (each is a genolm process)."),
    data_dir: Path = Opt(
        Path("."), "--data-dir", metavar="DIR", help="Inputs are read from here; job outputs go to DIR/jobs/ID/."
    ),
    queue_size: int = Opt(64, "--queue-size", min=1, max=100_000, help="Queued jobs beyond this are refused (429)."),
    rate_limit: Optional[float] = Opt(
        None, "--rate-limit", metavar="REQ/S", min=0, help="Requests per second per token (default 200; 0 = off)."
    ),
    request_timeout: Optional[float] = Opt(
        None, "--request-timeout", metavar="SECONDS", min=0.1, help="Time limit of a synchronous request (default 60)."
    ),
    max_upload_mb: Optional[float] = Opt(
        None, "--max-upload-mb", metavar="MB", min=0.001, help="Largest upload accepted (default 1000)."
    ),
) -> None:
    """Serve the REST API (jobs, synchronous predict/score, result files with Range), the web UI at / and /docs."""
    from genolm.serve.api import serve

    serve(
        host=host,
        port=port,
        token=token,
        token_file=token_file,
        db=db,
        workers=workers,
        data_dir=data_dir,
        queue_size=queue_size,
        rate_limit=rate_limit,
        request_timeout=request_timeout,
        max_upload_mb=max_upload_mb,
    )


@task("serve.mcp", cli_only=True)
def mcp(
    transport: str = Opt("stdio", "--transport", metavar="stdio|http", help="stdio (for a desktop assistant) or http."),
    host: str = Opt("127.0.0.1", "--host", help="For --transport http; anything but loopback requires a token."),
    port: int = Opt(8001, "--port", min=1, max=65535, help="For --transport http."),
    token: Optional[str] = Opt(None, "--token", envvar="GENOLM_API_TOKEN", help="Bearer token for --transport http."),
    token_file: Optional[Path] = Opt(None, "--token-file", metavar="FILE", help="File holding the token (one line)."),
    db: Optional[str] = Opt(None, "--db", metavar="URL", help="Job store URL (default: sqlite in DATA_DIR)."),
    workers: int = Opt(2, "--workers", min=1, max=64, help="Jobs run at once."),
    data_dir: Path = Opt(
        Path("."), "--data-dir", metavar="DIR", help="Inputs are read from here; outputs in DIR/jobs/."
    ),
    quick_s: Optional[float] = Opt(
        None,
        "--quick-s",
        metavar="SECONDS",
        min=0,
        help="How long a tool call waits for its job before returning the job id (default 20, or $GENOLM_MCP_QUICK_S).",
    ),
) -> None:
    """Serve every genolm task as an MCP tool (long ones as jobs with progress), run files as resources."""
    from genolm.serve.mcp_server import serve

    serve(
        transport=transport,
        host=host,
        port=port,
        token=token,
        token_file=token_file,
        db=db,
        workers=workers,
        data_dir=data_dir,
        quick_s=quick_s,
    )
