"""Student text is inert on a terminal and in a spreadsheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.results.inert import csv_cell, terminal
from grader.results.model import SubmissionResult, TestResult
from grader.results.scoring import topic_results

HOSTILE = "ok\x1b[2A\x1b[2K\x1b]8;;http://x\x07link\x1b]8;;\x07\r36 / 36\x9b1A\x08\u202egnp.exe\ttab"


def test_terminal_text_keeps_what_is_printable_and_nothing_that_moves_the_cursor() -> None:
    shown = terminal(HOSTILE)
    assert shown == "oklink 36 / 36??gnp.exe tab"
    assert terminal("a\nb") == "a b" and terminal("a\nb", newlines=True) == "a\nb"
    assert terminal("naïve — 日本") == "naïve — 日本"


@pytest.mark.parametrize(("cell", "shown"), [
    ("=1+2", "'=1+2"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-3", "-3"), ("+1.5", "+1.5"), ("alice", "alice"),
    ("", ""), (-3.0, -3.0), (True, True),
])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(cell: object, shown: object) -> None:
    assert csv_cell(cell) == shown


def _result() -> SubmissionResult:
    test = TestResult(topic="toy", name="test_add", nodeid="toy/hidden::test_add", kind="public",
                      outcome="failed", score=0.0, max_score=1.0, message=HOSTILE + "\nline two")
    return SubmissionResult(submission=HOSTILE, topics=topic_results([test], ["toy"]),
                            tests=(test,), seed=1, sandbox=(), started="2026-01-01T00:00:00",
                            duration=1.0, error=HOSTILE)


def test_check_ci_and_batch_summaries_print_student_text_inertly(capsys) -> None:
    from grader.classroom import progress
    from grader import ci
    from grader.student.report import TestLine, summary_lines

    check = [TestLine(name="test_add", outcome="failed", message=HOSTILE + "\nline two",
                      output=HOSTILE)]
    printed = [text for text, _ in summary_lines({"toy": check}, {}, detailed=True)]
    assert any("line two" in line for line in printed)
    lines = [*progress.Summary(out=Path("out"), errors={HOSTILE: HOSTILE}).lines(),
             ci.exit_status(_result(), None)[1], *printed]
    for line in lines:
        assert not any(c in line for c in "\x1b\x07\x08\r\x9b\u202e"), repr(line)


def test_batch_progress_lines_show_the_student_id_as_text() -> None:
    import io

    from grader.classroom.progress import Progress

    stream = io.StringIO()
    Progress(1, stream, tty=False).update(HOSTILE, _result())
    assert stream.getvalue().count("\n") == 1
    assert not any(c in stream.getvalue() for c in "\x1b\x07\x08\r\x9b\u202e")


def test_every_csv_is_written_by_the_one_writer() -> None:
    """A CSV written any other way would skip the formula guard: the source holds no other."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "grader"
    writers = re.compile(r"csv\.writer\(|DictWriter\(|\.to_csv\(|csv\.writer\b")
    found = [f"{p.relative_to(root)}:{n}" for p in sorted(root.rglob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if writers.search(line)]
    assert found == ["results/model.py:" + str(next(
        n for n, line in enumerate((root / "results/model.py").read_text().splitlines(), 1)
        if "csv.writer(" in line))]


def test_the_csv_writer_neutralises_formulas_in_every_cell(tmp_path) -> None:
    import csv

    from grader.results.model import write_csv_atomic

    write_csv_atomic(tmp_path / "t.csv", ["=id", "score"],
                     [["=SUM(1+1)", 1.5], ["@SUM(1+1)", -3.0], ["+cmd", None], ["-x", 2]])
    rows = list(csv.reader((tmp_path / "t.csv").open()))
    assert rows == [["'=id", "score"], ["'=SUM(1+1)", "1.5"], ["'@SUM(1+1)", "-3"],
                    ["'+cmd", ""], ["'-x", "2"]]
