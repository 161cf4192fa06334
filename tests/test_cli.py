"""The command line as a user runs it: exit codes, one-line errors, summaries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parent / "fixtures" / "course"


def run(*args: str, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600, env=None if env is None else {**os.environ, **env})


@pytest.fixture(scope="module")
def student_course(tmp_path_factory) -> Path:
    """A copy of the tiny course as a student has it, with the toy topic done."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(FIX, root, dirs_exist_ok=True)
    shutil.copyfile(FIX / "reference" / "toy" / "solution.py", root / "assignments" / "toy" / "toy.py")
    return root


def test_check_reports_public_results_and_counts_hidden_tests(student_course: Path) -> None:
    proc = run("check", "toy", cwd=student_course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "without a sandbox" in proc.stdout
    assert "toy: 1/1 public tests passed" in proc.stdout
    assert "public tests passed — 4 more hidden tests will grade this" in proc.stdout
    stub = run("check", "other", cwd=student_course)
    assert stub.returncode == 1
    assert "double: not implemented" in stub.stdout or "0/0" in stub.stdout


def test_check_outside_a_course_folder_says_whose_work_it_checks(student_course: Path,
                                                                 tmp_path: Path) -> None:
    """A student who runs ``grader check`` from another folder (a download beside their clone)
    is checked on the course the grader finds: the first lines say which, so that a result is
    not taken for the work in front of them."""
    (tmp_path / "toy.py").write_text("def add(a, b):\n    return a - b\n")
    outside = run("check", "toy", cwd=tmp_path, env={"GRADER_COURSE": str(student_course)})
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert f"is not in a course folder: checking the work in {student_course / 'assignments'}" \
        in outside.stdout
    inside = run("check", "toy", cwd=student_course / "assignments" / "toy")
    assert inside.returncode == 0 and "not in a course folder" not in inside.stdout


def test_check_on_a_stub_says_not_implemented(tmp_path: Path) -> None:
    shutil.copytree(FIX, tmp_path / "c")
    proc = run("check", "--course", str(tmp_path / "c"), "toy")
    assert proc.returncode == 1
    assert "add: not implemented" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_grade_exits_zero_whatever_the_score(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copyfile(FIX / "assignments" / "toy" / "toy.py", sub / "toy.py")
    proc = run("grade", str(sub), "--out", str(tmp_path / "out"), "--course", str(FIX))
    assert proc.returncode == 0, proc.stderr
    assert "sub: 0 / 8" in proc.stdout
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["score"] == 0 and doc["extra_data"]["topics"]["other"]["max_score"] == 2
    assert (tmp_path / "out" / "report.html").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["grade", "/nonexistent/sub", "--out", "o"], "does not exist"),
    (["grade", ".", "--out", "o", "--topic", "nope"], "unknown topic 'nope'"),
    (["check", "nope"], "unknown topic 'nope'"),
    (["ci", "nope"], "unknown topic 'nope'"),
    (["statements", "nope"], "unknown topic 'nope'"),
    (["statements", "--write", "nope"], "unknown topic 'nope'"),
])
def test_user_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = run(*args, "--course", str(FIX), cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [
    "batch", "check", "ci", "exam build", "exam grade", "export gradescope", "grade", "release",
    "serve", "statements"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    proc = run(*command.split(), "--help")
    assert proc.returncode == 0 and "Example:" in proc.stdout


EXPECTED_FAILURES = [
    "grader.course:CourseError", "grader.environment:EnvironmentIncomplete",
    "grader.grading.submission:SubmissionError", "grader.grading.engine:SandboxUnavailable",
    "grader.grading.remote:GraderFault", "grader.classroom.layout:BatchError",
    "grader.classroom.late:PolicyError", "grader.classroom.overrides:OverrideError",
    "grader.classroom.similarity:SimilarityError", "grader.classroom.dask.shared:DistributedError",
    "grader.exam.bank:ExamError", "grader.exam.answers:AnswersError",
    "grader.publish.release:ReleaseProblem",
]


@pytest.mark.parametrize("where", EXPECTED_FAILURES)
def test_every_expected_failure_derives_from_the_one_root(where: str) -> None:
    import importlib

    from grader.errors import GraderError

    module, name = where.split(":")
    assert issubclass(getattr(importlib.import_module(module), name), GraderError)


def test_a_grader_error_is_one_line_and_exit_2_a_bug_keeps_its_traceback() -> None:
    import click
    from click.testing import CliRunner

    from grader.commands.common import friendly
    from grader.errors import GraderError

    class Expected(GraderError):
        pass

    @click.command()
    @click.argument("what")
    @friendly
    def command(what: str) -> None:
        raise Expected("roster.csv has no 'student' column") if what == "expected" else \
            RuntimeError("a bug")

    expected = CliRunner().invoke(command, ["expected"])
    assert expected.exit_code == 2
    assert expected.output.strip() == "error: roster.csv has no 'student' column"
    bug = CliRunner().invoke(command, ["bug"])  # control: not an expected failure
    assert isinstance(bug.exception, RuntimeError) and bug.exit_code == 1
