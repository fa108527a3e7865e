"""Run directories: every command writes one (config.yaml, manifest.json, metrics.json, log.txt, model/...).

A run directory is the unit users keep, share and pass back as ``--model``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import random
import re
import subprocess
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from genolm.io.atomic import atomic_write_text
from genolm.io.errors import InputError, UsageError

log = logging.getLogger("genolm")


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch so the same seed and data give the same metrics on one machine."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str | float | int | None) -> float | None:
    """'90' / '90s' / '15m' / '1.5h' -> seconds. None stays None."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        return float(text)
    m = _DURATION.match(str(text))
    if not m:
        raise UsageError(f"cannot read time budget {text!r}; use e.g. 90s, 15m or 1.5h")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def file_sha256(path: str | os.PathLike, limit: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        read = 0
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            read += len(chunk)
            if limit and read >= limit:
                break
    return h.hexdigest()


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except Exception:
        return None


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("genolm", "torch", "transformers", "tokenizers", "numpy", "scikit-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return obj.item()
        except Exception:
            pass
    return obj


def staging_path(out: str | os.PathLike) -> Path:
    """Where a run is written until it finishes (a hidden sibling of ``out``); a killed run's checkpoint
    stays here for ``--resume``."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def _command_of(path: Path) -> str | None:
    try:
        return json.loads((path / "manifest.json").read_text(encoding="utf-8")).get("command")
    except (OSError, ValueError, AttributeError):
        return None


def check_out_dir(out: str | os.PathLike, command: str, overwrite: bool = False) -> Path:
    """Refuse an ``--out`` that would mix two runs or cannot be written; return it as a Path."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a run directory")
    if out.is_dir() and not overwrite:
        other = _command_of(out)
        if other is not None and other != command:
            raise UsageError(
                f"--out {out} holds a `genolm {other}` run; pass --overwrite to replace it, or choose another --out"
            )
        if other is None and any(out.iterdir()):
            raise UsageError(
                f"--out {out} is a non-empty folder that is not a genolm run; pass --overwrite "
                "to replace it, or choose another --out"
            )
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: cannot write in {parent} (permission denied)")
    return out


class RunDir:
    """A run directory, written atomically.

    Everything goes to a staging folder beside ``out`` (:func:`staging_path`); :meth:`finish` moves it into
    place (an existing run there is replaced only then), and a run that fails on bad input leaves nothing
    behind. A killed run keeps its staging folder so ``resume=True`` can continue from its checkpoint.
    An ``out`` holding a run of another command (or other files) is refused unless ``overwrite``.

    >>> run = RunDir("out/x", command="finetune", config={"lr": 1e-3}, inputs=["train.csv"])
    >>> run.write_metrics({"mcc": 0.7}); run.finish()
    """

    def __init__(
        self,
        path: str | os.PathLike,
        command: str,
        config: dict | None = None,
        inputs: list[str | os.PathLike] | None = None,
        seed: int | None = None,
        overwrite: bool = False,
        resume: bool = False,
    ):
        self.final_path = check_out_dir(path, command, overwrite)
        self.path = staging_path(self.final_path)
        if self.path.exists() and not resume:
            import shutil

            shutil.rmtree(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--out {self.final_path}: cannot create the run directory ({e.strerror})") from None
        self._finished = False
        self.command = command
        self.config = _jsonable(config or {})
        self.started = _dt.datetime.now(_dt.timezone.utc)
        self.manifest: dict[str, Any] = {
            "command": command,
            "argv": sys.argv,
            "started": self.started.isoformat(),
            "seed": seed,
            "versions": _versions(),
            "git_commit": _git_commit(),
            "platform": platform.platform(),
            "inputs": {},
        }
        for p in inputs or []:
            if p and Path(p).is_file():
                self.manifest["inputs"][str(p)] = {"sha256": file_sha256(p), "bytes": Path(p).stat().st_size}
        atomic_write_text(self.path / "config.yaml", yaml.safe_dump(self.config, sort_keys=False))
        self._write_manifest()
        self._handler = logging.FileHandler(self.path / "log.txt", mode="a", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._handler.setLevel(logging.INFO)
        glog = logging.getLogger("genolm")
        glog.addHandler(self._handler)
        if glog.getEffectiveLevel() > logging.INFO:
            glog.setLevel(logging.INFO)
        log.info("run %s started: %s", command, self.path)

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    def _write_manifest(self) -> None:
        atomic_write_text(self.path / "manifest.json", json.dumps(_jsonable(self.manifest), indent=2))

    def write_metrics(self, metrics: dict, name: str = "metrics.json") -> Path:
        out = self.path / name
        atomic_write_text(out, json.dumps(_jsonable(metrics), indent=2))
        return out

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_metrics(data, name)

    def finish(self, **extra: Any) -> None:
        """Write the final manifest and move the run into place (replacing an older run there)."""
        if self._finished:
            return
        ended = _dt.datetime.now(_dt.timezone.utc)
        self.manifest["ended"] = ended.isoformat()
        self.manifest["seconds"] = round((ended - self.started).total_seconds(), 2)
        self.manifest.update(_jsonable(extra))
        self._write_manifest()
        log.info("run %s finished in %.1fs: %s", self.command, self.manifest["seconds"], self.final_path)
        self._close_log()
        self._finished = True
        _swap_into_place(self.path, self.final_path)
        self.path = self.final_path

    def abort(self, exc: BaseException | None = None) -> None:
        """A failed run: drop the staging folder (keep it when a checkpoint there can be resumed)."""
        import shutil

        if self._finished:
            return
        self._finished = True
        self._close_log()
        keep = (self.path / "checkpoint").is_dir() and not isinstance(exc, InputError)
        if keep:
            log.warning("run interrupted; its checkpoint is kept in %s: rerun with --resume to continue", self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def _close_log(self) -> None:
        logging.getLogger("genolm").removeHandler(self._handler)
        self._handler.close()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            self.abort(exc)
        else:
            self.finish()


def _swap_into_place(staged: Path, final: Path) -> None:
    """Rename ``staged`` onto ``final``; an existing ``final`` is renamed aside first, deleted last."""
    import shutil

    old = final.parent / f".{final.name}.old"
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def is_run_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return (p / "manifest.json").is_file() and (p / "model").is_dir()
