"""Progress bars with throughput on stderr; ``--quiet`` (or GENOLM_QUIET=1) silences them."""
from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

_QUIET = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


def is_quiet() -> bool:
    return _QUIET or os.environ.get("GENOLM_QUIET", "") not in ("", "0")


def progress(iterable=None, total=None, desc: str = "", unit: str = "it", **kwargs):
    """A tqdm bar (items/s shown) that writes to stderr and honours --quiet."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True,
                disable=is_quiet(), file=sys.stderr, leave=False,
                **kwargs)
