"""A job's process: output tee'd into its log, its last error line, its progress file, killing its group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

KILL_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
KEEP_BYTES = 1 << 20  # the most stdout kept as a job's summary
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


def tee(pipe, log, lock: threading.Lock, keep, rewrites: list[tuple[bytes, bytes]]) -> None:
    """Copy a child's pipe into the log line by line (data-dir paths made relative), keeping them in ``keep``."""
    kept = 0
    for line in iter(pipe.readline, b""):
        for old, new in rewrites:
            line = line.replace(old, new)
        with lock:
            log.write(line)
            log.flush()
        kept += len(line)
        if isinstance(keep, list) and kept > KEEP_BYTES:
            continue  # a summary is a line or a few: keep the first MiB of stdout
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
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * max(1, lines)))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-max(0, lines) :])


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
