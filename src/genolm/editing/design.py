"""Guide design: every candidate guide in a region or gene, scored, flagged and ranked.

Coordinates: regions on the command line are 1-based inclusive (``chr:start-end``, as samtools); GFF3 is
1-based inclusive; every output (TSV ``start``/``end``/``cut_site``, BED) is 0-based half-open. ``start``/``end``
span the 23-nt protospacer + PAM on the forward strand; ``cut_site`` is the 0-based position of the first
base after the Cas9 blunt cut (3 nt 5' of the PAM on the guide's strand).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.editing.guides import SPACER_LEN, Guide
from genolm.editing.offtarget import IUPAC, SITE_LEN, parse_pams
from genolm.io.errors import InputError, UsageError
from genolm.sequence import reverse_complement

log = logging.getLogger("genolm.editing")

GC_RANGE = (40.0, 80.0)
CONTEXT_5, CONTEXT_3 = 4, 3  # the 30-mer: 4 nt + spacer + PAM + 3 nt


@dataclass
class Region:
    chrom: str
    start: int  # 0-based
    end: int  # exclusive
    name: str = ""


_REGION = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


def parse_region(text: str, lengths: dict[str, int], path: str | None = None) -> Region:
    """'chr:start-end' (1-based inclusive) -> 0-based half-open Region, checked against the contig."""
    m = _REGION.match(text.strip())
    if not m:
        raise UsageError(f"bad region {text!r}: expected CHROM:START-END (1-based, inclusive)")
    chrom, start, end = m.group("chrom"), int(m.group("start").replace(",", "")), int(m.group("end").replace(",", ""))
    if chrom not in lengths:
        raise InputError(
            f"region {text!r}: contig {chrom!r} not in the reference (has {', '.join(list(lengths)[:5])})", path
        )
    if start < 1 or end < start:
        raise InputError(f"region {text!r}: start must be >= 1 and <= end", path)
    if end > lengths[chrom]:
        raise InputError(f"region {text!r} is outside contig {chrom!r} (length {lengths[chrom]:,})", path)
    return Region(chrom, start - 1, end, name=text.strip())


def find_gene(gff_path: str, gene: str, lengths: dict[str, int] | None = None) -> Region:
    """The gene/feature whose Name, gene, ID, locus_tag or gene_synonym equals ``gene`` (GFF3, 1-based).

    The GFF is read by :func:`genolm.io.gff.iter_gff` (9 columns, integer coordinates, 1 <= start <= end,
    strand/phase checked: an InputError naming file and line otherwise). With ``lengths`` (the reference's
    contig lengths) the chosen feature must lie on a contig of the reference and end inside it.
    """
    from genolm.io.gff import iter_gff

    exact, folded = [], []
    want = gene.strip()
    for f in iter_gff(gff_path):
        attrs = f.attributes
        names = {attrs.get(k, "") for k in ("Name", "gene", "ID", "locus_tag")}
        names |= set(attrs.get("gene_synonym", "").split(","))
        names.discard("")
        if f.type not in ("gene", "pseudogene") and "ID" not in attrs:
            continue
        rec = (0 if f.type in ("gene", "pseudogene") else 1, f.seqid, f.start - 1, f.end, f.line)
        if want in names or f"gene-{want}" in names:
            exact.append(rec)
        elif want.lower() in {n.lower() for n in names}:
            folded.append(rec)
    hits = sorted(exact or folded)
    if not hits:
        raise InputError(
            f"gene {gene!r} not found in the GFF (looked at Name, gene, ID, locus_tag, gene_synonym)", gff_path
        )
    _, chrom, start, end, lineno = hits[0]
    if lengths is not None:
        if chrom not in lengths:
            raise InputError(
                f"gene {gene!r} is on contig {chrom!r}, which is not in the reference "
                f"(has {', '.join(list(lengths)[:5])})",
                gff_path,
                lineno,
            )
        if end > lengths[chrom]:
            raise InputError(
                f"gene {gene!r} ({start + 1}-{end}) is outside contig {chrom!r} (length {lengths[chrom]:,})",
                gff_path,
                lineno,
            )
    return Region(chrom, start, end, name=gene)


def _pam_regex(pam: str) -> str:
    return "".join(f"[{IUPAC[c]}]" for c in pam)


def candidate_sites(ref, region: Region, pam: str = "NGG") -> list[dict]:
    """Every spacer+PAM on either strand whose cut site lies inside the region, with 30-nt context."""
    flank = SITE_LEN + 10
    lo = region.start - flank
    seq = ref.fetch(region.chrom, lo, region.end + flank).upper()
    pat = re.compile(rf"(?=([ACGTN]{{{SPACER_LEN}}}){_pam_regex(pam)})")
    out = []
    for strand, s in (("+", seq), ("-", reverse_complement(seq))):
        for m in pat.finditer(s):
            i = m.start()
            if strand == "+":
                start = lo + i
                cut = start + 17
            else:
                start = lo + len(s) - i - SITE_LEN
                cut = start + 6
            if not region.start <= cut < region.end:
                continue
            spacer = s[i : i + SPACER_LEN]
            ctx = s[i - CONTEXT_5 : i + SITE_LEN + CONTEXT_3] if i >= CONTEXT_5 else ""
            out.append(
                {
                    "chrom": region.chrom,
                    "start": start,
                    "end": start + SITE_LEN,
                    "strand": strand,
                    "spacer": spacer,
                    "pam": s[i + SPACER_LEN : i + SITE_LEN],
                    "cut_site": cut,
                    "context30": ctx,
                }
            )
    out.sort(key=lambda r: (r["cut_site"], r["strand"]))
    for k, r in enumerate(out, start=1):
        r["guide_id"] = f"{region.name or region.chrom}_{k}"
    return out


def guide_flags(spacer: str) -> tuple[float, list[str]]:
    gc = 100.0 * sum(c in "GC" for c in spacer) / len(spacer)
    flags = []
    if "TTTT" in spacer:
        flags.append("polyT")  # Pol III terminator: the U6-transcribed guide would be cut short
    if gc < GC_RANGE[0]:
        flags.append("low_GC")
    if gc > GC_RANGE[1]:
        flags.append("high_GC")
    if re.search(r"(A{5,}|C{5,}|G{5,}|T{5,})", spacer):
        flags.append("homopolymer")
    if "N" in spacer:
        flags.append("contains_N")
    return round(gc, 1), flags


def _ontarget_input(row: dict, length: int) -> str:
    if length == 30:
        return row["context30"]
    if length == 23:
        return row["spacer"] + row["pam"]
    return row["spacer"]


def design_guides(
    reference: str,
    out: str,
    region: str | None = None,
    gff: str | None = None,
    gene: str | None = None,
    pam: str = "NGG",
    model: str | None = None,
    genome: str | None = None,
    max_mismatches: int = 4,
    offtarget_pams: str = "NGG,NAG",
    top: int | None = None,
) -> dict:
    """Design guides; writes ``out`` (TSV), ``out``.bed and ``out``.html (suffix replaced). Returns a summary."""
    from genolm.editing.ontarget import OnTargetModel, score_sequences
    from genolm.editing.report import design_report
    from genolm.io.atomic import atomic_open
    from genolm.io.fasta import Reference

    pam = parse_pams(pam)[0]
    if (region is None) == (gene is None):
        raise UsageError("give exactly one of --region CHR:START-END or --gff FILE --gene NAME")
    if gene is not None and gff is None:
        raise UsageError("--gene needs --gff")
    if top is not None and top < 1:
        raise UsageError("--top must be >= 1")
    ref = Reference(reference)
    if region is not None:
        target = parse_region(region, ref.lengths, reference)
    else:
        target = find_gene(gff, gene, ref.lengths)
    rows = candidate_sites(ref, target, pam)
    for r in rows:
        r["gc"], flags = guide_flags(r["spacer"])
        r["flags"] = ",".join(flags)
        r["ontarget_score"] = float("nan")
    if model:
        m = OnTargetModel.load(model)
        scores, errors = score_sequences(m, [_ontarget_input(r, m.config.length) for r in rows])
        for r, s, e in zip(rows, scores, errors):
            r["ontarget_score"] = round(float(s), 4)
            if e:
                r["flags"] = ",".join(filter(None, [r["flags"], "not_scored"]))
    if genome and rows:
        from genolm.editing.offtarget import Genome, OffTargetIndex, site_rows, summarize

        index = OffTargetIndex(Genome.from_fasta(genome), max_mismatches, offtarget_pams)
        ok = [r for r in rows if "N" not in r["spacer"]]
        guides = [Guide(name=r["guide_id"], raw=r["spacer"], spacer=r["spacer"]) for r in ok]
        for r, g, hits in zip(ok, guides, index.search_many([g.spacer for g in guides])):
            srows = site_rows(index, g, hits)
            sm = summarize(g, srows, max_mismatches, exclude=(r["chrom"], r["start"], r["strand"]))
            r.update({k: v for k, v in sm.items() if k.startswith("off_")})
            r["cfd_sum"], r["specificity"] = sm["cfd_sum"], sm["specificity"]
            if sm["off_0mm"] > 0:
                r["flags"] = ",".join(filter(None, [r["flags"], "multiple_perfect_matches"]))
    _rank(rows)
    if top is not None:
        rows = rows[:top]
    out = Path(out)
    columns = [
        "rank",
        "guide_id",
        "chrom",
        "start",
        "end",
        "strand",
        "spacer",
        "pam",
        "cut_site",
        "context30",
        "ontarget_score",
        "gc",
        "flags",
    ]
    columns += [k for k in (rows[0] if rows else {}) if k.startswith("off_")]
    columns += [k for k in ("cfd_sum", "specificity") if rows and k in rows[0]] + ["final_score"]
    with atomic_open(out, "w") as fh:
        fh.write("\t".join(columns) + "\n")
        for r in rows:
            fh.write("\t".join(_cell(r.get(c)) for c in columns) + "\n")
    bed = out.with_suffix(".bed")
    with atomic_open(bed, "w") as fh:
        fh.write(f'track name="genolm_guides" description="CRISPR guides {target.name}" useScore=1\n')
        for r in rows:
            fh.write(
                f"{r['chrom']}\t{r['start']}\t{r['end']}\t{r['guide_id']}\t{int(round(1000 * r['final_score']))}"
                f"\t{r['strand']}\t{r['cut_site']}\t{r['cut_site'] + 1}\n"
            )
    summary = {
        "target": target.name,
        "chrom": target.chrom,
        "start": target.start,
        "end": target.end,
        "candidates": len(rows),
        "unflagged": sum(not r["flags"] for r in rows),
        "tsv": str(out),
        "bed": str(bed),
        "report": str(out.with_suffix(".html")),
    }
    design_report(out.with_suffix(".html"), rows, summary)
    return summary


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.6g}"
    return str(v)


_HARD_FLAGS = ("polyT", "contains_N", "multiple_perfect_matches", "not_scored")


def _rank(rows: list[dict]) -> None:
    """final_score = mean of the on-target percentile and specificity/100 (whichever exist);
    guides with a hard flag (poly-T, N, another perfect match) rank after all others, then GC flags."""
    scores = np.array([r["ontarget_score"] for r in rows], dtype=float)
    pct = np.full(len(rows), np.nan)
    finite = np.isfinite(scores)
    if finite.any():
        from scipy.stats import rankdata

        pct[finite] = rankdata(scores[finite]) / finite.sum()
    for r, p in zip(rows, pct):
        parts = [v for v in (p, r.get("specificity", np.nan) / 100.0) if np.isfinite(v)]
        r["final_score"] = round(float(np.mean(parts)), 4) if parts else 0.0
        fl = r["flags"].split(",") if r["flags"] else []
        r["_tier"] = 2 if any(f in _HARD_FLAGS for f in fl) else (1 if fl else 0)
    rows.sort(key=lambda r: (r["_tier"], -r["final_score"], r["cut_site"]))
    for k, r in enumerate(rows, start=1):
        r["rank"] = k
        del r["_tier"]
