"""Genomic regions: 0-based half-open internally (like BED); VCF/GFF are 1-based closed and say so."""

from __future__ import annotations

import re
from dataclasses import dataclass

from genolm.io.errors import InputError

_REGION = re.compile(r"^([^:\s]+):([\d,]+)-([\d,]+)$")


@dataclass(frozen=True)
class Region:
    chrom: str
    start: int  # 0-based, inclusive
    end: int  # 0-based, exclusive

    def __post_init__(self):
        if self.start < 0 or self.end < self.start:
            raise InputError(f"bad region {self.chrom}:{self.start}-{self.end} (need 0 <= start <= end)")

    def __len__(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:  # samtools style, 1-based closed
        return f"{self.chrom}:{self.start + 1}-{self.end}"

    @classmethod
    def from_one_based(cls, chrom: str, start: int, end: int) -> "Region":
        """From 1-based closed coordinates (VCF POS, GFF start/end, samtools regions)."""
        return cls(chrom, start - 1, end)


def parse_region(text: str) -> Region:
    """``chr1:1,000-2,000`` (1-based closed, as samtools and genome browsers write it) -> Region."""
    m = _REGION.match(text.strip())
    if not m:
        raise InputError(f"cannot read region {text!r}; use chrom:start-end, e.g. chr17:43044295-43125483")
    start, end = int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
    if start < 1 or end < start:
        raise InputError(f"bad region {text!r}: need 1 <= start <= end")
    return Region.from_one_based(m.group(1), start, end)
