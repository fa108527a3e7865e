"""The spine's static rules, checked on the installed source tree (docs/architecture.md):
one training loop (.backward only under core/), no file over 600 lines, no import cycles (module- and
function-level imports alike), no import of another module's _private name, domains never import each
other, and no pickle loading anywhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import genolm

SRC = Path(genolm.__file__).resolve().parent
DOMAINS = ("genome", "editing", "literature", "chem", "omics")


def _modules() -> dict[str, Path]:
    mods = {}
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts)
        mods[name.removesuffix(".__init__")] = p
    return mods


MODS = _modules()


def _imports(name: str, path: Path):
    """(target module, imported name or None) for every genolm import in the module, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("genolm"):
                for a in node.names:
                    yield target, a.name
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("genolm"):
                    yield a.name, None


def _graph():
    graph = {m: set() for m in MODS}
    for m, p in MODS.items():
        for target, name in _imports(m, p):
            full = f"{target}.{name}" if name else target
            dst = full if full in MODS else target
            if dst in MODS and dst != m:
                graph[m].add(dst)
    return graph


def test_no_file_over_600_lines():
    long = {str(p.relative_to(SRC)): n for p in MODS.values() if (n := p.read_text().count("\n") + 1) > 600}
    assert not long, long


def test_backward_only_in_core():
    bad = [
        str(p.relative_to(SRC))
        for p in MODS.values()
        if ".backward(" in p.read_text() and p.relative_to(SRC).parts[0] != "core"
    ]
    assert not bad, f"training loops outside genolm.core.train: {bad}"


def test_no_pickle_loading():
    pat = re.compile(r"joblib\.load|pickle\.loads?\(|torch\.load\((?![^)]*weights_only=True)")
    bad = [
        f"{p.relative_to(SRC)}:{i}"
        for p in MODS.values()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pat.search(line)
    ]
    assert not bad, bad


def test_no_private_imports_across_modules():
    bad = [
        f"{m} imports {t}.{n}"
        for m, p in MODS.items()
        for t, n in _imports(m, p)
        if n and n.startswith("_") and not n.startswith("__") and f"{t}.{n}" not in MODS
    ]
    assert not bad, bad


def test_domains_do_not_import_each_other():
    bad = []
    for m, p in MODS.items():
        parts = m.split(".")
        if len(parts) < 2 or parts[1] not in DOMAINS:
            continue
        for t, _ in _imports(m, p):
            tp = t.split(".")
            if len(tp) > 1 and tp[1] in DOMAINS and tp[1] != parts[1]:
                bad.append(f"{m} -> {t}")
    assert not bad, bad


#: what each layer below the domains may import (ARCHITECTURE.md: cli -> api -> domains -> design/interpret -> core)
LOWER_LAYERS = {
    "design": ("design", "interpret", "core", "sequence", "io"),
    "interpret": ("interpret", "core", "sequence", "io"),
    "core": ("core", "sequence", "io"),
    "sequence": ("sequence", "io"),
    "io": ("io", "sequence"),
}


def test_lower_layers_do_not_import_upwards():
    """interpret/ and design/ work for every domain's models through core.seqmodel, so they never import a domain,
    the API or the CLI; core never imports them."""
    bad = []
    for m, p in MODS.items():
        parts = m.split(".")
        if len(parts) < 2 or parts[1] not in LOWER_LAYERS:
            continue
        for t, _ in _imports(m, p):
            tp = t.split(".")
            if tp[0] == "genolm" and len(tp) > 1 and tp[1] not in LOWER_LAYERS[parts[1]] and tp[1] != "__version__":
                bad.append(f"{m} -> {t}")
    assert not bad, bad


def test_no_import_cycles():
    graph, color, cycles = _graph(), {}, []

    def dfs(u, stack):
        color[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if color.get(v) == 1:
                cyc = stack[stack.index(v) :] + [v]
                if not any(MODS[x].name == "__init__.py" for x in cyc[:-1]):  # package re-exports
                    cycles.append(" -> ".join(cyc))
            elif not color.get(v):
                dfs(v, stack)
        stack.pop()
        color[u] = 2

    for u in sorted(graph):
        if not color.get(u):
            dfs(u, [])
    assert not cycles, cycles


def test_the_import_graph_is_real():
    """The walker is not vacuous: the package's own modules import each other."""
    graph = _graph()
    assert "genolm.core.train" in graph["genolm.genome.lm.pretrain"]
    assert sum(len(v) for v in graph.values()) > 100
