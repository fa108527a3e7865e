"""MEME v4 motif files: ``MOTIF id name`` + ``letter-probability matrix`` blocks -> :class:`Motif` matrices.

Bad files (a row that is not 4 probabilities summing to 1, NaN, a wrong ``w=``, a uniform matrix, no motif
at all) raise :class:`~genolm.io.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.io.errors import InputError


@dataclass
class Motif:
    name: str
    probs: np.ndarray  # (width, 4) A C G T


def read_meme(path: str | Path) -> list[Motif]:
    """Motifs of a MEME v4 text file (``MOTIF id name`` + ``letter-probability matrix`` blocks)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("motif file not found", path)
    motifs: list[Motif] = []
    name, rows, width, start = None, [], 0, 0

    def close():
        if name is None:
            return
        if not rows or (width and len(rows) != width):
            raise InputError(f"motif {name!r}: {len(rows)} matrix rows, header says w= {width}", path, start)
        probs = np.array(rows, dtype=np.float64)
        if np.allclose(probs, 0.25):
            raise InputError(f"motif {name!r}: every column is uniform (0.25 each), nothing to score", path, start)
        motifs.append(Motif(name, probs))

    reading = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            s = line.split()
            if line.startswith("MOTIF"):
                close()
                name, rows, width, start, reading = " ".join(s[1:3]) or f"motif{len(motifs) + 1}", [], 0, lineno, False
            elif line.startswith("letter-probability"):
                reading, width = True, header_width(line, path, lineno)
            elif reading and len(s) == 4:
                try:
                    row = [float(x) for x in s]
                except ValueError:
                    raise InputError(f"bad matrix row {line.strip()!r}", path, lineno) from None
                if not all(map(math.isfinite, row)) or min(row) < 0 or abs(sum(row) - 1) > 0.05:
                    raise InputError(
                        f"matrix row does not hold 4 probabilities summing to 1: {line.strip()!r}", path, lineno
                    )
                rows.append(row)
                if width and len(rows) == width:
                    reading = False
            elif reading and rows:
                reading = False
    close()
    if not motifs:
        raise InputError("no MEME motifs (MOTIF + letter-probability matrix) in the file", path)
    return motifs


def header_width(line: str, path: str | Path, lineno: int) -> int:
    """``w=`` of a ``letter-probability matrix:`` line (``w= 6`` or ``w=6``); 0 when absent."""
    hit = re.search(r"\bw=\s*(\S*)", line)
    if not hit:
        return 0
    try:
        width = int(hit.group(1))
    except ValueError:
        raise InputError(
            f"bad w= in {line.strip()!r} (expected the motif width, a positive integer)", path, lineno
        ) from None
    if width < 1:
        raise InputError(f"bad w= in {line.strip()!r} (expected a positive integer)", path, lineno)
    return width
