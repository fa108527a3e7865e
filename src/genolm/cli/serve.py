"""`genolm serve llm`: an OpenAI-compatible server for a genolm text LM."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Servers (OpenAI-compatible LLM API).", no_args_is_help=True)


@app.command("llm")
def llm(
    model: Path = typer.Option(..., "--model", help="Text LM run directory (lit textlm train) or HF causal-LM folder."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for all)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model id the API reports (default: the folder name)."),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", envvar="GENOLM_LLM_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1 routes."
    ),
) -> None:
    """Serve /v1/models, /v1/completions, /v1/chat/completions (SSE streaming) and /v1/embeddings."""
    from genolm.serve.llm_server import serve

    typer.echo(f"serving {model} at http://{host}:{port}/v1", err=True)
    serve(str(model), host=host, port=port, model_name=name, api_key=api_key)
