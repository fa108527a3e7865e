"""The REST API: every registry task as a job, synchronous predict/score, result files with Range, the web UI.

    genolm serve api --host 0.0.0.0 --port 8000 --token-file token.txt --data-dir /srv/genolm

Routes (all ``/v1`` routes but ``/v1/health`` need ``Authorization: Bearer TOKEN`` when a token is set):

- ``GET /v1/health``, ``GET /v1/tasks``, ``GET /v1/tasks/{name}`` (name, description, JSON schema);
- ``POST /v1/jobs/{task}`` (JSON parameters, as the CLI's options with underscores) -> 202 + the job;
  ``GET /v1/jobs``, ``GET /v1/jobs/{id}`` (+ ``log_tail``), ``DELETE /v1/jobs/{id}`` (cancel),
  ``GET /v1/jobs/{id}/log``, ``GET /v1/jobs/{id}/files``, ``GET /v1/jobs/{id}/files/{path}`` (Range);
- ``POST /v1/uploads`` (multipart ``file``) -> ``{"path": "uploads/<id>/<name>"}``;
  ``GET /v1/data/{path}``: a data-dir file with Range (a job's reference FASTA + .fai for igv.js);
- ``POST /v1/predict`` and ``POST /v1/crispr/score``: a few sequences, answered at once;
- the web UI at ``/`` and the OpenAPI docs at ``/docs``.

Errors are JSON ``{"error": "...", ...}``: 401 token, 404 unknown task/job/file, 413 too large, 422 a bad
parameter or path (with ``param``), 429 rate limit or full queue (``Retry-After``), 504 a slow synchronous call.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import secrets
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from genolm.core import registry
from genolm.io.errors import UsageError
from genolm.serve.api_security import APIError, BodyTooLarge, GuardMiddleware, Limits, check_token_setup
from genolm.serve.api_sync import SyncService
from genolm.serve.jobs import JOB_ID, JobManager, QueueFull
from genolm.serve.paths import PathError, confine

log = logging.getLogger("genolm.serve")
STATIC_DIR = Path(__file__).parent / "static"
_UPLOAD_NAME = re.compile(r"[^A-Za-z0-9._-]+")
EXPOSED = ["Content-Range", "Content-Length", "Accept-Ranges", "Content-Encoding", "ETag", "Retry-After"]


def _version() -> str:
    try:
        import genolm

        return str(getattr(genolm, "__version__", "0"))
    except Exception:  # pragma: no cover - the package is importable whenever this module is
        return "0"


def _task_json(t: registry.Task) -> dict:
    return {"name": t.name, "description": t.summary, "help": t.help, "schema": t.json_schema()}


async def read_json(request: Request) -> Any:
    """The request body as JSON (the size limit is enforced while it streams); 422 when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise APIError(422, f"the body is not valid JSON ({e})") from None


def _media_type(path: Path) -> str:
    kind, encoding = mimetypes.guess_type(path.name)
    if encoding:  # .gz/.bgz: served as the bytes they are, never re-encoded
        return "application/gzip" if encoding == "gzip" else "application/octet-stream"
    if kind:
        return kind
    text = {".tsv", ".vcf", ".bed", ".bedgraph", ".gff", ".gff3", ".gtf", ".fa", ".fasta", ".fai", ".md", ".log"}
    return "text/plain; charset=utf-8" if path.suffix.lower() in text else "application/octet-stream"


def _file(path: Path) -> FileResponse:
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if path.suffix.lower() in (".html", ".htm", ".svg", ".xml"):
        # a report opened from the API runs in its own sandboxed origin: it cannot read the UI's token
        headers["Content-Security-Policy"] = "sandbox allow-scripts allow-popups"
    return FileResponse(path, media_type=_media_type(path), headers=headers)


def create_app(manager: JobManager, token: str | None = None, limits: Limits | None = None) -> FastAPI:
    """The FastAPI app over ``manager``; the caller starts the manager (or lets the app's lifespan do it)."""
    limits = limits or Limits()
    data_dir = Path(manager.data_dir).resolve()
    sync = SyncService(data_dir, limits)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await run_in_threadpool(manager.start)
        try:
            yield
        finally:
            await run_in_threadpool(manager.stop)

    app = FastAPI(
        title="genolm REST API",
        version=_version(),
        description="Every genolm task as a job, synchronous predict/score, result files with HTTP Range.",
        lifespan=lifespan,
    )
    app.state.manager, app.state.limits, app.state.sync = manager, limits, sync

    # --- errors: always JSON, never a traceback ---------------------------------------------------------
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError):
        return JSONResponse(exc.body(), status_code=exc.status, headers={k: str(v) for k, v in exc.headers.items()})

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge):
        return JSONResponse({"error": f"request body over {exc.limit:,} bytes", "limit": exc.limit}, status_code=413)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return JSONResponse({"error": detail.lower() if detail == "Not Found" else detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("body", "path", "query"))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'bad value')}", "param": where}, status_code=422)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal server error (see the server log)"}, status_code=500)

    # --- tasks ----------------------------------------------------------------------------------------
    @app.get("/v1/health")
    def health() -> dict:
        return {"status": "ok", "version": _version()}

    @app.get("/v1/tasks")
    def tasks() -> list:
        return [_task_json(t) for t in registry.tasks()]

    @app.get("/v1/tasks/{name}")
    def task_info(name: str) -> dict:
        return _task_json(_offered(name))

    # --- jobs -----------------------------------------------------------------------------------------
    @app.post("/v1/jobs/{task}", status_code=202)
    async def submit(task: str, request: Request):
        _offered(task)
        params = await read_json(request)
        try:
            job = await run_in_threadpool(manager.submit, task, params)
        except KeyError as e:
            raise APIError(404, str(e.args[0]) if e.args else "unknown task") from None
        except registry.ParamError as e:
            raise APIError(422, str(e), param=e.param) from None
        except PathError as e:
            raise APIError(422, str(e), param=e.param) from None
        except QueueFull as e:
            raise APIError(429, str(e), headers={"Retry-After": 5}) from None
        return JSONResponse(job.to_json(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})

    @app.get("/v1/jobs")
    def list_jobs(limit: int = 100) -> dict:
        limit = max(1, min(int(limit), 1000))
        return {"jobs": [j.to_json() for j in manager.list(limit=limit)]}

    @app.get("/v1/jobs/{job_id}")
    def get_job(job_id: str, lines: int = 40) -> dict:
        job = _job(job_id)
        return {**job.to_json(), "log_tail": _log_tail(manager, job.id, max(0, min(int(lines), 1000)))}

    @app.delete("/v1/jobs/{job_id}")
    def cancel_job(job_id: str) -> dict:
        _job(job_id)
        job = manager.cancel(job_id)
        if job is None:
            raise APIError(404, f"unknown job {job_id!r}")
        return job.to_json()

    @app.get("/v1/jobs/{job_id}/log", response_class=PlainTextResponse)
    def job_log(job_id: str, lines: int = 200) -> str:
        _job(job_id)
        return _log_tail(manager, job_id, max(1, min(int(lines), 100_000)))

    @app.get("/v1/jobs/{job_id}/files")
    def job_files(job_id: str) -> dict:
        job = _job(job_id)
        return {"id": job.id, "state": job.state, "files": manager.files(job_id)}

    @app.api_route("/v1/jobs/{job_id}/files/{path:path}", methods=["GET", "HEAD"])
    def job_file(job_id: str, path: str):
        job = _job(job_id)
        if job.state != "succeeded":
            raise APIError(404, f"job {job_id} is {job.state}: no result files yet", state=job.state)
        try:
            return _file(manager.file_path(job_id, path))
        except FileNotFoundError:
            raise APIError(404, f"job {job_id} has no file {path!r}", param="path") from None

    # --- data dir: uploads and server-side files ----------------------------------------------------------
    @app.post("/v1/uploads", status_code=201)
    async def upload(request: Request):
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise APIError(422, "send the file as multipart/form-data with the field 'file'", param="file")
        try:
            form = await request.form(max_files=1, max_fields=10)
        except BodyTooLarge:
            raise
        except Exception as e:  # a malformed multipart body is the client's mistake
            raise APIError(422, f"malformed multipart body ({e})", param="file") from None
        item = form.get("file")
        if item is None or isinstance(item, str) or not hasattr(item, "read"):
            raise APIError(422, "no 'file' field in the upload", param="file")
        name = _UPLOAD_NAME.sub("_", Path(item.filename or "upload").name).strip("._") or "upload"
        rel = f"uploads/{secrets.token_hex(8)}/{name[:200]}"
        await run_in_threadpool(_save_upload, item.file, data_dir / rel)
        await item.close()
        return JSONResponse({"path": rel, "size": (data_dir / rel).stat().st_size}, status_code=201)

    @app.api_route("/v1/data/{path:path}", methods=["GET", "HEAD"])
    def data_file(path: str):
        try:
            full = confine(data_dir, path, param="path")
        except PathError as e:
            raise APIError(422, str(e), param="path") from None
        rel = full.relative_to(data_dir).parts
        if rel and rel[0] == "jobs" and (len(rel) < 3 or not JOB_ID.fullmatch(rel[1])):
            raise APIError(404, f"no file {path!r} (job files are served once the job succeeded)", param="path")
        if not full.is_file():
            raise APIError(404, f"no file {path!r} in the data directory", param="path")
        return _file(full)

    # --- synchronous ----------------------------------------------------------------------------------
    @app.post("/v1/predict")
    async def predict(request: Request) -> dict:
        return await sync.predict(_object(await read_json(request)))

    @app.post("/v1/crispr/score")
    async def crispr_score(request: Request) -> dict:
        return await sync.crispr_score(_object(await read_json(request)))

    def _job(job_id: str):
        job = manager.get(job_id) if JOB_ID.fullmatch(job_id or "") else None
        if job is None:
            raise APIError(404, f"unknown job {job_id!r}")
        return job

    # --- the web UI (after the API routes, so it never shadows them) ------------------------------------
    if (STATIC_DIR / "index.html").is_file():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="ui")

    app.add_middleware(GuardMiddleware, token=token, limits=limits)
    if token is not None:
        # other origins (an igv.js page elsewhere) may read with the bearer token, which a page cannot
        # send without the user; without a token (loopback only) there is no CORS: only the UI's own pages
        app.add_middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_methods=["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Range", "If-Range"],
            expose_headers=EXPOSED,
            max_age=600,
        )
    return app


def _offered(name: str) -> registry.Task:
    try:
        t = registry.get(name)
    except KeyError as e:
        raise APIError(404, str(e.args[0]) if e.args else f"unknown task {name!r}") from None
    if t.cli_only:
        raise APIError(404, f"task {name!r} is not offered through the API (command line only)")
    return t


def _log_tail(manager: JobManager, job_id: str, lines: int) -> str:
    tail = getattr(manager, "log_tail", None) or getattr(manager, "logtail")  # contract name, then the short one
    return tail(job_id, lines)


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise APIError(422, "the body must be a JSON object")
    return body


def _save_upload(src, dest: Path) -> None:
    import shutil

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    with open(tmp, "wb") as f:
        shutil.copyfileobj(src, f, 1 << 20)
    tmp.replace(dest)


def read_token(token: str | None, token_file: Path | None) -> str | None:
    """The token from --token or --token-file (its first line); UsageError for an empty or unreadable one."""
    if token is not None and token_file is not None:
        raise UsageError("give --token or --token-file, not both")
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, UnicodeDecodeError, IndexError) as e:
            raise UsageError(f"cannot read a token from {token_file} ({e.__class__.__name__})") from None
    if token is not None:
        token = token.strip()
        if len(token) < 8:
            raise UsageError("the token must be at least 8 characters")
    return token


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    token_file: Path | None = None,
    db: str | None = None,
    workers: int = 2,
    data_dir: Path = Path("."),
    queue_size: int = 64,
    rate_limit: float | None = None,
    request_timeout: float | None = None,
    max_upload_mb: float | None = None,
) -> None:
    """Run the API with uvicorn until interrupted (``genolm serve api``); options override $GENOLM_API_* limits."""
    import dataclasses

    tok = read_token(token, token_file)
    check_token_setup(host, tok)
    limits = Limits.from_env()
    if rate_limit is not None:
        limits = dataclasses.replace(limits, rate=rate_limit)
    if request_timeout is not None:
        limits = dataclasses.replace(limits, timeout=request_timeout)
    if max_upload_mb is not None:
        limits = dataclasses.replace(limits, max_upload=int(max_upload_mb * 1_000_000))
    data = Path(data_dir)
    if data.exists() and not data.is_dir():
        raise UsageError(f"--data-dir {data} is not a directory")
    data.mkdir(parents=True, exist_ok=True)
    manager = JobManager(data, db_url=db, workers=workers, queue_size=queue_size)
    app = create_app(manager, token=tok, limits=limits)
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    print(
        f"genolm API at http://{host}:{port}/v1 (web UI /, docs /docs), data dir {data.resolve()}, "
        f"{'token required' if tok else 'no token (loopback only)'}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10, access_log=False)
