"""Progress on stderr: a tqdm bar on a terminal, a few plain lines otherwise; ``--quiet`` silences both.

When stderr is not a TTY (a log file, CI, a job server) a bar's carriage returns would make one
unreadable line, so :func:`progress` writes at most ~10 newline-terminated lines per bar instead
(``desc: 40% 400/1000 step, 12.3 step/s``). :func:`silence_library_noise` turns off transformers'
weight-loading bars and the deprecation warnings of libraries genolm uses.

When ``GENOLM_PROGRESS_FILE`` is set (a job server sets it for each job), every bar, quiet or not, also
writes its latest state there as one JSON object ``{"desc", "n", "total", "t"}`` (atomic replace, at most
every 0.5 s and at close), which the server reads to report a job's progress.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import warnings
from typing import Any

from tqdm.auto import tqdm

_QUIET = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


def is_quiet() -> bool:
    return _QUIET or os.environ.get("GENOLM_QUIET", "") not in ("", "0")


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """The non-TTY stand-in for a tqdm bar: same methods, a handful of plain lines."""

    def __init__(
        self,
        iterable=None,
        total=None,
        desc: str = "",
        unit: str = "it",
        initial: int = 0,
        lines: int = 10,
        min_interval: float = 5.0,
        file=None,
        **_,
    ):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc or "progress", unit
        self.n, self.file = initial, file or sys.stderr
        self.t0 = self.last_t = time.perf_counter()
        self.every = max(1, int(total) // lines) if total else None
        self.next_n = initial + (self.every or 0)
        self.min_interval = min_interval
        self.postfix = ""

    def __iter__(self):
        for x in self.iterable:
            yield x
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_postfix(self, **kw):
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def set_description(self, desc: str, refresh: bool = True):
        self.desc = desc

    def _line(self) -> str:
        dt = max(time.perf_counter() - self.t0, 1e-9)
        pct = f"{100 * self.n / self.total:.0f}% {self.n}/{self.total}" if self.total else f"{self.n}"
        extra = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {pct} {self.unit}, {self.n / dt:.3g} {self.unit}/s{extra}\n"

    def update(self, n: int = 1):
        self.n += n
        now = time.perf_counter()
        due = (self.every and self.n >= self.next_n) or (not self.every and now - self.last_t >= 30)
        if due and now - self.last_t >= self.min_interval:
            self.file.write(self._line())
            self.file.flush()
            self.last_t = now
            if self.every:
                while self.next_n <= self.n:
                    self.next_n += self.every

    def refresh(self):
        pass

    def close(self):
        if self.file is not None and self.n:
            self.file.write(self._line().replace(": ", ": done ", 1))
            self.file.flush()
        self.file = None


class _Null(LineProgress):
    def update(self, n: int = 1):
        self.n += n

    def close(self):
        self.file = None


PROGRESS_FILE_ENV = "GENOLM_PROGRESS_FILE"
_FILE_INTERVAL_S = 0.5
_file_last = 0.0  # when the progress file was last written (one file per process, shared by its bars)


def _write_progress_file(bar: Any, force: bool = False) -> None:
    """Write ``bar``'s state to $GENOLM_PROGRESS_FILE (throttled to one write per 0.5 s unless ``force``)."""
    global _file_last
    path = os.environ.get(PROGRESS_FILE_ENV)
    if not path:
        return
    now = time.monotonic()
    if not force and now - _file_last < _FILE_INTERVAL_S:
        return
    _file_last = now
    total = getattr(bar, "total", None)
    state = {
        "desc": str(getattr(bar, "desc", "") or ""),
        "n": int(getattr(bar, "n", 0) or 0),
        "total": int(total) if isinstance(total, (int, float)) and total else None,
        "t": time.time(),
    }
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:  # never let a progress report break the work it reports on
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh)
        os.replace(tmp, path)
    except OSError:
        pass


def _report_to_file(bar: Any) -> Any:
    """Make ``bar`` (a LineProgress or a tqdm) also report to the progress file on update and close."""
    update, close = bar.update, bar.close

    def _update(n: int = 1):
        r = update(n)
        _write_progress_file(bar)
        return r

    def _close():
        if getattr(bar, "_genolm_file_closed", False):
            return close()
        bar._genolm_file_closed = True
        _write_progress_file(bar, force=True)
        return close()

    bar.update, bar.close = _update, _close
    _write_progress_file(bar, force=True)
    return bar


def _tqdm_iter(bar: Any):
    """Iterate a reporting tqdm bar item by item (tqdm's own fast iterator does not call update)."""
    try:
        for x in bar.iterable:
            yield x
            bar.update(1)
    finally:
        bar.close()


def progress(iterable=None, total=None, desc: str = "", unit: str = "it", **kwargs):
    """A progress bar (items/s shown) on stderr that honours --quiet and is plain lines off a TTY."""
    bar = _bar(iterable, total=total, desc=desc, unit=unit, **kwargs)
    if not os.environ.get(PROGRESS_FILE_ENV):
        return bar
    _report_to_file(bar)
    if isinstance(bar, LineProgress):
        return bar
    if iterable is not None:
        return _tqdm_iter(bar)
    return bar


def _bar(iterable=None, total=None, desc: str = "", unit: str = "it", **kwargs):
    if is_quiet():
        return _Null(iterable, total=total, desc=desc, unit=unit, **kwargs)
    if not _stderr_is_tty():
        return LineProgress(iterable, total=total, desc=desc, unit=unit, **kwargs)
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        dynamic_ncols=True,
        file=sys.stderr,
        leave=False,
        **kwargs,
    )


def silence_library_noise() -> None:
    """No weight-loading bars from transformers / huggingface_hub, no library deprecation warnings."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except Exception:
        pass
