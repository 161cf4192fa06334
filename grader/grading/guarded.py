"""The grader's own steps on a submission, run so that their failure is a note, never the end of grading."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from grader.grading import banned

T = TypeVar("T")

# Python code nested deeper than the interpreter's default recursion limit (a 1,200-term sum is
# 1,200 nested nodes) is still ordinary code; walking its syntax tree needs a deeper stack.
DEEP_RECURSION = 50_000
DEEP_STACK = 512 * 1024 * 1024


def deep(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a thread with a large stack and recursion limit; its exception is raised."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    try:
        threading.stack_size(DEEP_STACK)
        sys.setrecursionlimit(max(old_limit, DEEP_RECURSION))
        thread = threading.Thread(target=run, name="grader-deep")
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def helpers(module: Path) -> dict[str, list[Path]]:
    """The other submitted files ``module`` imports, by the name it imports directly: each with
    the files reachable from it (a helper importing another helper)."""
    available = {p.stem: p for p in module.parent.glob("*.py") if p != module}
    source = module.read_text(errors="replace")
    out: dict[str, list[Path]] = {}
    for name in sorted(banned.local_imports(source, set(available))):
        seen, todo = [available[name]], [available[name]]
        while todo:
            text = todo.pop().read_text(errors="replace")
            for more in sorted(banned.local_imports(text, set(available))):
                if available[more] not in seen and available[more] != module:
                    seen.append(available[more])
                    todo.append(available[more])
        out[name] = seen
    return out


def _with_helpers(module: Path) -> list[Path]:
    """``module`` and the submitted files it imports, each once."""
    return [module, *{p for files in helpers(module).values() for p in files}]


def _findings(module: Path, patterns: tuple[str, ...]) -> list[banned.Finding]:
    source = module.read_text(errors="replace")
    found = banned.propagate(banned.scan(source, patterns), source)
    for name, files in helpers(module).items():
        users = banned.users_of(source, name)
        for path in files:
            for f in banned.scan(path.read_text(errors="replace"), patterns):
                # Charged to the functions of the topic's module that use this helper.
                found.extend(banned.Finding(f.name, f.line, user, via=None, file=path.name)
                             for user in (sorted(users) if users is not None else [None]))
    return found


def dynamic_note(module: Path) -> list[str]:
    """Where ``module`` and the submitted files it imports reach names dynamically, as
    "exec() (rnn.py, line 4)"; a failure to read says so rather than ending grading."""
    try:
        out: list[str] = []
        for path in _with_helpers(module):
            out.extend(f"{what} ({path.name}, line {line})"
                       for line, what in banned.dynamic_access(path.read_text(errors="replace")))
        return out
    except (RecursionError, OSError, ValueError) as exc:
        return [f"the check for dynamic access could not read {module.name} "
                f"({type(exc).__name__})"]


# What a worker makes of torch's compiler (``grader.isolation.compiled``): the function as written.
COMPILERS = ("torch.compile", "torch.compiler.compile")


def compile_note(module: Path) -> str:
    """A note for the student where ``module`` or the submitted files it imports name
    torch's compiler, which does nothing in a worker; "" where they do not."""
    try:
        places: list[str] = []
        for path in _with_helpers(module):
            places.extend(f"{path.name}, line {f.line}"
                          for f in banned.scan(path.read_text(errors="replace"), COMPILERS))
    except (RecursionError, OSError, ValueError):
        return ""
    if not places:
        return ""
    return (f"your code compiles with torch.compile ({'; '.join(places[:3])}), which does "
            "nothing while grading: torch's compiler cannot run where your code is graded, so "
            "your functions ran as you wrote them. This costs no points by itself")


def literals(module: Path) -> frozenset[str]:
    """The string literals of ``module`` and of the submitted files it imports
    (``banned.string_literals``); none where they cannot be read."""
    try:
        out: set[str] = set()
        for path in _with_helpers(module):
            out |= banned.string_literals(path.read_text(errors="replace"))
        return frozenset(out)
    except (RecursionError, OSError, ValueError, MemoryError):
        return frozenset()


def scan_findings(module: Path, patterns: tuple[str, ...]) -> tuple[list[banned.Finding], str]:
    """The banned calls in ``module`` and a note for the instructor when the scan could not
    read it (the tests run either way; the note says that nothing was enforced statically)."""
    try:
        try:
            return _findings(module, patterns), ""
        except RecursionError:  # deeply nested code: once more with a deeper stack
            return deep(_findings, module, patterns), ""
    except Exception as exc:  # noqa: BLE001 - a grader step must not end grading
        what = f"{type(exc).__name__}: {exc}"[:200]
        return [], (f"the static banned-API scan could not read {module.name} ({what}), so "
                    "banned calls in it were not looked for: check this file by hand")
