"""The `genolm` command line: a thin skin over the Python API.

Every command parses options, calls one function of the public API and prints a short summary.
Bad input raises :class:`genolm.io.errors.InputError`, printed here as one line with exit code 2.
"""

from __future__ import annotations

import logging
import sys

import typer

from genolm.core.progress import set_quiet, silence_library_noise
from genolm.io.errors import InputError

app = typer.Typer(
    name="genolm",
    help="Language models and deep learning for genetics research.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


_HANDLER: logging.Handler | None = None


@app.callback()
def _root(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars; warnings only."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging on stderr."),
) -> None:
    set_quiet(quiet)
    silence_library_noise()
    # the stderr handler honours --quiet/--verbose; run directories' log.txt always gets INFO
    level = logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO)
    global _HANDLER
    root = logging.getLogger()
    if _HANDLER is not None:  # one stderr handler, replaced on each call (tests call main() many times)
        root.removeHandler(_HANDLER)
    _HANDLER = logging.StreamHandler(sys.stderr)
    _HANDLER.setLevel(level)
    _HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(_HANDLER)
    root.setLevel(min(level, logging.INFO))
    logging.getLogger("genolm").setLevel(logging.DEBUG if verbose else logging.INFO)


def _typer_param(p):
    """The Typer option/argument for one registry parameter."""
    from genolm.core.registry import REQUIRED

    default = ... if p.default is REQUIRED else p.default
    if p.argument:
        return typer.Argument(default, metavar=p.metavar, help=p.help)
    kw = {"help": p.help, "metavar": p.metavar, "hidden": p.hidden}
    if p.min is not None:
        kw["min"] = p.min
    if p.max is not None:
        kw["max"] = p.max
    if p.envvar:
        kw["envvar"], kw["show_envvar"] = p.envvar, p.show_envvar
    return typer.Option(default, *p.flags, **kw)


def _command(t):
    """A Typer command function for task ``t``: same parameters, Typer defaults instead of Opt()s."""
    import functools
    import inspect

    @functools.wraps(t.func)
    def run(**kwargs):
        return t.func(**kwargs)

    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=_typer_param(p), annotation=p.annotation)
            for p in t.params
        ]
    )
    run.__annotations__ = {p.name: p.annotation for p in t.params}
    del run.__wrapped__  # Typer must read the new signature, not the declaration's
    return run


def build_app(root: typer.Typer) -> None:
    """Add every registry group and task to ``root``: the CLI is generated from the registry."""
    from genolm.core import registry

    tasks = registry.load_all()
    groups = registry.groups()
    apps: dict[str, typer.Typer] = {"": root}

    def app_for(path: str) -> typer.Typer:
        if path not in apps:
            parent, _, name = path.rpartition(".")
            info = groups.get(path, {})
            sub = typer.Typer(help=info.get("help"), no_args_is_help=True)
            app_for(parent).add_typer(sub, name=name)
            if info.get("alias"):
                app_for(parent).add_typer(sub, name=info["alias"], hidden=True)
            apps[path] = sub
        return apps[path]

    for t in tasks.values():
        parent, _, name = t.name.rpartition(".")
        app_for(parent).command(name)(_command(t))


build_app(app)

_GLOBAL_FLAGS = {"-q", "--quiet", "-v", "--verbose"}


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """``genolm variants score ... -q`` == ``genolm -q variants score ...``: -q/-v work anywhere."""
    flags = [a for a in argv if a in _GLOBAL_FLAGS]
    if "--" in argv:  # nothing after a literal -- is an option
        cut = argv.index("--")
        flags = [a for a in argv[:cut] if a in _GLOBAL_FLAGS]
        return flags + [a for a in argv[:cut] if a not in _GLOBAL_FLAGS] + argv[cut:]
    return flags + [a for a in argv if a not in _GLOBAL_FLAGS]


def main(argv: list[str] | None = None) -> int:
    argv = _hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=argv, standalone_mode=True, prog_name="genolm")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    except InputError as e:
        print(f"genolm: error: {e.format()}", file=sys.stderr)
        return 2
    except (PermissionError, FileExistsError, NotADirectoryError, IsADirectoryError) as e:
        # an output that cannot be written (read-only folder, a file where a folder must go): one line, exit 2;
        # outputs are written through io.atomic, so nothing half-written is left behind
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"genolm: error: {where}cannot write output ({e.strerror or type(e).__name__})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genolm: interrupted", file=sys.stderr)
        return 130
    return 0


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
