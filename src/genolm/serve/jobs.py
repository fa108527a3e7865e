"""Jobs: registry tasks run as CLI subprocesses by a worker pool, their state in a SQL job store.

A job is exactly the command line ``python -m genolm.cli.main *task.argv(params)``, so a job's files are
byte-identical to the CLI's. It runs in ``data_dir/jobs/<id>.partial`` (outputs are relative names there,
inputs absolute paths confined to the data dir), its stdout and stderr go to ``jobs/<id>.log`` and its
progress bars to ``jobs/<id>.progress`` (``GENOLM_PROGRESS_FILE``). On success the folder is renamed to
``jobs/<id>`` in one step, so a result is never half-visible; a failed job's files stay in ``<id>.failed``
(never served) and its error is the command's last meaningful stderr line (``genolm: error: ...``).

The store (:mod:`genolm.serve.jobs_store`) is SQLite in ``data_dir/.genolm/jobs.db`` by default, or any
SQLAlchemy URL (PostgreSQL). A new :class:`JobManager` over the same store recovers: jobs that were running
are failed ("server restarted while the job ran"), queued ones run again in creation order. So one started
manager owns a store at a time; any number of others (another process) may read it, submit to it (their jobs
wait for the owner's next start) and cancel its jobs (a running job's supervisor sees the request within 1 s).
"""

from __future__ import annotations

import collections
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genolm.core import registry
from genolm.serve.jobs_process import (
    hold_manager_lock,
    release_manager_lock,
    run_by_live_manager,
    KILL_GRACE_S,
    JobLog,
    kill_group,
    kill_orphan,
    last_error,
    list_files,
    read_progress,
    signal_group,
    tail,
    tee,
)
from genolm.serve.jobs_store import FINAL_STATES, JobStore, now_iso
from genolm.serve.paths import PathError, confine, output_name

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
HF_PARAMS = {"model", "init", "encoder", "oracle", "feedback"}  # "hf:<id>" is resolved by the hub loader
RESTART_ERROR = "server restarted while the job ran"
STOP_ERROR = "server stopped while the job ran"
JOB_ID = re.compile(r"^[0-9a-f]{16}$")  # a job id (secrets.token_hex(8)); anything else is not a job


@dataclass
class Job:
    """One job as the store holds it (times ISO-8601 UTC); ``progress`` is the latest bar of a running job."""

    id: str
    task: str
    params: dict
    state: str
    created: str
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    summary: str = ""
    owner: str | None = None
    progress: dict | None = None
    files: list[str] | None = field(default=None, repr=False)  # result paths, once succeeded

    def to_json(self) -> dict:
        d = {
            "id": self.id,
            "task": self.task,
            "params": self.params,
            "state": self.state,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "error": self.error,
            "summary": self.summary,
            "owner": self.owner,
            "progress": self.progress,
        }
        if self.state == "succeeded":
            d["files"] = list(self.files or [])
        return d


class QueueFull(RuntimeError):
    """More queued jobs than ``queue_size``: a 429 for REST."""


@dataclass
class _Running:
    cancel: threading.Event = field(default_factory=threading.Event)
    proc: subprocess.Popen | None = None


class JobManager:
    """Submit, follow, cancel and serve the files of jobs; ``start()`` before jobs run, ``stop()`` at shutdown."""

    def __init__(
        self,
        data_dir: Path,
        db_url: str | None = None,
        workers: int = 2,
        queue_size: int = 64,
        job_timeout_s: float | None = None,
        *,
        table: str = "genolm_jobs",
    ):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.data_dir = Path(data_dir).resolve()
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.workers, self.queue_size, self.job_timeout_s = int(workers), int(queue_size), job_timeout_s
        self.store = JobStore(db_url, self.data_dir / ".genolm" / "jobs.db", table=table)
        self._queue: queue.Queue[str | None] = queue.Queue()  # bounded by queue_size in submit()
        self._submit_lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._running_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # --- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Recover the store (running -> failed, queued -> re-queued in order), then start the workers."""
        if self._threads:
            return
        self._stopping.clear()
        self._lock_file = hold_manager_lock(self.data_dir)
        for row in self.store.list(state="running", limit=0):
            if run_by_live_manager(self.data_dir, row.get("pid")):
                continue  # another started server on this data dir runs it: not ours to recover
            kill_orphan(row.get("pid"), self._progress_path(row["id"]))
            if self.store.transition(row["id"], "running", state="failed", error=RESTART_ERROR, finished=now_iso()):
                self._move_partial(row["id"], ".failed")
        with self._submit_lock:  # the store is the truth: ids submitted before start() are re-read from it
            self._queue = queue.Queue()
            for row in self.store.list(state="queued", limit=0, oldest_first=True):
                self._queue.put(row["id"])
        for i in range(self.workers):
            t = threading.Thread(target=self._worker, name=f"genolm-job-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop the workers; running jobs are terminated and failed, queued ones stay queued for the next start."""
        self._stopping.set()  # each worker's supervisor kills its job's process group within 0.2 s
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=KILL_GRACE_S + 5)
        self._threads = []
        # the sentinels (and ids nobody took) are dropped: queued jobs are re-read from the store at start()
        self._queue = queue.Queue()
        release_manager_lock(self.data_dir, getattr(self, "_lock_file", None))
        self._lock_file = None

    def __enter__(self) -> JobManager:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- submitting ------------------------------------------------------------------------------------
    def submit(self, task: str, params: dict, owner: str | None = None) -> Job:
        """Validate and queue a job. KeyError (unknown task), ParamError, PathError, QueueFull."""
        t = registry.get(task)
        if t.cli_only:
            raise KeyError(f"task {task!r} is not offered as a job (command line only)")
        validated = self.prepare(t, params)
        job_id = secrets.token_hex(8)
        row = {"id": job_id, "task": t.name, "params": validated, "state": "queued", "created": now_iso()}
        row.update(summary="", owner=owner, cancel_requested=False)
        with self._submit_lock:
            if self.store.count("queued") >= self.queue_size:
                raise QueueFull(f"the job queue is full ({self.queue_size} jobs waiting); retry later")
            self.store.insert(row)
            self._queue.put(job_id)
        return self._job(self.store.get(job_id))  # type: ignore[arg-type]

    def prepare(self, t: registry.Task, params: dict) -> dict:
        """``params`` validated, output names checked (defaults filled), input paths confined to the data dir.

        Input paths are kept as the client gave them (data-dir relative); at run time they are given relative to
        the job's directory (:meth:`_runtime_params`).
        """
        if isinstance(params, dict):
            params = dict(params)
            for p in t.params:
                if p.path == "out" and p.required and not p.is_list and params.get(p.key) is None:
                    params[p.key] = output_name(None, p)
        v = t.validate(params)
        v = _map_files(t, v, "out", output_name)
        _map_files(t, v, "in", self._input_path)  # refuses what a job may not read
        return json.loads(json.dumps(v, default=str))

    def _input_path(self, value: str, p: registry.Param) -> str:
        if value in p.keywords:  # a name the task knows (`--model jaspar`), not a file
            return value
        if value.startswith("hf:") and (p.name in HF_PARAMS or p.key in HF_PARAMS):
            if "\x00" in value or len(value) < 4:
                raise PathError(p.key, "bad hub id")
            return value
        path = confine(self.data_dir, value, param=p.key)
        rel = path.relative_to(self.data_dir).parts
        if rel and rel[0] == "jobs" and (len(rel) < 2 or not JOB_ID.fullmatch(rel[1])):
            # only a job's results (jobs/<id> or jobs/<id>/...), never another job's log, partial or failed files
            raise PathError(p.key, "inside jobs/, only a job's results (jobs/<id>/<file>) can be inputs")
        return str(path)

    # --- reading ---------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            return None
        row = self.store.get(job_id)
        return self._job(row) if row else None

    def list(self, owner: str | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first (``owner`` None: everyone's)."""
        return [self._job(r) for r in self.store.list(owner=owner, limit=max(1, int(limit)))]

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job reaches a final state or ``timeout`` seconds pass; the job as it is then."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            job = self.get(job_id)
            if job is None:
                raise KeyError(f"unknown job {job_id!r}")
            if job.state in FINAL_STATES or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.5)

    def log_tail(self, job_id: str, lines: int = 40) -> str:
        """The last ``lines`` lines of the job's log (stdout and stderr); '' before it started."""
        if not JOB_ID.fullmatch(job_id or ""):
            return ""
        return tail(self.jobs_dir / f"{job_id}.log", lines)

    def job_dir(self, job_id: str) -> Path:
        """``data_dir/jobs/<id>``: the job's results, present once it succeeded."""
        if not JOB_ID.fullmatch(job_id or ""):
            raise FileNotFoundError(f"unknown job {job_id!r}")
        return self.jobs_dir / job_id

    def files(self, job_id: str) -> list[str]:
        """Result files, posix paths relative to the job dir; [] unless the job succeeded."""
        job = self.get(job_id)
        if job is None or job.state != "succeeded":
            return []
        return list_files(self.job_dir(job_id))

    def file_path(self, job_id: str, rel: str) -> Path:
        """A result file of a succeeded job (confined to its folder); FileNotFoundError otherwise."""
        job = self.get(job_id)
        if job is None or job.state != "succeeded":
            raise FileNotFoundError(f"job {job_id!r} has no results")
        root = self.job_dir(job_id)
        try:
            p = confine(root, rel, param="path")
        except PathError as e:
            raise FileNotFoundError(str(e)) from None
        if not p.is_file():
            raise FileNotFoundError(f"job {job_id} has no file {rel!r}")
        return p

    # --- cancelling ------------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> Job | None:
        """Cancel: a queued job at once; a running one by killing its process group (SIGTERM, then SIGKILL)."""
        job = self.get(job_id)
        if job is None:
            return None
        if job.state == "queued" and self.store.transition(job_id, "queued", state="cancelled", finished=now_iso()):
            return self.get(job_id)
        if job.state in ("queued", "running"):
            self.store.transition(job_id, "running", cancel_requested=True)  # seen by a worker in another process
            with self._running_lock:
                r = self._running.get(job_id)
            if r is not None:
                r.cancel.set()
                if r.proc is not None:
                    signal_group(r.proc, signal.SIGTERM)
                return self.wait(job_id, timeout=KILL_GRACE_S + 5)
        return self.get(job_id)

    # --- the workers -----------------------------------------------------------------------------------
    def _worker(self) -> None:
        while not self._stopping.is_set():
            try:
                job_id = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if job_id is None or self._stopping.is_set():
                break
            entry = _Running()
            with self._running_lock:
                if job_id in self._running:  # already taken by another worker of this manager
                    continue
                self._running[job_id] = entry
            try:
                self._run(job_id, entry)
            except Exception as e:  # a bug here must not kill the worker or leave the job running
                if entry.proc is not None and entry.proc.poll() is None:
                    kill_group(entry.proc)  # never a job process left running unsupervised
                self.store.transition(
                    job_id, ("queued", "running"), state="failed", error=f"internal error: {e}", finished=now_iso()
                )
            finally:
                with self._running_lock:
                    self._running.pop(job_id, None)

    def _run(self, job_id: str, entry: _Running) -> None:
        row = self.store.get(job_id)
        if row is None or row["state"] != "queued":
            return
        # pid = this manager until the job process exists: a manager starting meanwhile sees a live owner
        if not self.store.transition(job_id, "queued", state="running", started=now_iso(), pid=os.getpid()):
            return  # cancelled (or taken by another process) meanwhile
        partial = self.jobs_dir / f"{job_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self._progress_path(job_id).unlink(missing_ok=True)
        try:
            task = registry.get(row["task"])
            argv = task.argv(self._runtime_params(task, row["params"], partial))
        except (KeyError, ValueError) as e:
            self._finish(job_id, "failed", error=str(e).strip("'\""), partial=partial)
            return
        env = dict(os.environ, GENOLM_PROGRESS_FILE=str(self._progress_path(job_id)), PYTHONUNBUFFERED="1")
        env["GENOLM_JOB_ID"] = job_id
        with open(self.jobs_dir / f"{job_id}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "genolm.cli.main", *argv],
                cwd=partial,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own process group: cancel kills the whole tree
            )
            entry.proc = proc
            self.store.update(job_id, pid=proc.pid)
            joblog, rewrites = JobLog(log), self._path_rewrites(job_id)
            out: list[bytes] = []
            err: collections.deque[bytes] = collections.deque(maxlen=200)
            readers = [
                threading.Thread(target=tee, args=(proc.stdout, joblog, out, rewrites), daemon=True),
                threading.Thread(target=tee, args=(proc.stderr, joblog, err, rewrites), daemon=True),
            ]
            for t in readers:
                t.start()
            reason = self._supervise(job_id, proc, entry)
            for t in readers:
                t.join(timeout=10)
        rc = proc.returncode
        if reason is None and rc != 0:  # it died of cancel()'s signal before its supervisor saw the request
            reason = "cancelled" if entry.cancel.is_set() else "stopped" if self._stopping.is_set() else None
        if reason == "cancelled":
            self._finish(job_id, "cancelled", partial=partial)
        elif reason == "timeout":
            self._finish(job_id, "failed", error=f"timed out after {self.job_timeout_s:g}s", partial=partial)
        elif reason == "stopped":
            self._finish(job_id, "failed", error=STOP_ERROR, partial=partial)
        elif rc == 0:
            summary = b"".join(out).decode("utf-8", "replace").strip()
            self._finish(job_id, "succeeded", summary=summary, partial=partial)
        else:
            error = last_error(err) or (f"killed by signal {-rc}" if rc < 0 else f"exited with status {rc}")
            summary = b"".join(out).decode("utf-8", "replace").strip()
            self._finish(job_id, "failed", error=error, summary=summary, partial=partial)

    def _supervise(self, job_id: str, proc: subprocess.Popen, entry: _Running) -> str | None:
        """Wait for the process; kill its group on cancel, timeout or stop. The reason it was killed, if any."""
        t0 = time.monotonic()
        next_db_check = t0 + 1.0
        reason = None
        while True:
            try:
                proc.wait(timeout=0.2)
                return reason
            except subprocess.TimeoutExpired:
                pass
            if reason is not None:
                continue
            now = time.monotonic()
            if now >= next_db_check:
                next_db_check = now + 1.0
                row = self.store.get(job_id)
                if row is not None and row["cancel_requested"]:
                    entry.cancel.set()
            if entry.cancel.is_set():
                reason = "cancelled"
            elif self.job_timeout_s is not None and now - t0 > self.job_timeout_s:
                reason = "timeout"
            elif self._stopping.is_set():
                reason = "stopped"
            if reason is not None:
                threading.Thread(target=kill_group, args=(proc,), daemon=True).start()

    def _finish(self, job_id: str, state: str, *, partial: Path, error: str | None = None, summary: str = "") -> None:
        for old, new in self._path_rewrites(job_id):  # (the log lines were rewritten as they came)
            error = error.replace(old.decode(), new.decode()) if error else error
        values: dict[str, Any] = {"state": state, "finished": now_iso(), "error": error, "summary": summary}
        if state == "succeeded":
            final = self.jobs_dir / job_id
            shutil.rmtree(final, ignore_errors=True)
            os.replace(partial, final)  # one rename: the results appear complete or not at all
            if not self.store.transition(job_id, "running", **values):
                os.replace(final, self.jobs_dir / f"{job_id}.failed")  # the row was failed meanwhile (recovery)
            return
        if state == "cancelled":
            shutil.rmtree(partial, ignore_errors=True)
        else:
            self._move_partial(job_id, ".failed")
        self.store.transition(job_id, "running", **values)

    def _runtime_params(self, task: registry.Task, params: dict, partial: Path) -> dict:
        """Input paths confined again and given relative to the job dir (``../../data/x.fa``: a result that records
        its input names no server path), output folders created inside the job dir."""
        run = _map_files(task, params, "in", lambda x, p: self._relative_input(p, x, partial))
        for p, x in _file_values(task, run, "out"):
            (partial / x).parent.mkdir(parents=True, exist_ok=True)
        return run

    def _relative_input(self, p: registry.Param, value: str, cwd: Path) -> str:
        resolved = self._input_path(value, p)
        if resolved == value and not os.path.isabs(value):  # a keyword or hub id
            return value
        return os.path.relpath(resolved, cwd)

    # --- helpers ---------------------------------------------------------------------------------------
    def _path_rewrites(self, job_id: str) -> list[tuple[bytes, bytes]]:
        """Server paths in a job's log, error and summary said as clients name them (data-dir relative)."""
        root = f"{self.data_dir}{os.sep}"
        return [
            (f"{root}jobs/{job_id}.partial".encode(), f"jobs/{job_id}".encode()),
            (root.encode(), b""),
            (b"../../", b""),  # inputs are given relative to jobs/<id>.partial: ../../X is the data dir's X
        ]

    def _progress_path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.progress"

    def _move_partial(self, job_id: str, suffix: str) -> None:
        partial = self.jobs_dir / f"{job_id}.partial"
        if partial.exists():
            target = self.jobs_dir / f"{job_id}{suffix}"
            shutil.rmtree(target, ignore_errors=True)
            os.replace(partial, target)

    def _job(self, row: dict) -> Job:
        job = Job(**{k: row.get(k) for k in ("id", "task", "params", "state", "created", "started", "finished")})
        job.error, job.summary, job.owner = row.get("error"), row.get("summary") or "", row.get("owner")
        if job.state != "queued":
            job.progress = read_progress(self._progress_path(job.id))
        if job.state == "succeeded":
            job.files = list_files(self.jobs_dir / job.id)
        return job


def _file_values(task: registry.Task, params: dict, kind: str):
    """(param, value) for every value of the ``kind`` ("in"/"out") file parameters set in ``params``."""
    for p in task.params:
        val = params.get(p.key)
        if val is not None and p.path == kind:
            for x in val if isinstance(val, list) else [val]:
                yield p, str(x)


def _map_files(task: registry.Task, params: dict, kind: str, fn) -> dict:
    """``params`` with ``fn(value, param)`` applied to each value of its ``kind`` file parameters (lists kept)."""
    out = dict(params)
    for p in task.params:
        val = out.get(p.key)
        if val is not None and p.path == kind:
            done = [fn(str(x), p) for x in (val if isinstance(val, list) else [val])]
            out[p.key] = done if isinstance(val, list) else done[0]
    return out
