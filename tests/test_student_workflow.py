"""The student CI workflow a release writes installs exactly the course's environment (as the README
and Gradescope's setup.sh do), and its annotation for a module that does not import points at the
line that failed."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from grader.ci import run_ci
from grader.publish.release import STUDENT_WORKFLOW, build, student_workflow
from grader.course import Course
from grader.environment import load_environment
from grader.results.summary import import_failure_line, source_map

yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflow files")


def install_commands(workflow: str) -> list[list[str]]:
    data = yaml.safe_load(workflow)
    steps = [s for job in data["jobs"].values() for s in job["steps"]]
    (step,) = [s for s in steps if "pip install" in s.get("run", "")]
    return [shlex.split(line) for line in step["run"].splitlines() if line.strip()]


def test_the_released_workflow_installs_the_courses_environment(
        course: Course, tmp_path: Path) -> None:
    out = tmp_path / "students"
    build(course, out, ["linear_regression"], {"linear_regression": 1})
    workflow = (out / ".github" / "workflows" / "grader.yml").read_text()
    env = load_environment(course)
    assert "scipy" in env.packages  # what a correct scipy.special.expit needs
    torch, grader = install_commands(workflow)
    assert torch[-3:] == [f"torch=={env.versions['torch']}", "--index-url",
                          "https://download.pytorch.org/whl/cpu"]
    assert grader == ["python", "-m", "pip", "install", "-c", "requirements/lock.txt",
                      *env.requirements(), "-e", "."]
    assert (out / "requirements" / "lock.txt").is_file() and (out / "course.toml").is_file()
    # The rest of the workflow is the template's.
    template = (Path(__file__).resolve().parent.parent / STUDENT_WORKFLOW).read_text()
    assert [line for line in workflow.splitlines() if "pip install" not in line] == \
        [line for line in template.splitlines() if "pip install" not in line]


@pytest.mark.parametrize("toml, expected", [
    ('[environment]\npackages = ["numpy"]\n', [["python", "-m", "pip", "install", "numpy",
                                                  "-e", "."]]),
    ('[environment]\npackages = ["numpy", "scikit-learn"]\nlock = "lock.txt"\n',
     [["python", "-m", "pip", "install", "-c", "lock.txt", "numpy==2.4.6",
       "scikit-learn==1.9.1", "-e", "."]]),
])
def test_each_course_gets_its_own_install_lines(tmp_path: Path, toml: str,
                                                expected: list[list[str]]) -> None:
    (tmp_path / "course.toml").write_text(toml)
    (tmp_path / "lock.txt").write_text("numpy==2.4.6\n    # via x\nscikit-learn==1.9.1\n")
    assert install_commands(student_workflow(Course(tmp_path))) == expected


# ------------------------------------------------------------------------ the annotation line

MODULE = '''\
"""Vectors."""

import numpy as np


import not_in_the_environment  # line 6


def one():
    return 1
'''


def test_an_import_failure_is_annotated_at_its_line(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "assignments" / "vec").mkdir(parents=True)
    (repo / "assignments" / "vec" / "vec.py").write_text(MODULE)
    (repo / "assignments" / "vec" / "test_public.py").write_text(
        "def test_one(student):\n    assert student.one() == 1\n")
    lines: list[str] = []
    env = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(repo)}
    run_ci(Course(repo), tmp_path / "report", environ=env, echo=lines.append)
    notes = [n for n in lines if n.startswith("::error")]
    assert len(notes) == 1 and "could not be imported" in notes[0], lines
    assert notes[0].startswith("::error file=assignments/vec/vec.py,line=6,"), notes[0]


def test_import_failure_line_reads_the_traceback_then_the_missing_import(tmp_path: Path) -> None:
    path = tmp_path / "vec.py"
    path.write_text(MODULE)
    smap = source_map(path)
    traceback = ('vec.py raised ValueError while being imported: x\n'
                 '  File "/tmp/w/student/vec.py", line 9, in <module>\n'
                 '  File "/tmp/w/student/other_vec.py", line 2, in f\n')
    assert import_failure_line(traceback, "vec", smap) == 9
    assert import_failure_line("vec.py imports not_in_the_environment, which the grading "
                               "environment does not have.", "vec", smap) == 6
    assert import_failure_line("vec.py could not be imported", "vec", smap) == 1
    path.write_text(MODULE + "def broken(:\n")
    assert import_failure_line(traceback, "vec", source_map(path)) == 11
