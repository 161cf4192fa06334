"""Static scan of a student module for banned API calls (``grading.toml`` ``[banned] calls``).

Names are resolved through the module's imports, so ``np.polyfit`` with ``import numpy as np``,
``from numpy import polyfit`` and ``F.scaled_dot_product_attention`` with
``import torch.nn.functional as F`` are all found. A pattern bans the name and everything
under it (``sklearn`` bans ``sklearn.linear_model.Ridge``) and may use shell wildcards
(``torch.nn.LSTM*``). Each finding names the enclosing top-level function, so only the tests
that call that function lose their points. Code that never runs while the module is graded
(``never_run``: a self-check under the main guard, imports for type hints) uses nothing.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet

from grader.results.definitions import main_guard


@dataclass(frozen=True)
class Finding:
    name: str  # the resolved dotted name, e.g. "numpy.polyfit"
    line: int
    function: str | None  # enclosing top-level function; None at module level
    via: str | None = None  # the module's own function through which ``function`` reaches it
    file: str | None = None  # another submitted file the topic's module imports; None: the module


@functools.lru_cache(maxsize=4)
def parse(source: str) -> ast.Module:
    """``source``'s syntax tree, parsed once for the several scans of the same file in a grading
    (banned calls, the calls between functions, local imports, dynamic access, literals); the
    scans only read it. Raises as ``ast.parse`` does (a failure is not kept)."""
    return ast.parse(source)


@functools.lru_cache(maxsize=4)
def every_node(tree: ast.AST) -> tuple[ast.AST, ...]:
    """Every node of ``tree`` (``ast.walk``'s order), listed once for the scans that each go
    through a whole module: ``tree`` is one ``parse`` keeps, so the list is found again."""
    return tuple(ast.walk(tree))


def matches(name: str, pattern: str) -> bool:
    """Whether dotted ``name`` falls under ``pattern``."""
    if not any(ch in pattern for ch in "*?["):  # no wildcard: the name or one under it
        return name == pattern or name.startswith(pattern + ".")
    parts = name.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))


def scan(source: str, patterns: tuple[str, ...] | list[str]) -> list[Finding]:
    """Every use of a banned name in ``source`` (imports, attribute chains, calls)."""
    if not patterns:
        return []
    try:
        tree = parse(source)
    except SyntaxError:
        return []  # reported as a syntax error by the worker
    findings: dict[tuple[str, int], Finding] = {}
    banned: dict[str, bool] = {}  # a name used -> whether it falls under a pattern
    for name, line, function in _uses(tree):
        if name not in banned:
            banned[name] = any(matches(name, p) for p in patterns)
        if banned[name]:
            findings.setdefault((name, line), Finding(name, line, function))
    return sorted(findings.values(), key=lambda f: f.line)


@functools.lru_cache(maxsize=4)
def _uses(tree: ast.Module) -> tuple[tuple[str, int, str | None], ...]:
    """(dotted name, line, enclosing top-level function or class) for every name that the code
    of ``tree`` which runs while the module is graded uses, in the order of the tree: found once
    per tree, for the several scans of a grading (the topic's bans, torch's compiler)."""
    aliases = _aliases(tree)
    dead = _never_run(tree)
    uses: list[tuple[str, int, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if id(child) in dead:
                continue
            fn = function
            if function is None and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.ClassDef)):
                fn = child.name
            names, descend = _names_used(child, aliases)
            line: int = getattr(child, "lineno", 0)  # names come only from nodes with a line
            uses.extend((name, line, fn) for name in names)
            if descend:
                visit(child, fn)

    visit(tree, None)
    return tuple(uses)


def calls(source: str, patterns: tuple[str, ...] | list[str]) -> list[Finding]:
    """Every call in ``source`` of a name under ``patterns`` (what ``scan`` finds, called rather
    than only named: ``isinstance(opt, torch.optim.Optimizer)`` is no call of it), each with its
    top-level function or class."""
    try:
        tree = parse(source)
    except SyntaxError:
        return []
    aliases = _aliases(tree)
    found: dict[tuple[str, int], Finding] = {}
    banned: dict[str, bool] = {}  # a name called -> whether it falls under a pattern
    for top in tree.body:
        function = top.name if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                ast.ClassDef)) else None
        for node in ast.walk(top):
            if isinstance(node, ast.Call):
                name = _dotted(node.func, aliases)
                if name is None:
                    continue
                if name not in banned:
                    banned[name] = any(matches(name, p) for p in patterns)
                if banned[name]:
                    found.setdefault((name, node.lineno), Finding(name, node.lineno, function))
    return sorted(found.values(), key=lambda f: f.line)


def packages_imported(path: Path) -> set[str]:
    """The top-level packages a Python file imports anywhere in it ({} where it does not
    parse)."""
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError):
        return set()
    return {name.split(".")[0] for name in _aliases(tree).values()}


@functools.lru_cache(maxsize=4)
def _aliases(tree: ast.AST) -> dict[str, str]:
    """What each imported name stands for: ``np`` -> ``numpy``, ``lstsq`` -> ``numpy.linalg.lstsq``
    (found once per tree: its users only read it)."""
    aliases: dict[str, str] = {}
    for node in every_node(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


# What can make a guard's code run after all: rebinding ``__name__`` or ``TYPE_CHECKING`` (by
# name, by attribute or through a namespace), running code built at run time, or running the
# module again as ``__main__`` (``_RERUNNERS``).
_REBINDERS = {"exec", "eval", "compile", "globals", "vars", "setattr", "__import__"}
# The modules that run a file again under a name of the caller's choosing ("__main__").
_RERUNNERS = {"runpy", "importlib", "code", "codeop"}


def never_run(tree: ast.Module, aliases: dict[str, str]) -> set[int]:
    """The ids of the nodes of ``tree`` that never run while the module is graded (imported
    under its own name, its functions called): the body of ``if __name__ == "__main__":`` and of
    ``if TYPE_CHECKING:`` at the top level, and annotations where they are never evaluated
    (postponed by ``from __future__ import annotations``, or written as a string). A student's
    self-check against the library, or an import for type hints only, uses nothing banned.
    Where the module could rebind what a guard tests, its body counts as code that runs."""
    dead: set[int] = set()
    rebinds = _may_rebind(tree)
    for top in tree.body:
        if isinstance(top, ast.If) and (
                (main_guard(top.test) and "__name__" not in rebinds) or
                (_is_type_checking(top.test, aliases) and "TYPE_CHECKING" not in rebinds)):
            dead.update(id(stmt) for stmt in top.body)
    postponed = any(isinstance(top, ast.ImportFrom) and top.module == "__future__" and
                    any(a.name == "annotations" for a in top.names) for top in tree.body)
    for node in every_node(tree):
        notes: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            notes = [node.annotation]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            notes = [node.returns]
        elif isinstance(node, ast.AnnAssign):
            notes = [node.annotation]
        for note in notes:
            if note is not None and (postponed or (isinstance(note, ast.Constant) and
                                                   isinstance(note.value, str))):
                dead.add(id(note))
    return dead


@functools.lru_cache(maxsize=4)
def _never_run(tree: ast.Module) -> frozenset[int]:
    """``never_run`` of ``tree`` with its own imports, found once per tree."""
    return frozenset(never_run(tree, _aliases(tree)))


def _roots(tree: ast.Module, ids: AbstractSet[int]) -> list[ast.AST]:
    """The nodes of ``tree`` whose ids are ``ids``."""
    return [n for n in every_node(tree) if id(n) in ids]


def _may_rebind(tree: ast.Module) -> set[str]:
    """Which of ``__name__`` and ``TYPE_CHECKING`` the module could rebind: all of them where it
    runs code built at run time or reaches a namespace by name."""
    guarded = {"__name__", "TYPE_CHECKING"}
    found: set[str] = set()
    for node in every_node(tree):
        if isinstance(node, ast.Name) and node.id in guarded and \
                not isinstance(node.ctx, ast.Load):
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in guarded and \
                not isinstance(node.ctx, ast.Load):
            found.add(node.attr)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            found.update(guarded & set(node.names))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(g for g in guarded if g in node.value)
        elif isinstance(node, ast.Attribute) and node.attr in ("__dict__", "f_globals",
                                                               "f_locals"):
            return guarded
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in _REBINDERS:
            return guarded
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and _RERUNNERS & {
                *([a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import)
                  else [(node.module or "").split(".")[0]])}:
            return guarded  # runpy.run_path(__file__, run_name="__main__") runs the guard's body
    return found


def _is_type_checking(test: ast.expr, aliases: dict[str, str]) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``, imported from ``typing``."""
    return _dotted(test, aliases) == "typing.TYPE_CHECKING"


def _names_used(node: ast.AST, aliases: dict[str, str]) -> tuple[list[str], bool]:
    """The dotted names ``node`` itself uses, and whether its children still need a look."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names], True
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [f"{node.module}.{a.name}" for a in node.names], True
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return [], False  # ``torch = None``: the name bound again, nothing of the library used
    if isinstance(node, (ast.Attribute, ast.Name)):
        dotted = _dotted(node, aliases)
        if dotted is not None:
            return [dotted], False  # the inner names of this chain are prefixes of it
        return [], True
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
            "." in node.value and " " not in node.value:
        # importlib.import_module("sklearn.linear_model") and getattr tricks by name
        return [node.value], True
    return [], True


def calls_between_functions(source: str) -> dict[str, set[str]]:
    """For each top-level function, the module's other top-level functions it uses, transitively."""
    try:
        tree = parse(source)
    except SyntaxError:
        return {}
    defs = {n.name: n for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    direct = {name: {x.id for x in ast.walk(node) if isinstance(x, ast.Name) and x.id in defs}
              - {name} for name, node in defs.items()}
    closure: dict[str, set[str]] = {}
    for name in defs:
        seen, todo = set(), list(direct[name])
        while todo:
            f = todo.pop()
            if f not in seen:
                seen.add(f)
                todo.extend(direct[f])
        closure[name] = seen
    return closure


def propagate(findings: list[Finding], source: str) -> list[Finding]:
    """Add a finding to every function that reaches a banned call through the module's own
    functions (run_rnn calling an lstm_cell that uses torch.nn.LSTMCell loses its tests too)."""
    graph = calls_between_functions(source)
    out = list(findings)
    for f in findings:
        if f.function is None:
            continue
        for caller, reaches in graph.items():
            if f.function in reaches:
                out.append(Finding(f.name, f.line, caller, via=f.function))
    return out


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def affected(findings: list[Finding], called: list[str]) -> list[Finding]:
    """The findings that make a test calling the functions ``called`` score zero."""
    return [f for f in findings if f.function is None or f.function in called]


def describe(finding: Finding) -> str:
    where = f"in {finding.via or finding.function}" if finding.function else \
        "at the top level of your module"
    through = f", which {finding.function} calls" if finding.via else ""
    line = f"{finding.file}, line {finding.line}" if finding.file else f"line {finding.line}"
    return (f"{finding.name} is not allowed in this exercise ({line}, {where}"
            f"{through}): write it with basic array operations instead")


def local_imports(source: str, available: set[str]) -> set[str]:
    """The submitted modules (names in ``available``) that ``source`` imports or names in a
    string (``importlib.import_module("helpers")``)."""
    try:
        tree = parse(source)
    except SyntaxError:
        return set()
    return set(_imported(tree) & available)


@functools.lru_cache(maxsize=4)
def _imported(tree: ast.Module) -> frozenset[str]:
    """The first part of every module name that ``tree`` imports, and of every string in it."""
    out: set[str] = set()
    for node in every_node(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                out.add(node.module.split(".")[0])
            out.update(a.name for a in node.names)  # from . import helpers
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.add(node.value.split(".")[0])
    return frozenset(out)


def users_of(source: str, module: str) -> set[str] | None:
    """The top-level functions of ``source`` that use names imported from the submitted
    ``module``; None when the module is used outside functions too (or cannot be told)."""
    try:
        tree = parse(source)
    except SyntaxError:
        return None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names
                         if a.name.split(".")[0] == module)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == module:
            names.update(a.asname or a.name for a in node.names)
    if not names or "*" in names:
        return None  # imported inside a function, by a string or with *: any function may use it
    users: set[str] = set()
    for node in tree.body:
        used = {x.id for x in ast.walk(node) if isinstance(x, ast.Name)} & names
        if not used:
            continue
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return None
        users.add(node.name)
    return users


# Constructs that reach functions or modules by a name built at run time.
# exec, eval and compile are not here: what they run is seen when it runs, by the worker's audit
# hook, which tells code built at run time from a literal of the module (grader.isolation.audit).
DYNAMIC_CALLS = {"__import__", "vars", "globals"}
DYNAMIC_ATTRIBUTES = {"__dict__", "__globals__", "__closure__", "__wrapped__", "f_back",
                      "f_globals", "f_locals", "_getframe", "__subclasses__", "__code__",
                      "_fields_", "tb_frame", "gi_frame"}
DYNAMIC_MODULES = {"importlib", "sys.modules", "inspect", "gc", "ctypes"}


def dynamic_access(source: str) -> list[tuple[int, str]]:
    """(line, what) for each construct in ``source`` that reaches names dynamically:
    __import__, importlib, getattr with a name that is not a literal, sys.modules, a module's
    __dict__, frame walking. Worth a look by the instructor; not a penalty. Not in code that
    never runs while the module is graded (``never_run``)."""
    try:
        tree = parse(source)
    except SyntaxError:
        return []
    aliases = _aliases(tree)
    dead = {id(n) for root in _roots(tree, _never_run(tree)) for n in ast.walk(root)}
    found: dict[int, str] = {}
    for node in every_node(tree):
        if id(node) in dead:  # a check under the main guard reaches nothing while graded
            continue
        what = _dynamic(node, aliases)
        if what is not None:
            found.setdefault(getattr(node, "lineno", 0), what)
    return sorted(found.items())


def _dynamic(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name in DYNAMIC_CALLS and name not in aliases:
            return f"{name}()"
        if name in ("getattr", "setattr", "hasattr") and len(node.args) >= 2 and \
                not isinstance(node.args[1], ast.Constant):
            return f"{name}() with a computed name"
    if isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRIBUTES:
        return node.attr
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""]
        for m in modules:
            if m.split(".")[0] in ("importlib", "inspect", "gc", "ctypes"):
                return f"import {m}"
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return f"from {node.module} import *"
        if isinstance(node, ast.ImportFrom) and node.module == "sys" and \
                any(a.name == "modules" for a in node.names):
            return "sys.modules"
    if isinstance(node, (ast.Attribute, ast.Name)):
        dotted = _dotted(node, aliases)
        if dotted is not None and dotted in DYNAMIC_MODULES - {"importlib", "inspect", "gc",
                                                                "ctypes"}:
            return dotted
    return None


def string_literals(source: str, limit: int = 4 * 1024 * 1024) -> frozenset[str]:
    """The text of every string (and UTF-8 bytes) literal of ``source``, stripped: code that a
    module runs from one of these is in its source for all to see, not built at run time."""
    try:
        tree = parse(source)
    except SyntaxError:
        return frozenset()
    out: set[str] = set()
    size = 0
    for node in every_node(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else \
                node.value.decode("utf-8", "replace")
            out.add(text.strip())
            size += len(text)
            if size > limit:
                break
    return frozenset(out)
