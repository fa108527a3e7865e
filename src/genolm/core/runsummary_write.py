"""`genolm explain-run` end to end: facts -> (LLM text checked by grounding | offline template) -> Markdown.

:func:`explain` is the entry point; the LLM is any ``complete(messages) -> str`` callable (the task passes an
OpenAI-compatible client's chat), so core knows nothing about HTTP.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from genolm.core.runsummary import collect_facts, is_better
from genolm.core.runsummary_text import Complete, annotate, fmt, ground, metric_label, primary_split, split_label

NOTES_RULE = "---"  # provenance notes (writer, removed sentences) follow this line
MIN_KEPT_SENTENCES = 2  # an LLM answer with fewer grounded sentences (or citing no fact) falls back to the template
_DESCRIBE: tuple[str, ...] = ("task", "arch", "model", "classifier", "method", "reduce", "hidden", "layers")
_DESCRIBE += ("n_cnn", "epochs", "max_steps", "cv", "lr")
_HEADLINE = ("mcc", "auroc", "spearman", "pearson", "accuracy", "r2", "f1")


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "..."


# --- template ----------------------------------------------------------------------------------------------
def _metric_phrase(m: dict) -> str:
    s = f"{metric_label(m['name'])} {fmt(m['value'])}"
    extra = []
    if "baseline" in m:
        rel = "better than" if is_better(m["name"], m["value"], m["baseline"]) else "not better than"
        extra.append(f"{rel} the {m['baseline_name']} of {fmt(m['baseline'])}")
    if "ci_low" in m:
        extra.append(f"95% interval {fmt(m['ci_low'])} to {fmt(m['ci_high'])}")
    return s + (f" ({'; '.join(extra)})" if extra else "")


def _input_phrase(i: dict) -> str:
    size = [f"{i['records']} records" if "records" in i else "", f"{i['bytes']} bytes" if "bytes" in i else ""]
    size = [s for s in size if s]
    return f"{i['name']}" + (f" ({', '.join(size)})" if size else "")


def _run_text(p: dict) -> list[str]:
    cmd = p["command"] or ""
    verb = "trained" if any(w in cmd for w in ("train", "finetune", "pretrain")) else "ran"
    cfg = p.get("config", {})
    described = [f"{k.replace('_', ' ')} {fmt(cfg[k])}" for k in _DESCRIBE if k in cfg and not isinstance(cfg[k], bool)]
    label = cfg.get("label_column") or cfg.get("label_col")
    train = [i for i in p["inputs"] if i["role"] in ("train", "matrix", "corpus")] or p["inputs"][:1]
    evals = [i for i in p["inputs"] if i["role"] in ("valid", "test")]
    if p.get("metrics_file"):
        first = f"The metrics file {p['name']} records an evaluation"
    else:
        first = f"This `genolm {cmd}` run {verb} " + ("a model" if verb == "trained" else "its task")
    if described:
        first += f" ({_join(described[:7])})"
    if train:
        first += f" on {_join([_input_phrase(i) for i in train])}"
    if label:
        first += f", predicting the column {label}"
    if evals:
        first += f", and evaluated it on {_join([_input_phrase(i) for i in evals])}"
    tail = []
    if p.get("seed") is not None:
        tail.append(f"seed {p['seed']}")
    if p.get("seconds") is not None:
        tail.append(f"{fmt(p['seconds'])} s of wall time")
    paras = [first + "." + (f" It used {_join(tail)}." if tail else "")]
    if p.get("classes"):
        cl = p["classes"]
        paras[0] += f" Its {sum(cl.values())} samples are {_join([f'{v} {k}' for k, v in cl.items()])}."
    split = primary_split(p)
    ms = [m for m in p.get("metrics", []) if m["split"] == split]
    if ms:
        n = next((m["n"] for m in ms if m.get("n")), None)
        head = sorted((m for m in ms if m["name"] in _HEADLINE), key=lambda m: _HEADLINE.index(m["name"]))[:3]
        head = head or ms[:2]
        rest = [m for m in ms if m not in head and m["name"] != "mse"][:4]
        txt = f"On the {split_label(split)}" + (f" ({n} examples)" if n else "") + " the model reached "
        txt += _join([_metric_phrase(m) for m in head]) + "."
        if rest:
            txt += " It also scored " + _join([_metric_phrase(m) for m in rest]) + "."
        others = {}
        for m in p["metrics"]:
            same = m["name"] == head[0]["name"] and m["value"] != head[0]["value"]
            if m["split"] != split and m["split"] not in others and same:
                others[m["split"]] = m
        if others:
            txt += f" For comparison, {metric_label(head[0]['name'])} on "
            txt += _join([f"{s} is {fmt(m['value'])}" for s, m in list(others.items())[:4]]) + "."
        paras.append(txt)
    markers = p.get("top_markers") or []
    if markers:
        items = []
        for mk in markers:
            bits = [_short(mk.get("name", "")), f"marks {mk['marks_class']}" if mk.get("marks_class") else ""]
            bits.append(f"SNR {fmt(mk['snr'])}" if "snr" in mk else "")
            items.append(f"{mk.get('gene')} ({'; '.join(b for b in bits if b)})")
        paras.append("The top marker genes are " + _join(items) + ".")
    return paras


def _guides_text(p: dict) -> list[str]:
    where = f" in {p['region']['chrom']}:{p['region']['start']}-{p['region']['end']}" if p.get("region") else ""
    txt = f"The guide table {p['name']} holds {p['n_guides']} candidate guides{where}; {p['n_unflagged']} carry no flag"
    if p["flag_counts"]:
        txt += " and the others are flagged (" + _join([f"{k} {v}" for k, v in p["flag_counts"].items()]) + ")"
    paras = [txt + "."]
    if p["top"]:
        g = p["top"][0]
        desc = [f"{g['spacer']} {g.get('pam', '')}".strip() if g.get("spacer") else ""]
        desc.append(f"{g['strand']} strand" if g.get("strand") else "")
        desc.append(f"cut site {g['cut_site']}" if "cut_site" in g else "")
        txt = f"The best-ranked guide is {g.get('guide_id')} ({', '.join(d for d in desc if d)})"
        scores = [f"on-target score {fmt(g['ontarget_score'])}" if "ontarget_score" in g else ""]
        scores += [f"specificity {fmt(g['specificity'])}" if "specificity" in g else ""]
        scores += [f"{g['offtargets']} off-target sites" if "offtargets" in g else ""]
        scores += [f"final score {fmt(g['final_score'])}" if "final_score" in g else ""]
        txt += " with " + _join([s for s in scores if s]) + "."
        rest = [f"{r.get('guide_id')} ({fmt(r['final_score'])})" for r in p["top"][1:] if "final_score" in r]
        if rest:
            txt += " It is followed by " + _join(rest) + " by final score."
        paras.append(txt)
    return paras


def _variants_text(p: dict) -> list[str]:
    how = [f"method {p['method']}" if p.get("method") else "", f"model {p['model']}" if p.get("model") else ""]
    how.append(f"window {p['window']}" if p.get("window") else "")
    how = [h for h in how if h]
    txt = f"The scored VCF {p['name']}" + (f" ({', '.join(how)})" if how else "")
    txt += f" holds {p['n_records']} records; {p['n_scored']} of its {p['n_alleles']} alleles have a GENOLM_SCORE."
    txt += f" Of these, {p['n_negative']} are negative, {p['n_positive']} positive and {p['n_zero']} exactly 0."
    paras = [txt]
    if p["top"]:
        items = [f"{v['id']} ({fmt(v['score'])})" for v in p["top"]]
        paras.append("The strongest predicted effects by |GENOLM_SCORE| are " + _join(items) + ".")
    return paras


def template(facts: dict, suggest: bool) -> str:
    """The offline summary: prose built only from the facts (deterministic)."""
    lines = [f"# Run summary: {facts['source']}", ""]
    for p in facts["parts"]:
        if len(facts["parts"]) > 1:
            lines += [f"## {p['name']}", ""]
        render = {"run": _run_text, "guides": _guides_text, "variants": _variants_text}[p["kind"]]
        for para in render(p):
            lines += [para, ""]
        if p.get("caveats"):
            lines += ["**Caveats.** " + " ".join(p["caveats"]), ""]
    if suggest:
        lines += _suggestions_md(facts)
    return "\n".join(lines).rstrip() + "\n"


def _suggestions_md(facts: dict) -> list[str]:
    items = [s for p in facts["parts"] for s in p.get("next_experiments", [])]
    if not items:
        return []
    out = ["## Next experiments", ""]
    out += [f"- {s['text']} (Evidence: {s['evidence']}.)" for s in items]
    return out + [""]


# --- LLM ---------------------------------------------------------------------------------------------------
def prompt(facts: dict, suggest: bool) -> list[dict]:
    rules = (
        "You summarise a finished genolm run for a biologist. Use ONLY the facts in the JSON below. Rules: "
        "1. Every number you write must appear in the facts (you may round it); do not compute new numbers "
        "(no differences, ratios or percentages that are not in the facts). 2. Never invent results, names or "
        "numbers. 3. Give each metric with its baseline when the facts have one. 4. Mention the caveats. "
        "5. Write 2 to 4 short paragraphs of plain prose in Markdown, no tables."
    )
    if suggest:
        rules += (
            " 6. Then add a section '## Next experiments' with 2 to 4 bullet points (guides to test first, variants "
            "to validate, data that would most improve the model), each ending with (Evidence: <the fact it rests on>)."
        )
    slim = json.dumps(facts, separators=(",", ":"), default=str)
    return [
        {"role": "system", "content": rules},
        {"role": "user", "content": f"Facts (JSON):\n```json\n{slim}\n```\nWrite the summary now."},
    ]


def explain(
    source: str | os.PathLike, complete: Complete | None = None, suggest: bool = False, llm_name: str | None = None
) -> tuple[str, dict]:
    """(Markdown summary, summary.json content) for a run directory, result file or job folder."""
    facts = annotate(collect_facts(source), suggest)
    notes: list[str] = []
    result: dict[str, Any] = {"facts": facts, "writer": "template", "suggest": suggest}
    body = ""
    if complete is not None:
        raw = complete(prompt(facts, suggest))
        g = ground(raw, facts)
        result["llm"] = {"model": llm_name, "raw": raw, "kept_sentences": g.kept, "removed": g.removed}
        if g.kept >= MIN_KEPT_SENTENCES and g.cited and len(g.removed) <= g.kept:
            text = g.text.lstrip()
            if text.startswith("# "):
                text = text.split("\n", 1)[1] if "\n" in text else ""
            body = f"# Run summary: {facts['source']}\n\n{text.strip()}\n"
            if suggest and "next experiments" not in text.lower():
                body += "\n" + "\n".join(_suggestions_md(facts))
            result["writer"] = "llm"
            notes.append(f"_Written by the LLM {llm_name or ''}; every number was checked against the run's files._")
        else:
            why = (
                f"{len(g.removed)} of {g.kept + len(g.removed)} sentences quoted numbers not in the run's files"
                if g.removed
                else "it quoted none of the run's numbers"
            )
            result["llm"]["fallback"] = f"The LLM's answer was not used ({why}); this is the offline summary."
            notes.append("> " + result["llm"]["fallback"])
        if g.removed:
            notes.append("> **Removed (unsupported numbers):** " + " | ".join(f"“{r}”" for r in g.removed))
    if result["writer"] == "template":
        body = template(facts, suggest)
        notes.insert(0, "_Offline template summary: every number is quoted from the run's files._")
    check = ground(body, facts)
    result["cited_numbers"] = check.cited
    result["unsupported"] = check.removed  # always [] for the final body (a test checks it)
    md = body.rstrip() + "\n\n" + NOTES_RULE + "\n\n" + "\n\n".join(notes) + "\n"
    return md, result


def summary_body(md: str) -> str:
    """The summary without its provenance notes (the part whose numbers are all in the facts)."""
    return md.split("\n" + NOTES_RULE + "\n")[0]


def write(out: str | os.PathLike, md: str, result: dict) -> Path:
    """summary.md at ``out`` and summary.json beside it (atomic); returns the JSON path."""
    from genolm.io.atomic import atomic_write_text

    out = Path(out)
    js = out.with_suffix(".json") if out.suffix else out.with_name(out.name + ".json")
    atomic_write_text(out, md)
    atomic_write_text(js, json.dumps(result, indent=2, default=str))
    return js
