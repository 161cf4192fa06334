"""`grader ci --hidden DIR` in a student's repository: the student writes every file of it, so
the trusted side (where DIR's hidden tests and references are) imports and runs none of them;
only the topic modules are graded, in the sandbox. Every file a student could plant is tried,
each marking the disk if it ever ran; the stub still scores 0 and the reference full marks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.ci import run_ci
from grader.course import Course, CourseError
from test_ci import HIDDEN, PUBLIC, SOLUTION, STUB, write

# Run on import: marks the disk and lists the hidden folder beside it, then claims success.
HOSTILE = """
import os, pathlib
pathlib.Path({marker!r}, {name!r}).write_text("\\n".join(os.listdir({secret!r})))


def test_all_good(student):
    assert True


def pytest_configure(config):
    pathlib.Path({marker!r}, {name!r} + ".configure").write_text("ran")
"""
# Where a student could put code for the trusted side to run: pytest's configuration and
# conftest files, test files of every name, packages around the tests, a plugin named by
# addopts, Python's own start-up hooks, and modules named like libraries the grader imports.
PLANTED = ["assignments/vec/test_public.py", "assignments/vec/test_hidden.py",
           "assignments/vec/test_vec.py", "assignments/vec/vec_test.py",
           "assignments/vec/conftest.py", "assignments/conftest.py", "conftest.py",
           "assignments/vec/__init__.py", "assignments/__init__.py", "hostile_plugin.py",
           "sitecustomize.py", "usercustomize.py", "numpy.py", "pytest_plugin.py",
           "reference/vec/test_hidden.py", "reference/vec/solution.py",
           "tests/test_vec.py", "tests/conftest.py"]
CONFIGS = {
    "pytest.ini": "[pytest]\naddopts = -p hostile_plugin\npythonpath = .\n",
    "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-p hostile_plugin'\n",
    "setup.cfg": "[tool:pytest]\naddopts = -p hostile_plugin\n",
    "tox.ini": "[pytest]\naddopts = -p hostile_plugin\n",
    "assignments/vec/grading.toml": "[grading]\ntimeout = 1000\n[banned]\ncalls = []\n",
}


def _repo(tmp_path: Path, module: str, secret: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marks"
    marker.mkdir()
    files = {rel: HOSTILE.format(marker=str(marker), name=rel.replace("/", "_"),
                                 secret=str(secret / "vec")) for rel in PLANTED}
    files.update(CONFIGS)
    files["assignments/vec/vec.py"] = module
    return write(tmp_path / "repo", files), marker


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    return write(tmp_path / "secret", {"vec/solution.py": SOLUTION, "vec/test_hidden.py": HIDDEN,
                                       "vec/test_public.py": PUBLIC})


@pytest.mark.parametrize("module,full", [(STUB, False), (SOLUTION, True)],
                         ids=["stub", "reference"])
def test_no_file_of_the_repository_runs_on_the_trusted_side(tmp_path: Path, secret: Path,
                                                             module: str, full: bool) -> None:
    repo, marker = _repo(tmp_path, module, secret)
    done = run_ci(Course(repo), tmp_path / "out", topics=("vec",), hidden=secret, environ={},
                  echo=lambda _: None)
    assert sorted(os.listdir(marker)) == []  # nothing planted ever ran
    assert "test_all_good" not in {t.name for t in done.result.tests}
    assert {t.kind for t in done.result.tests} == {"hidden", "public"}  # both from DIR
    vec = done.result.topic("vec")
    assert vec.max_score > 0
    assert vec.score == (vec.max_score if full else 0)
    assert done.exit_code == 0


def test_a_hidden_folder_inside_the_repository_is_refused(tmp_path: Path, secret: Path) -> None:
    """The student could have put files where the hidden folder lands (a package's __init__.py,
    a test_public.py the hidden folder lacks): refused before anything is imported."""
    repo, marker = _repo(tmp_path, STUB, secret)
    inside = write(repo / "hidden", {"vec/solution.py": SOLUTION, "vec/test_hidden.py": HIDDEN,
                                     "__init__.py": HOSTILE.format(marker=str(marker),
                                                                   name="init", secret=".")})
    with pytest.raises(CourseError, match="inside the student's repository"):
        run_ci(Course(repo), tmp_path / "out", topics=("vec",), hidden=inside, environ={},
               echo=lambda _: None)
    assert os.listdir(marker) == []


def test_a_hidden_file_linking_into_the_repository_is_refused(tmp_path: Path,
                                                              secret: Path) -> None:
    repo, marker = _repo(tmp_path, STUB, secret)
    (secret / "vec" / "test_public.py").unlink()
    os.symlink(repo / "assignments" / "vec" / "test_public.py", secret / "vec" / "test_public.py")
    with pytest.raises(CourseError, match="leads into the student's repository"):
        run_ci(Course(repo), tmp_path / "out", topics=("vec",), hidden=secret, environ={},
               echo=lambda _: None)
    assert os.listdir(marker) == []


def test_an_import_path_into_the_repository_is_refused(tmp_path: Path, secret: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    repo, marker = _repo(tmp_path, STUB, secret)
    monkeypatch.syspath_prepend(str(repo))
    with pytest.raises(CourseError, match="import path reaches into the student's repository"):
        run_ci(Course(repo), tmp_path / "out", topics=("vec",), hidden=secret, environ={},
               echo=lambda _: None)
    assert os.listdir(marker) == []


def test_python_m_grader_run_from_the_repository_is_refused(tmp_path: Path,
                                                           secret: Path) -> None:
    """``python -m grader`` puts the current folder first on the import path: from inside the
    repository, the command stops before grading (the planted sitecustomize.py and numpy.py
    are not on the path at start-up, so nothing of them ran either)."""
    repo, marker = _repo(tmp_path, STUB, secret)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITHUB_ACTIONS")}
    done = subprocess.run([sys.executable, "-m", "grader", "ci", "--course", str(repo),
                           "--hidden", str(secret), "--out", str(tmp_path / "out")],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "import path reaches into the student's repository" in done.stdout + done.stderr
    assert not (tmp_path / "out" / "results.json").exists()
    assert os.listdir(marker) == []
