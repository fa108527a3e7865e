"""The task registry: one declaration per task, read identically by the CLI, REST and MCP."""

from __future__ import annotations

import json

import click
import pytest
import typer

from genolm.cli.main import app
from genolm.core import registry
from genolm.core.registry import ParamError

TASKS = registry.tasks(include_cli_only=True)


def _click_command(path: list[str]) -> click.Command:
    cmd = typer.main.get_command(app)
    for part in path:
        assert hasattr(cmd, "commands"), path
        cmd = cmd.commands[part]
    return cmd


def _sample_value(p):
    t = p.item_type
    v = {bool: True, int: 3, float: 0.5}.get(t, "x.csv" if p.path else "abc")
    if t in (int, float) and p.min is not None:
        v = t(max(v, p.min))
    if t in (int, float) and p.max is not None:
        v = t(min(v, p.max))
    return [v, v] if p.is_list else v


def test_every_command_of_the_cli_is_a_registry_task_and_back():
    names = set()

    def walk(cmd, prefix):
        for name, sub in cmd.commands.items():
            if hasattr(sub, "commands"):
                if not sub.hidden:
                    walk(sub, prefix + [name])
            elif not sub.hidden:
                names.add(".".join(prefix + [name]))

    walk(typer.main.get_command(app), [])
    assert names == {t.name for t in TASKS}
    assert {"crispr.offtargets", "variants.score", "predict", "serve.api", "serve.mcp"} <= names
    # the old group name still works, hidden
    assert "kg" in typer.main.get_command(app).commands


@pytest.mark.parametrize("t", TASKS, ids=lambda t: t.name)
def test_json_names_are_the_cli_options_with_underscores_and_argv_parses_back(t):
    schema = t.json_schema()
    json.dumps(schema)  # serialisable as is
    assert schema["title"] == t.name and schema["additionalProperties"] is False
    cmd = _click_command(t.path)
    by_opt = {o: p for p in cmd.params for o in p.opts + p.secondary_opts}
    for p in t.params:
        if p.argument:
            continue
        canonical = "--" + p.key.replace("_", "-")
        assert canonical in by_opt, (t.name, p.key)  # the REST/MCP name is a real CLI option
    # every parameter set (sampled values, not defaults) survives argv -> the CLI's own parser
    sent = {p.key: _sample_value(p) for p in t.params if not (p.hidden or p.local_only)}
    valid = t.validate(sent)
    ctx = cmd.make_context(t.name, t.argv(valid)[len(t.path) :])
    for p in t.params:
        if p.hidden or p.local_only:
            continue
        got = ctx.params[p.name]
        want = valid[p.key]
        if p.is_list:
            got, want = [str(x) for x in got], [str(x) for x in want]
        elif p.path or p.base_type is str:
            got, want = str(got), str(want)
        assert got == want, (t.name, p.key, got, want)


def test_validation_errors_name_the_parameter():
    t = registry.get("crispr.offtargets")
    ok = t.validate({"guides": "g.txt", "genome": "g.fa", "out": "o.tsv"})
    assert ok["max_mismatches"] == 4 and ok["pams"] == "NGG,NAG"  # CLI defaults filled in
    cases = [
        ({"genome": "g.fa", "out": "o.tsv"}, "guides: required"),
        (
            {"guides": "g", "genome": "g", "out": "o", "max_mismatch": 3},
            "unknown parameter (did you mean 'max_mismatches'?)",
        ),
        ({"guides": "g", "genome": "g", "out": "o", "max_mismatches": "four"}, "expected an integer"),
        ({"guides": "g", "genome": "g", "out": "o", "max_mismatches": 2.5}, "expected an integer"),
        ({"guides": "g", "genome": "g", "out": "o", "max_mismatches": True}, "expected a number"),
        ({"guides": ["g"], "genome": "g", "out": "o"}, "expected a string"),
        ({"guides": "g" * 20_000, "genome": "g", "out": "o"}, "longer than"),
    ]
    for params, msg in cases:
        with pytest.raises(ParamError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
            t.validate(params)
    bounded = registry.get("serve.api")
    with pytest.raises(ParamError, match="port: must be <= 65535"):
        bounded.validate({"port": 70000})
    with pytest.raises(KeyError, match="did you mean 'crispr.offtargets'"):
        registry.get("crispr.offtarget")


def test_paths_are_marked_for_confinement():
    t = registry.get("crispr.offtargets")
    kinds = {p.key: p.path for p in t.params}
    assert kinds["guides"] == kinds["genome"] == "in"
    assert kinds["out"] == kinds["summary"] == "out"
    assert kinds["max_mismatches"] is None and kinds["pams"] is None
    assert registry.get("lit.kg.build").param("db").path == "out"
    assert registry.get("lit.search").param("db").path == "in"
    # servers and in-place converters are CLI-only: never a REST job or an MCP tool
    served = {t.name for t in registry.tasks()}
    assert "serve.api" not in served and "convert" not in served and "crispr.design" in served


def test_urls_and_keys_the_server_would_use_are_command_line_only():
    t = registry.get("explain-run")
    assert "llm_url" not in t.json_schema()["properties"] and "llm_key" not in t.json_schema()["properties"]
    with pytest.raises(ParamError, match=r"llm_url: set where the server runs \(the server's \$GENOLM_LLM_URL\)"):
        t.validate({"run_dir": "jobs/x", "out": "s.md", "llm_url": "http://169.254.169.254/"})
    ok = t.validate({"run_dir": "jobs/x", "out": "s.md"})
    assert "llm_url" not in ok and "--llm-url" not in t.argv(ok)
    assert "llm_url" not in registry.get("lit.ask").json_schema()["properties"]
    # keyword values of a path parameter are published, so clients know `jaspar` names no file
    assert registry.get("variants.score").json_schema()["properties"]["model"]["x-genolm-keywords"] == ["jaspar"]


def test_non_finite_numbers_and_option_like_positionals_are_not_smuggled_in():
    t = registry.get("demo")
    for bad in (float("nan"), float("inf"), "nan", "-inf", "1e999"):
        with pytest.raises(ParamError, match="minutes: expected a finite number"):
            t.validate({"out": "d", "minutes": bad})
    with pytest.raises(ParamError, match="seed: expected an integer"):
        t.validate({"out": "d", "seed": "inf"})
    s = registry.get("lit.search")
    argv = s.argv(s.validate({"query": "--help"}))
    assert argv[-2:] == ["--", "--help"]  # a query, not the help flag
    cmd = _click_command(s.path)
    assert cmd.make_context("lit.search", argv[len(s.path) :]).params["query"] == "--help"


def test_no_client_can_make_the_server_run_a_model_folders_code():
    for t in registry.tasks():
        assert "trust_remote_code" not in t.json_schema()["properties"], t.name
    with pytest.raises(ParamError, match="trust_remote_code: set where the server runs"):
        registry.get("predict").validate(
            {"model": "hf:x/y", "input": "a.fa", "out": "p.csv", "trust_remote_code": True}
        )
