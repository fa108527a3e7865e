"""The task registry: every user-facing operation declared once, read by the CLI, the REST API and MCP.

A task is a typed function in ``genolm.tasks.*`` decorated with :func:`task`; its parameters carry an
:func:`Opt` (or :func:`Arg`) default that says the option's flags, help, bounds and whether it names an
input or an output file. From that one declaration:

- ``genolm.cli.main`` builds the Typer command ``genolm crispr offtargets --max-mismatches 4``;
- ``genolm.serve`` accepts ``POST /v1/jobs/crispr.offtargets`` with ``{"max_mismatches": 4}`` and the MCP
  server lists a tool ``crispr.offtargets`` with the same JSON schema (:meth:`Task.json_schema`);
- both validate with :meth:`Task.validate` and run a job as the CLI itself (:meth:`Task.argv`), so the same
  inputs give byte-identical files through every face.

Names: the task name is the command path with dots (``variants.score``, ``predict``); a parameter's name
is its Python name, which is the canonical flag with underscores (``--max-mismatches`` -> ``max_mismatches``).
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

REQUIRED: Any = ...  # the default of a required parameter (as in Typer/click)

# metavars that name a file or folder; anything else (a region, a number, a PAM) is a plain value
_PATH_METAVARS = re.compile(
    r"^(FILE|PATH|\w*_?DIR|FASTA|FASTQ|CSV|TSV|VCF|GFF3?|GTF|BED|BEDGRAPH|BIGWIG|JSONL?|NPZ|TXT|"
    r"HTML|MD|H5AD|PARQUET|MEME|PUBTATOR|IOB|DB|SQLITE|YAML|TABLE)(\.GZ)?$",
    re.I,
)
_OUT_NAMES = {"out", "output", "summary", "report"}


@dataclass(frozen=True)
class Param:
    """One parameter of a task: the option a CLI user types, the JSON field a REST/MCP client sends."""

    name: str = ""  # filled in by @task from the function signature
    default: Any = REQUIRED
    flags: tuple[str, ...] = ()  # first = canonical; the rest are aliases (hidden from REST/MCP)
    help: str = ""
    metavar: str | None = None
    min: float | None = None
    max: float | None = None
    hidden: bool = False
    envvar: str | None = None
    show_envvar: bool = False
    argument: bool = False  # positional on the command line
    path: str | None = None  # "in" (an input file/folder), "out" (a result path) or None (a value)
    keywords: tuple[str, ...] = ()  # values of a path parameter that name no file (`--model jaspar`)
    local_only: bool = False  # a command-line option only: a server sets it in its environment (URLs, keys)
    annotation: Any = str  # the resolved Python type (str, int, float, bool, Path, list[Path], Optional[..])

    @property
    def key(self) -> str:
        """The name REST and MCP use: the canonical long flag with underscores (``max_mismatches``)."""
        if self.argument:
            return self.name
        longs = [f.split("/")[0] for f in self.cli_flags if f.startswith("--")]
        return longs[0][2:].replace("-", "_") if longs else self.name

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def base_type(self) -> Any:
        """The type without Optional: str, int, float, bool, Path or list[...]."""
        t = self.annotation
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if typing.get_origin(t) in (typing.Union, types.UnionType) and args:
            t = args[0]
        return t

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.base_type) in (list, typing.List)  # noqa: UP006

    @property
    def item_type(self) -> Any:
        return typing.get_args(self.base_type)[0] if self.is_list else self.base_type

    @property
    def is_flag(self) -> bool:
        return self.base_type is bool

    @property
    def cli_flags(self) -> tuple[str, ...]:
        """The flags as declared, or ``--name-with-dashes`` (and ``--no-...`` for a bool) when none were."""
        if self.flags or self.argument:
            return self.flags
        dashed = "--" + self.name.replace("_", "-")
        return (f"{dashed}/--no-{dashed[2:]}",) if self.is_flag and self.default is True else (dashed,)


def Opt(default: Any = REQUIRED, *flags: str, path: str | None = None, **kw: Any) -> Param:  # noqa: N802
    """Declare an option: ``Opt(4, "--max-mismatches", help=..., min=0)``; the first flag is canonical.

    ``path="in"``/``"out"`` marks a file parameter; it is inferred from the metavar (FASTA, CSV, DIR...) and
    from the name ``out`` when not given. Keywords: help, metavar, min, max, hidden, envvar, show_envvar, and
    ``keywords`` (values of a path parameter that are names, not files: ``("jaspar",)``) and ``local_only``
    (an option REST/MCP clients may not set, e.g. a URL the server would call or a key: the server's
    environment variable supplies it).
    """
    return Param(default=default, flags=tuple(flags), path=path, **kw)


def Arg(default: Any = REQUIRED, *, path: str | None = None, **kw: Any) -> Param:  # noqa: N802
    """Declare a positional argument (``genolm lit search QUERY``); REST/MCP send it by name."""
    return Param(default=default, argument=True, path=path, **kw)


@dataclass
class Task:
    """A registered operation: its name, function, parameters and which faces offer it."""

    name: str  # "crispr.offtargets"
    func: Callable[..., Any]
    params: list[Param]
    help: str
    cli_only: bool = False  # servers and in-place converters: not offered as REST jobs or MCP tools
    extra: dict = field(default_factory=dict)

    @property
    def path(self) -> list[str]:
        return self.name.split(".")

    @property
    def summary(self) -> str:
        """The first paragraph of the docstring, on one line."""
        return " ".join(self.help.strip().split("\n\n")[0].split())

    def param(self, name: str) -> Param:
        for p in self.params:
            if name in (p.key, p.name):
                return p
        raise KeyError(name)

    # --- the schema REST and MCP expose --------------------------------------------------------------
    def json_schema(self) -> dict:
        """A JSON schema of the parameters (names with underscores, CLI defaults, bounds, descriptions)."""
        props: dict[str, dict] = {}
        required = []
        for p in self.params:
            if p.hidden or p.local_only:
                continue
            item = _json_type(p.item_type)
            s: dict[str, Any] = {"type": "array", "items": item} if p.is_list else dict(item)
            if p.help:
                s["description"] = p.help
            if p.path:
                s["x-genolm-path"] = p.path
            if p.keywords:
                s["x-genolm-keywords"] = list(p.keywords)
            if p.min is not None:
                s["minimum"] = p.min
            if p.max is not None:
                s["maximum"] = p.max
            if p.required:
                required.append(p.key)
            elif p.default is not None:
                s["default"] = str(p.default) if isinstance(p.default, Path) else p.default
            props[p.key] = s
        schema: dict[str, Any] = {
            "title": self.name,
            "description": self.summary,
            "type": "object",
            "properties": props,
            "additionalProperties": False,
        }
        if required:
            schema["required"] = required
        return schema

    def validate(self, params: dict) -> dict:
        """Check JSON parameters against the declaration; return them with types coerced and defaults filled.

        Raises :class:`ParamError` (a 422 for REST, an error result for MCP) naming the parameter.
        """
        if not isinstance(params, dict):
            raise ParamError(self.name, "", "parameters must be a JSON object")
        known = {p.key: p for p in self.params}
        for k in params:
            if k in known and known[k].local_only:
                env = f" (the server's ${known[k].envvar})" if known[k].envvar else ""
                raise ParamError(self.name, k, f"set where the server runs{env}, not per request")
            if k not in known:
                hint = _closest(k, list(known))
                raise ParamError(self.name, k, "unknown parameter" + (f" (did you mean {hint!r}?)" if hint else ""))
        out: dict[str, Any] = {}
        for p in self.params:
            if p.key not in params or params[p.key] is None:
                if p.required:
                    raise ParamError(self.name, p.key, "required")
                out[p.key] = p.default
                continue
            out[p.key] = _coerce(self.name, p, params[p.key])
        for p in self.params:
            if p.local_only:
                out.pop(p.key, None)  # the job's own environment supplies it (envvar)
        return out

    def argv(self, params: dict) -> list[str]:
        """The command line that runs this task with validated ``params``: ``[*path, *options]``."""
        args: list[str] = list(self.path)
        positional: list[str] = []
        for p in self.params:
            v = params.get(p.key, p.default)
            if v is REQUIRED or v is None or (p.default is not REQUIRED and v == p.default and not p.required):
                continue
            flag = p.cli_flags[0] if p.cli_flags else ""
            if p.argument:
                positional.append(str(v))
            elif p.is_flag:
                on, _, off = flag.partition("/")
                if v:
                    args.append(on)
                elif off:
                    args.append(off)
            elif p.is_list:
                for item in v:
                    args += [flag, str(item)]
            else:
                args += [flag, str(v)]
        # positionals after "--": a value such as "--help" is then a query, never an option
        return args + (["--", *positional] if positional else [])


class ParamError(ValueError):
    """A parameter that does not fit its declaration (unknown, missing, wrong type, out of bounds)."""

    def __init__(self, task: str, param: str, problem: str):
        self.task, self.param, self.problem = task, param, problem
        super().__init__(f"{task}: {param + ': ' if param else ''}{problem}")


def _json_type(t: Any) -> dict:
    if t is bool:
        return {"type": "boolean"}
    if t is int:
        return {"type": "integer"}
    if t is float:
        return {"type": "number"}
    return {"type": "string"}


def _coerce(task: str, p: Param, v: Any) -> Any:
    if p.is_list:
        if isinstance(v, (str, int, float)):
            v = [v]
        if not isinstance(v, list):
            raise ParamError(task, p.key, "expected a list")
        return [_coerce_one(task, p, x, p.item_type) for x in v]
    return _coerce_one(task, p, v, p.base_type)


def _coerce_one(task: str, p: Param, v: Any, t: Any) -> Any:
    if t is bool:
        if isinstance(v, bool):
            return v
        raise ParamError(task, p.key, f"expected true or false, got {v!r}")
    if t in (int, float):
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ParamError(task, p.key, f"expected a number, got {v!r}")
        try:
            f = float(v)
            x = None if not math.isfinite(f) else f if t is float else int(f) if f == int(f) else None
        except (TypeError, ValueError, OverflowError):
            x = None
        if x is None:
            raise ParamError(task, p.key, f"expected {'an integer' if t is int else 'a finite number'}, got {v!r}")
        if p.min is not None and x < p.min:
            raise ParamError(task, p.key, f"must be >= {p.min:g}, got {x}")
        if p.max is not None and x > p.max:
            raise ParamError(task, p.key, f"must be <= {p.max:g}, got {x}")
        return x
    if not isinstance(v, (str, int, float)) or isinstance(v, bool):
        raise ParamError(task, p.key, f"expected a string, got {type(v).__name__}")
    s = str(v)
    if len(s) > MAX_VALUE_CHARS:
        raise ParamError(task, p.key, f"value longer than {MAX_VALUE_CHARS} characters")
    if "\x00" in s:
        raise ParamError(task, p.key, "value contains a NUL byte")
    return s


MAX_VALUE_CHARS = 10_000  # one parameter value (a path, a region, a query); inputs travel as files


def _closest(name: str, names: list[str]) -> str | None:
    import difflib

    m = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return m[0] if m else None


# --- registration -----------------------------------------------------------------------------------
_TASKS: dict[str, Task] = {}
_GROUPS: dict[str, dict] = {}  # "crispr" -> {"help": ..., "hidden_alias_of": None}
_LOADED = False
TASK_MODULES = (  # the declarations, in the order the CLI lists them
    "genolm.tasks.dna",  # pretrain, finetune, evaluate, predict, embed, demo
    "genolm.tasks.variants",
    "genolm.tasks.annotate",
    "genolm.tasks.scan",  # scan, discover
    "genolm.tasks.lit",
    "genolm.tasks.crispr",
    "genolm.tasks.chem",
    "genolm.tasks.omics",
    "genolm.tasks.linkpred",
    "genolm.tasks.serve",
    "genolm.tasks.convert",
    "genolm.tasks.interpret",  # explain
    "genolm.tasks.motifs",
    "genolm.tasks.generate",
    "genolm.tasks.gan",
    "genolm.tasks.design",
    "genolm.tasks.runs",  # explain-run
)


def group(name: str, help: str, alias: str | None = None) -> None:
    """Declare a command group (``crispr``, ``lit.kg``) and its help; ``alias`` is a hidden old name."""
    _GROUPS[name] = {"help": help, "alias": alias}


def task(name: str, *, cli_only: bool = False, **extra: Any) -> Callable[[Callable], Callable]:
    """Register ``func`` as the task ``name`` (the command path with dots); returns ``func`` unchanged."""

    def deco(func: Callable) -> Callable:
        hints = typing.get_type_hints(func, globalns=sys.modules[func.__module__].__dict__)
        params = []
        for pname, sp in inspect.signature(func).parameters.items():
            spec = sp.default if isinstance(sp.default, Param) else Param(default=sp.default)
            ann = hints.get(pname, str)
            spec = replace(spec, name=pname, annotation=ann)
            spec = replace(spec, path=spec.path or _infer_path(spec))
            params.append(spec)
        if name in _TASKS and _TASKS[name].func.__qualname__ != func.__qualname__:
            raise ValueError(f"task {name!r} declared twice ({_TASKS[name].func.__module__}, {func.__module__})")
        _TASKS[name] = Task(name, func, params, inspect.getdoc(func) or "", cli_only=cli_only, extra=extra)
        return func

    return deco


def _infer_path(p: Param) -> str | None:
    if p.name in _OUT_NAMES or p.name.endswith("_out"):
        return "out"
    if p.item_type is Path or (p.metavar and any(_PATH_METAVARS.match(m) for m in p.metavar.split("|"))):
        return "in"
    return None


def load_all() -> dict[str, Task]:
    """Import every task module (cheap: heavy imports live inside the task functions)."""
    global _LOADED
    if not _LOADED:
        for m in TASK_MODULES:
            try:
                importlib.import_module(m)
            except ModuleNotFoundError as e:  # a face module not built yet
                if e.name != m:
                    raise
        _LOADED = True
    return _TASKS


def tasks(include_cli_only: bool = False) -> list[Task]:
    """Every registered task in declaration order (REST and MCP leave out the CLI-only ones)."""
    return [t for t in load_all().values() if include_cli_only or not t.cli_only]


def get(name: str) -> Task:
    """The task called ``name`` (``crispr.offtargets``); KeyError with the close names otherwise."""
    all_ = load_all()
    if name not in all_:
        hint = _closest(name, list(all_))
        raise KeyError(f"unknown task {name!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
    return all_[name]


def groups() -> dict[str, dict]:
    load_all()
    return dict(_GROUPS)


def echo(message: str = "", err: bool = False) -> None:
    """Print a task's one-line summary on stdout (a job's result summary through REST/MCP); ``err``: on stderr
    (when stdout carries the result itself, e.g. a table written to ``-``)."""
    print(message, file=sys.stderr if err else sys.stdout, flush=True)
