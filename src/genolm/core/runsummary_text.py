"""The words of `genolm explain-run`: caveats and next experiments from the facts, the offline template, the
LLM prompt, and the grounding check that keeps only sentences whose numbers are in the facts.

Grounding: every number written in a text (``0.475``, ``72%``, ``1,726``, ``5.2e-08``) must match a number in
the facts at the precision it is shown (``0.4745`` supports ``0.47`` and ``0.475`` but not ``0.48``; a
fraction ``0.72`` supports ``72%``), or appear verbatim inside a fact string (an id such as ``F9:137:T>G``).
Digits inside names (``bglB_101``, ``IL-1``'s ``IL``, ``off_4mm``) are not numbers. A whole number below 10
shown without decimals must equal a fact exactly, so ``0`` is not supported by ``0.47``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from genolm.core.runsummary import SMALL_TEST, WIDE_CI

Complete = Callable[[list[dict]], str]

_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)(?P<pct>\s?%|\s?percent\b)?(?![\w])"
)
_NO_NUMBERS = ("path", "sha256", "file", "files", "started", "ended")
_NAMES = {"mcc": "MCC", "auroc": "AUROC", "auprc": "AUPRC", "f1": "F1", "r2": "R2", "rmse": "RMSE", "mae": "MAE"}
_NAMES.update({"mse": "MSE", "balanced_accuracy": "balanced accuracy", "spearman": "Spearman", "pearson": "Pearson"})
_EVAL_ORDER = ("test", "valid", "validation", "dev", "cv", "eval")


# --- numbers -----------------------------------------------------------------------------------------------
def fmt(x: Any) -> str:
    """A number as the summaries show it (the grounding check accepts it for the unrounded fact)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e9):
        return str(int(x))
    a = abs(x)
    if a < 0.001:
        return f"{x:.2e}"
    return f"{x:.1f}" if a >= 100 else f"{x:.2f}" if a >= 10 else f"{x:.3f}".rstrip("0").rstrip(".")


@dataclass
class Number:
    text: str
    value: float
    decimals: int
    percent: bool
    exponent: int | None = None
    negative: bool = False  # written with a minus sign ("-8.17", not the "-" of "IL-1" or "2271-3694")


def numbers_in(text: str) -> list[Number]:
    """The numbers written in ``text``; a minus sign counts only after a space, bracket or the start."""
    out = []
    for m in _NUMBER.finditer(text):
        i = m.start()
        negative = i > 0 and text[i - 1] in "-\u2212" and (i == 1 or text[i - 2] in " \t\n(=[:;,")
        raw = m.group("num").replace(",", "")
        mant, _, exp = raw.lower().partition("e")
        decimals = len(mant.split(".")[1]) if "." in mant else 0
        exponent = int(exp) if exp else None
        out.append(Number(m.group(0).strip(), float(raw), decimals, bool(m.group("pct")), exponent, negative))
    return out


def fact_numbers(facts: Any, path: str = "") -> Iterator[tuple[str, float, str | None]]:
    """(json path, value, verbatim token or None) for every number in the facts, inside strings too."""
    if isinstance(facts, dict):
        for k, v in facts.items():
            if str(k) not in _NO_NUMBERS:
                yield from fact_numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(facts, list):
        for i, v in enumerate(facts):
            yield from fact_numbers(v, f"{path}[{i}]")
    elif isinstance(facts, bool) or facts is None:
        return
    elif isinstance(facts, (int, float)):
        if math.isfinite(facts):
            yield path, float(facts), None
    elif isinstance(facts, str):
        for n in numbers_in(facts):
            yield path, n.value, n.text.rstrip("%").strip().replace(",", "")


def _matches(n: Number, v: float) -> bool:
    """``n`` as written is ``v`` at its shown precision; an unsigned number may quote a negative fact
    ("fell by 8.17"), a negative one needs a negative fact."""
    if n.negative and v >= 0:
        return False
    v = abs(v)
    if n.exponent is not None:
        if v == 0:
            return n.value == 0
        e = math.floor(math.log10(v))
        return e == n.exponent and round(v / 10**e, n.decimals) == round(n.value / 10**e, n.decimals)
    for cand in (v, v * 100) if n.percent else (v,):
        if n.decimals == 0 and n.value < 10 and cand != n.value:
            continue
        if abs(round(cand, n.decimals) - n.value) < 1e-9 * max(1.0, n.value):
            return True
    return False


def support(n: Number, facts_nums: list[tuple[str, float, str | None]]) -> str | None:
    """The json path of the fact supporting the quoted number ``n`` (a numeric fact first), or None."""
    for path, v, verbatim in facts_nums:
        if verbatim is None and _matches(n, v):
            return path
    token = n.text.rstrip("%").removesuffix("percent").strip().replace(",", "")
    for path, _, verbatim in facts_nums:
        if verbatim is not None and verbatim == token:
            return path
    return None


@dataclass
class Grounded:
    text: str
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    cited: list[dict] = field(default_factory=list)


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[^\s])")
_LIST_MARK = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+|\s*#+\s+|\s*>\s*)")


def ground(text: str, facts: Any) -> Grounded:
    """Drop every sentence quoting a number not in ``facts``; list the cited numbers and their facts."""
    nums = list(fact_numbers(facts))
    out = Grounded("")
    lines = []
    for line in text.splitlines():
        mark = _LIST_MARK.match(line)
        prefix, body = (mark.group(0), line[mark.end() :]) if mark else ("", line)
        kept_parts = []
        for sentence in _SENTENCE.split(body):
            if not sentence.strip():
                continue
            found = [(n, support(n, nums)) for n in numbers_in(sentence)]
            if any(p is None for _, p in found):
                out.removed.append(sentence.strip())
                continue
            kept_parts.append(sentence)
            out.kept += 1
            out.cited += [{"number": n.text, "fact": p} for n, p in found]
        if kept_parts or not body.strip():
            lines.append(prefix + " ".join(kept_parts) if kept_parts else line)
    out.text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
    return out


# --- caveats and next experiments (stored in the facts, so an LLM sees them too) --------------------------
def primary_split(part: dict) -> str | None:
    splits = [m["split"] for m in part.get("metrics", [])]
    for name in _EVAL_ORDER:
        for s in splits:
            if s.split(".")[-1].lower() == name:
                return s
    for name in _EVAL_ORDER:  # nested (annotate: dev.gene, dev.exon...): the first split under an eval name
        for s in splits:
            if name in s.lower().split("."):
                return s
    return splits[0] if splits else None


def annotate(facts: dict, suggest: bool) -> dict:
    """Add ``caveats`` (and, with ``suggest``, ``next_experiments``) to each part of the facts."""
    for part in facts["parts"]:
        part["caveats"] = _caveats(part)
        if suggest:
            part["next_experiments"] = _suggestions(part)
    return facts


def split_label(split: str | None) -> str:
    """ "valid split", or "evaluation data" for metrics written at the top of a metrics file."""
    return "evaluation data" if split in (None, "metrics") else f"{split} split"


def metric_label(m: str) -> str:
    return _NAMES.get(m, m.replace("_", " "))


def _caveats(part: dict) -> list[str]:
    out = []
    if part["kind"] == "run":
        split = primary_split(part)
        ms = [m for m in part.get("metrics", []) if m["split"] == split]
        n = next((m["n"] for m in ms if m.get("n")), None)
        if n is not None and n < SMALL_TEST:
            out.append(
                f"The {split_label(split)} has only {n} examples (fewer than {SMALL_TEST}), so its metrics are noisy."
            )
        for m in ms:
            if "ci_low" in m and m["ci_high"] - m["ci_low"] > WIDE_CI:
                out.append(
                    f"{metric_label(m['name'])} is uncertain: its approximate 95% interval runs from "
                    f"{fmt(m['ci_low'])} to {fmt(m['ci_high'])}."
                )
        missing = sorted({metric_label(m["name"]) for m in ms if "baseline" not in m})
        if missing:
            what = "those values" if len(missing) > 1 else "that value"
            out.append(f"No baseline is recorded for {', '.join(missing)}, so {what} cannot be judged alone.")
        train = {m["name"]: m for m in part.get("metrics", []) if m["split"].split(".")[-1] == "train"}
        for m in ms:
            t = train.get(m["name"])
            if t and m["name"] in ("accuracy", "mcc", "auroc", "spearman") and t["value"] - m["value"] > 0.05:
                out.append(
                    f"Training {metric_label(m['name'])} ({fmt(t['value'])}) is above the value on the {split_label(split)} "
                    f"({fmt(m['value'])}): the model fits its training data better than new data."
                )
                break
        classes = part.get("classes")
        if classes and max(classes.values()) / sum(classes.values()) > 0.65:
            big = max(classes, key=lambda k: classes[k])
            out.append(f"The classes are unbalanced: {big} has {classes[big]} of {sum(classes.values())} samples.")
        if part.get("stopped_because") == "budget" and part.get("steps"):
            out.append(f"Training stopped at its budget ({part['steps']} steps), not by early stopping.")
    elif part["kind"] == "guides":
        if not part["has_ontarget_model"]:
            out.append("No on-target model was given, so guides are ranked without predicted efficiency.")
        if not part["has_offtarget_search"]:
            out.append("No genome was searched for off-targets, so specificity is unknown.")
        flagged = part["n_guides"] - part["n_unflagged"]
        if flagged:
            out.append(f"{flagged} of {part['n_guides']} guides carry sequence flags and should be avoided.")
    elif part["kind"] == "variants":
        if part["n_unscored"]:
            why = ", ".join(f"{k} {v}" for k, v in part["skip_reasons"].items())
            out.append(
                f"{part['n_unscored']} of {part['n_alleles']} alleles were not scored" + (f" ({why})." if why else ".")
            )
        if part["n_zero"] and part["n_scored"]:
            out.append(
                f"{part['n_zero']} of {part['n_scored']} scored alleles have a score of exactly 0 "
                f"(no predicted effect under method {part.get('method') or 'unknown'})."
            )
        out.append("GENOLM_SCORE is a model prediction; none of these effects is experimentally confirmed here.")
    return out


def _guide_label(g: dict) -> str:
    bits = [f"on-target {fmt(g['ontarget_score'])}" if "ontarget_score" in g else ""]
    bits.append(f"specificity {fmt(g['specificity'])}" if "specificity" in g else "")
    bits.append(f"{g['offtargets']} off-target sites" if "offtargets" in g else "")
    return f"{g.get('guide_id', '?')} ({', '.join(b for b in bits if b)})"


def _suggestions(part: dict) -> list[dict]:
    out = []
    if part["kind"] == "guides" and part["top_unflagged"]:
        top = part["top_unflagged"][:3]
        out.append(
            {
                "text": "Test these guides first: " + "; ".join(_guide_label(g) for g in top) + ".",
                "evidence": f"the best-ranked unflagged guides of {part['name']}, by final score",
            }
        )
        if not part["has_offtarget_search"]:
            out.append(
                {"text": "Rerun the design with --genome to count off-target sites.", "evidence": "no off_*mm columns"}
            )
    elif part["kind"] == "variants" and part["top"]:
        top = part["top"][:3]
        out.append(
            {
                "text": "Validate the strongest predicted effects first: "
                + "; ".join(f"{v['id']} (GENOLM_SCORE {fmt(v['score'])})" for v in top)
                + ", for example by a reporter assay or saturation editing.",
                "evidence": f"the largest |GENOLM_SCORE| of {part['n_scored']} scored alleles in {part['name']}",
            }
        )
    elif part["kind"] == "run":
        split = primary_split(part)
        ms = [m for m in part.get("metrics", []) if m["split"] == split]
        n = next((m["n"] for m in ms if m.get("n")), None)
        wide = [m for m in ms if "ci_low" in m and m["ci_high"] - m["ci_low"] > WIDE_CI]
        if n is not None and (n < SMALL_TEST or wide):
            out.append(
                {
                    "text": f"Evaluate on a larger held-out set than the {n} examples of the {split_label(split)}.",
                    "evidence": f"{n} examples in the {split_label(split)}"
                    + "".join(
                        f"; {metric_label(m['name'])} 95% interval {fmt(m['ci_low'])} to {fmt(m['ci_high'])}"
                        for m in wide[:2]
                    ),
                }
            )
        classes = part.get("classes")
        if classes and len(classes) > 1:
            small = min(classes, key=lambda k: classes[k])
            out.append(
                {
                    "text": f"Add samples of the rarest class, {small}, which has {classes[small]} samples.",
                    "evidence": f"class counts {', '.join(f'{k} {v}' for k, v in classes.items())}",
                }
            )
        for mk in part.get("top_markers", [])[:3]:
            if mk.get("gene"):
                out.append(
                    {
                        "text": f"Check marker {mk['gene']} ({mk.get('name', '')[:60].rsplit(' ', 1)[0]}) in an independent cohort.",
                        "evidence": f"ranked {mk.get('rank', '?')} in genes.csv"
                        + (f", SNR {fmt(mk['snr'])}" if "snr" in mk else ""),
                    }
                )
        if not out and ms:
            out.append(
                {
                    "text": "More labelled training data is the likeliest way to improve the model; compare a rerun "
                    "with a second seed to see how much of the result is seed noise.",
                    "evidence": f"one run, seed {part['seed']}" if part.get("seed") is not None else "one evaluation",
                }
            )
    return out
