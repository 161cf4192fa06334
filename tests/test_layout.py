"""The package layout holds: each package imports only what docs/design.md's map allows, every
module is on the map, no import cycles, and the isolation package imports nothing trusted."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "grader"
DESIGN = PACKAGE.parent / "docs" / "design.md"

# Package (or top-level module) -> the packages it may import, as docs/design.md's map says.
ALL = {"isolation", "grading", "checks", "results", "classroom", "exam", "student", "publish",
       "ci", "serve", "commands", "course", "environment", "errors"}
ALLOWED: dict[str, set[str]] = {
    "isolation": set(),  # the zygote and the worker: nothing trusted is ever loaded there
    "results": set(),
    "errors": set(),
    "course": {"results", "isolation"},
    "environment": {"course", "isolation"},
    "checks": {"isolation", "grading"},
    "grading": {"isolation", "checks", "results", "course", "environment"},
    "classroom": {"grading", "results", "isolation", "course", "environment"},
    "exam": {"classroom", "results", "course"},
    "student": {"checks", "course", "environment", "results"},
    "publish": {"grading", "isolation", "results", "course", "environment"},
    "ci": {"grading", "results", "course"},
    "serve": {"classroom", "grading", "results", "course", "environment"},
    "commands": ALL - {"commands"},
    "__main__": {"commands"},
}
# The root of the expected failures may be raised anywhere trusted: outside isolation and results.
for _package in ALLOWED.keys() - {"isolation", "results", "errors", "__main__"}:
    ALLOWED[_package].add("errors")
# Single imports across those lines, each with its reason.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("grader.student.local", "grader.grading.banned"):
        "the static scan for banned calls reads source text only; the student's runner tells "
        "them of a banned call as grading would",
    ("grader.student.local", "grader.grading.notebook"):
        "a notebook is read as grading reads it (its JSON only, never run by the grader), so "
        "the student's tests run the same code cells and point at the same cells",
    ("grader.student.local", "grader.grading.submission"):
        "the student's runner imports the files grading stages (a module's sibling files, no "
        "folder), and says so of a folder in grading's words",
    ("grader.student.local", "grader.grading.remote"):
        "what the student's code raises, and a call refused, reach the shared checks as "
        "grading's StudentError and BannedCallError, told in grading's words",
    ("grader.student.local", "grader.grading.encoding"):
        "a module saved as UTF-16 or Windows-1252 is told as grading tells it (its bytes read "
        "and parsed, never run)",
    ("grader.student.local", "grader.isolation.audit"):
        "an import of a library the topic bans, or of a module that needs one, is refused in "
        "the worker's words (audit.absent)",
    ("grader.student.local", "grader.isolation.profiles"):
        "autograd's ways in that a worker refuses (profiles.AUTOGRAD) are refused in the "
        "student's calls where their topic bans autograd",
}


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


def package_of(module: str) -> str:
    """grader.classroom.dask.client -> classroom; grader.course -> course."""
    return module.split(".")[1] if module.count(".") >= 1 else "grader"


def forbidden(graph: dict[str, set[str]]) -> list[str]:
    """Imports that cross into a package their package's row does not allow."""
    found = []
    for module, targets in sorted(graph.items()):
        here = package_of(module)
        for target in sorted(targets):
            there = package_of(target)
            if there in (here, "grader") or there in ALLOWED.get(here, set()) or \
                    (module, target) in EXCEPTIONS:
                continue
            found.append(f"{module} imports {target} ({here} may import "
                         f"{', '.join(sorted(ALLOWED.get(here, set()))) or 'nothing of grader'})")
    return found


def test_each_package_imports_only_what_the_map_allows() -> None:
    assert forbidden(import_graph()) == []


def test_a_planted_forbidden_import_is_found() -> None:
    graph = import_graph()
    graph["grader.isolation.worker"] = graph["grader.isolation.worker"] | {"grader.grading.plugin"}
    graph["grader.results.model"] = graph["grader.results.model"] | {"grader.classroom.batch"}
    found = forbidden(graph)
    assert len(found) == 2 and "grader.isolation.worker imports grader.grading.plugin" in found[0]


def test_the_engine_side_modules_may_not_import_the_command_line() -> None:
    graph = import_graph()
    assert "grader.errors" in graph["grader.course"]  # control: the root may be imported there
    graph["grader.publish.release"] = graph["grader.publish.release"] | {"grader.commands.common"}
    graph["grader.ci"] = graph["grader.ci"] | {"grader.commands.common"}
    graph["grader.results.model"] = graph["grader.results.model"] | {"grader.errors"}
    assert [line.split(" (")[0] for line in forbidden(graph)] == [
        "grader.ci imports grader.commands.common",
        "grader.publish.release imports grader.commands.common",
        "grader.results.model imports grader.errors"]


def test_the_exceptions_are_still_needed() -> None:
    graph = import_graph()
    assert [pair for pair in EXCEPTIONS if pair[1] not in graph.get(pair[0], set())] == []


def map_rows() -> dict[str, str]:
    """docs/design.md's map: the text of each package's (or top-level module's) row."""
    text = DESIGN.read_text()
    block = text.split("## Map", 1)[1].split("```", 2)[1]
    rows: dict[str, str] = {}
    current = ""
    for line in block.splitlines():
        m = re.match(r"grader/(\w+)(?:/|\.py)", line)
        if m:
            current = m.group(1)
        if current:
            rows[current] = rows.get(current, "") + " " + line
    return rows


def unmapped(rows: dict[str, str]) -> list[str]:
    """The modules of grader/ that the map's rows do not name."""
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if path.stem == "__init__" and name.count(".") > 1:  # a subpackage: named by its folder
            stem = name.rsplit(".", 1)[1]
        elif path.stem == "__init__":
            continue
        else:
            stem = path.stem
        row = rows.get(package_of(name) if name.count(".") >= 1 else "", "")
        if name.count(".") == 1 and path.parent == PACKAGE:  # grader/course.py: a row of its own
            row = rows.get(stem, "")
        if not re.search(rf"\b{re.escape(stem)}\b", row):
            missing.append(name)
    return missing


def test_every_module_is_on_the_map() -> None:
    rows = map_rows()
    assert unmapped(rows) == [], "not named in docs/design.md's map"
    assert set(ALLOWED) - {"__main__"} <= set(rows), "a package of the table has no row"


def test_a_module_missing_from_the_map_is_found() -> None:
    rows = map_rows()
    rows["isolation"] = rows["isolation"].replace("treewatch", "")
    assert unmapped(rows) == ["grader.isolation.treewatch"]


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
