"""Tables (CSV/TSV, plain or gzipped) with validation, and sequence inputs (FASTA or CSV)."""

from __future__ import annotations

import csv
import gzip
import os
import zlib

import pandas as pd

from genolm.io.errors import InputError
from genolm.io.fasta import TRUNCATED_GZIP, is_fasta, normalize, open_text, read_fasta

_BAD_SEQ = None


def _sep_for(path: str) -> str:
    name = path.lower().removesuffix(".gz")
    return "\t" if name.endswith((".tsv", ".tab", ".txt")) else ","


def read_table(
    path: str | os.PathLike, required: list[str] | tuple[str, ...] = (), sep: str | None = None, dtype=None
) -> pd.DataFrame:
    """Read CSV/TSV (.gz ok). Raises InputError for a missing/empty file or missing required columns."""
    path = str(path)
    with open_text(path) as fh:
        head = fh.read(1)
    if not head:
        raise InputError("empty file", path)
    try:
        df = pd.read_csv(path, sep=sep or _sep_for(path), dtype=dtype, compression="infer", keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise InputError("empty file", path) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.object[e.start : e.start + 1]!r})", path) from None
    except (pd.errors.ParserError, csv.Error) as e:
        msg = str(e).strip().splitlines()[-1]
        raise InputError(f"cannot parse table: {msg}", path) from None
    except (EOFError, gzip.BadGzipFile, zlib.error):
        raise InputError(TRUNCATED_GZIP, path) from None
    except OSError as e:
        raise InputError(f"cannot read table: {str(e) or type(e).__name__}", path) from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(map(repr, missing))}; found "
            f"{', '.join(map(repr, map(str, df.columns[:10])))}",
            path,
        )
    if len(df) == 0:
        raise InputError("table has a header but no rows", path)
    return df


def check_sequences(seqs, path: str, first_line: int = 2, column: str = "sequence") -> list[str]:
    """Validate and normalise DNA strings from a table; names the offending line."""
    import re

    bad_re = re.compile(r"[^ACGTNRYSWKMBDHVUacgtnryswkmbdhvu]")
    out = []
    for i, s in enumerate(seqs):
        if not isinstance(s, str) or not s:
            raise InputError(f"empty {column!r} value", path, first_line + i)
        m = bad_re.search(s)
        if m:
            raise InputError(f"non-nucleotide character {m.group(0)!r} in {column!r}", path, first_line + i)
        out.append(normalize(s))
    return out


def read_sequences(
    path: str | os.PathLike, column: str = "sequence", id_column: str | None = "id"
) -> tuple[list[str], list[str]]:
    """FASTA or CSV -> (ids, normalised sequences), input order kept.

    ids are FASTA names, the CSV's ``id`` column when present, else the 0-based row number.
    """
    path = str(path)
    fasta_name = path.lower().removesuffix(".gz").endswith((".fa", ".fasta", ".fna", ".fas", ".ffn"))
    if fasta_name or is_fasta(path):
        ids, seqs = [], []
        for name, seq in read_fasta(path):
            ids.append(name)
            seqs.append(normalize(seq))
        return ids, seqs
    df = read_table(path, required=[column])
    seqs = check_sequences(df[column].tolist(), path, column=column)
    if id_column and id_column in df.columns:
        ids = df[id_column].astype(str).tolist()
    else:
        ids = [str(i) for i in range(len(df))]
    return ids, seqs


def read_labelled(
    path: str | os.PathLike, label_column: str = "label", sequence_column: str = "sequence"
) -> tuple[list[str], list]:
    """A `sequence,label` table -> (sequences, labels)."""
    path = str(path)
    df = read_table(path, required=[sequence_column, label_column])
    seqs = check_sequences(df[sequence_column].tolist(), path, column=sequence_column)
    labels = df[label_column]
    if labels.isna().any():
        line = int(labels.isna().to_numpy().argmax()) + 2
        raise InputError(f"missing {label_column!r} value", path, line)
    return seqs, labels.tolist()
