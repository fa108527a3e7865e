"""A job's process: output tee'd into its log, its last error line, its progress file, killing its group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

KILL_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
KEEP_BYTES = 8192  # the most stdout kept as a job's summary (a line or a few; the log has it all)
LOG_MAX_BYTES = 64 << 20  # a job's log stops growing here (a runaway job must not fill the disk)
_BOX = "│╭╮╰╯─┃━┏┓┗┛ \t\r\n"  # rich's error-panel borders around a usage error


def read_progress(path: Path) -> dict | None:
    """The latest bar a job wrote (``GENOLM_PROGRESS_FILE``) as {"desc", "n", "total", "fraction"}."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(d, dict):
        return None
    n, total = d.get("n") or 0, d.get("total")
    fraction = min(1.0, n / total) if isinstance(total, (int, float)) and total > 0 else None
    return {"desc": str(d.get("desc") or ""), "n": int(n), "total": total, "fraction": fraction}


def list_files(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink())


class JobLog:
    """A job's log file shared by its stdout and stderr readers, capped at LOG_MAX_BYTES."""

    def __init__(self, fh):
        self.fh, self.lock, self.written, self.truncated = fh, threading.Lock(), 0, False

    def write(self, line: bytes) -> None:
        with self.lock:
            if self.written + len(line) > LOG_MAX_BYTES:
                if not self.truncated:
                    self.fh.write(b"[genolm: log truncated]\n")
                    self.fh.flush()
                self.truncated = True
                return
            self.written += len(line)
            self.fh.write(line)
            self.fh.flush()


def tee(pipe, log: JobLog, keep, rewrites: list[tuple[bytes, bytes]]) -> None:
    """Copy a child's pipe into the log line by line (data-dir paths made relative), keeping them in ``keep``."""
    kept = 0
    for line in iter(lambda: pipe.readline(65536), b""):  # a line without a newline is read in pieces
        for old, new in rewrites:
            line = line.replace(old, new)
        log.write(line)
        kept += len(line)
        if isinstance(keep, list) and kept > KEEP_BYTES:
            continue  # a summary is a line or a few: keep the first 8 KB of stdout
        keep.append(line)
    pipe.close()


def last_error(lines) -> str | None:
    """The last meaningful stderr line: a ``genolm: error:`` line if any, else the last non-decoration line."""
    text = [ln.decode("utf-8", "replace").strip(_BOX) for ln in lines]
    text = [t for t in text if t]
    for t in reversed(text):
        if t.startswith("genolm: error:"):
            return t
    return text[-1] if text else None


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    if lines <= 0:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * max(1, lines)))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the job's process group, SIGKILL it if still alive after KILL_GRACE_S."""
    signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGKILL)


def kill_orphan(pid: int | None, progress_file: Path) -> None:
    """After a crash, stop a job process still running from the previous server (only if it is that job's)."""
    if not pid:
        return
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return
    if f"GENOLM_PROGRESS_FILE={progress_file}".encode() in environ.split(b"\x00"):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# Several servers (a REST API and an MCP server) may share one data dir and job store. Each started manager holds an
# exclusive lock on .genolm/managers/<pid>.lock while it lives; at start() a "running" job is recovered only when the
# process that runs it is gone or no live manager is its parent.
def _manager_lock_path(data_dir: Path, pid: int) -> Path:
    return data_dir / ".genolm" / "managers" / f"{pid}.lock"


def hold_manager_lock(data_dir: Path):
    """Take this process's manager lock (held until :func:`release_manager_lock`)."""
    import fcntl

    path = _manager_lock_path(data_dir, os.getpid())
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "w")  # noqa: SIM115 (held while the manager runs)
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def release_manager_lock(data_dir: Path, f) -> None:
    if f is not None:
        _manager_lock_path(data_dir, os.getpid()).unlink(missing_ok=True)
        f.close()


def run_by_live_manager(data_dir: Path, job_pid: int | None) -> bool:
    """True when the job process ``job_pid`` is alive and its parent is another started manager of this data dir."""
    if not job_pid:
        return False
    if job_pid != os.getpid() and _locked(_manager_lock_path(data_dir, job_pid)):
        return True  # the job's manager itself, between taking the job and starting its process
    try:
        ppid = int(Path(f"/proc/{job_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    return ppid != os.getpid() and _locked(_manager_lock_path(data_dir, ppid))


def _locked(lock: Path) -> bool:
    """True when a live manager holds ``lock`` (a free lock file is a manager that is gone)."""
    import fcntl

    if not lock.exists():
        return False
    try:
        with open(lock) as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
