"""The "Not allowed" list of each topic's statement, written from its grading.toml, and checked.

What a student reads is what the grader enforces: each topic's ``assignments/<topic>/README.md``
holds, between two marker lines, the list that :func:`section` writes from the topic's
``[banned]`` table, saying for each kind of ban what it covers and where the grader enforces it
(a refused call, torch's dispatcher, a library absent from the worker, autograd taken away).
``grader statements`` checks every statement against its table and ``--write`` rewrites the
lists; ``grader release`` refuses to hand out a statement whose list is out of date.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from grader.course import Course, TopicConfig
from grader.errors import GraderError
from grader.isolation import profiles

BEGIN = "<!-- The list below is written from the topic's grading.toml by `grader statements " \
        "--write`: change that file, not this list. -->"
END = "<!-- End of the list written from grading.toml. -->"
_BLOCK = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)


class StatementError(GraderError):
    """A statement has no place for its list, or it is out of date."""


@dataclass(frozen=True)
class Drift:
    """A statement whose list differs from what its grading.toml says."""

    topic: str
    path: Path
    written: str  # what the list should be


def section(config: TopicConfig) -> str:
    """The list, in Markdown, between the markers (without them)."""
    items: list[str] = []
    if config.banned:
        items.append(
            "- **Functions and classes**: " + _join(_call(p) for p in config.banned) +
            ". A call of one from your code (or of a class's constructor or methods), however "
            "your code reaches it, is refused while your code runs; the tests of the function that made "
            "it score 0, and the message names the call and your line. A module under one "
            "of them that its package does not load by itself cannot be imported here.")
    ops = [] if "torch" in config.banned_libraries else config.banned_ops
    if ops:
        items.append(
            "- **Operators inside torch**: " + _join(_operator(p) for p in ops) + ". They "
            "are refused in torch's dispatcher, whichever function, module or `torch.ops` "
            "path reaches them; the tests of the function that used one score 0.")
    calls = profiles.calls(config.banned, config.banned_libraries, ops,
                           config.banned_capabilities)
    if config.banned_libraries:
        items.append(
            "- **Libraries**: " + _join(f"`{lib}`" for lib in config.banned_libraries) +
            ". They are not in the process that runs your code at all: importing one fails "
            "(\"not available in this exercise\"), as does importing a module that needs one, "
            "and no other route finds them.")
    decompositions = [m for m in calls if m in profiles.DECOMPOSITIONS and m not in config.banned]
    if decompositions:
        items.append(
            "- **Torch's Python decompositions of operators**: everything in " +
            _join(f"`{m}`" for m in decompositions) + ", and their tables. They would hand "
            "you torch's own Python implementation of what is banned here; a call of one from "
            "your code is refused like the functions above. Forward-mode differentiation "
            "(`torch.func`'s `jvp` and `jacfwd`, `torch.autograd.forward_ad`) runs them: it "
            "is refused here too.")
    if "autograd" in config.banned_capabilities:
        ways = [f"`{n}`" for n in profiles.AUTOGRAD if "._" not in n]
        items.append(
            "- **Automatic differentiation**: no autograd graph is recorded for your code in "
            "this exercise, even under `torch.enable_grad()`, so a result's `grad_fn` has "
            "nothing to compute with; a call from your code of " + _join(ways) + " is refused, "
            "and the tests of the function that made it score 0; torch's gradient operators "
            "(`*_backward*`, such as `threshold_backward`) are refused. TorchScript "
            "differentiates what it compiles by rules of its own, so it "
            "is not available either: a call from your code into `torch.jit` (scripting, "
            "tracing, loading) or into its doors in `torch._C` is refused, and the tests of the "
            "function that made it score 0. Write the gradients yourself with basic "
            "operations; `torch.no_grad()` and `requires_grad` are harmless.")
    if not items:
        return "Nothing is banned in this exercise."
    return "\n".join(textwrap.fill(item, width=100, subsequent_indent="  ",
                                   break_long_words=False, break_on_hyphens=False)
                     for item in items)


def _join(parts: object) -> str:
    words = list(parts)  # type: ignore[call-overload]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else words[0]


def _call(pattern: str) -> str:
    if any(ch in pattern for ch in "*?["):
        return f"`{pattern}` (every name it matches)"
    if _is_package(pattern):
        return f"`{pattern}` (everything in it)"
    return f"`{pattern}`"


def _is_package(name: str) -> bool:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return False
    return spec is not None and spec.submodule_search_locations is not None


def _operator(pattern: str) -> str:
    name = pattern.split("::", 1)[-1]
    core = name.strip("*")
    if any(ch in core for ch in "*?[") or not core:
        return f"every operator named like `{name}`"
    if name.startswith("*") and name.endswith("*"):
        return f"every operator whose name contains `{core}`"
    if name.endswith("*"):
        return f"every operator whose name starts with `{core}`"
    if name.startswith("*"):
        return f"every operator whose name ends with `{core}`"
    return f"`{name}`"


def statement_path(course: Course, topic: str) -> Path:
    return course.assignments / topic / "README.md"


def drifts(course: Course, topics: list[str] | None = None) -> list[Drift]:
    """The statements whose list is not what their grading.toml says."""
    out = []
    for topic in topics or course.topics():
        path = statement_path(course, topic)
        written = section(course.config(topic))
        if _current(path) != written:
            out.append(Drift(topic, path, written))
    return out


def _current(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    found = _BLOCK.search(text)
    return None if found is None else found.group(0)[len(BEGIN) + 1:-len(END)].strip("\n")


def write(drift: Drift) -> None:
    """Put the list a statement should have between its markers."""
    text = drift.path.read_text(encoding="utf-8")
    if _BLOCK.search(text) is None:
        raise StatementError(
            f"{drift.path} has no place for its list of what is not allowed: add a line "
            f"{BEGIN!r} and, below it, a line {END!r} where the list goes")
    block = f"{BEGIN}\n{drift.written}\n{END}"
    drift.path.write_text(_BLOCK.sub(lambda _: block, text, count=1), encoding="utf-8")
