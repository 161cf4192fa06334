"""Static scan of a student module for banned API calls (``grading.toml`` ``[banned] calls``).

Names are resolved through the module's imports, so ``np.polyfit`` with ``import numpy as np``,
``from numpy import polyfit`` and ``F.scaled_dot_product_attention`` with
``import torch.nn.functional as F`` are all found. A pattern bans the name and everything
under it (``sklearn`` bans ``sklearn.linear_model.Ridge``) and may use shell wildcards
(``torch.nn.LSTM*``). Each finding names the enclosing top-level function, so only the tests
that call that function lose their points.
"""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    name: str  # the resolved dotted name, e.g. "numpy.polyfit"
    line: int
    function: str | None  # enclosing top-level function; None at module level
    via: str | None = None  # the module's own function through which ``function`` reaches it


def matches(name: str, pattern: str) -> bool:
    """Whether dotted ``name`` falls under ``pattern``."""
    parts = name.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))


def scan(source: str, patterns: tuple[str, ...] | list[str]) -> list[Finding]:
    """Every use of a banned name in ``source`` (imports, attribute chains, calls)."""
    if not patterns:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # reported as a syntax error by the worker
    aliases = _aliases(tree)
    findings: dict[tuple[str, int], Finding] = {}

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            fn = function
            if function is None and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.ClassDef)):
                fn = child.name
            names, descend = _names_used(child, aliases)
            line: int = getattr(child, "lineno", 0)  # names come only from nodes with a line
            for name in names:
                if any(matches(name, p) for p in patterns):
                    findings.setdefault((name, line), Finding(name, line, fn))
            if descend:
                visit(child, fn)

    visit(tree, None)
    return sorted(findings.values(), key=lambda f: f.line)


def _aliases(tree: ast.AST) -> dict[str, str]:
    """What each imported name stands for: ``np`` -> ``numpy``, ``lstsq`` -> ``numpy.linalg.lstsq``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
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


def _names_used(node: ast.AST, aliases: dict[str, str]) -> tuple[list[str], bool]:
    """The dotted names ``node`` itself uses, and whether its children still need a look."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names], True
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [f"{node.module}.{a.name}" for a in node.names], True
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
        tree = ast.parse(source)
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
    return (f"{finding.name} is not allowed in this exercise (line {finding.line}, {where}"
            f"{through}): write it with basic array operations instead")
