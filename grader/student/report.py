"""The lines that sum up a run of the public tests: per test, per topic and the total.

Under ``grader check`` (``grader.student.check``) tracebacks are off, so the summary written
here carries each failing test's message and what it printed. Under plain ``pytest`` the same
summary has a line per topic and the total, the failures having been shown above it by pytest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from grader.results.inert import terminal

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
    # What the code printed or raised is shown as text: escape sequences in it cannot move the
    # cursor over the summary.
    if t.outcome not in ("passed", "skipped"):
        message = terminal(t.message or t.outcome, newlines=True)
        head, *rest = message.splitlines() or [t.outcome]
        yield f"     {t.name}: {head}", {}
        for line in rest:
            yield f"       {line}", {}
    if t.output:
        yield f"     {t.name} printed:", {"cyan": True}
        for line in terminal(t.output.rstrip("\n"), newlines=True).splitlines():
            yield f"       | {line}", {}
