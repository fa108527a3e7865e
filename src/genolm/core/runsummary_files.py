"""Readers for `genolm explain-run`: small table/VCF helpers and the facts of result files (guides, scored VCF)."""

from __future__ import annotations

import csv
import gzip
import heapq
import math
from pathlib import Path
from typing import Any

TOP_N = 5  # top items listed per result


# --- small readers -----------------------------------------------------------------------------------------
def open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else open(path, encoding="utf-8")


def delimiter(path: Path) -> str:
    return "\t" if ".tsv" in path.name.lower() else ","


def header(path: Path) -> list[str]:
    with open_text(path) as fh:
        return next(csv.reader(fh, delimiter=delimiter(path)), [])


def count_records(path: Path) -> int | None:
    """Rows of a table (header excluded), records of a FASTA or VCF; None for other or huge files."""
    name = path.name.lower().removesuffix(".gz")
    if not path.is_file() or path.stat().st_size > 512 * 2**20:
        return None
    try:
        with open_text(path) as fh:
            if name.endswith((".fa", ".fasta", ".fna")):
                return sum(1 for ln in fh if ln.startswith(">"))
            if name.endswith(".vcf"):
                return sum(1 for ln in fh if ln.strip() and not ln.startswith("#"))
            if name.endswith((".csv", ".tsv", ".txt", ".jsonl")):
                n = sum(1 for ln in fh if ln.strip())
                return n if name.endswith(".jsonl") else max(n - 1, 0)
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return None
    return None


def num(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# --- result files ------------------------------------------------------------------------------------------
def guides_facts(path: Path) -> dict:
    with open_text(path) as fh:
        rows = list(csv.DictReader(fh, delimiter=delimiter(path)))
    flags: dict[str, int] = {}
    for r in rows:
        for f in filter(None, (r.get("flags") or "").split(",")):
            flags[f] = flags.get(f, 0) + 1
    unflagged = [r for r in rows if not r.get("flags")]
    part: dict[str, Any] = {
        "kind": "guides",
        "name": path.name,
        "n_guides": len(rows),
        "n_unflagged": len(unflagged),
        "flag_counts": dict(sorted(flags.items(), key=lambda kv: -kv[1])),
        "has_ontarget_model": any(num(r.get("ontarget_score")) is not None for r in rows),
        "has_offtarget_search": any(num(r.get("off_0mm")) is not None for r in rows),
    }
    if rows and rows[0].get("chrom"):
        starts = [int(r["start"]) for r in rows if num(r.get("start")) is not None]
        ends = [int(r["end"]) for r in rows if num(r.get("end")) is not None]
        if starts and ends:
            part["region"] = {"chrom": rows[0]["chrom"], "start": min(starts), "end": max(ends)}

    def row_facts(r: dict) -> dict:
        keep: dict[str, Any] = {k: r[k] for k in ("guide_id", "spacer", "pam", "strand", "flags") if r.get(k)}
        for k in ("rank", "cut_site", "ontarget_score", "gc", "specificity", "final_score", "cfd_sum"):
            if num(r.get(k)) is not None:
                keep[k] = float(r[k]) if "." in r[k] else int(r[k])
        offs = [int(r[k]) for k in r if k.startswith("off_") and k.endswith("mm") and num(r.get(k)) is not None]
        if offs:
            keep["offtargets"] = sum(offs)
        return keep

    ranked = sorted(rows, key=lambda r: num(r.get("rank")) or math.inf)
    part["top"] = [row_facts(r) for r in ranked[:TOP_N]]
    part["top_unflagged"] = [row_facts(r) for r in ranked if not r.get("flags")][:TOP_N]
    return part


def vcf_facts(path: Path) -> dict:
    """Counts, skip reasons and the strongest GENOLM_SCORE alleles of a scored VCF (streamed)."""
    n_rec = n_alleles = n_scored = n_zero = n_neg = 0
    skips: dict[str, int] = {}
    meta: dict[str, str] = {}
    top: list[tuple[float, int, dict]] = []
    with open_text(path) as fh:
        for line in fh:
            if line.startswith("##genolm_score=<"):
                for kv in line.strip()[16:-1].split(","):
                    k, _, v = kv.partition("=")
                    meta[k] = v
                continue
            if line.startswith("#") or not line.strip():
                continue
            c = line.rstrip("\n").split("\t")
            if len(c) < 8:
                continue
            n_rec += 1
            info = dict(kv.partition("=")[::2] for kv in c[7].split(";"))
            alts = c[4].split(",")
            scores = (info.get("GENOLM_SCORE") or "").split(",")
            for f in filter(None, (info.get("GENOLM_SKIP") or "").split(",")):
                skips[f] = skips.get(f, 0) + 1
            for i, alt in enumerate(alts):
                n_alleles += 1
                s = num(scores[i]) if i < len(scores) else None
                if s is None:
                    continue
                n_scored += 1
                n_zero += s == 0
                n_neg += s < 0
                item = {"id": c[2] if c[2] != "." else f"{c[0]}:{c[1]}:{c[3]}>{alt}", "chrom": c[0], "pos": int(c[1])}
                item.update({"ref": c[3], "alt": alt, "score": s})
                heapq.heappush(top, (abs(s), -n_alleles, item))
                if len(top) > TOP_N:
                    heapq.heappop(top)
    if not meta and not n_scored and not skips:
        return {}  # a VCF genolm did not score
    return {
        "kind": "variants",
        "name": path.name,
        "method": meta.get("method"),
        "model": meta.get("model"),
        "window": int(meta["window"]) if num(meta.get("window")) is not None else None,
        "n_records": n_rec,
        "n_alleles": n_alleles,
        "n_scored": n_scored,
        "n_unscored": n_alleles - n_scored,
        "n_zero": n_zero,
        "n_negative": n_neg,
        "n_positive": n_scored - n_zero - n_neg,
        "skip_reasons": dict(sorted(skips.items(), key=lambda kv: -kv[1])),
        "top": [t[2] for t in sorted(top, key=lambda t: (-t[0], -t[1]))],
    }
