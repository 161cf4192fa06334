"""Hidden tests' student copies withhold every string the worker sent, not only printed output
and exception texts: names of returned types, returned strings, warnings, trip-wire records."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from grader.grading.engine import Options
from grader.grading.remote import WorkerSpec, banned_calls, worker_strings
from grader.isolation import profiles
from grader.isolation.wire import Handle
from grader.results.model import TestResult
from grader.results.visibility import WITHHELD_TEXT, WORKER_TEXT, student_test, withhold_text

FIX = Path(__file__).resolve().parent / "fixtures" / "course"
REFERENCE = (FIX / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIX / "reference" / "other" / "solution.py").read_text()


def _test(message: str, sent: list[str], kind: str = "hidden", visibility: str = "") -> TestResult:
    return TestResult(topic="toy", name="test_add", nodeid="toy::test_add", kind=kind,
                      outcome="failed", score=0.0, max_score=1.0, message=message,
                      details={WORKER_TEXT: sent, "speed": 2.0}, visibility=visibility)


def test_a_hidden_tests_copy_withholds_the_workers_strings_where_they_show() -> None:
    t = _test("add: you returned a value of type toy.Y_0_25 (expected a number); "
              "got 'x=[0.5 0.25]'", ["toy.Y_0_25", "x=[0.5 0.25]", "float"])
    shown = student_test(t)
    assert "Y_0_25" not in shown.message and "0.25" not in shown.message, shown.message
    assert shown.message.count(WITHHELD_TEXT) == 2
    assert WORKER_TEXT not in shown.details and shown.details["speed"] == 2.0
    assert t.details[WORKER_TEXT]  # the instructor's copy keeps everything


@pytest.mark.parametrize("known", ["float", "numpy.float64", "torch.Tensor",
                                   "numpy.ndarray(dtype=float32)", "ValueError"])
def test_names_of_types_the_grader_knows_stay(known: str) -> None:
    import torch  # noqa: F401  (loaded in the grading process too)

    message = f"add: you returned a value of type {known}"
    assert student_test(_test(message, [known])).message == message


@pytest.mark.parametrize("kind, visibility", [("public", ""), ("hidden", "visible")])
def test_tests_that_show_output_show_the_workers_strings(kind: str, visibility: str) -> None:
    t = _test("got toy.Y_0_25", ["toy.Y_0_25"], kind, visibility)
    shown = student_test(t)
    assert shown.message == "got toy.Y_0_25" and WORKER_TEXT not in shown.details


def test_strings_inside_words_and_overlapping_ones_go_too() -> None:
    assert "SEC" not in withhold_text("aXSECRETb and SECRET", ["SECRET", "XSEC"])
    assert withhold_text("nothing here", "not a list") == "nothing here"
    quoted = "you returned a str ('LEAK [0.5, 0.25, …); expected an array"
    assert "LEAK" not in withhold_text(quoted, ["LEAK [0.5, 0.25, 0.125, 0.0625]"])


def test_worker_strings_finds_strings_keys_and_handle_type_names() -> None:
    value = {"k1": [("s1", 2.0), Handle(7, "toy.Y_1")], "n": {"deep": ["s2"]}}
    assert worker_strings(value) == {"k1", "s1", "toy.Y_1", "n", "deep", "s2"}


def test_forged_trip_wire_records_carry_no_text(tmp_path: Path) -> None:
    (tmp_path / "toy.py").write_text("")
    spec = WorkerSpec("toy", str(tmp_path / "toy.py"), str(tmp_path), sandbox=False,
                      banned=("numpy.polyfit",))
    reply = {"banned": [{"name": "numpy.polyfit", "file": "toy.py", "line": 3},
                        {"name": "y_true=[0.5, 0.25]", "file": "x=[1, 2].py", "line": 4},
                        {"name": "numpy.polyfit", "file": "a thread your code started",
                         "line": 0}]}
    got = banned_calls(reply, spec)
    assert got[0] == {"name": "numpy.polyfit", "file": "toy.py", "line": 3}
    assert got[1] == {"name": "a banned function", "file": "your code", "line": 4}
    assert got[2]["file"] == "a thread your code started"


def test_a_gradient_operator_refused_where_autograd_is_taken_away_is_named(tmp_path: Path) -> None:
    """The operators that only compute a gradient are refused by the profile, not by the
    topic's [banned] ops: named where the profile takes autograd away, and only there."""
    (tmp_path / "toy.py").write_text("")
    reply = {"banned": [{"name": "aten::threshold_backward", "file": "toy.py", "line": 3}]}
    names = {}
    for profile in (profiles.NO_AUTOGRAD, profiles.TORCH):
        spec = WorkerSpec("toy", str(tmp_path / "toy.py"), str(tmp_path), sandbox=False,
                          profile=profile)
        names[profile] = banned_calls(reply, spec)[0]["name"]
    assert names == {profiles.NO_AUTOGRAD: "aten::threshold_backward",
                     profiles.TORCH: "a banned function"}


# ----------------------------------------------------------------------------- through the grader

def _module(body: str) -> str:
    return REFERENCE + "\n" + textwrap.dedent(body)


# Each variant leaks the hidden inputs of test_add or test_scale through a string the worker sends.
# The marker is built at run time: the source's own lines may show in a traceback.
LEAKS = {
    "qualname-of-returned-object": '''
        def add(a, b):
            R = type("R", (), {})
            R.__qualname__ = "LE" + "AK_" + repr(a).replace(".", "_").replace("-", "m")
            return R()
        ''',
    "class-name-of-a-handle": '''
        def make_cache(x):
            C = type("LE" + "AK_" + "_".join(str(int(v * 1000)) for v in x), (), {})
            return 2 * x, C()
        def use_cache(cache):
            return 0
        ''',
    "returned-string": '''
        def scale(x, c):
            return "LE" + "AK " + repr(list(x))
        ''',
    "exception-class-name": '''
        def add(a, b):
            raise type("LE" + "AK_" + repr(a).replace(".", "_").replace("-", "m"), (ValueError,), {})()
        ''',
    "warning-text": '''
        import warnings
        def safe_exp(z):
            warnings.warn("LE" + "AK " + repr(list(z)))
            return np.exp(np.minimum(z, 700.0))
        ''',
    "forged-trip-wire-record": '''
        import sys
        def add(a, b):
            f = sys._getframe()
            while f is not None:
                w = f.f_locals.get("wires")
                if w is not None and hasattr(w, "fired"):
                    w.fired.append({"name": "numpy.polyfit", "file": "LE" + "AK " + repr(a) + ".py",
                                    "line": 1})
                    w.fired.append({"name": "LE" + "AK " + repr(b), "file": "toy.py", "line": 1})
                f = f.f_back
            return float(a + b)
        ''',
}


def _grade(engine, folder: Path, toy: str):
    sub = folder / "sub"
    sub.mkdir(parents=True)
    (sub / "toy.py").write_text(toy)
    (sub / "other.py").write_text(OTHER)
    return engine.grade(sub, folder / "out", Options(seed=7))


@pytest.mark.parametrize("variant", sorted(LEAKS))
def test_hidden_inputs_do_not_leak_through_names_into_the_students_copy(
        toy_engine, tmp_path: Path, variant: str) -> None:
    from grader.results.report import render_report
    from grader.results.visibility import student_view

    result = _grade(toy_engine, tmp_path / "attack", _module(LEAKS[variant]))
    full = json.dumps([t.to_dict() for t in result.tests])
    if variant == "forged-trip-wire-record":
        # No frame of the worker holds the trip-wire (the audit hook does): nothing is forged,
        # and no copy has the text.
        # (The static scan still reads the name in the module's source.)
        add = next(t for t in result.tests if t.name == "test_add")
        assert "is not allowed here (" not in add.message, add.message
        assert "LEAK" not in full
    else:
        assert "LEAK" in full, variant  # the channel is real: the instructor's copy shows it
    shown = student_view(result).result
    hidden = [t for t in shown.tests if t.kind == "hidden"]
    assert hidden and "LEAK" not in json.dumps([t.to_dict() for t in hidden]), variant
    # public tests' inputs are public: what shows there is no leak
    html = render_report(student_view(replace(result, tests=tuple(
        t for t in result.tests if t.kind == "hidden"))))
    assert "LEAK" not in html, variant
    # an honest submission beside it keeps its grade
    honest = _grade(toy_engine, tmp_path / "honest", REFERENCE)
    assert honest.topic("toy").score == honest.topic("toy").max_score
    assert student_view(honest).result.topic("toy").score == honest.topic("toy").score


def test_a_short_text_is_withheld_as_a_word_and_leaves_the_graders_words_whole() -> None:
    from grader.results.visibility import withhold_text

    message = "add raised ValueError: no (its text is not shown), at line 12; got 1"
    shown = withhold_text(message, ["no", "1"])
    assert "not shown" in shown and "line 12" in shown
    assert "ValueError: (withheld)" in shown and shown.endswith("got (withheld)")
    long = withhold_text("add returned an object of class Leak0123456789abc_", ["Leak0123456789abc"])
    assert "Leak0123456789abc" not in long


def test_a_traceback_forged_at_run_time_shows_only_lines_in_a_hidden_test() -> None:
    """A function renamed at run time (``__code__.replace(co_name=…)``), a file named at run
    time (``compile(…, filename)``) and a source line fed to linecache all spell text of the
    student's choosing: a hidden test's student copy keeps only line numbers, and the file's
    name where it is the topic's module."""
    from grader.results.visibility import LineRanges, _exception_withheld

    message = ("add raised ValueError: x\nin your code:\n"
               '  File "/w/student/toy.py", line 3, in add\n    inner()\n'
               '  File "/tmp/LEAK_0.25.py", line 1, in LEAK_0_25\n    LEAK 0.25\n')
    shown = _exception_withheld(message, "toy", LineRanges("1-5"))
    assert "LEAK" not in shown and "0.25" not in shown and "0_25" not in shown
    assert "toy.py, line 3" in shown and "another file of yours" in shown
    assert "line 1" not in shown  # another file's line numbers are the student's to choose
