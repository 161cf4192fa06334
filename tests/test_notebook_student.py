"""A student who works only in ``assignments/<topic>/<topic>.ipynb`` checks it as they would a
module: ``grader check <topic>``, plain ``grader check`` and ``pytest`` run the public tests on the
notebook's code cells (read as grading reads them), with messages that point at its cells."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.publish.release import build
from grader.course import Course

from test_student_plugin import before_short_summary, installed, pytest_in

v4 = nbformat.v4
TOPIC = "linear_regression"
HIDDEN = 22


@pytest.fixture(scope="module")
def release(course: Course, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "students"
    build(course, out, [TOPIC, "metrics"], {TOPIC: HIDDEN, "metrics": 37})
    return out


def notebook_repo(release: Path, tmp_path: Path, cells: list) -> Path:
    """The release where the student replaced ``<topic>.py`` by ``<topic>.ipynb``."""
    repo = tmp_path / "repo"
    shutil.copytree(release, repo)
    folder = repo / "assignments" / TOPIC
    (folder / f"{TOPIC}.py").unlink()
    nb = v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, str(folder / f"{TOPIC}.ipynb"))
    return repo


def solution_cells(course: Course) -> list:
    text = course.solution(TOPIC).read_text()
    parts = text.split("\ndef ")
    return [v4.new_markdown_cell("# My answers"),
            v4.new_code_cell("%matplotlib inline\n" + parts[0]),
            *[v4.new_code_cell("def " + p) for p in parts[1:]]]


def check(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "check", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)


def test_grader_check_and_pytest_run_a_notebook(release: Path, course: Course,
                                                tmp_path: Path) -> None:
    repo = notebook_repo(release, tmp_path, solution_cells(course))
    env = installed(repo, tmp_path)
    named = check(repo, env, TOPIC)
    assert named.returncode == 0, named.stdout + named.stderr
    assert f"ok   {TOPIC}: 6/6 public tests passed" in named.stdout
    assert f"note: {TOPIC}: graded the code cells of {TOPIC}.ipynb" in named.stdout
    assert "cell 2, line 1: %matplotlib inline" in named.stdout

    every = check(repo, env)  # every topic: the notebook's is not dropped
    assert f"ok   {TOPIC}: 6/6 public tests passed" in every.stdout, every.stdout
    assert "FAIL metrics" in every.stdout

    plain = pytest_in(repo, env, f"assignments/{TOPIC}", "-q")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "6 passed" in plain.stdout and "fixture 'student' not found" not in plain.stdout


def test_notebook_failures_point_at_cells(release: Path, course: Course, tmp_path: Path) -> None:
    cells = solution_cells(course)
    k = next(i for i, c in enumerate(cells) if c.source.startswith("def gradient_step"))
    cells[k].source = re.sub(r"(def gradient_step\(.*?:\n)", r"\1    raise ValueError('oops')\n",
                             cells[k].source, count=1, flags=re.S)
    u = next(i for i, c in enumerate(cells) if c.source.startswith("def fit_univariate"))
    cells[u].source = re.sub(r"(def fit_univariate\(.*?\n    \"\"\"\n)",
                             r"\1    np.polyfit(x, y, 1)\n", cells[u].source, count=1, flags=re.S)
    repo = notebook_repo(release, tmp_path, cells)
    env = installed(repo, tmp_path)
    done = pytest_in(repo, env, f"assignments/{TOPIC}", "-q")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "gradient_step raised ValueError: oops" in out
    assert re.search(rf'File "{TOPIC}.ipynb", cell {k + 1}, line \d+, in gradient_step', out), out
    assert re.search(rf"numpy.polyfit is not allowed in this exercise \(assignments/{TOPIC}/"
                     rf"{TOPIC}.ipynb: cell {u + 1}, line \d+ in fit_univariate\)", out), out
    assert f"{TOPIC}.py" not in before_short_summary(out)


def test_a_function_under_another_name_is_placed_in_its_cell(release: Path, course: Course,
                                                             tmp_path: Path) -> None:
    cells = solution_cells(course)
    k = next(i for i, c in enumerate(cells) if c.source.startswith("def predict("))
    cells[k].source = cells[k].source.replace("def predict(", "def Predict(", 1)
    repo = notebook_repo(release, tmp_path, cells)
    done = pytest_in(repo, installed(repo, tmp_path), f"assignments/{TOPIC}", "-q")
    out = before_short_summary(done.stdout)
    assert done.returncode == 1, out + done.stderr
    assert f"there is no function predict at the top level of {TOPIC}.ipynb\n  Hint: your " \
        f"module defines Predict (cell {k + 1}, line 1), not predict" in out, out


@pytest.mark.parametrize("case", ["syntax_error", "bad_json", "empty_file"])
def test_a_notebook_that_does_not_import_says_why_once(release: Path, course: Course,
                                                       tmp_path: Path, case: str) -> None:
    cells = solution_cells(course)
    cells.append(v4.new_code_cell("x = 1\ndef broken(:\n    pass"))
    repo = notebook_repo(release, tmp_path, cells)
    path = repo / "assignments" / TOPIC / f"{TOPIC}.ipynb"
    if case == "bad_json":
        path.write_text('{ "cells": [ ,')
    elif case == "empty_file":
        path.write_text("")
    env = installed(repo, tmp_path)
    done = check(repo, env, TOPIC)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    said = {"syntax_error": f"{TOPIC}.ipynb has a syntax error in cell {len(cells)}, line 2",
            "bad_json": "unreadable notebook (not valid JSON: Expecting value at line 1",
            "empty_file": "unreadable notebook (the file is empty)"}[case]
    assert out.count(said) == 1, out
    assert out.count(f"{TOPIC}.ipynb does not import: see ") == 5, out
    assert f"{TOPIC}.py" not in out and "unknown topic" not in done.stderr


def test_the_py_is_checked_where_both_are_there(release: Path, course: Course,
                                                tmp_path: Path) -> None:
    repo = notebook_repo(release, tmp_path, solution_cells(course))
    shutil.copy(release / "assignments" / TOPIC / f"{TOPIC}.py", repo / "assignments" / TOPIC)
    env = installed(repo, tmp_path)
    done = check(repo, env, TOPIC)
    assert f"FAIL {TOPIC}: 0/6 public tests passed" in done.stdout, done.stdout  # the stub
    assert f"both {TOPIC}.py and {TOPIC}.ipynb are here" in done.stdout
    assert "graded the code cells" not in done.stdout


def test_another_topic_imports_a_notebook_topic(tmp_path: Path) -> None:
    from grader.student.local import TopicFinder, install_finder

    assignments = tmp_path / "assignments"
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("%load_ext autoreload\nVALUE = 41 + 1")]
    (assignments / "helper_topic").mkdir(parents=True)
    nbformat.write(nb, str(assignments / "helper_topic" / "helper_topic.ipynb"))
    install_finder(assignments)
    sys.modules.pop("helper_topic", None)
    try:
        import helper_topic  # type: ignore[import-not-found]

        assert helper_topic.VALUE == 42
        assert helper_topic.__file__ == str(assignments / "helper_topic" / "helper_topic.ipynb")
    finally:
        sys.modules.pop("helper_topic", None)
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, TopicFinder)
                            or f.assignments != assignments]
