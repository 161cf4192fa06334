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


def _findings(module: Path, patterns: tuple[str, ...]) -> list[banned.Finding]:
    source = module.read_text(errors="replace")
    return banned.propagate(banned.scan(source, patterns), source)


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
