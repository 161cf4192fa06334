"""`grader release`: the student repository holds what students need and nothing secret, and its
three checks (reference text, stubs, a fresh virtual environment) catch what they are for."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.ci import run_ci
from grader.commands.main import main
from grader.course import Course
from grader.environment import load_environment
from grader.publish.release import check_stubs, find_secrets, release, student_workflow

TOPICS = ("linear_regression", "activations")


@contextlib.contextmanager
def _writing_bytecode():
    """Python writes bytecode beside what it imports, as it does for a user (whatever
    PYTHONDONTWRITEBYTECODE says where the suite runs): a release must hold none of it."""
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, False
    try:
        yield
    finally:
        sys.dont_write_bytecode = before


@pytest.fixture(scope="module")
def released(course: Course, tmp_path_factory: pytest.TempPathFactory):
    """One release of two topics, built and verified once per test session.

    Under pytest-xdist each worker process would build its own: the first one builds it in
    the session's shared temporary folder and the others wait for it and reuse it.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        out = tmp_path_factory.mktemp("release") / "students"
        lines: list[str] = []
        with _writing_bytecode():
            release(course, out, topics=TOPICS, echo=lines.append)
        return out, lines
    from filelock import FileLock  # a dependency of torch

    shared = tmp_path_factory.getbasetemp().parent  # this session's, common to its workers
    out, log = shared / "release" / "students", shared / "release" / "lines.json"
    with FileLock(str(shared / "release.lock")):
        if not log.exists():
            shutil.rmtree(out, ignore_errors=True)  # what a worker that failed left
            lines = []
            with _writing_bytecode():
                release(course, out, topics=TOPICS, echo=lines.append)
            log.write_text(json.dumps(lines))
    return out, json.loads(log.read_text())


def test_release_passes_its_own_verification(released) -> None:
    _, lines = released
    text = "\n".join(lines)
    assert "no reference or hidden-test text in the release" in text
    assert "public tests fail on the stubs, each with 'not implemented'" in text
    assert "`grader check` works in a fresh virtual environment" in text


def test_release_holds_the_student_repository(released, course: Course) -> None:
    out, _ = released
    for topic in TOPICS:
        for name in (f"{topic}.py", "README.md", "test_public.py"):
            assert (out / "assignments" / topic / name).read_bytes() == \
                (course.assignments / topic / name).read_bytes()
    assert sorted(p.name for p in (out / "assignments").iterdir()) == \
        ["activations", "linear_regression", "manifest.json"]
    assert (out / "grader" / "commands" / "main.py").is_file() and \
        (out / "templates" / "report.html.j2").is_file()
    assert (out / "pyproject.toml").is_file()
    for topic in TOPICS:  # the check enforces what grading does: limits, banned calls
        assert Course(out).config(topic) == course.config(topic)
    assert (out / ".github/workflows/grader.yml").read_text() == student_workflow(course)
    readme = (out / "README.md").read_text()
    pins = " ".join(load_environment(course).requirements())
    assert "grader check" in readme
    assert f"pip install -c requirements/lock.txt {pins} -e ." in readme  # the grading environment
    assert (out / "course.toml").is_file() and (out / "requirements" / "lock.txt").is_file()
    assert "not your grade" in readme
    assert not list(out.rglob("__pycache__"))


def test_release_has_no_reference_but_counts_hidden_tests(released) -> None:
    out, _ = released
    names = {p.name for p in out.rglob("*")}
    assert not names & {"reference", "solution.py", "test_hidden.py", "mutants", "alternatives"}
    counts = json.loads((out / "assignments/manifest.json").read_text())["hidden_tests"]
    assert set(counts) == set(TOPICS) and all(n > 0 for n in counts.values())
    assert Course(out).released_hidden_counts() == counts


def test_secret_search_finds_planted_reference_text(released, course: Course,
                                                    tmp_path: Path) -> None:
    out, _ = released
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert find_secrets(course, copy) == []
    stub = (course.stub("activations")).read_text()
    solution = course.solution("activations").read_text().splitlines()
    number, line = max(((i, s) for i, s in enumerate(solution, 1) if s.strip() not in stub),
                       key=lambda x: len(x[1].strip()))
    helper = copy / "grader" / "helpers_leak.py"
    helper.write_text(f"def f(x):\n{line}\n")
    (copy / "reference").mkdir()
    problems = find_secrets(course, copy)
    assert f"grader/helpers_leak.py:2 repeats reference/activations/solution.py:{number}" \
        in problems
    assert "reference must not be released" in problems


def test_secret_search_finds_a_solution_copied_into_the_public_room(course: Course,
                                                                    tmp_path: Path) -> None:
    # The public room's lines are published on purpose, so single lines pass; a whole copy
    # of a solution does not.
    shifted = tmp_path / "course"
    shutil.copytree(course.assignments / "activations", shifted / "assignments/activations")
    shutil.copytree(course.reference / "activations", shifted / "reference/activations")
    copy = course.solution("activations").read_text()
    (shifted / "assignments/activations/notes.py").write_text(copy)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.py").write_text(copy)
    problems = find_secrets(Course(shifted), out)
    assert [p for p in problems if "repeats" in p] == []
    assert any(p.startswith("notes.py holds") and "reference/activations/solution.py: a copy" in p
               for p in problems), problems


def test_stub_check_catches_a_stub_that_passes(released, course: Course, tmp_path: Path) -> None:
    out, _ = released
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.copy(course.solution("activations"), copy / "assignments/activations/activations.py")
    n, problems = check_stubs(copy)
    assert n > 0 and problems
    assert all(p.startswith("activations/") and "passed" in p for p in problems)


def test_the_student_workflow_command_works_in_the_release(released, tmp_path: Path) -> None:
    out, _ = released
    done = run_ci(Course(out), tmp_path / "report", environ={}, echo=lambda _: None)
    assert done.exit_code == 0
    md = (tmp_path / "report" / "summary.md").read_text()
    counts = json.loads((out / "assignments/manifest.json").read_text())["hidden_tests"]
    assert f"Your grade comes from {sum(counts.values())} hidden tests" in md


def test_release_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("keep me")
    res = CliRunner().invoke(main, ["release", str(tmp_path), "--topic", "activations"])
    assert res.exit_code == 2 and "is not an empty folder" in res.output
    assert (tmp_path / "old.txt").read_text() == "keep me"


def test_release_names_an_unknown_topic(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["release", str(tmp_path / "x"), "--topic", "nope"])
    assert res.exit_code == 2 and "unknown topic 'nope'" in res.output
