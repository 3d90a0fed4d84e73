"""The house rules, checked: the core and the domains import no framework, the import graph has no
cycle, and no test asserts wall-clock time (speed belongs in benchmarks/, as ratios)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cdig"
FRAMEWORKS = {"torch", "tensorflow", "jax", "jaxlib", "keras", "flax"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, at module level or inside functions (absolute names)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from . import x` may name a module
    return found


@pytest.mark.parametrize("room", ["core", "domains"])
def test_core_and_domains_import_no_framework(room):
    offenders = {
        name: sorted(i for i in _imports(name, path) if i.split(".")[0] in FRAMEWORKS)
        for name, path in _modules().items()
        if name.startswith(f"cdig.{room}")
    }
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_import_graph_has_no_cycle():
    mods = _modules()
    graph = {
        name: {i for i in _imports(name, path) if i in mods and i != name and i != "cdig"}
        for name, path in mods.items()
        if name != "cdig"
    }  # the package's face imports lazily by design
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):  # a package importing its own submodules is its face, not a cycle
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if state.get(nxt) is None and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            cycle = visit(node)
            assert cycle is None, " -> ".join(cycle)


def _timing_names(func: ast.AST) -> set[str]:
    clocks = {"perf_counter", "time", "monotonic", "perf_counter_ns", "process_time"}
    names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node in ast.walk(func):
            if not isinstance(node, ast.Assign):
                continue
            uses = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
            calls = any(
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr in clocks
                and isinstance(n.func.value, ast.Name)
                and n.func.value.id == "time"
                for n in ast.walk(node.value)
            )
            if calls or uses & names:
                for t in node.targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name) and n.id not in names:
                            names.add(n.id)
                            changed = True
    return names


def test_no_test_asserts_wall_clock_time():
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            timing = _timing_names(func)
            for node in ast.walk(func):
                if isinstance(node, ast.Assert) and timing & {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"wall-clock assertions (measure speed in benchmarks/, as ratios): {offenders}"


def test_the_checks_can_fail(tmp_path):
    """The wall-clock detector finds the pattern that once failed a newcomer's run."""
    src = "import time\ndef test_x():\n    t0 = time.perf_counter()\n    dt = time.perf_counter() - t0\n    assert dt < 0.5\n"
    func = ast.parse(src).body[1]
    assert "dt" in _timing_names(func)
