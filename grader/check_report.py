"""`grader check`: the public tests under pytest in this process, and the lines that sum them up.

``grader check`` is pytest on the course's public test files with the student plugin
(``grader.student_plugin``) and tracebacks off, so the summary written here carries each
failing test's message and what it printed; options after the topics go to pytest as they are
(``grader check linear_regression -- -k fit -x``). Under plain ``pytest`` the same summary has
a line per topic and the total, the failures having been shown above it by pytest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

MAX_OUTPUT_LINES = 20
MAX_OUTPUT_CHARS = 2000


@dataclass(frozen=True)
class TestLine:
    """One public test's end, as the summary shows it."""

    name: str
    outcome: str  # passed | failed | error | skipped
    message: str
    output: str  # what the student's code printed, capped


TestLine.__test__ = False  # type: ignore[attr-defined]  # not a test class for pytest


def cap_output(text: str) -> str:
    """``text`` cut to its first lines and characters, saying how much was left out."""
    lines = text.splitlines(keepends=True)
    kept = "".join(lines[:MAX_OUTPUT_LINES])[:MAX_OUTPUT_CHARS]
    if len(kept) == len(text):
        return text
    rest = text[len(kept):]
    more = rest.count("\n") + (not rest.endswith("\n"))
    return kept.rstrip("\n") + f"\n… ({more} more lines cut: run pytest with -s to see them all)\n"


def summary_lines(lines: dict[str, list[TestLine]], hidden: dict[str, int], *,
                  detailed: bool, notes: Sequence[str] = ()) -> Iterator[tuple[str, dict[str, bool]]]:
    """(text, pytest terminal markup) per line: a line per topic (with each failing test's
    message and printed output when ``detailed``), the hidden-test counts, then a total.
    Colours are the terminal writer's to apply or leave out (only on a terminal)."""
    total = passed_total = failing_topics = 0
    for topic, tests in lines.items():
        ran = [t for t in tests if t.outcome != "skipped"]
        passed = sum(t.outcome == "passed" for t in ran)
        ok = passed == len(ran) and bool(ran)
        total += len(ran)
        passed_total += passed
        failing_topics += not ok
        mark = ("ok  ", {"green": True}) if ok else ("FAIL", {"red": True, "bold": True})
        yield f"{mark[0]} {topic}: {passed}/{len(ran)} public tests passed", mark[1]
        if detailed:
            for t in tests:
                if t.outcome not in ("passed", "skipped") or t.output:
                    yield from _test_lines(t)
        n = hidden.get(topic, 0)
        if ok and n:
            yield f"     public tests passed — {n} more hidden tests will grade this", {}
        elif n:
            yield f"     {n} hidden tests will grade this topic", {}
    for note in notes:
        yield f"note: {note}", {"yellow": True}
    topics = len(lines)
    word = "topic" if topics == 1 else "topics"
    verdict = "all passed" if not failing_topics else f"{failing_topics} of {topics} {word} failing"
    yield (f"total: {passed_total}/{total} public tests passed in {topics} {word} ({verdict})",
           {"green": True, "bold": True} if not failing_topics else {"red": True, "bold": True})


def _test_lines(t: TestLine) -> Iterator[tuple[str, dict[str, bool]]]:
    if t.outcome not in ("passed", "skipped"):
        head, *rest = (t.message or t.outcome).splitlines() or [t.outcome]
        yield f"     {t.name}: {head}", {}
        for line in rest:
            yield f"       {line}", {}
    if t.output:
        yield f"     {t.name} printed:", {"cyan": True}
        for line in t.output.rstrip("\n").splitlines():
            yield f"       | {line}", {}


def split_args(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(topics, pytest options): the topics come first; the first option and what follows it
    go to pytest (``linear_regression -k fit -x``, or after ``--``)."""
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            return list(args[:i]), list(args[i:])
    return list(args), []


def run_check(course: Any, topics: Sequence[str], pytest_args: Sequence[str]) -> int:
    """Run the public tests of ``topics`` under pytest in this process; pytest's exit status.

    Plugins that other packages register are not loaded (they cost time and have nothing to do
    here); one named with ``-p`` in ``pytest_args`` still is. Where the course has its hidden
    tests (an instructor's checkout), they are collected to be counted and never run.
    """
    import pytest

    from grader.student_session import StudentSession

    files = [str(p) for t in topics if (p := course.public_tests(t)) is not None]
    session = StudentSession(count_hidden=course.has_reference)
    session.lines = {t: [] for t in topics}  # a topic without public tests is shown as such
    if course.has_reference and not course.released_hidden_counts():
        files += [str(p) for t in topics if (p := course.hidden_tests(t)) is not None]
    args = [*files, "--rootdir", str(course.root), "-q", "--tb=no", "-rN", "-p", "no:cacheprovider",
            "-p", "grader.student_plugin", *pytest_args]
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        code = int(pytest.main(args, plugins=[session]))
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
    # No public test ran (a topic without them, or -k matching none): nothing passed.
    return 1 if code == pytest.ExitCode.NO_TESTS_COLLECTED else code
