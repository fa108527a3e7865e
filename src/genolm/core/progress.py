"""Progress on stderr: a tqdm bar on a terminal, a few plain lines otherwise; ``--quiet`` silences both.

When stderr is not a TTY (a log file, CI, a job server) a bar's carriage returns would make one
unreadable line, so :func:`progress` writes at most ~10 newline-terminated lines per bar instead
(``desc: 40% 400/1000 step, 12.3 step/s``). :func:`silence_library_noise` turns off transformers'
weight-loading bars and the deprecation warnings of libraries genolm uses.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

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


def progress(iterable=None, total=None, desc: str = "", unit: str = "it", **kwargs):
    """A progress bar (items/s shown) on stderr that honours --quiet and is plain lines off a TTY."""
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
