"""Hidden tests stay hidden: what student code prints during a hidden test (its inputs, say)
reaches only the instructor's copies, unless the instructor makes the test visible.

The attack: ``add`` and ``double`` print their arguments. Each hidden input is a distinctive
number, so finding it in a file means the file leaks it.
"""

from __future__ import annotations

import re

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from grader.course import Course, CourseError, load_topic_config
from grader.grading.engine import Engine, Options
from grader.results.gradescope import results_json
from grader.results.junit import write_junit
from grader.results.model import SubmissionResult, TestResult, TopicResult
from grader.results.summary import summary_markdown
from grader.results.visibility import GATED, RELEASED_LATER, WITHHELD_OUTPUT, student_view

FIX = Path(__file__).resolve().parent / "fixtures" / "course"

EXTRA_TESTS = '''

@pytest.mark.visibility("visible")
def test_add_shown(student, reference):
    expect_same(student, reference, "add", 1.625, 2.5)


@pytest.mark.visibility("hidden")
def test_add_secret(student, reference):
    expect_same(student, reference, "add", 3.3125, 4.75)
'''

PRINTING_TOY = (FIX / "reference" / "toy" / "solution.py").read_text().replace(
    "def add(a, b):\n", "def add(a, b):\n    print('ARGS', repr(a), repr(b))\n")
PRINTING_OTHER = "def double(x):\n    print('ARGS', repr(x))\n    return 2.0 * x\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The tiny course with a visible and a hidden test added to toy and ``other`` shown only
    after the due date; a submission whose functions print their arguments, graded."""
    root = tmp_path_factory.mktemp("visibility")
    course = root / "course"
    shutil.copytree(FIX, course)
    hidden = course / "reference" / "toy" / "test_hidden.py"
    hidden.write_text("import pytest\n" + hidden.read_text() + EXTRA_TESTS)
    toml = course / "reference" / "other" / "grading.toml"
    toml.write_text(toml.read_text() + 'visibility = "after_due_date"\n')
    sub = root / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text(PRINTING_TOY)
    (sub / "other.py").write_text(PRINTING_OTHER)
    out = root / "out"
    with Engine(Course(course)) as engine:
        result = engine.grade(sub, out, Options(seed=5))
    from grader.results.files import write_outputs

    write_outputs(result, out)
    return result, out


def _test(result: SubmissionResult, name: str) -> TestResult:
    return next(t for t in result.tests if t.name == name)


def test_the_results_record_each_tests_visibility(graded) -> None:
    result, _ = graded
    assert _test(result, "test_add").visibility == ""  # nothing set: the safe default
    assert _test(result, "test_add_shown").visibility == "visible"
    assert _test(result, "test_add_secret").visibility == "hidden"
    assert _test(result, "test_double").visibility == "after_due_date"  # the topic's setting
    assert all(t.output.startswith("ARGS") for t in result.tests
               if t.kind == "hidden" and {"add", "double"} & set(t.functions)), \
        "control: the module does print its inputs in every hidden test"


def test_results_json_keeps_hidden_inputs_out(graded) -> None:
    result, out = graded
    doc = json.loads((out / "results.json").read_text())
    tests = {t["name"].split(": ", 1)[1]: t for t in doc["tests"]}
    # The default for a hidden test: verdict and message, no printed inputs.
    assert tests["test_add"]["visibility"] == "visible"
    assert tests["test_add"]["status"] == "passed"
    assert "ARGS" not in tests["test_add"]["output"]
    assert "3.3125" not in json.dumps(doc)  # the hidden test's input
    assert tests["test_add_secret"]["visibility"] == "hidden"
    assert tests["test_add_secret"]["output"] == RELEASED_LATER
    # What the instructor made visible shows everything; after the due date, Gradescope shows it.
    assert "ARGS 1.625 2.5" in tests["test_add_shown"]["output"]
    assert tests["test_double"]["visibility"] == "after_due_date"
    assert "ARGS 1.5" in tests["test_double"]["output"]
    # A public test's output is the student's own business.
    assert "ARGS 1.0 2.0" in tests["test_add_small (public)"]["output"]


def test_the_students_report_keeps_hidden_inputs_out_and_the_instructors_keeps_all(graded) -> None:
    result, out = graded
    report = (out / "report.html").read_text()
    assert "3.3125" not in report and "ARGS 1.5" not in report
    assert _input_of(result, "test_add") not in report
    assert "ARGS 1.625 2.5" in report and "ARGS 1.0 2.0" in report
    assert "not shown" in report
    full = (out / "instructor.html").read_text()
    assert "ARGS 3.3125 4.75" in full and _input_of(result, "test_add") in full
    assert "Instructor&#39;s copy" in full or "Instructor's copy" in full
    kept = json.loads((out / "result.json").read_text())
    assert any("ARGS 3.3125 4.75" in t["output"] for t in kept["tests"])


def _input_of(result: SubmissionResult, name: str) -> str:
    """The first argument the student's code printed in a test (a seeded hidden input)."""
    return _test(result, name).output.split()[1]


def test_ci_outputs_keep_hidden_inputs_out(graded, tmp_path: Path) -> None:
    result, _ = graded
    shown = student_view(result)
    write_junit(shown, tmp_path / "junit.xml")
    markdown = summary_markdown(shown)
    for text in ((tmp_path / "junit.xml").read_text(), markdown):
        assert "3.3125" not in text and _input_of(result, "test_add") not in text
    # control: the full result holds it, and a student-facing writer refuses the full result
    assert "3.3125" in json.dumps([t.to_dict() for t in result.tests])
    with pytest.raises(TypeError, match="student_view"):
        write_junit(result, tmp_path / "full.xml")  # type: ignore[arg-type]


def _one(kind: str, visibility: str = "") -> SubmissionResult:
    t = TestResult(topic="t", name="test_x", nodeid="t/x", kind=kind, outcome="failed",
                   score=0.0, max_score=1.0, message="x: expected 1, got 2",
                   output="SECRET 42", visibility=visibility)
    return SubmissionResult(submission="s", topics=(TopicResult("t", 0.0, 1.0, True),),
                            tests=(t,), seed=1, sandbox=(), started="", duration=0.0)


@pytest.mark.parametrize(("kind", "setting", "bundle", "entry", "output_shown", "message_shown"), [
    ("hidden", "", "visible", "visible", False, True),
    ("public", "", "visible", "visible", True, True),
    ("hidden", "visible", "visible", "visible", True, True),
    ("hidden", "hidden", "visible", "hidden", False, False),
    ("hidden", "after_due_date", "visible", "after_due_date", True, True),
    ("hidden", "visible", "after_published", "after_published", True, True),
    ("hidden", "after_due_date", "hidden", "hidden", True, True),
])
def test_gradescope_entries_follow_the_settings(kind, setting, bundle, entry, output_shown,
                                                message_shown) -> None:
    doc = results_json(student_view(_one(kind, setting), GATED), visibility=bundle)
    test = doc["tests"][0]
    assert test["visibility"] == entry
    assert ("SECRET 42" in test["output"]) == (output_shown and setting != "hidden")
    assert ("expected 1, got 2" in test["output"]) == message_shown


def test_student_view_withholds_and_keeps_scores() -> None:
    copy = student_view(_one("hidden")).result
    assert copy.tests[0].output == WITHHELD_OUTPUT and copy.tests[0].message
    later = student_view(_one("hidden", "after_published")).result.tests[0]
    assert later.message == RELEASED_LATER and later.output == ""
    assert student_view(_one("hidden", "visible")).result.tests[0].output == "SECRET 42"
    assert copy.score == _one("hidden").score


def test_an_unknown_visibility_in_grading_toml_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "grading.toml"
    path.write_text(textwrap.dedent('[grading]\nvisibility = "after_deadline"\n'))
    with pytest.raises(CourseError, match="visibility must be one of visible, hidden"):
        load_topic_config(path)
    path.write_text('[grading]\nvisibility = "after_published"\n')
    assert load_topic_config(path).visibility == "after_published"


RAISING_TOY = (FIX / "reference" / "toy" / "solution.py").read_text().replace(
    "def add(a, b):\n", "def add(a, b):\n    raise ValueError('VAL' + 'UES ' + repr((a, b)))\n")


def test_an_exception_that_quotes_hidden_inputs_reaches_only_the_instructors_copy(
        toy_engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text(RAISING_TOY)
    (sub / "other.py").write_text(PRINTING_OTHER)
    result = toy_engine.grade(sub, tmp_path / "out", Options(seed=3))
    hidden = [t for t in result.tests if t.kind == "hidden" and "add" in t.functions]
    public = [t for t in result.tests if t.kind == "public" and "add" in t.functions]
    assert hidden and public
    # Control: the full result (the instructor's) quotes the inputs the student's code raised.
    assert all("raised ValueError: VALUES" in t.message for t in hidden)
    shown = {t.nodeid: t for t in student_view(result).result.tests}
    for t in hidden:
        mine = shown[t.nodeid].message
        assert "VALUES" not in mine, mine
        assert mine.startswith("add raised ValueError (the message of the exception"), mine
        assert re.search(r"toy\.py, line \d+", mine)  # where it was raised still shows
    for t in public:  # the public tests' inputs are the student's to see
        assert "VALUES" in shown[t.nodeid].message
