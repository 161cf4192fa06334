"""Result files: the JSON layout people read, and what it costs to write."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.results.model import (SubmissionResult, TestResult, dumps_readable, load_result,
                            write_json_atomic)
from grader.results.scoring import topic_results

SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | \
    st.floats(allow_nan=False)
KEYS = st.text(max_size=6) | st.integers() | st.booleans() | st.none() | \
    st.floats(allow_nan=False, allow_infinity=False)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(KEYS, inner, max_size=4), max_leaves=30)


@settings(deadline=None, max_examples=300)
@given(VALUES, st.integers(0, 4))
def test_readable_json_reads_back_as_json_writes_it(value, depth: int) -> None:
    assert json.loads(dumps_readable(value, depth)) == json.loads(json.dumps(value))


def test_a_result_file_has_one_test_per_line(tmp_path: Path) -> None:
    tests = tuple(TestResult(topic="toy", name=f"test_{i}", nodeid=f"toy/hidden::test_{i}",
                             kind="hidden", outcome="passed", score=1.0, max_score=1.0,
                             message='quotes " and\nnew lines', details={"k": [1, 2]})
                  for i in range(3))
    result = SubmissionResult(submission="ada", topics=topic_results(list(tests), ["toy"]),
                              tests=tests, seed=1, sandbox=(), started="", duration=1.0)
    path = tmp_path / "result.json"
    write_json_atomic(path, result.to_dict())
    lines = path.read_text().splitlines()
    assert sum(1 for line in lines if '"nodeid": "toy/hidden::test_' in line) == 3
    assert lines[0] == "{" and lines[-1] == "}"
    assert load_result(path) == result


def test_a_test_not_graded_here_counts_as_failed_in_no_output() -> None:
    import xml.etree.ElementTree as ET

    from grader.results.gradescope import results_json
    from grader.results.junit import junit_xml
    from grader.results.model import NOT_GRADED_GPU
    from grader.results.report import render_report
    from grader.results.visibility import student_view

    tests = (TestResult(topic="conv", name="test_fast", nodeid="conv/hidden::test_fast",
                        kind="hidden", outcome="not_graded", score=0.0, max_score=0.0,
                        message=f"{NOT_GRADED_GPU} (no CUDA device)"),
             TestResult(topic="conv", name="test_skip", nodeid="conv/hidden::test_skip",
                        kind="hidden", outcome="skipped", score=0.0, max_score=2.0),
             TestResult(topic="conv", name="test_ok", nodeid="conv/hidden::test_ok",
                        kind="hidden", outcome="passed", score=1.0, max_score=1.0),
             TestResult(topic="conv", name="test_bad", nodeid="conv/hidden::test_bad",
                        kind="hidden", outcome="failed", score=0.0, max_score=1.0))
    result = SubmissionResult(submission="ada", topics=topic_results(list(tests), ["conv"]),
                              tests=tests, seed=1, sandbox=(), started="", duration=1.0)
    doc = {t["name"]: t for t in results_json(student_view(result))["tests"]}
    # Gradescope: "status" is optional, and a test worth nothing without one is shown neutrally.
    for name in ("conv: test_fast", "conv: test_skip"):
        assert "status" not in doc[name] and doc[name]["max_score"] == 0.0, doc[name]
    assert doc["conv: test_ok"]["status"] == "passed"
    assert doc["conv: test_bad"]["status"] == "failed"
    suite = ET.fromstring(junit_xml(student_view(result))).find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "0", "2")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["test_fast"].find("skipped") is not None
    assert cases["test_fast"].find("failure") is None
    html = render_report(student_view(result))
    assert '<span class="badge not_graded">not graded</span>' in html
    assert "1 test(s) need a GPU" in html and "Score: 1 / 2" in html
    # The student reads it where it lowers their maximum, the topic; the grading's own details
    # (the machine, the sandbox, the seeds) are the instructor's.
    assert html.index("1 test(s) need a GPU") > html.index('id="tests-conv"')
    assert "on this machine" not in html and "sandbox:" not in html and "seed" not in html
    theirs = render_report(result, instructor=True)
    assert "1 test(s) need a GPU and were not graded on this machine" in theirs
    assert "sandbox: none (unsandboxed)" in theirs and "· seed 1" in theirs


def test_long_names_wrap_after_underscores_and_stay_escaped() -> None:
    from grader.results.report import breakable

    assert str(breakable("test_conv[stride_one]")) == \
        "test_<wbr>conv[<wbr>stride_<wbr>one]"
    assert str(breakable("<b>x</b> y")) == "&lt;<wbr>b&gt;<wbr>x&lt;<wbr>/<wbr>b&gt; y"
    assert "<wbr>" not in str(breakable("plain words only"))


def test_a_tests_points_come_from_one_scoring_function() -> None:
    from grader.results.scoring import points_earned, points_possible

    assert points_earned("passed", 4, 0.25) == 1.0
    assert points_earned("passed", 4, 1.7) == 4.0 and points_earned("passed", 4, -1) == 0.0
    assert points_earned("failed", 4, 1.0) == 0.0 == points_earned("timeout", 4)
    assert points_possible("not_graded", 4) == 0.0 and points_possible("failed", 4) == 4.0


def test_a_process_that_prepared_the_report_renders_it_in_its_children_without_reading_it(
        ) -> None:
    """A batch and the service's dispatcher compile the report's template before they fork the
    grading children that write the pages: each child renders from that, reading no template."""
    import os
    import subprocess
    import sys

    script = r'''
import os, sys, jinja2
from grader.results import report
from grader.results.model import SubmissionResult, TestResult
from grader.results.scoring import topic_results
from grader.results.visibility import student_view
if sys.argv[1] == "prepared":
    report.prepare()
read = []
original = jinja2.FileSystemLoader.get_source
jinja2.FileSystemLoader.get_source = lambda self, env, name: (read.append(name),
                                                             original(self, env, name))[1]
tests = (TestResult(topic="toy", name="test_a", nodeid="toy/hidden::test_a", kind="hidden",
                    outcome="passed", score=1.0, max_score=1.0),)
result = SubmissionResult(submission="ada", topics=topic_results(list(tests), ["toy"]),
                          tests=tests, seed=1, sandbox=(), started="", duration=1.0)
r, w = os.pipe()
if os.fork() == 0:  # a grading child
    html = report.render_report(student_view(result))
    os.write(w, f"{'ada' in html} {read}".encode())
    os._exit(0)
os.close(w)
os.wait()
print(os.read(r, 1000).decode())
'''
    root = Path(__file__).resolve().parent.parent
    got = {how: subprocess.run([sys.executable, "-c", script, how], capture_output=True,
                               text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
           for how in ("prepared", "not")}
    assert got["prepared"].stdout.strip() == "True []", got["prepared"].stderr[-2000:]
    assert got["not"].stdout.strip() == "True ['report.html.j2']", got["not"].stderr[-2000:]


def test_pages_without_their_templates_say_how_to_install_them(tmp_path: Path,
                                                               monkeypatch) -> None:
    """A copy of the grader installed without templates/ beside its package (``pip install .``)
    still writes the grades, and its report says what is missing and how to install."""
    from grader.results import files, report

    monkeypatch.setattr(report, "__file__", str(tmp_path / "grader" / "results" / "report.py"))
    report.environment.cache_clear()
    try:
        tests = (TestResult(topic="toy", name="test_a", nodeid="toy/hidden::test_a",
                            kind="hidden", outcome="passed", score=1.0, max_score=1.0),)
        result = SubmissionResult(submission="ada", topics=topic_results(list(tests), ["toy"]),
                                  tests=tests, seed=1, sandbox=(), started="", duration=1.0)
        written = files.write_pages(result, tmp_path / "out")
    finally:
        report.environment.cache_clear()
    page = (tmp_path / "out" / files.REPORT).read_text()
    assert "pip install -e ." in page and "templates" in page, page
    assert any("pip install -e ." in n for n in written.notes)
    assert (tmp_path / "out" / files.RESULTS).is_file()
