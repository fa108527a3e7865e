"""Guide sequences: validation that reports each bad guide on its own.

DNA encoding (codes, one-hot) is :mod:`genolm.sequence`'s; ``one_hot`` is re-exported here for scripts that
imported it from this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genolm.sequence import one_hot

__all__ = ["SPACER_LEN", "Guide", "check_guide", "one_hot", "parse_guides", "read_guides"]

SPACER_LEN = 20
_NON_ACGT = re.compile(r"[^ACGT]")


@dataclass
class Guide:
    """A named guide. ``error`` is set (and ``spacer`` empty) when the input was not a usable guide."""

    name: str
    raw: str
    spacer: str = ""
    error: str | None = None
    line: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def check_guide(seq: str, lengths: tuple[int, ...] = (20, 23)) -> tuple[str, str | None]:
    """Normalise one guide; returns (upper-case sequence, None) or ("", reason).

    A 23-mer is read as 20-nt spacer + PAM; the caller decides whether to keep the PAM.
    """
    if not isinstance(seq, str) or not seq.strip():
        return "", "empty guide sequence"
    s = seq.strip().upper().replace("U", "T")
    bad = _NON_ACGT.search(s)
    if bad:
        return "", f"non-ACGT character {bad.group(0)!r} at position {bad.start() + 1}"
    if len(s) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        return "", f"guide has length {len(s)}, expected {want} nt"
    return s, None


def parse_guides(names: list[str], seqs: list, lines: list[int] | None = None) -> list[Guide]:
    """Validate guides one by one: a 20-nt spacer or 23-nt spacer+PAM (the PAM is dropped)."""
    out = []
    for i, (name, raw) in enumerate(zip(names, seqs)):
        s, err = check_guide(raw)
        out.append(
            Guide(
                name=str(name),
                raw="" if raw is None else str(raw),
                spacer=s[:SPACER_LEN],
                error=err,
                line=None if lines is None else lines[i],
            )
        )
    return out


_SEQ_COLUMNS = ("sequence", "guide", "spacer", "sgRNA", "protospacer", "protospacer_20mer", "sgRNA_23mer")
_ID_COLUMNS = ("id", "guide_id", "name")


def read_guides(path, sequence_col: str | None = None) -> list[Guide]:
    """Guides from FASTA, CSV/TSV (a sequence column; ``id``/``name`` optional) or plain text.

    Plain text: one guide per line, ``SEQUENCE`` or ``NAME SEQUENCE``; ``#`` starts a comment.
    Every guide is validated on its own (see :class:`Guide`); the file as a whole only fails if unreadable.
    """
    from genolm.io.errors import InputError
    from genolm.io.fasta import is_fasta, open_text, read_fasta
    from genolm.io.tables import read_table

    path = str(path)
    if is_fasta(path):
        names, seqs = [], []
        for name, seq in read_fasta(path, alphabet="any"):
            names.append(name)
            seqs.append(seq)
        return parse_guides(names, seqs)
    with open_text(path) as fh:
        lines = [(i, ln.rstrip("\r\n")) for i, ln in enumerate(fh, start=1)]
    content = [(i, ln) for i, ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not content:
        raise InputError("no guides in file", path)
    first = content[0][1]
    if sequence_col or "," in first or "\t" in first:
        df = read_table(path, dtype=str)
        col = sequence_col or next((c for c in _SEQ_COLUMNS if c in df.columns), None)
        if col is None or col not in df.columns:
            raise InputError(
                f"no guide sequence column: expected one of {', '.join(_SEQ_COLUMNS)} (or pass --sequence-col)", path, 1
            )
        idc = next((c for c in _ID_COLUMNS if c in df.columns), None)
        names = df[idc].tolist() if idc else [f"guide{i + 1}" for i in range(len(df))]
        seqs = [None if not isinstance(s, str) else s for s in df[col].tolist()]
        return parse_guides(names, seqs, lines=list(range(2, len(df) + 2)))
    names, seqs, where = [], [], []
    for i, ln in content:
        parts = ln.split()
        name, seq = (parts[0], parts[1]) if len(parts) >= 2 else (f"guide{len(names) + 1}", parts[0])
        names.append(name)
        seqs.append(seq)
        where.append(i)
    return parse_guides(names, seqs, lines=where)
