"""Every file and page a student reads is written from one student view of the result, which
withholds what a hidden test keeps back, whatever route the student's code sends it by: the
text of an exception it raised, strings it returned, line numbers it forged (``compile`` with
padding lines, ``exec``, ``CodeType.replace``), frames of other files, a recursion's depth, a
banned call's forged place, a crash's exit code. Each attack leaks only from hidden tests (it
answers the public test's whole numbers honestly), so any trace of it in a student's file is a
leak; the instructor's copy shows each channel is real. An honest submission keeps its grade
and its feedback word for word. A writer handed the full result fails mypy and fails at run time.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader.course import Course
from grader.grading.engine import Options
from grader.results.files import write_outputs
from grader.results.model import SubmissionResult, TestResult
from grader.results.visibility import (GATED, MAX_FRAMES, RUNTIME_CODE, WORKER_TEXT, LineRanges,
                                       StudentView, code_lines, student_view)

FIX = Path(__file__).resolve().parent / "fixtures" / "course"
REFERENCE = (FIX / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIX / "reference" / "other" / "solution.py").read_text()
ROOT = Path(__file__).resolve().parent.parent

# Each attack replaces a function of the reference; the marker is built at run time (the
# module's own source lines may show in a traceback), and the public test's whole-number inputs
# get the right answer, so that only hidden tests carry the attack.
HONEST_FOR_PUBLIC = """
    if a == int(a):
        return float(a + b)
"""
ATTACKS: dict[str, str] = {
    "exception-text": """
        def add(a, b):
            {public}
            raise ValueError("LE" + "AK " + repr((a, b)))
        """,
    "exception-args": """
        def add(a, b):
            {public}
            raise KeyError({"LE" + "AK": [a, b]})
        """,
    "returned-string": """
        def scale(x, c):
            return "LE" + "AK " + repr(list(x))
        """,
    "returned-strings-in-a-dict": """
        def scale(x, c):
            return {"LE" + "AK": [repr(v) for v in x]}
        """,
    "line-from-compile": """
        def add(a, b):
            {public}
            pad = 100000 + int(abs(a) * 1000) % 1000
            exec(compile("\\n" * pad + "raise ValueError()", __file__, "exec"))
        """,
    "line-from-exec": """
        def add(a, b):
            {public}
            space = {}
            pad = "\\n" * (100000 + int(abs(a) * 1000) % 1000)
            exec(pad + "def g():\\n    raise ValueError()\\n", space)
            g = space["g"]
            g.__code__ = g.__code__.replace(co_filename=__file__)
            g()
        """,
    "line-from-codetype-replace": """
        def _boom():
            raise ValueError()

        def add(a, b):
            {public}
            import types
            code = _boom.__code__.replace(co_firstlineno=100000 + int(abs(a) * 1000) % 1000)
            types.FunctionType(code, globals())()
        """,
    "line-of-another-file": """
        def add(a, b):
            {public}
            import os
            where = os.path.join(os.path.dirname(__file__), "helper.py")
            exec(compile("\\n" * (int(abs(a) * 1000) % 9) + "raise ValueError()", where, "exec"))
        """,
    "recursion-depth": """
        def add(a, b, depth=None):
            {public}
            if depth is None:
                depth = 2 + int(abs(a) * 1000) % 20
            if depth > 1:
                return add(a, b, depth - 1)
            raise ValueError()
        """,
    "banned-call-places": """
        import sys

        def add(a, b):
            {public}
            f = sys._getframe()
            while f is not None:
                w = f.f_locals.get("wires")
                if w is not None and hasattr(w, "fired"):
                    for i in range(1 + int(abs(a) * 1000) % 15):
                        w.fired.append({"name": "numpy." + "polyfit", "file": "toy.py",
                                        "line": 100000 + i})
                        w.fired.append({"name": "numpy." + "polyfit", "file": "other.py",
                                        "line": 100500 + i})
                f = f.f_back
            return float(a + b)
        """,
    "exit-code": """
        import os

        def add(a, b):
            {public}
            os._exit(1 + int(abs(a) * 1000) % 200)
        """,
}
# What shows each attack's channel in the instructor's copy (the control that the attack works).
CHANNEL = {
    "exception-text": "LEAK", "exception-args": "LEAK", "returned-string": "LEAK",
    "returned-strings-in-a-dict": "LEAK", "line-from-compile": r"line 100\d{3}",
    # forging a code object is refused in the worker (its audit hook): the refusal, or the line
    "line-from-exec": r"line 100\d{3}|code\.__new__ is not available while grading",
    "line-from-codetype-replace": r"line 100\d{3}|code\.__new__ is not available while grading",
    "line-of-another-file": r"helper\.py\", line \d", "recursion-depth": r"(?s)(, in add\n.*){3,}",
    "banned-call-places": r"toy\.py, line 100\d{3}", "exit-code": r"exit code \d+",
}


def attack_module(variant: str) -> str:
    body = textwrap.dedent(ATTACKS[variant]).replace(
        "    {public}\n", textwrap.indent(textwrap.dedent(HONEST_FOR_PUBLIC).strip("\n"), "    ")
        + "\n")
    return REFERENCE + "\n" + body


def grade(engine: Any, folder: Path, toy: str, seed: int = 7) -> SubmissionResult:
    sub = folder / "sub"
    sub.mkdir(parents=True)
    (sub / "toy.py").write_text(toy)
    (sub / "other.py").write_text(OTHER)
    return engine.grade(sub, folder / "graded", Options(seed=seed))


_PLACE = re.compile(r"([\w.<>/-]+), line (\d+)")


def assert_nothing_leaks(text: str, toy: str, where: str) -> None:
    """No trace of an attack in a student's file: no marker, no forged or foreign line number,
    no exit code; every "<file>, line N" left is a line of the student's toy.py holding code."""
    text = html.unescape(text.replace("<wbr>", ""))
    assert "LEAK" not in text, where
    assert not re.search(r"(?<!\d)100\d{3}(?!\d)", text), where
    assert "exit code" not in text and "helper.py" not in text, where
    real = LineRanges(code_lines_of(toy))
    for name, line in _PLACE.findall(text):
        assert name.endswith("toy.py") and int(line) in real, (where, name, line)


def code_lines_of(source: str) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "toy.py"
        path.write_text(source)
        return code_lines(path)


def student_files(result: SubmissionResult, folder: Path) -> dict[str, str]:
    """Every student-facing artefact of ``result``: results.json and report.html as
    ``grader grade`` and ``grader batch`` write them, ``grader ci``'s files, job summary and
    annotations, and the service's report page before and after the due date."""
    from grader.ci import _write_reports

    out = folder / "files"
    write_outputs(result, out)
    ci = folder / "ci"
    step = folder / "step-summary.md"
    said: list[str] = []
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step),
           "GITHUB_WORKSPACE": str(FIX)}
    _write_reports(Course(FIX), result, ci, ("toy", "other"), env, said.append)
    files = {"results.json": (out / "results.json").read_text(),
             "report.html": (out / "report.html").read_text(),
             "ci results.json": (ci / "results.json").read_text(),
             "ci report.html": (ci / "report.html").read_text(),
             "ci junit.xml": (ci / "junit.xml").read_text(),
             "ci summary.md": (ci / "summary.md").read_text(),
             "ci step summary": step.read_text(),
             "ci annotations": "\n".join(said)}
    try:
        from grader.serve.student import report_page
    except ImportError:  # the service's packages are an extra; the other files are checked
        return files
    for released in (frozenset(), frozenset({"after_due_date"})):
        files[f"service report {sorted(released)}"] = report_page(
            result, None, instructor=False, released=released)
    return files


@pytest.fixture(scope="module")
def honest(toy_engine: Any, tmp_path_factory: pytest.TempPathFactory) -> SubmissionResult:
    return grade(toy_engine, tmp_path_factory.mktemp("honest"), REFERENCE)


@pytest.mark.parametrize("variant", sorted(ATTACKS))
def test_no_student_file_shows_what_a_hidden_test_keeps_back(
        toy_engine: Any, tmp_path: Path, variant: str) -> None:
    toy = attack_module(variant)
    result = grade(toy_engine, tmp_path, toy)
    hidden = [t for t in result.tests if t.kind == "hidden" and t.topic == "toy"]
    full = "\n".join(t.message + "\n" + t.output for t in hidden)
    if variant == "banned-call-places":
        # The worker's frames hold no trip-wire record to forge (the audit hook holds it): the
        # channel is closed before it reaches any copy.
        assert not re.search(CHANNEL[variant], full) and not any(
            "banned" in t.flags for t in hidden if t.name == "test_add"), full
        return
    assert re.search(CHANNEL[variant], full), (variant, full)  # the instructor's copy has it
    for where, text in student_files(result, tmp_path).items():
        assert_nothing_leaks(text, toy, f"{variant}: {where}")
    public = next(t for t in result.tests if t.name == "test_add_small")
    assert public.outcome == "passed"  # the attack left the public test alone
    # The instructor's copy on disk keeps everything.
    kept = json.loads((tmp_path / "files" / "result.json").read_text())["tests"]
    assert re.search(CHANNEL[variant], "\n".join(t["message"] + "\n" + t["output"] for t in kept))


def test_a_recursions_depth_and_a_crashs_code_do_not_change_what_the_student_reads(
        toy_engine: Any, tmp_path: Path) -> None:
    """Two seeds give the recursion other depths and the crash other exit codes: what the
    student reads of those tests is the same text."""
    for variant, name in (("recursion-depth", "test_add"), ("exit-code", "test_add")):
        seen = set()
        for seed in (7, 8):
            result = grade(toy_engine, tmp_path / f"{variant}-{seed}", attack_module(variant),
                           seed)
            full = next(t for t in result.tests if t.name == name)
            shown = next(t for t in student_view(result).result.tests if t.name == name)
            assert shown.message != full.message, variant
            seen.add(shown.message)
        assert len(seen) == 1, (variant, seen)
        trace = seen.pop().split("in your code:\n")[-1].splitlines()
        assert len(trace) <= MAX_FRAMES + 1, trace


def test_a_frame_at_a_line_that_holds_no_code_is_said_to_be_made_at_run_time(
        toy_engine: Any, tmp_path: Path) -> None:
    toy = attack_module("exception-text").replace(
        'raise ValueError("LE" + "AK " + repr((a, b)))',
        'exec(compile("\\n" + "raise ValueError()", __file__, "exec"))')
    assert toy.splitlines()[1] == ""  # line 2 of the module is blank
    result = grade(toy_engine, tmp_path, toy)
    full = next(t for t in result.tests if t.name == "test_add").message
    assert 'toy.py", line 2' in full
    shown = next(t for t in student_view(result).result.tests if t.name == "test_add").message
    assert f"toy.py, {RUNTIME_CODE}" in shown and not re.search(r"line 2\b", shown), shown


def test_an_honest_submission_keeps_its_grade_and_its_feedback(
        toy_engine: Any, tmp_path: Path, honest: SubmissionResult) -> None:
    assert honest.topic("toy").score == honest.topic("toy").max_score > 0
    doc = json.loads(student_files(honest, tmp_path)["results.json"])
    assert doc["extra_data"]["topics"]["toy"] == {"score": honest.topic("toy").score,
                                                  "max_score": honest.topic("toy").max_score}
    # A wrong answer and an exception at a real line read the same in the student's view as in
    # the full result (but for the list of strings the worker sent, which only the grader uses).
    toy = REFERENCE.replace("return c * x  # (n,)", "return c * x + 1.0  # (n,)").replace(
        "return 2 * x, {", "return 2 * x, [][3] or {")
    result = grade(toy_engine, tmp_path / "wrong", toy)
    view = student_view(result).result
    for full, shown in zip(result.tests, view.tests):
        if "student_exception" not in full.flags:  # its text is the student's: withheld
            assert shown.message == full.message, (full.name, shown.message)
        assert (shown.score, shown.outcome) == (full.score, full.outcome)
    scale = next(t for t in view.tests if t.name == "test_scale")
    assert scale.outcome == "failed" and "expected" in scale.message
    cache = next(t for t in view.tests if t.name == "test_cache_roundtrip")
    line = next(i for i, text in enumerate(toy.splitlines(), 1) if "[][3]" in text)
    assert f"toy.py, line {line}" in cache.message, cache.message  # where it was raised, kept
    assert view.score == result.score


def test_the_view_is_made_only_by_student_view_and_writers_refuse_the_full_result(
        honest: SubmissionResult, tmp_path: Path) -> None:
    from grader.results.gradescope import results_json
    from grader.results.junit import junit_xml, write_junit
    from grader.results.report import render_report
    from grader.results.summary import github_annotations, summary_markdown

    view = student_view(honest)
    with pytest.raises(TypeError, match="student_view"):
        StudentView(honest)
    with pytest.raises(TypeError, match="student_view"):
        replace(view, result=honest)
    for write in (lambda r: results_json(r), lambda r: junit_xml(r),
                  lambda r: write_junit(r, tmp_path / "j.xml"), lambda r: summary_markdown(r),
                  lambda r: github_annotations(r, {}), lambda r: render_report(r)):
        with pytest.raises(TypeError, match="student_view"):
            write(honest)
        write(view)  # the view is accepted
    with pytest.raises(TypeError):
        render_report(view, instructor=True)  # type: ignore[call-overload]
    assert "Instructor" in render_report(honest, instructor=True)


MYPY_BAD = """
from grader.results.model import SubmissionResult
from grader.results.gradescope import results_json
from grader.results.junit import junit_xml
from grader.results.report import render_report
from grader.results.summary import github_annotations, summary_markdown


def leak(result: SubmissionResult) -> None:
    results_json(result)
    junit_xml(result)
    summary_markdown(result)
    github_annotations(result, {})
    render_report(result)
"""
MYPY_GOOD = """
from grader.results.model import SubmissionResult
from grader.results.gradescope import results_json
from grader.results.report import render_report
from grader.results.visibility import GATED, student_view


def fine(result: SubmissionResult) -> None:
    results_json(student_view(result, GATED))
    render_report(student_view(result))
    render_report(result, instructor=True)
"""


def test_handing_a_student_writer_the_full_result_fails_mypy(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed in this environment")
    (tmp_path / "bad_writer.py").write_text(MYPY_BAD)
    (tmp_path / "good_writer.py").write_text(MYPY_GOOD)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(tmp_path / "c"),
         "--follow-imports=silent", str(tmp_path / "bad_writer.py"),
         str(tmp_path / "good_writer.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert done.returncode == 1, done.stdout + done.stderr
    assert not [e for e in errors if "good_writer.py" in e], errors  # the view passes
    bad_lines = {int(e.split(":")[1]) for e in errors if "bad_writer.py" in e}
    calls = {i for i, line in enumerate(MYPY_BAD.splitlines(), 1) if line.startswith("    ")}
    assert bad_lines == calls, errors  # each of the five writers refuses the full result


def test_code_lines_are_the_lines_holding_code(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text('"""Doc\nstring."""\n\n# a comment\nx = (1,\n     2)\n\n\ndef f():\n'
                    "    return x  # why\n")
    assert code_lines(path) == "1-2,5-6,9-10"
    ranges = LineRanges(code_lines(path))
    assert [n for n in range(0, 12) if n in ranges] == [1, 2, 5, 6, 9, 10]
    assert code_lines(tmp_path / "missing.py") == "" and code_lines(None) == ""
    (tmp_path / "bad.py").write_text("def f(:\n  '''open")
    assert code_lines(tmp_path / "bad.py") == ""


TOKENIZING = [
    "x = (1,\n     # inside\n\n     2)\n",
    "s = '''a\n\nb'''  # a string over lines\n",
    'f"{x!r:>{width}}"\nf"""{\n  x\n}"""\n',
    "x = 1 + \\\n    2\n",
    "\ufeffx = 1\n",  # a byte-order mark
    "# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n",
    "if x:\r\n    y = 2\r\n\x0c\r\nz = 3",  # CRLF, a form feed, no final newline
    "def f():\n\tif x:\n\t\treturn 1\n    # dedented comment\n\treturn 2\n",
    "x = $y\n",  # a character no token starts with
    "async def f():\n    await g()\n    return [i async for i in h()]\n",
    "def f(:\n  '''open",
]


@pytest.mark.parametrize("source", TOKENIZING + sorted(
    str(p) for p in [*ROOT.glob("reference/*/*.py"), *ROOT.glob("assignments/*/*.py")]))
def test_code_lines_are_those_tokenize_finds(source: str, tmp_path: Path) -> None:
    """The lines holding code are those ``tokenize``'s own tokenizer finds, whichever tokenizer
    read them: on tricky sources and on every module of the course."""
    import io
    import tokenize

    from grader.results import visibility

    if source in TOKENIZING:
        path = tmp_path / "m.py"
        path.write_bytes(source.encode("latin-1" if "latin-1" in source else "utf-8"))
    else:
        path = Path(source)
    data = path.read_bytes()
    try:
        marked = sorted({line for tok in tokenize.tokenize(io.BytesIO(data).readline)
                         if tok.type not in visibility._NOT_CODE
                         for line in range(tok.start[0], tok.end[0] + 1)})
    except (SyntaxError, tokenize.TokenError):
        marked = []
    ranges = LineRanges(code_lines(path))
    assert [n for n in range(0, 2000) if n in ranges] == marked


def test_results_written_before_code_lines_show_no_line_number_of_a_hidden_test() -> None:
    from grader.results.model import TopicResult

    t = TestResult(topic="toy", name="test_add", nodeid="toy::test_add", kind="hidden",
                   outcome="failed", score=0.0, max_score=1.0, flags=("student_exception",),
                   message='add raised ValueError: x\nin your code:\n'
                           '  File "/s/toy.py", line 3, in add\n    x\n',
                   details={WORKER_TEXT: []})
    old = SubmissionResult("s", (TopicResult("toy", 0.0, 1.0, True),), (t,), 1, (), "", 0.0)
    assert "line 3" not in student_view(old).result.tests[0].message
    now = replace(old, topics=(replace(old.topics[0], code_lines="1-5"),))
    assert "toy.py, line 3" in student_view(now).result.tests[0].message
    assert "toy.py, line 3" in student_view(now, GATED).result.tests[0].message


def test_the_served_report_is_the_students_view(honest: SubmissionResult, tmp_path: Path) -> None:
    pytest.importorskip("starlette", reason="the service's packages are not installed")
    from grader.serve.student import report_page

    page = report_page(honest, None, instructor=False, released=frozenset())
    assert "Instructor" not in page and "Score:" in page
    assert "Instructor" in report_page(honest, None, instructor=True, released=frozenset())

