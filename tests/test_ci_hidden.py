"""`grader ci --hidden DIR` in a student's repository: the student writes every file of it, so
the trusted side (where DIR's hidden tests and references are) imports and runs none of them;
only the topic modules are graded, in the sandbox. Every file a student could plant is tried,
each marking the disk if it ever ran; the stub still scores 0 and the reference full marks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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


EDITABLE = "__editable__.dl_grader-0.1.0.finder.__path_hook__"


@pytest.mark.parametrize("entry", [EDITABLE, "__editable__.other-2.finder.__path_hook__",
                                   "not/a/folder", "nul\x00byte", "x" * 5000])
def test_an_import_path_entry_naming_no_file_is_no_path(tmp_path: Path, secret: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        entry: str) -> None:
    """An editable install (``pip install -e .``) puts a path hook's key on ``sys.path``; from
    inside the repository it would read as a folder of it, but it names no file: no refusal."""
    from grader.ci import CourseWithHidden, _nothing_of_the_repository

    repo, _ = _repo(tmp_path, STUB, secret)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p and not p.startswith(
        str(repo))] + [entry])
    _nothing_of_the_repository(CourseWithHidden(repo, secret), ("vec",))


@pytest.mark.parametrize("entry", ["", ".", "assignments", EDITABLE])
def test_an_import_path_entry_naming_a_folder_of_the_repository_is_refused(
        tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    """A relative entry that names a folder is one, from the current folder: a folder the student
    made with an editable install's key for a name is refused like any other."""
    from grader.ci import CourseWithHidden, _nothing_of_the_repository

    repo, _ = _repo(tmp_path, STUB, secret)
    (repo / EDITABLE).mkdir()
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p] + [entry])
    with pytest.raises(CourseError, match="import path reaches into the student's repository"):
        _nothing_of_the_repository(CourseWithHidden(repo, secret), ("vec",))


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "course"


def test_grader_ci_hidden_runs_from_an_editable_install_and_shows_the_students_view(
        tmp_path: Path) -> None:
    """The installed command (a script outside the repository, the package found by an editable
    install's hook) run from the student's repository grades it; its files keep a hidden test's
    exception text and returned strings out."""
    if not any(p.startswith("__editable__") for p in sys.path):
        pytest.skip("the grader is not installed editable in this environment")
    from test_student_view import ATTACKS, OTHER, assert_nothing_leaks, attack_module

    toy = attack_module("exception-text") + "\n" + textwrap.dedent(ATTACKS["returned-string"])
    repo = write(tmp_path / "repo", {"assignments/toy/toy.py": toy,
                                     "assignments/other/other.py": OTHER})
    script = write(tmp_path / "bin", {"grader": "from grader.commands.main import main\n"
                                                "main()\n"}) / "grader"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITHUB_ACTIONS")}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(script), "ci", "--course", str(repo), "--hidden",
                           str(FIXTURE / "reference"), "--out", str(out)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "import path reaches" not in done.stdout + done.stderr
    full = (out / "result.json").read_text()
    assert "LEAK" in full  # the instructor's copy: the attack ran
    for name in ("results.json", "report.html", "junit.xml", "summary.md"):
        assert_nothing_leaks((out / name).read_text(), toy, f"grader ci --hidden: {name}")


def test_a_grader_imported_from_the_repository_is_refused(tmp_path: Path, secret: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The student's repository holds a copy of the grader: installed editable from there, the
    trusted side would be the student's code."""
    import grader.ci
    from grader.ci import CourseWithHidden, _nothing_of_the_repository

    repo, _ = _repo(tmp_path, STUB, secret)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p])
    monkeypatch.setattr(grader.ci, "__file__", str(repo / "grader" / "ci.py"))
    with pytest.raises(CourseError, match="grader itself is imported from the student's"):
        _nothing_of_the_repository(CourseWithHidden(repo, secret), ("vec",))
