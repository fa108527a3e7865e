"""The docs cannot drift: every code block in README.md and docs/**/*.md is checked by the suite.

- ``python`` blocks in docs/api.md run for real (in a scratch folder with the bundled data slices);
  every other ``python`` block must at least compile.
- every ``genolm ...`` command in a ``bash`` block (README, guides, benchmarks) is parsed by the real CLI:
  the command path and every option must exist and the values must parse (nothing is run).
- every ``python benchmarks/X.py --opt ...`` names a script that exists and defines each option.
- ``genolm ...`` commands in docs/api.md's bash blocks also run for real.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
GLOBAL = {"-q", "--quiet", "-v", "--verbose"}


def blocks(path: Path):
    text = path.read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        line = text[: m.start()].count("\n") + 1
        yield m.group(1).lower(), m.group(2), line


def _optional_parts(line: str) -> str:
    """Usage notation: ``[--opt VALUE]`` is checked as if given; ``a|b|c`` alternatives as their first."""

    def first_alternatives(m):
        return " ".join(w.split("|")[0] for w in m.group(1).split())

    while re.search(r"\[[^\[\]]*\]", line):
        line = re.sub(r"\[([^\[\]]*)\]", first_alternatives, line)
    return line


def commands(text: str):
    """Shell commands of a block: continuation lines joined, comments and prompts dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    for raw in joined.splitlines():
        line = raw.strip().removeprefix("$ ")
        if not line or line.startswith("#"):
            continue
        line = _optional_parts(re.split(r"\s+#\s", line)[0])
        for part in re.split(r"\s*(?:&&|;|\|)\s*", line):
            if part:
                yield part


def _genolm_args(cmd: str) -> list[str] | None:
    try:
        words = shlex.split(cmd)
    except ValueError:
        return None
    while words and re.match(r"^\w+=", words[0]):  # VAR=value prefixes
        words.pop(0)
    if not words:
        return None
    if words[0] == "genolm":
        return words[1:]
    if "genolm.cli.main" in words:  # torchrun / accelerate launch / python -m
        return words[words.index("genolm.cli.main") + 1 :]
    return None


def _cases():
    out = []
    for doc in DOCS:
        for lang, body, line in blocks(doc):
            if lang in ("bash", "sh", "shell", "console", ""):
                for cmd in commands(body):
                    out.append((f"{doc.relative_to(ROOT)}:{line}", lang, cmd))
            elif lang == "python":
                out.append((f"{doc.relative_to(ROOT)}:{line}", "python", body))
    return out


CASES = _cases()


def test_docs_have_code_to_check():
    assert sum(1 for _, lang, c in CASES if lang != "python" and _genolm_args(c) is not None) > 40


@pytest.fixture(scope="module")
def cli():
    from genolm.cli.main import app

    return typer.main.get_command(app)


def _parse(cli, args: list[str]):
    args = [a for a in args if a not in GLOBAL]
    cmd, path = cli, ["genolm"]
    while hasattr(cmd, "commands") and args and not args[0].startswith("-"):
        name = args.pop(0)
        assert name in cmd.commands, f"no command `{' '.join(path)} {name}`"
        cmd = cmd.commands[name]
        path.append(name)
    if "--help" in args:
        return
    cmd.make_context(" ".join(path), list(args))


@pytest.mark.parametrize(
    "where,lang,cmd",
    [c for c in CASES if c[1] != "python" and _genolm_args(c[2]) is not None],
    ids=lambda v: v if isinstance(v, str) and ":" in v else "",
)
def test_documented_cli_command_parses(cli, where, lang, cmd):
    try:
        _parse(cli, _genolm_args(cmd))
    except Exception as e:  # typer vendors its own click: its UsageError is not click's
        if not hasattr(e, "format_message"):
            raise
        pytest.fail(f"{where}: `{cmd}`: {e.format_message()}")


def _benchmark_cmds():
    for where, lang, cmd in CASES:
        if lang == "python":
            continue
        m = re.search(r"python3?\s+(benchmarks/\S+\.py)(.*)", cmd)
        if m:
            yield where, m.group(1), m.group(2)


@pytest.mark.parametrize("where,script,rest", list(_benchmark_cmds()))
def test_documented_benchmark_exists_with_its_options(where, script, rest):
    path = ROOT / script
    assert path.is_file(), f"{where}: {script} does not exist"
    src = path.read_text()
    for opt in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", rest):
        assert f'"{opt}"' in src or f"'{opt}'" in src, f"{where}: {script} has no option {opt}"


@pytest.mark.parametrize(
    "where,lang,body",
    [c for c in CASES if c[1] == "python"],
    ids=lambda v: v if isinstance(v, str) and ":" in v else "",
)
def test_python_blocks_compile(where, lang, body):
    compile(body, where, "exec")


@pytest.mark.slow
def test_api_guide_runs(tmp_path):
    """docs/api.md, executed top to bottom in a scratch folder (bash blocks through the real CLI)."""
    api = ROOT / "docs" / "api.md"
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    parts = ["import shlex, subprocess, sys"]
    for lang, body, line in blocks(api):
        parts.append(f"# ---- docs/api.md:{line}")
        if lang == "python":
            parts.append(body)
        elif lang == "bash":
            for cmd in commands(body):
                args = _genolm_args(cmd)
                assert args is not None, f"docs/api.md:{line}: only genolm commands run here: {cmd}"
                parts.append(f"subprocess.run([sys.executable, '-m', 'genolm.cli.main', *{args!r}], check=True)")
    (tmp_path / "api_guide.py").write_text("\n".join(parts) + "\n")
    env = {**os.environ, "GENOLM_QUIET": "1"}
    res = subprocess.run(
        [sys.executable, "api_guide.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (tmp_path / "runs" / "api" / "predictions.csv").is_file()
