"""The package layout holds: no import cycles, and the isolation package imports nothing trusted."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "grader"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every grader module and the grader modules it imports, at the top or inside a function."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from grader.x import y` imports grader.x.y when y is a module of its own.
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                            else node.module for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    # Control: imported inside a function only, so a parser of top-level imports would miss it.
    assert "grader.classroom.batch" in graph["grader.commands.main"]
    assert "grader.isolation.sandbox" in graph["grader.isolation.zygote"]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_isolation_imports_nothing_from_the_rest_of_the_grader() -> None:
    graph = import_graph()
    isolation = {m for m in graph if m.startswith("grader.isolation")}
    assert {"grader.isolation.zygote", "grader.isolation.worker", "grader.isolation.wire",
            "grader.isolation.sandbox"} <= isolation
    outside = {m: sorted(t for t in graph[m] if t not in isolation and t != "grader")
               for m in isolation}
    assert {m: t for m, t in outside.items() if t} == {}
