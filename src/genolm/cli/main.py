"""The `genolm` command line: a thin skin over the Python API.

Every command parses options, calls one function of the public API and prints a short summary.
Bad input raises :class:`genolm.io.errors.InputError`, printed here as one line with exit code 2.
"""

from __future__ import annotations

import importlib
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


# Command groups: each module defines `app` (a sub-command group, added under `name`) or
# `register(app)` (top-level commands). Heavy imports stay inside the commands so `genolm --help` is fast.
_GROUPS = [
    ("genolm.cli.dna", None),  # pretrain, finetune, evaluate, predict, embed, demo
    ("genolm.cli.variants", "variants"),
    ("genolm.cli.annotate", "annotate"),
    ("genolm.cli.scan", None),  # scan, discover
    ("genolm.cli.lit", "lit"),
    ("genolm.cli.crispr", "crispr"),
    ("genolm.cli.chem", "chem"),
    ("genolm.cli.omics", "omics"),
    ("genolm.cli.kg", "linkpred"),  # knowledge-graph link prediction (was `genolm kg`)
    ("genolm.cli.serve", "serve"),
    ("genolm.cli.convert", None),  # convert: old pickle-based model folders -> safe formats
    ("genolm.cli.interpret", None),  # explain
    ("genolm.cli.motifs", "motifs"),  # motifs discover / scan
    ("genolm.cli.generate", None),  # generate (LM sampling)
    ("genolm.cli.gan", "gan"),  # gan train / sample
    ("genolm.cli.design", None),  # design
]
# old group names that keep working (hidden from --help)
_ALIASES = {"genolm.cli.kg": "kg"}

for _module, _name in _GROUPS:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as _e:  # a group not built yet
        if _e.name != _module:
            raise
        continue
    if hasattr(_mod, "register"):
        _mod.register(app)
    if _name and hasattr(_mod, "app"):
        app.add_typer(_mod.app, name=_name)
        if _module in _ALIASES:
            app.add_typer(_mod.app, name=_ALIASES[_module], hidden=True)

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
