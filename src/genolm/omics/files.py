"""Model-folder checks shared by the omics model types."""

from __future__ import annotations

from pathlib import Path

from genolm.core.persist import LEGACY_SUFFIXES, SKOPS_SUFFIX, refuse_legacy


def refuse_old_files(directory: Path, stems) -> None:
    """A folder from genolm < 0.2 (an old serialised ``<stem>`` file where ``<stem>.skops`` belongs): the standard
    "retrain or convert with `genolm convert`" error, before anything is read."""
    for stem in stems:
        if (directory / f"{stem}{SKOPS_SUFFIX}").is_file():
            continue
        for suffix in LEGACY_SUFFIXES:
            if (directory / f"{stem}{suffix}").is_file():
                refuse_legacy(directory / f"{stem}{suffix}")
