"""`grader ci` in a student's repository: outputs, the GitHub view, exit policy, hidden tests;
and the JUnit, summary and annotation emitters on hand-made results."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from typing import Any

import pytest
from click.testing import CliRunner

from grader.ci import exit_status, run_ci
from grader.commands.main import main
from grader.course import Course
from grader.results.junit import junit_xml
from grader.results.visibility import student_view
from grader.results.model import SubmissionResult, TestResult
from grader.results.scoring import topic_results
from grader.results.summary import (
    MAX_PER_LEVEL,
    Annotation,
    github_annotations,
    source_map,
    summary_markdown,
)

STUB = '''\
"""Vectors: the CI tests' topic."""

import numpy as np


def add(a, b):
    raise NotImplementedError("add: not implemented yet")


def scale(x, c):
    raise NotImplementedError("scale: not implemented yet")


def norm(x):
    raise NotImplementedError("norm: not implemented yet")
'''

WORK = '''\
"""My vectors."""

import numpy as np


def add(a, b):
    return a + b


def scale(x, c):
    return 2 * c * x


def norm(x):
    raise NotImplementedError("norm: not implemented yet")
'''

PUBLIC = '''\
import numpy as np

from grader.checks.compare import assert_close


def test_add(student):
    assert_close(student.add(1.0, 2.0), 3.0, name="add(1, 2)")


def test_scale(student):
    assert_close(student.scale(np.array([1.0, 2.0]), 3.0), np.array([3.0, 6.0]),
                 name="scale(x, 3)")


def test_norm(student):
    assert_close(student.norm(np.array([3.0, 4.0])), 5.0, name="norm([3, 4])")
'''

SOLUTION = STUB.replace('raise NotImplementedError("add: not implemented yet")', "return a + b") \
    .replace('raise NotImplementedError("scale: not implemented yet")', "return c * x") \
    .replace('raise NotImplementedError("norm: not implemented yet")',
             "return float(np.sqrt(np.sum(x * x)))")

HIDDEN = '''\
import pytest

from grader.checks.compare import expect_same


@pytest.mark.points(2)
def test_scale_random(student, reference, rng):
    expect_same(student, reference, "scale", rng.normal(size=5), -1.5)


def test_add_random(student, reference, rng):
    a, b = rng.normal(size=2)
    expect_same(student, reference, "add", float(a), float(b))
'''


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A student's repository in the released layout: work in place, no reference/."""
    return write(tmp_path_factory.mktemp("repo"), {
        "assignments/vec/vec.py": WORK,
        "assignments/vec/test_public.py": PUBLIC,
        "assignments/broken/broken.py": "def one():\n    return 1\nif True\n",
        "assignments/broken/test_public.py":
            "def test_one(student):\n    assert student.one() == 1, 'one() should be 1'\n",
        "assignments/manifest.json": json.dumps({"hidden_tests": {"vec": 2, "broken": 1}}),
    })


@pytest.fixture(scope="module")
def hidden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hidden tests handed to the job, laid out like reference/."""
    return write(tmp_path_factory.mktemp("hidden"), {
        "vec/solution.py": SOLUTION, "vec/test_hidden.py": HIDDEN})


@pytest.fixture(scope="module")
def github_run(repo: Path, tmp_path_factory: pytest.TempPathFactory):
    """`grader ci` as a GitHub Actions job runs it."""
    tmp = tmp_path_factory.mktemp("gh")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp / "step_summary.md"),
           "GITHUB_WORKSPACE": str(repo), "GITHUB_REPOSITORY": "student/course-work"}
    lines: list[str] = []
    done = run_ci(Course(repo), tmp / "report", environ=env, echo=lines.append)
    return done, tmp, lines


def def_line(text: str, name: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1)
                if line.startswith(f"def {name}("))


def test_failing_public_tests_do_not_fail_the_job(github_run) -> None:
    done, _, lines = github_run
    assert done.exit_code == 0 and done.reason == ""
    tests = {t.name: t for t in done.result.tests}
    assert tests["test_add"].outcome == "passed"
    assert tests["test_scale"].outcome == "failed" and "scale" in tests["test_scale"].message
    assert tests["test_norm"].outcome == "failed" and "not_implemented" in tests["test_norm"].flags
    assert all(t.kind == "public" for t in done.result.tests)
    assert any("public tests only, not your grade" in line for line in lines)


def test_outputs_are_written(github_run) -> None:
    _, tmp, _ = github_run
    report = tmp / "report"
    results = json.loads((report / "results.json").read_text())
    assert results["score"] == 1 and set(results["extra_data"]["topics"]) == {"vec", "broken"}
    assert (report / "report.html").is_file() and (report / "result.json").is_file()
    suites = {s.get("name"): s for s in ET.parse(report / "junit.xml").getroot()}
    assert suites["vec"].get("tests") == "3" and suites["vec"].get("failures") == "2"
    cases = {c.get("name"): c for c in suites["vec"].iter("testcase")}
    assert cases["test_add"].find("failure") is None
    assert "scale" in cases["test_scale"].find("failure").text
    assert (report / "summary.md").read_text() == \
        (tmp / "step_summary.md").read_text().rstrip("\n") + "\n"


def test_step_summary_says_public_tests_are_not_the_grade(github_run) -> None:
    _, tmp, _ = github_run
    md = (tmp / "step_summary.md").read_text()
    assert "1 of 4 public tests passed" in md
    assert "These public tests are not your grade" in md and "3 hidden tests" in md
    assert "| ❌ `vec` | 1 / 3 | 1 / 3 | not implemented yet: norm; 2 hidden tests |" in md
    assert "| ❌ `broken` | 0 / 1 | 0 / 1 | broken.py has a syntax error; 1 hidden test |" in md
    assert "test_scale" in md and "<pre>" in md
    assert "test_norm" not in md  # not-implemented tests are summed up per topic, not listed


def test_annotations_point_at_the_students_functions(github_run, repo: Path) -> None:
    _, _, lines = github_run
    notes = [line for line in lines if line.startswith("::")]
    work = (repo / "assignments/vec/vec.py").read_text()
    scale = [n for n in notes if "title=scale%3A 1 test failed" in n]
    assert scale and scale[0].startswith(
        f"::error file=assignments/vec/vec.py,line={def_line(work, 'scale')},")
    assert f"::notice file=assignments/vec/vec.py,line={def_line(work, 'norm')}," \
           "title=vec%3A not implemented yet::norm" in notes
    broken = [n for n in notes if "broken" in n]
    assert len(broken) == 1
    assert broken[0].startswith("::error file=assignments/broken/broken.py,line=3,")
    assert "could not be imported" in broken[0] and "%0A" not in broken[0].split("::")[1]


def test_off_github_nothing_is_annotated(repo: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    done = run_ci(Course(repo), tmp_path / "out", topics=("vec",), environ={},
                  echo=lines.append)
    assert not any(line.startswith("::") for line in lines)
    assert (tmp_path / "out" / "summary.md").is_file()
    assert {t.topic for t in done.result.tests} == {"vec"}


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The engines ``run_ci`` starts."""
    import grader.grading.engine

    made: list[Any] = []
    real = grader.grading.engine.Engine

    def engine(*a: Any, **kw: Any) -> Any:
        made.append(real(*a, **kw))
        return made[-1]

    monkeypatch.setattr(grader.grading.engine, "Engine", engine)
    return made


def test_hidden_tests_run_in_the_sandbox_when_given(repo: Path, hidden: Path, tmp_path: Path,
                                                    engines: list[Any]) -> None:
    import shutil

    hidden = Path(shutil.copytree(hidden, tmp_path / "hidden"))  # with a test of another topic
    (hidden / "broken").mkdir(exist_ok=True)
    (hidden / "broken" / "test_hidden.py").write_text("def test_x(student):\n    pass\n")
    done = run_ci(Course(repo), tmp_path / "out", topics=("vec",), hidden=hidden, environ={},
                  echo=lambda _: None)
    # The topics named are all a result lists: no other topic's test file (not checked for
    # links into the repository) is collected, not even to be listed.
    assert engines[0].listing is None
    assert {t.topic for t in done.result.tests} == {"vec"}
    tests = {t.name: t for t in done.result.tests}
    assert tests["test_scale_random"].kind == "hidden"
    assert tests["test_scale_random"].outcome == "failed"
    assert tests["test_add_random"].outcome == "passed"
    assert "landlock" in done.result.sandbox
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "not your grade" not in md and "Public and hidden tests" in md
    assert done.exit_code == 0


def test_cli_fail_under_and_broken_grading(repo: Path, hidden: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    runner = CliRunner()
    low = runner.invoke(main, ["ci", "vec", "--course", str(repo), "--out",
                               str(tmp_path / "a"), "--fail-under", "50"])
    assert low.exit_code == 1, low.output
    assert "below --fail-under 50" in low.output
    bad = write(tmp_path / "bad", {"vec/solution.py": SOLUTION,
                                   "vec/test_hidden.py": "def test_x(student:\n"})
    broke = runner.invoke(main, ["ci", "vec", "--course", str(repo), "--out",
                                 str(tmp_path / "b"), "--hidden", str(bad)])
    assert broke.exit_code == 2, broke.output
    assert "grading did not complete" in broke.output
    assert (tmp_path / "b" / "junit.xml").is_file()  # the artifact still says what happened


def test_cli_rejects_a_hidden_folder_without_hidden_tests(repo: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["ci", "--course", str(repo), "--hidden", str(tmp_path)])
    assert res.exit_code == 2 and "laid out like reference/" in res.output


# ------------------------------------------------------------------- emitters on made-up results


def made(*tests: TestResult, error: str = "") -> SubmissionResult:
    topics = sorted({t.topic for t in tests}) or ["vec"]
    return SubmissionResult(submission="s", topics=topic_results(tests, topics), tests=tests,
                            seed=7, sandbox=(), started="2025-01-01T00:00:00+00:00",
                            duration=1.0, error=error)


def case(name: str, outcome: str = "failed", message: str = "", topic: str = "vec",
         functions: tuple[str, ...] = (), flags: tuple[str, ...] = (), output: str = "",
         kind: str = "public") -> TestResult:
    return TestResult(topic=topic, name=name, nodeid=f"{topic}/{kind}::{name}", kind=kind,
                      outcome=outcome, score=1.0 if outcome == "passed" else 0.0,
                      max_score=0.0 if outcome == "not_graded" else 1.0, message=message,
                      functions=functions, flags=flags, output=output)


def test_exit_status_policy() -> None:
    half = made(case("a", "passed"), case("b", "failed"))
    assert exit_status(half, None) == (0, "")
    assert exit_status(half, 50) == (0, "")
    assert exit_status(half, 60)[0] == 1
    assert exit_status(made(case("a", "passed"), error="the session could not start"), None)[0] == 2
    fault = made(case("a", "error", "the grader could not run this test", flags=("grader_error",)))
    assert exit_status(fault, None)[0] == 2
    crash = made(case("a", "error", "scale crashed the worker", flags=("crash",)))
    assert exit_status(crash, None) == (0, "")  # the student's crash is a result, not a breakage


def test_junit_survives_what_student_code_prints() -> None:
    result = made(case("t[a|b]", "failed", "scale: got <1> & \x00 bad\x1b[31m", output="\x07beep"),
                  case("u", "timeout", "scale did not finish within 2 s"),
                  case("v", "not_graded", "needs a GPU — not graded here"),
                  error="the grading process ended early")
    root = ET.fromstring(junit_xml(student_view(result)).split("?>", 1)[1])
    vec = root.find("testsuite[@name='vec']")
    assert (vec.get("failures"), vec.get("errors"), vec.get("skipped")) == ("1", "1", "1")
    failure = vec.find("testcase[@name='t[a|b]']/failure")
    assert failure.get("message").startswith("scale: got <1> & ") and "\x00" not in failure.text
    assert root.find("testsuite[@name='grader']/testcase/error") is not None


def test_summary_escapes_student_text_and_caps_the_list() -> None:
    tests = [case(f"t{i}", "failed", "<script>alert(1)</script> | x", functions=("scale",))
             for i in range(70)]
    md = summary_markdown(student_view(made(*tests)), {"vec": 5})
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert md.count("<details>") == 60 and "10 more failing tests" in md


def test_summary_with_no_hidden_counts_still_warns() -> None:
    md = summary_markdown(student_view(made(case("a", "passed"))), {})
    assert "not your grade" in md and "hidden tests that your instructor runs" in md


def test_annotation_escaping_and_cap(tmp_path: Path) -> None:
    note = Annotation("error", "f: a, b", "line one\nline 100%", "dir/x.py", 3)
    assert note.command() == "::error file=dir/x.py,line=3,title=f%3A a%2C b::line one%0Aline 100%25"
    src = tmp_path / "vec.py"
    src.write_text("".join(f"def f{i}(x):\n    return x\n\n" for i in range(15)))
    tests = [case(f"t{i}", "failed", f"f{i} returned the wrong value", functions=(f"f{i}",))
             for i in range(15)]
    notes = github_annotations(student_view(made(*tests)), {"vec": src}, tmp_path)
    assert len(notes) == MAX_PER_LEVEL
    assert notes[0].line == 1 and notes[1].line == 4 and notes[-1].title == "6 more"


def test_culprit_is_the_function_the_message_names(tmp_path: Path) -> None:
    src = tmp_path / "vec.py"
    src.write_text("def forward(x):\n    return x\n\n\ndef backward(d):\n    return d\n")
    t = case("t", "failed", "forward(x) → out: 3 of 4 elements differ",
             functions=("forward", "backward"))
    [note] = github_annotations(student_view(made(t)), {"vec": src}, tmp_path)
    assert (note.title, note.line) == ("forward: 1 test failed", 1)


def test_source_map_parses_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    src = tmp_path / "evil.py"
    src.write_text(textwrap.dedent(f"""\
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("x")
        raise SystemExit(3)


        class Model:
            pass


        async def fetch():
            pass
        """))
    smap = source_map(src)
    assert not marker.exists()
    assert smap.definitions == {"Model": 6, "fetch": 10}
    assert smap.line_of("missing") == 1
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n\ndef f(:\n")
    assert source_map(bad).line_of("f") == 3


HOSTILE_PUBLIC = """
import os, pathlib
pathlib.Path({marker!r}).write_text("\\n".join(os.listdir({hidden!r})))

def test_all_good(student):
    assert True
"""


def test_with_hidden_tests_nothing_of_the_repository_runs_on_the_trusted_side(
        hidden: Path, tmp_path: Path) -> None:
    """In a student's repository the student writes test_public.py, conftest.py and
    grading.toml: with hidden tests handed to the job, none of them is read; the public tests
    come from the hidden folder (when it has them), the student's module runs in the sandbox."""
    marker = tmp_path / "ran-on-the-trusted-side"
    repo = write(tmp_path / "repo", {
        "assignments/vec/vec.py": STUB,
        "assignments/vec/test_public.py": HOSTILE_PUBLIC.format(marker=str(marker),
                                                                hidden=str(hidden / "vec")),
        "assignments/vec/conftest.py": HOSTILE_PUBLIC.format(marker=str(marker),
                                                             hidden=str(hidden / "vec")),
        "assignments/vec/grading.toml": "[grading]\ntimeout = 1000\n[banned]\ncalls = []\n",
        "conftest.py": HOSTILE_PUBLIC.format(marker=str(marker), hidden=str(hidden / "vec")),
    })
    done = run_ci(Course(repo), tmp_path / "out", topics=("vec",), hidden=hidden, environ={},
                  echo=lambda _: None)
    assert not marker.exists()
    names = {t.name for t in done.result.tests}
    assert "test_all_good" not in names
    assert all(t.kind == "hidden" for t in done.result.tests)
    assert done.result.topic("vec").score == 0  # the untouched stub, whatever its tests say
    # Public tests handed with the hidden ones run, from there.
    public_too = write(tmp_path / "hidden2", {
        "vec/solution.py": SOLUTION, "vec/test_hidden.py": HIDDEN,
        "vec/test_public.py": PUBLIC})
    done = run_ci(Course(repo), tmp_path / "out2", topics=("vec",), hidden=public_too,
                  environ={}, echo=lambda _: None)
    assert not marker.exists()
    assert {t.kind for t in done.result.tests} == {"hidden", "public"}
