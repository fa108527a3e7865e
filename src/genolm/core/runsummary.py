"""Facts of a finished run, for `genolm explain-run`: what was run on what, metrics with baselines, top items.

A *source* is a run directory (``manifest.json`` + ``metrics.json``: every training command), a result file
(a scored VCF from ``variants score``, a guides table from ``crispr design``) or a folder holding them (a REST
job directory ``jobs/<id>``, a design output folder). :func:`collect_facts` reads them into one JSON-able
dict; every number the summary quotes comes from it (see :mod:`genolm.core.runsummary_text`).

Baselines: a baseline the run wrote itself (``baseline_cv``, ``dev_baseline_longest_orf``,
``valid_baseline_degree_product``) is used first; otherwise the chance level of the metric (MCC, correlations
and R2 0, AUROC 0.5, accuracy = the majority-class rate and AUPRC = the positive rate when the evaluation
labels are known). Uncertainty: an approximate 95% interval per metric (Fisher z for correlations and MCC,
Hanley-McNeil for AUROC, the binomial normal approximation for rates).
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

from genolm.core.runsummary_files import (
    TOP_N,
    count_records,
    delimiter,
    guides_facts,
    header,
    num,
    open_text,
    vcf_facts,
)
from genolm.io.errors import InputError

SMALL_TEST = 100  # fewer evaluation examples than this is a caveat
WIDE_CI = 0.2  # a 95% interval wider than this is a caveat
CI_LEVEL = 95
_Z = 1.959964

# metric names -> chance-level baseline (None: no chance level, e.g. RMSE depends on the label scale)
METRICS: dict[str, float | None] = {
    "mcc": 0.0,
    "auroc": 0.5,
    "auprc": None,
    "accuracy": None,
    "balanced_accuracy": 0.5,
    "f1": None,
    "precision": None,
    "recall": None,
    "spearman": 0.0,
    "pearson": 0.0,
    "r2": 0.0,
    "rmse": None,
    "mae": None,
    "mse": None,
    "perplexity": None,
    "loss": None,
    "exact_match": None,
    "sensitivity": None,
    "specificity": None,
}
_HIGHER_IS_BETTER = {"rmse": False, "mae": False, "mse": False, "perplexity": False, "loss": False}
_EVAL_SPLITS = ("test", "valid", "dev", "cv", "validation", "eval")
_ROLE_KEYS = ("train", "valid", "test", "input", "vcf", "reference", "genome", "matrix", "corpus", "gff")
_CONFIG_SKIP = {"command", "train", "valid", "test", "input", "out", "reference", "genome", "vcf", "gff"}


def collect_facts(source: str | os.PathLike) -> dict:
    """Read a run directory, a result file or a job folder into facts; InputError when it is none of these."""
    src = Path(source)
    if not src.exists():
        raise InputError(f"{src} does not exist (expected a genolm run directory, job directory or result file)")
    parts = [p for p in (_part(f) for f in _find_parts(src)) if p]
    if not parts:
        raise InputError(
            f"{src} is not a genolm run: no manifest.json/metrics.json, scored VCF (GENOLM_SCORE) or guides table found"
        )
    return {"source": src.name or str(src), "ci_level": CI_LEVEL, "small_test": SMALL_TEST, "parts": parts}


def _find_parts(src: Path, depth: int = 0) -> list[Path]:
    if src.is_file():
        return [src]
    if (src / "manifest.json").is_file() or (src / "metrics.json").is_file():
        return [src]
    found: list[Path] = []
    if depth >= 3:
        return found
    for child in sorted(src.iterdir()):
        if child.name.startswith(".") or child.name in ("model", "checkpoint") or child.is_symlink():
            continue
        if child.is_dir():
            found += _find_parts(child, depth + 1)
        elif _kind_of_file(child):
            found.append(child)
    return found


def _kind_of_file(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith((".vcf", ".vcf.gz")):
        return "variants"
    if name.endswith((".tsv", ".csv", ".tsv.gz", ".csv.gz")):
        try:
            cols = header(path)
        except (OSError, UnicodeDecodeError, csv.Error):
            return None
        return "guides" if {"spacer", "final_score"} <= set(cols) else None
    if name.endswith(".json") and path.stat().st_size < 16 * 2**20:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if isinstance(data, dict) and "facts" not in data and _metrics(data, {}, None):
            return "metrics"  # e.g. `genolm crispr evaluate --out m.json` (an explain-run summary.json is not)
    return None


def _part(path: Path) -> dict | None:
    if path.is_dir():
        return run_facts(path)
    kind = _kind_of_file(path)
    try:
        if kind == "variants":
            return vcf_facts(path)
        if kind == "guides":
            return guides_facts(path)
        if kind == "metrics":
            return metrics_file_facts(path)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError, gzip.BadGzipFile) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {path}: {e}") from None


# --- run directories ---------------------------------------------------------------------------------------
def run_facts(run: Path) -> dict:
    manifest = _read_json(run / "manifest.json") if (run / "manifest.json").is_file() else {}
    metrics = _read_json(run / "metrics.json") if (run / "metrics.json").is_file() else {}
    config: dict = {}
    if (run / "config.yaml").is_file():
        try:
            config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise InputError(f"cannot read {run / 'config.yaml'}: {e}") from None
    if not isinstance(config, dict):
        config = {}
    command = manifest.get("command") or config.get("command") or "run"
    part: dict[str, Any] = {"kind": "run", "name": run.name, "command": command}
    argv = manifest.get("argv")
    first = command.split(" ")[0]
    if isinstance(argv, list) and first in argv:
        part["argv"] = "genolm " + " ".join(str(a) for a in argv[argv.index(first) :])
    for key in ("seed", "seconds", "steps"):
        if manifest.get(key) is not None:
            part[key] = manifest[key]
    part["inputs"] = _inputs(manifest, config, run)
    part["config"] = {
        k: v
        for k, v in config.items()
        if k not in _CONFIG_SKIP
        and v is not None
        and isinstance(v, (str, int, float, bool))
        and len(str(v)) < 80
        and not (isinstance(v, str) and ("/" in v or os.sep in v))
    }
    if isinstance(metrics, dict):
        classes = metrics.get("classes") if isinstance(metrics.get("classes"), dict) else None
        if classes:
            part["classes"] = classes
        part["metrics"] = _metrics(metrics, _label_counts(part["inputs"], config), classes)
        for key in ("n_train", "n_dev", "n_test", "n_samples", "n_genes", "train_seconds"):
            if num(metrics.get(key)) is not None:
                part[key] = metrics[key]
        stop = _find_key(metrics, "stopped_because")
        if stop:
            part["stopped_because"] = stop
    else:
        part["metrics"] = []
    _mean_baselines(run, part["metrics"], config)
    markers = _markers(run, metrics)
    if markers:
        part["top_markers"] = markers
    part["files"] = sorted(p.name for p in run.iterdir() if p.is_file())
    return part


def metrics_file_facts(path: Path) -> dict:
    """A metrics JSON written by an evaluate command: its metrics (and chance baselines), no run around it."""
    data = _read_json(path)
    part: dict[str, Any] = {"kind": "run", "name": path.name, "command": None, "metrics_file": True}
    part.update({"inputs": [], "config": {}, "metrics": _metrics(data, {}, None)})
    return part


def _mean_baselines(run: Path, metrics: list[dict], config: dict) -> None:
    """RMSE/MSE/MAE against predicting the mean (median for MAE) of the evaluation labels, read from the run's
    predictions file when it holds them (e.g. `crispr train`'s dev_predictions.csv, column ``target``)."""
    todo = [m for m in metrics if m["name"] in ("rmse", "mse", "mae") and "baseline" not in m and m.get("n")]
    cols = [c for c in (config.get("label_col"), config.get("label_column"), "target", "label") if c]
    for f in sorted(run.glob("*predictions*.csv")) if todo else []:
        with open_text(f) as fh:
            rows = list(csv.DictReader(fh, delimiter=delimiter(f)))
        col = next((c for c in cols if rows and c in rows[0]), None)
        ys = [num(r[col]) for r in rows] if col else []
        if not ys or any(y is None for y in ys) or len(set(ys)) <= 2:
            continue
        y = sorted(float(v) for v in ys if v is not None)
        mean, median = sum(y) / len(y), y[len(y) // 2]
        mse = sum((v - mean) ** 2 for v in y) / len(y)
        base = {"mse": mse, "rmse": math.sqrt(mse), "mae": sum(abs(v - median) for v in y) / len(y)}
        for m in todo:
            if m["n"] == len(y) and "baseline" not in m:
                m["baseline"], m["baseline_name"] = base[m["name"]], "predict-the-mean baseline"
        return


def _find_key(d: Any, key: str) -> Any:
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            found = _find_key(v, key)
            if found is not None:
                return found
    return None


def _locate(p: str, run: Path) -> Path:
    """An input path as recorded (relative to the cwd of the run), else relative to a folder above the run."""
    path = Path(p)
    if path.is_absolute() or path.exists():
        return path
    for base in list(run.resolve().parents)[:4]:
        if (base / path).is_file():
            return base / path
    return path


def _inputs(manifest: dict, config: dict, run: Path) -> list[dict]:
    out = []
    roles = {str(config.get(k)): k for k in _ROLE_KEYS if config.get(k)}
    for p, info in (manifest.get("inputs") or {}).items():
        entry: dict[str, Any] = {"role": roles.get(p, "input"), "name": Path(p).name, "path": str(_locate(p, run))}
        if isinstance(info, dict) and info.get("bytes") is not None:
            entry["bytes"] = info["bytes"]
        rows = count_records(Path(entry["path"]))
        if rows is not None:
            entry["records"] = rows
        out.append(entry)
    return out


def _label_counts(inputs: list[dict], config: dict) -> dict[str, dict[str, int]]:
    """Label counts of each evaluation input (a CSV/TSV with the run's label column), by role."""
    col = config.get("label_column") or config.get("label_col")
    out: dict[str, dict[str, int]] = {}
    if not col:
        return out
    for entry in inputs:
        path = Path(entry["path"])
        if entry["role"] not in _EVAL_SPLITS + ("train",) or not path.is_file() or path.stat().st_size > 64 * 2**20:
            continue
        try:
            with open_text(path) as fh:
                counts: dict[str, int] = {}
                for row in csv.DictReader(fh, delimiter=delimiter(path)):
                    counts[str(row.get(col, ""))] = counts.get(str(row.get(col, "")), 0) + 1
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        if 1 < len(counts) <= 20 and "" not in counts:
            out[entry["role"]] = counts
    return out


def _flatten(d: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(d, dict):
        out = []
        for k, v in d.items():
            out += _flatten(v, (*prefix, str(k)))
        return out
    return [(prefix, d)]


def _metric_name(key: str) -> str | None:
    key = key.lower().removeprefix("eval_")
    return key if key in METRICS else None


def _metrics(metrics: dict, labels: dict[str, dict[str, int]], classes: dict | None) -> list[dict]:
    values, baselines = [], {}
    for path, v in _flatten(metrics):
        name = _metric_name(path[-1]) if path else None
        if name is None or num(v) is None or isinstance(v, bool):
            continue
        where = path[:-1]
        base = next((i for i, p in enumerate(where) if "baseline" in p.lower()), None)
        if base is None:
            values.append((where, name, float(v)))
            continue
        label = where[base].lower()
        split = label.split("_baseline")[0] if "_baseline" in label else label.replace("baseline", "").strip("_")
        desc = label.split("baseline")[-1].strip("_").replace("_", " ")
        parent = _get(metrics, where[:base])
        if isinstance(parent, dict) and isinstance(parent.get("baseline"), str):
            desc = parent["baseline"]
        target = (*where[:base], *((split,) if split else ()), *where[base + 1 :])
        desc = desc or "run's own"
        baselines[(target, name)] = (float(v), desc if "baseline" in desc else f"{desc} baseline")
    out = []
    for where, name, value in values:
        m: dict[str, Any] = {"split": ".".join(where) or "metrics", "name": name, "value": value}
        n = num(_get(metrics, (*where, "n")))
        if n is not None:
            m["n"] = int(n)
        split = where[-1].lower() if where else ""
        if (tuple(where), name) in baselines:
            m["baseline"], m["baseline_name"] = baselines[(tuple(where), name)]
        else:
            _chance_baseline(m, labels.get(split) or (classes if split == "cv" else None))
        _interval(m, labels.get(split) or (classes if split == "cv" else None))
        out.append(m)
    return out


def _get(d: Any, path: tuple[str, ...]) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _chance_baseline(m: dict, counts: dict | None) -> None:
    name, n = m["name"], m.get("n")
    total = sum(counts.values()) if counts else 0
    if counts and (n is None or n == total) and total:
        major = max(counts.values()) / total
        if name == "accuracy":
            m["baseline"], m["baseline_name"] = major, "majority-class rate"
            return
        if name == "auprc" and len(counts) == 2:
            pos = counts.get("1", counts.get("True", min(counts.values())))
            m["baseline"], m["baseline_name"] = pos / total, "random-ranking positive rate"
            return
    chance = METRICS.get(name)
    if chance is not None:
        m["baseline"], m["baseline_name"] = chance, "chance level"


def _interval(m: dict, counts: dict | None) -> None:
    """An approximate 95% interval for metrics with a known n (rounded to 3 decimals)."""
    name, v, n = m["name"], m["value"], m.get("n")
    if not n or n < 4:
        return
    if name in ("mcc", "pearson", "spearman") and abs(v) < 1:
        z, se = math.atanh(v), 1 / math.sqrt(n - 3)
        lo, hi = math.tanh(z - _Z * se), math.tanh(z + _Z * se)
    elif name == "auroc" and 0 < v < 1:
        vals = sorted(counts.values()) if counts and len(counts) == 2 else [n / 2, n / 2]
        n1, n2 = vals[0], vals[-1]
        q1, q2 = v / (2 - v), 2 * v * v / (1 + v)
        se = math.sqrt((v * (1 - v) + (n1 - 1) * (q1 - v * v) + (n2 - 1) * (q2 - v * v)) / (n1 * n2))
        lo, hi = v - _Z * se, v + _Z * se
    elif name in ("accuracy", "balanced_accuracy", "f1", "auprc", "precision", "recall") and 0 < v < 1:
        se = math.sqrt(v * (1 - v) / n)
        lo, hi = v - _Z * se, v + _Z * se
    else:
        return
    m["ci_low"], m["ci_high"] = round(max(lo, -1.0), 3), round(min(hi, 1.0), 3)


def _markers(run: Path, metrics: Any) -> list[dict]:
    if (run / "genes.csv").is_file():
        rows = []
        with open(run / "genes.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                keep = {k: row[k] for k in ("rank", "gene", "name", "marks_class") if row.get(k)}
                for k in ("snr", "q_value"):
                    if num(row.get(k)) is not None:
                        keep[k] = float(row[k])
                rows.append(keep)
                if len(rows) == TOP_N:
                    break
        return rows
    top = metrics.get("top_markers") if isinstance(metrics, dict) else None
    return [t for t in top[:TOP_N] if isinstance(t, dict)] if isinstance(top, list) else []


def is_better(name: str, value: float, baseline: float) -> bool:
    return value > baseline if _HIGHER_IS_BETTER.get(name, True) else value < baseline
