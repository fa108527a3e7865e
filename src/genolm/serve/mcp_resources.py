"""MCP resources: a job as JSON (``genolm://jobs/<id>``) and its result files (``.../files/<path>``).

Text files are served as text (UTF-8, byte for byte), everything else (gzip, safetensors, images) as a
base64 blob. Files are read from the succeeded job's directory only (``JobManager.file_path`` confines
the path), so a half-written or failed job is never readable.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from pathlib import Path
from urllib.parse import quote, unquote

import anyio.to_thread
import mcp_types as types
from mcp.shared.exceptions import MCPError

from genolm.serve.jobs import JobManager
from genolm.serve.paths import PathError

SCHEME = "genolm://jobs/"
RESOURCE_NOT_FOUND = -32002  # the MCP spec's code for an unknown resource
MAX_RESOURCE_BYTES = 32 * 1024 * 1024  # bigger files: use the REST API's Range reads
EMBED_MAX_BYTES = 64 * 1024  # a task's main output is embedded in the tool result up to this size
LIST_JOBS = 50  # resources/list shows the newest jobs...
LIST_FILES = 500  # ...and at most this many of their files

_MIME = {
    ".tsv": "text/tab-separated-values",
    ".csv": "text/csv",
    ".vcf": "text/x-vcf",
    ".fa": "text/x-fasta",
    ".fasta": "text/x-fasta",
    ".fai": "text/plain",
    ".bed": "text/plain",
    ".bedgraph": "text/plain",
    ".gff3": "text/plain",
    ".gff": "text/plain",
    ".gtf": "text/plain",
    ".md": "text/markdown",
    ".jsonl": "application/jsonl",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".log": "text/plain",
    ".txt": "text/plain",
    ".safetensors": "application/octet-stream",
    ".gz": "application/gzip",
    ".bgz": "application/gzip",
}
_BINARY_SUFFIXES = {".gz", ".bgz", ".tbi", ".csi", ".bai", ".bam", ".safetensors", ".npz", ".npy", ".png", ".pt"}

TEMPLATES = [
    types.ResourceTemplate(
        uri_template="genolm://jobs/{id}",
        name="job",
        description="A genolm job as JSON: task, parameters, state, progress, error, summary, result files.",
        mime_type="application/json",
    ),
    types.ResourceTemplate(
        uri_template="genolm://jobs/{id}/files/{path}",
        name="job file",
        description="A result file of a succeeded job (path relative to the job directory; '/' may be %2F).",
    ),
]


def job_uri(job_id: str) -> str:
    return SCHEME + job_id


def file_uri(job_id: str, rel: str) -> str:
    return f"{SCHEME}{job_id}/files/{quote(rel, safe='/')}"


def mime_type(rel: str) -> str:
    suffix = Path(rel).suffix.lower()
    return _MIME.get(suffix) or mimetypes.guess_type(rel)[0] or "application/octet-stream"


def read_text(path: Path, limit: int) -> str | None:
    """The file as UTF-8 text when it is text and at most ``limit`` bytes, else None."""
    if path.suffix.lower() in _BINARY_SUFFIXES or path.stat().st_size > limit:
        return None
    data = path.read_bytes()
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_uri(uri: str) -> tuple[str, str | None]:
    """``genolm://jobs/<id>`` -> (id, None); ``genolm://jobs/<id>/files/<path>`` -> (id, path)."""
    if not uri.startswith(SCHEME):
        raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource {uri!r} (expected genolm://jobs/<id>[/files/<path>])")
    job_id, sep, tail = uri[len(SCHEME) :].partition("/")
    if not job_id or (sep and not tail.startswith("files/")) or (sep and not tail[len("files/") :]):
        raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource {uri!r} (expected genolm://jobs/<id>[/files/<path>])")
    return job_id, unquote(tail[len("files/") :]) if sep else None


class McpResources:
    """resources/list, resources/templates/list and resources/read over a :class:`JobManager`."""

    def __init__(self, manager: JobManager):
        self.manager = manager

    async def list(self) -> list[types.Resource]:
        return await anyio.to_thread.run_sync(self._list_sync)

    def _list_sync(self) -> list[types.Resource]:
        out: list[types.Resource] = []
        n_files = 0
        for job in self.manager.list(limit=LIST_JOBS):
            out.append(
                types.Resource(
                    uri=job_uri(job.id),
                    name=f"job {job.id}",
                    description=f"{job.task} job, {job.state}" + (f": {job.summary}" if job.summary else ""),
                    mime_type="application/json",
                )
            )
            if job.state != "succeeded":
                continue
            for rel in self.manager.files(job.id):
                if n_files >= LIST_FILES:
                    break
                n_files += 1
                try:
                    size = self.manager.file_path(job.id, rel).stat().st_size
                except (FileNotFoundError, PathError):
                    continue
                out.append(
                    types.Resource(
                        uri=file_uri(job.id, rel),
                        name=f"{job.id}/{rel}",
                        description=f"result of {job.task} job {job.id}",
                        mime_type=mime_type(rel),
                        size=size,
                    )
                )
        return out

    async def read(self, uri: str) -> types.ReadResourceResult:
        return await anyio.to_thread.run_sync(self._read_sync, uri)

    def _read_sync(self, uri: str) -> types.ReadResourceResult:
        job_id, rel = parse_uri(uri)
        job = self.manager.get(job_id)
        if job is None:
            raise MCPError(RESOURCE_NOT_FOUND, f"unknown job {job_id!r}", {"uri": uri})
        if rel is None:
            data = job.to_json()
            data["log_tail"] = self.manager.log_tail(job_id, 20)
            text = json.dumps(data, indent=1)
            return types.ReadResourceResult(
                contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
            )
        if job.state != "succeeded":
            raise MCPError(RESOURCE_NOT_FOUND, f"job {job_id} is {job.state}: its files are served once it succeeded")
        try:
            path = self.manager.file_path(job_id, rel)
        except (FileNotFoundError, PathError, ValueError):
            raise MCPError(RESOURCE_NOT_FOUND, f"job {job_id} has no result file {rel!r}", {"uri": uri}) from None
        size = path.stat().st_size
        if size > MAX_RESOURCE_BYTES:
            raise MCPError(
                types.INVALID_PARAMS,
                f"{rel} is {size} bytes, over the {MAX_RESOURCE_BYTES // 2**20} MiB resource limit; "
                "fetch it from the REST API (GET /v1/jobs/<id>/files/<path>, with Range)",
            )
        mime = mime_type(rel)
        text = read_text(path, MAX_RESOURCE_BYTES)
        if text is not None:
            return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)])
        blob = base64.b64encode(path.read_bytes()).decode("ascii")
        return types.ReadResourceResult(contents=[types.BlobResourceContents(uri=uri, mime_type=mime, blob=blob)])
