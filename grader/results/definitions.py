"""Where a function the tests call stands in a student's module that has none of that name at
its top level: a method of a class, a function inside another function, one under
``if __name__ == "__main__":`` or inside another block, a value assigned in its place, or a
function at the top level under a name that is almost the statement's.

Read from the module's source as text (``ast``), never run, in the trusted process and in the
check. The names and lines it quotes are in the source as handed in, written before any test
ran, so a hidden test's copy may show them.
"""

from __future__ import annotations

import ast
import difflib
import tokenize
from pathlib import Path

_BLOCKS = {ast.If: "if", ast.For: "for", ast.AsyncFor: "for", ast.While: "while",
           ast.Try: "try", ast.With: "with", ast.AsyncWith: "with", ast.Match: "match"}
if hasattr(ast, "TryStar"):  # Python 3.11 and later
    _BLOCKS[ast.TryStar] = "try"
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def hint(path: str | Path | None, fn: str) -> str:
    """What the module at ``path`` has in place of a top-level function ``fn``, said for the
    student; "" where it has nothing like it (or cannot be read)."""
    tree = _parse(path)
    return _hint(tree, fn) if tree is not None else ""


def hint_in(source: str, fn: str) -> str:
    """``hint`` for a module given as its source (a notebook's code cells, as staged)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    return _hint(tree, fn)


def _hint(tree: ast.Module, fn: str) -> str:
    at_top = any(isinstance(n, _DEFS) and n.name == fn for n in tree.body)
    nested = "" if at_top else _nested(tree.body, fn, [])  # a def at the top was undone later
    if nested:
        return nested
    assigned = [n for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))
                and any(isinstance(t, ast.Name) and t.id == fn for t in _targets(n))]
    if assigned:
        return (f"your module assigns {fn} a value (line {assigned[-1].lineno}), which takes "
                f"the place of a function of that name: define {fn} with def, and give the "
                "value another name")
    names = {n.name: n.lineno for n in tree.body if isinstance(n, _DEFS)}
    same = [name for name in names if _plain(name) == _plain(fn)]
    near = same or difflib.get_close_matches(fn, list(names), n=1, cutoff=0.8)
    if near:
        return (f"your module defines {near[0]} (line {names[near[0]]}), not {fn}: the tests "
                f"call the statement's names exactly, so rename it {fn}")
    return ""


def _parse(path: str | Path | None) -> ast.Module | None:
    if path is None:
        return None
    try:
        with tokenize.open(path) as source:  # its own encoding, as Python reads it
            return ast.parse(source.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def _targets(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    return [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []


def _plain(name: str) -> str:
    return name.replace("_", "").lower()


def _nested(body: list[ast.stmt], fn: str, outer: list[ast.AST]) -> str:
    """The words for the first ``def fn`` below the top level in ``body`` (whose containers,
    outermost first, are ``outer``), or ""."""
    for node in body:
        if isinstance(node, _DEFS) and node.name == fn and outer:
            return _where(fn, outer)
        inner = [getattr(node, part, None) for part in ("body", "orelse", "finalbody")]
        inner += [h.body for h in getattr(node, "handlers", [])]
        inner += [c.body for c in getattr(node, "cases", [])]
        for block in inner:
            if isinstance(block, list) and (found := _nested(block, fn, [*outer, node])):
                return found
    return ""


def _where(fn: str, outer: list[ast.AST]) -> str:
    first = outer[0]
    line = getattr(first, "lineno", 0)
    owner = next((o for o in outer if isinstance(o, (ast.ClassDef, *_DEFS))), None)
    if isinstance(owner, ast.ClassDef):
        return (f"your {fn} is a method of class {owner.name} (line {owner.lineno}): the tests "
                f"call a function of the module, so define {fn} at the top level, outside any "
                "class (and without self)")
    if isinstance(owner, _DEFS):
        return (f"your {fn} is defined inside {owner.name} (line {owner.lineno}), so it exists "
                f"only while {owner.name} runs: define {fn} at the top level")
    if isinstance(first, ast.If) and main_guard(first.test):
        return (f'your {fn} is defined under `if __name__ == "__main__":` (line {line}), which '
                "is false when the module is imported, as it is when graded: define it at the "
                "top level, above that block")
    kind = next((word for cls, word in _BLOCKS.items() if isinstance(first, cls)), "block")
    article = "an" if kind[0] in "aeiou" else "a"
    return (f"your {fn} is defined inside {article} `{kind}` statement (line {line}), which "
            f"did not define it when the module was imported: define {fn} at the top level, "
            "outside any block")


def main_guard(test: ast.expr) -> bool:
    """Whether ``test`` is ``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and
            isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and \
        any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)


__all__ = ["hint", "hint_in", "main_guard"]
