"""The grading environment: course.toml declares what student code may import, pinned by the lock;
grading refuses to start where it is incomplete; a module importing anything else is told so and
flagged; the engine works the same inside another pytest session with --strict-markers."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.commands.main import main
from grader.course import Course, CourseError
from grader.environment import (_canonical, _vendored, environment_files, load_environment,
                                read_lock, unoffered)
from grader.classroom.gradebook import ClassEntry, student_row
from grader.classroom.late import LatePolicy
from grader.grading.engine import Options
from uncompiled_python import interpreter_without_compiled_copies

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "course"
OTHER = (FIX / "reference" / "other" / "solution.py").read_text()
TOY = (FIX / "reference" / "toy" / "solution.py").read_text()


def toy_course_with(tmp_path: Path, course_toml: str | None, lock: str | None = None) -> Path:
    root = tmp_path / "course"
    shutil.copytree(FIX, root)
    if course_toml is not None:
        (root / "course.toml").write_text(textwrap.dedent(course_toml))
    if lock is not None:
        (root / "lock.txt").write_text(lock)
    return root


def test_the_course_declares_numpy_scipy_and_torch_at_the_locks_versions(course: Course) -> None:
    env = load_environment(course)
    assert env.packages == ("numpy", "scipy", "torch")
    locked = read_lock(ROOT / "requirements" / "lock.txt")
    assert env.requirements() == [f"{p}=={locked[p]}" for p in ("numpy", "scipy", "torch")]
    assert [p.as_posix() for p in environment_files(course)] == ["course.toml",
                                                                  "requirements/lock.txt"]


def test_the_lock_pins_every_package_and_torch_without_a_build_label() -> None:
    lines = [ln for ln in (ROOT / "requirements" / "lock.txt").read_text().splitlines()
             if ln and not ln.startswith((" ", "#"))]
    assert lines and all("==" in ln for ln in lines), [ln for ln in lines if "==" not in ln]
    torch = [ln for ln in lines if ln.startswith("torch==")]
    assert torch and "+" not in torch[0]


@pytest.mark.parametrize("toml, lock, expected", [
    ("[environment]\npackages = 'numpy'\n", None, "must be a list of package names"),
    ("[environment\n", None, "course.toml"),
    ("[environment]\npackages = ['numpy']\nlock = 'missing.txt'\n", None,
     "the lock file missing.txt does not exist"),
    ("[environment]\npackages = ['numpy', 'scipy']\nlock = 'lock.txt'\n", "numpy==2.0\n",
     "scipy not in the lock lock.txt"),
])
def test_a_malformed_course_toml_is_one_line_naming_the_problem(
        tmp_path: Path, toml: str, lock: str | None, expected: str) -> None:
    root = toy_course_with(tmp_path, toml, lock)
    with pytest.raises(CourseError, match="course.toml") as err:
        load_environment(Course(root))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_grade_refuses_to_start_where_a_declared_package_does_not_import(tmp_path: Path) -> None:
    root = toy_course_with(tmp_path, """\
        [environment]
        packages = ["numpy", "no_such_package_zq"]
    """)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text(TOY)
    res = CliRunner().invoke(main, ["grade", str(sub), "--out", str(tmp_path / "out"),
                                    "--course", str(root)])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the grading environment is incomplete")
    assert "no_such_package_zq (ModuleNotFoundError" in lines[0]
    assert "numpy, " not in lines[0].split("did not import")[0]  # numpy imports: not named
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_package_installed_but_refused_in_the_sandbox_is_not_told_to_be_installed(
        tmp_path: Path) -> None:
    """Installing again cures a package that is not there, not one whose import the sandbox
    refuses (a course package importing a module with non-ASCII names: pyparsing, hence
    matplotlib): the refusal says which is which."""
    env = load_environment(Course(toy_course_with(
        tmp_path, '[environment]\npackages = ["numpy", "no_such_package_zq"]\n')))
    text = str(env.incomplete(["no_such_package_zq (ModuleNotFoundError: No module named "
                               "'no_such_package_zq')",
                               "numpy (AuditRefused: exec is not available while grading)"]))
    assert "\n" not in text and text.startswith("the grading environment is incomplete: ")
    absent, refused = text.split("numpy (AuditRefused", 1)
    assert "no_such_package_zq (ModuleNotFoundError" in absent and "install them with" in absent
    assert "installed here, but its import fails in a sandboxed worker" in refused
    assert "take it out of course.toml's packages" in refused and "pip install" not in refused
    only = str(env.incomplete(["numpy (AuditRefused: exec is not available while grading)"]))
    assert "pip install" not in only and "installed here" in only


# A course package beyond numpy, scipy and torch, which no zygote preloads: the worker's audit hook
# tells its files from code run under their names by their compiled copies, as pip makes them at
# install time (it compiles nothing itself). Its source spells names beyond ASCII (pyparsing's
# ``Ελληνικά``, hence matplotlib), which no compilation inside the hook could read.
ACCENTED = 'Ελληνικά = "αβγ"\n\n\ndef größe(x):\n    return x * 1.0\n\n\nscale = größe\n'
PLAIN = 'greek = "abc"\n\n\ndef scale(x):\n    return x * 1.0\n'


def _accented_course(tmp_path: Path, compiled: bool, source: str = ACCENTED,
                     distribution: bool = False) -> tuple[Path, Path, Path]:
    site = tmp_path / "elsewhere" / "site-packages"
    (site / "accented").mkdir(parents=True)
    (site / "accented" / "__init__.py").write_text(source, encoding="utf-8")
    if distribution:  # installed as pip installs it, its metadata beside it
        meta = site / "accented-1.0.dist-info"
        meta.mkdir()
        (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: accented\nVersion: 1.0\n")
        (meta / "top_level.txt").write_text("accented\n")
    if compiled:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(site)], check=True)
    root = toy_course_with(tmp_path, '[environment]\npackages = ["numpy", "accented"]\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    # the toy exercise's function through the package's own (a function of a name beyond ASCII)
    (sub / "toy.py").write_text(TOY + "\n\nimport accented\n_own = add\n\n\n"
                                "def add(a, b):\n    return accented.scale(_own(a, b))\n")
    (sub / "other.py").write_text(OTHER)
    return root, sub, site / "accented"


def _grade_with_site(root: Path, sub: Path, out: Path, site: Path,
                     env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``grader grade`` as a user runs it, with ``site`` on the search path (``PYTHONPATH``)."""
    env = env if env is not None else dict(os.environ)
    env = {**env, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [env.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "grader", "grade", str(sub), "--out", str(out),
                           "--course", str(root)], capture_output=True, text=True, env=env,
                          timeout=600)


def test_a_course_package_spelling_names_beyond_ascii_imports_by_its_compiled_copy(
        tmp_path: Path) -> None:
    root, sub, package = _accented_course(tmp_path, compiled=True)
    out = tmp_path / "out"
    done = _grade_with_site(root, sub, out, package.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    import json

    result = json.loads((out / "result.json").read_text())
    toy = next(t for t in result["topics"] if t["topic"] == "toy")
    assert toy["score"] == toy["max_score"], result
    # its code is the library's: nothing of it is reported as the student's run-time code
    assert not toy["runtime_code"] and not toy["dynamic"] and not toy["note"], toy


@pytest.mark.parametrize("source", [ACCENTED, PLAIN], ids=["beyond_ascii", "ascii"])
def test_a_course_package_without_its_compiled_copies_says_how_to_make_them(
        tmp_path: Path, source: str) -> None:
    root, sub, package = _accented_course(tmp_path, compiled=False, source=source)
    done = _grade_with_site(root, sub, tmp_path / "out", package.parent)
    assert done.returncode != 0, done.stdout
    text = " ".join((done.stdout + done.stderr).split())
    assert "accented cannot be loaded while grading: the grading machine's installation has no " \
        "compiled copy of it" in text, text
    assert f"python -m compileall -q {os.path.realpath(package)}" in text, text
    assert "run the command named above, then grade again" in text, text
    assert "take it out of course.toml" not in text and "pip install" not in text, text
    assert "Traceback" not in text


def test_a_student_importing_a_library_module_left_without_its_compiled_copy_is_told_whose_it_is(
        tmp_path: Path) -> None:
    """The few modules a check at start lets pass without a copy (the package's own, compiled,
    imports in the check; a module of it the student imports has none): the student reads that
    it is the installation's, and the command."""
    root, sub, package = _accented_course(tmp_path, compiled=True, source=PLAIN)
    (package / "extra.py").write_text("def scale(x):\n    return x * 1.0\n")
    (sub / "toy.py").write_text(TOY + "\n\nimport accented.extra\n")
    out = tmp_path / "out"
    done = _grade_with_site(root, sub, out, package.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    import json

    result = json.loads((out / "result.json").read_text())
    toy = next(t for t in result["topics"] if t["topic"] == "toy")
    text = " ".join(json.dumps(toy).split())
    assert "accented.extra cannot be loaded while grading: the grading machine's installation " \
        "has no compiled copy of it" in text, text
    assert "Not a fault of the code that imports it: whoever installed it makes the copies once " \
        f"with python -m compileall -q {os.path.realpath(package)}, then grades again" in text


@pytest.mark.parametrize("prefix", [False, True], ids=["beside_the_files", "elsewhere"])
def test_an_offered_package_installed_without_compiled_copies_is_refused_at_start(
        tmp_path: Path, prefix: bool) -> None:
    """As uv installs packages (it compiles nothing unless asked): refused before grading, with
    the command; graded in full once it has run. Where the user's Python writes compiled copies
    to a folder of their own (``PYTHONPYCACHEPREFIX``), the command leaves that out: a worker
    reads them beside the files."""
    root, sub, package = _accented_course(tmp_path, compiled=False, source=PLAIN,
                                          distribution=True)
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache")} if prefix else None
    done = _grade_with_site(root, sub, tmp_path / "out", package.parent, env)
    text = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, text
    assert f"installed without them: accented at {package} (1 of 1 modules have none)" in text
    command = f"python -m compileall -q {package}"
    if prefix:  # where compileall writes to that folder, the refusal stays
        subprocess.run([sys.executable, *command.split()[1:]], check=True, env=env)
        again = _grade_with_site(root, sub, tmp_path / "out", package.parent, env)
        assert again.returncode == 2 and "installed without them: accented" in again.stdout + \
            again.stderr, again.stdout + again.stderr
        command = "env -u PYTHONPYCACHEPREFIX " + command
        assert f"(without PYTHONPYCACHEPREFIX, which sends compiled copies to " \
            f"{tmp_path / 'pycache'}, where a worker does not look for them)" in text, text
    assert f"`{command}`, then grade again" in text, text
    assert not list(tmp_path.glob("out/*.json"))  # nothing graded
    # the command as a user runs it, in the same shell
    words = command.split()
    at = words.index("python")
    subprocess.run([*words[:at], sys.executable, *words[at + 1:]], check=True, env=env)
    done = _grade_with_site(root, sub, tmp_path / "out", package.parent, env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_compiled_copy_is_trusted_only_where_importlib_would_load_it(tmp_path: Path) -> None:
    """The hook's reading of a library file's ``.pyc``: of this interpreter, of the source as it
    is (its time and size, or its hash), or none; and without one, the file's code cannot be
    told (the hook compiles nothing)."""
    import py_compile

    from grader.isolation import audit

    source_path = tmp_path / "lib" / "site-packages" / "mod.py"
    source_path.parent.mkdir(parents=True)
    source_path.write_text(ACCENTED, encoding="utf-8")
    checker = audit._Checker(student_dir=str(tmp_path / "student"), banned=frozenset(), files=(),
                             on_exec=None, gates={}, library=set(), ours=set(), keep=[])
    path = str(source_path)
    code = compile(source_path.read_bytes(), path, "exec", dont_inherit=True)
    assert checker.cached(path) is None and checker.genuine(code) is None  # none made yet
    gone = compile("x = 1", str(source_path.parent / "gone.py"), "exec")
    assert checker.genuine(gone) is False  # the code of a file that is not there: not its
    for mode in (py_compile.PycInvalidationMode.TIMESTAMP,
                 py_compile.PycInvalidationMode.CHECKED_HASH,
                 py_compile.PycInvalidationMode.UNCHECKED_HASH):
        py_compile.compile(path, invalidation_mode=mode, doraise=True)
        assert checker.cached(path) == code, mode
        assert checker.genuine(code) is True
        assert checker.genuine(compile("x = 1", path, "exec")) is False  # other code, its name
    # the source changed since, of the same size: its hash is no longer the .pyc's (checked even
    # where the .pyc says not to), and then its time of change
    changed = ACCENTED.replace("αβγ", "δεζ").encode("utf-8")
    assert len(changed) == len(source_path.read_bytes())
    source_path.write_bytes(changed)
    assert checker.cached(path) is None and checker.genuine(code) is None
    py_compile.compile(path, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
                       doraise=True)
    assert checker.cached(path) is not None
    os.utime(path, (1, 1))  # another time of change than the .pyc holds
    assert checker.cached(path) is None
    py_compile.compile(path, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
                       doraise=True)
    pyc = Path(importlib.util.cache_from_source(path))
    pyc.write_bytes(b"\0" * 4 + pyc.read_bytes()[4:])  # another interpreter's magic number
    assert checker.cached(path) is None


def test_an_installation_without_compiled_copies_is_refused_at_start_with_the_command(
        tmp_path: Path) -> None:
    """A worker loads a library module only by its compiled copy: where the standard library
    has none (the official Python container images), ``grader grade`` refuses before grading,
    naming the command; once it has run, a module importing a standard-library module that no
    zygote loaded gets full marks."""
    python, stdlib, _ = interpreter_without_compiled_copies(tmp_path)
    root = toy_course_with(tmp_path, '[environment]\npackages = ["numpy"]\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text("import fractions\nimport statistics\n\n" + TOY +
                                "\n\n_own = add\n\n\ndef add(a, b):\n"
                                "    return _own(a, b) + statistics.fmean([0.0]) * "
                                "fractions.Fraction(1, 3)\n")
    (sub / "other.py").write_text(OTHER)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)

    def grade() -> subprocess.CompletedProcess:
        return subprocess.run([str(python), "-m", "grader", "grade", str(sub), "--out",
                               str(tmp_path / "out"), "--course", str(root)],
                              capture_output=True, text=True, env=env, timeout=600)

    refused = grade()
    text = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode == 2, text
    assert text.startswith("error: the grading environment is incomplete: a sandboxed worker "
                           "loads a library module only by its compiled copy"), text
    assert f"the standard library at {stdlib} (" in text, text
    command = f"python -m compileall -q {stdlib}"
    assert f"`{command}`, then grade again" in text and "Traceback" not in text, text
    assert not list(tmp_path.glob("out/*.json"))  # nothing graded

    subprocess.run([str(python), *command.split()[1:]], capture_output=True, env=env)
    done = grade()
    assert done.returncode == 0, done.stdout + done.stderr
    import json

    result = json.loads((tmp_path / "out" / "result.json").read_text())
    toy = next(t for t in result["topics"] if t["topic"] == "toy")
    assert toy["score"] == toy["max_score"], toy


def test_the_packages_of_one_folder_without_compiled_copies_are_said_as_that_folder() -> None:
    """One command compiles a site-packages whole: its packages are named, the offered first
    (as ``uncompiled`` orders them), and counted together; a folder alone keeps its own path."""
    from grader.environment import _by_folder

    site = os.path.join("/env", "site-packages")
    found = [("the standard library", "/py/lib/python3.11", 700, 800),
             ("numpy", f"{site}/numpy", 395, 487), ("scipy", f"{site}/scipy", 973, 973),
             ("torch", f"{site}/torch", 2285, 2285), ("filelock", f"{site}/filelock", 23, 23),
             ("accented", "/elsewhere/site-packages/accented", 1, 1)]
    assert _by_folder(found) == [
        ("the standard library", "/py/lib/python3.11", 700, 800),
        ("numpy, scipy, torch and 1 more", site, 3676, 3768),
        ("accented", "/elsewhere/site-packages/accented", 1, 1)]


def test_a_folder_counts_as_installed_without_compiled_copies_only_where_most_lack_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A complete installation lacks a few copies (test data that does not compile): that is
    not refused; a folder where most modules have none is, with its counts."""
    import py_compile
    import sysconfig

    from grader import environment

    stdlib = tmp_path / "lib" / "python"
    (stdlib / "package").mkdir(parents=True)
    (stdlib / "site-packages").mkdir()  # another installation's packages: not counted
    (stdlib / "site-packages" / "elsewhere.py").write_text("x = 1\n")
    for i in range(19):
        (stdlib / "package" / f"m{i}.py").write_text(f"x = {i}\n")
    (stdlib / "package" / "bad_syntax.py").write_text("x = = 1\n")  # never compiles
    monkeypatch.setattr(sysconfig, "get_paths", lambda *a, **k: {"stdlib": str(stdlib)})
    for i in range(19):
        py_compile.compile(str(stdlib / "package" / f"m{i}.py"), doraise=True,
                           cfile=str(stdlib / "package" / "__pycache__" /
                                     f"m{i}.{sys.implementation.cache_tag}.pyc"))
    assert environment.uncompiled(()) == []  # 1 of 20 without one
    for i in range(3, 19):
        (stdlib / "package" / "__pycache__" / f"m{i}.{sys.implementation.cache_tag}.pyc").unlink()
    assert environment.uncompiled(()) == [("the standard library", str(stdlib), 17, 20)]


def test_grade_starts_where_every_declared_package_imports(tmp_path: Path) -> None:
    root = toy_course_with(tmp_path, '[environment]\npackages = ["numpy", "torch"]\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text(TOY)
    (sub / "other.py").write_text(OTHER)
    res = CliRunner().invoke(main, ["grade", str(sub), "--out", str(tmp_path / "out"),
                                    "--course", str(root)])
    assert res.exit_code == 0, res.output


def test_a_module_importing_another_topics_module_not_handed_in_is_asked_for_it(
        toy_engine, tmp_path: Path) -> None:
    """A topic's module may import another topic's (model_selection uses linear_regression):
    where the submission lacks that one, the student is asked for it, not told that the
    course's environment has no such package; handed in beside it, it imports."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text("import other\n" + TOY)
    result = toy_engine.grade(sub, tmp_path / "out", Options())
    first = next(t for t in result.tests if t.topic == "toy")
    assert first.message.startswith("toy.py imports other, your module of the course's other "
                                    "exercise, which this submission does not hold: hand in "
                                    "other.py with toy.py, in the same submission"), first.message
    assert "grading environment" not in first.message and "missing_package" not in first.flags
    (sub / "other.py").write_text(OTHER)
    result = toy_engine.grade(sub, tmp_path / "out2", Options())
    assert all(t.score == t.max_score for t in result.tests), \
        [t.message for t in result.tests if t.score < t.max_score]


def test_a_module_importing_a_package_the_course_lacks_is_told_what_the_course_provides(
        toy_engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text("import no_such_package_zq.linalg\n" + TOY)
    (sub / "other.py").write_text(OTHER)
    result = toy_engine.grade(sub, tmp_path / "out", Options())
    toy = [t for t in result.tests if t.topic == "toy"]
    assert toy and all(t.score == 0 for t in toy)
    first = toy[0]
    assert {"import_error", "missing_package"} <= set(first.flags)
    assert first.message.startswith("toy.py imports no_such_package_zq, which the grading "
                                    "environment does not have")
    assert "standard library and numpy and torch:" in first.message  # the default environment
    assert any(n.startswith("toy: toy.py imports no_such_package_zq") for n in result.notes)
    # The gradebook flags the student, with the reason.
    row = student_row(ClassEntry(student="s", status="graded", result=result),
                      ["other", "toy"], LatePolicy(), {})
    assert row["flag_import_error"] is True
    assert row["import_errors"].startswith("toy: toy.py imports no_such_package_zq")
    assert all(t.score == t.max_score for t in result.tests if t.topic == "other")


OUTER_TEST = """\
from pathlib import Path

from grader.course import Course
from grader.grading.engine import Engine, Options


def test_engine_grades_inside_a_strict_session(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    fix = Path({fix!r})
    for topic in ("toy", "other"):
        (sub / f"{{topic}}.py").write_text((fix / "reference" / topic / "solution.py").read_text())
    with Engine(Course(fix)) as engine:
        result = engine.grade(sub, tmp_path / "out", Options())
    assert result.tests and not result.error
    assert result.score == result.max_score, [(t.name, t.message) for t in result.tests]
"""


def test_the_engine_grades_the_same_inside_an_outer_pytest_session_with_strict_markers(
        tmp_path: Path) -> None:
    (tmp_path / "test_outer.py").write_text(OUTER_TEST.format(fix=str(FIX)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
         "-p", "no:randomly", "--rootdir", str(tmp_path), "-c", os.devnull, "test_outer.py"],
        cwd=tmp_path, env=env, text=True, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout


def test_the_dask_set_up_in_the_docs_installs_the_declared_environment(course: Course) -> None:
    text = (ROOT / "docs" / "distributed.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("pip install -c requirements/"))
    assert line.split()[-len(load_environment(course).requirements()):] == \
        load_environment(course).requirements()


def test_the_instructors_workflow_installs_the_declared_environment(course: Course) -> None:
    """The grading workflow of docs/ci.md installs what course.toml declares, at the lock's
    versions, with the CPU build of torch (a correct scipy call must not score 0 there)."""
    text = (ROOT / "templates" / "ci" / "instructor.yml").read_text()
    wanted = load_environment(course).requirements()
    line = next(ln.strip() for ln in text.splitlines()
                if "pip install -c requirements/lock.txt" in ln)
    assert line.split()[-len(wanted):] == wanted
    torch = next(r for r in wanted if r.startswith("torch=="))
    assert f'pip install "{torch}" --index-url https://download.pytorch.org/whl/cpu' in text


def test_the_packages_installed_beside_the_grader_that_the_course_does_not_offer() -> None:
    """What a worker goes without: the grader's own packages (pandas, scikit-learn, pytest),
    never what an offered package needs (sympy for torch), unless the topic bans that package."""
    course = ("numpy", "scipy", "torch")
    off = unoffered(course)
    assert {"pandas", "sklearn", "pytest", "click", "dask"} <= set(off)
    assert not {"numpy", "scipy", "torch", "sympy", "networkx", "typing_extensions", "grader",
                "os", "json"} & set(off)
    # where torch is banned, what only torch needs goes too
    assert {"sympy", "networkx", "jinja2", "typing_extensions"} <= set(unoffered(course, ("torch",)))


def test_what_an_offered_package_ships_a_copy_of_is_offered() -> None:
    """setuptools (which torch requires) ships packaging in its vendor folder and imports it by
    that name, so the installed packaging, which shadows that copy, is torch's as well
    (``torch.utils.cpp_extension`` and ``torch.utils.benchmark`` import it)."""
    course = ("numpy", "scipy", "torch")
    assert "packaging" in _vendored(("setuptools",))
    assert "packaging" not in unoffered(course)
    assert "packaging" in unoffered(course, ("torch",))  # no other offered package needs it


# Modules of the offered packages that import, at their own import, a package the course does
# not offer: each with why that is what an environment of the offered packages alone would do.
NEEDS_UNOFFERED = {
    "torchgen.": "torch's code generator needs yaml, which torch requires only with its "
                 "'pyyaml' extra",
    "numpy.distutils.": "numpy's deprecated build tooling needs setuptools, which only torch "
                        "requires, and torch is banned there",
}

WALK = """
import importlib, pkgutil

def walk(packages):
    \"\"\"Import every public module of ``packages``; what failed, with its message.\"\"\"
    failed, todo = {}, list(packages)
    while todo:
        name = todo.pop()
        try:
            module = importlib.import_module(name)
        except BaseException as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
            continue
        for info in pkgutil.iter_modules(getattr(module, "__path__", None) or [], name + "."):
            last = info.name.rsplit(".", 1)[1]
            if not last.startswith("_") and last not in ("tests", "testing", "test", "conftest"):
                todo.append(info.name)
    return failed
"""


@pytest.mark.parametrize("topic", ["activations", "seq2seq"])  # without torch, with it
def test_every_public_module_of_an_offered_package_imports_in_a_worker(engine, topic: str,
                                                                       tmp_path: Path) -> None:
    """A worker goes without what the course does not offer, never without what an offered
    package imports: each public module of numpy, scipy and torch (and of the other top-level
    packages of their distributions) imports there, or fails for a reason of its own, never
    for a package taken away that it needs, but where ``NEEDS_UNOFFERED`` says why."""
    from test_ban_walls import run

    banned = Course(ROOT).config(topic).banned_libraries
    installed = importlib.metadata.packages_distributions()
    offered = {d for p in engine.provides if p not in banned for d in installed.get(p, ())}
    packages = sorted(p for p, dists in installed.items() if set(dists) & offered
                      and p.isidentifier() and not p.startswith("_"))
    assert {"numpy", "scipy"} <= set(packages) and ("torch" in packages) == (topic == "seq2seq")
    failed = run(engine, topic, WALK, "walk", packages, tmp=tmp_path, provides=engine.provides)
    assert isinstance(failed, dict), failed
    taken = {name: message for name, message in failed.items()
             if "the course does not offer it" in message and _locked(message, installed)
             and not any(f"{name}.".startswith(prefix) for prefix in NEEDS_UNOFFERED)}
    assert not taken, taken


def _locked(message: str, installed: dict[str, list[str]]) -> bool:
    """Whether the package a failed import names is one the lock holds. One it does not hold
    was installed beside it from elsewhere (the system's site-packages, which an environment
    that keeps the system's torch sees): no offered package requires it, or the lock would
    hold it, so an environment of the offered packages alone would not have it either."""
    import re

    named = re.search(r"No module named '([^'.]+)", message)
    locked = read_lock(ROOT / "requirements" / "lock.txt")
    return named is None or any(_canonical(d) in locked
                                for d in installed.get(named.group(1), ()))


# Each does a topic's exercise with a package the grader runs on but the course does not offer.
UNOFFERED_ROUTES = {
    "metrics": ("confusion_matrix", """
        import pandas

        def confusion_matrix(y_true, y_pred, num_classes):
            table = pandas.crosstab(pandas.Categorical(y_true, categories=range(num_classes)),
                                    pandas.Categorical(y_pred, categories=range(num_classes)),
                                    dropna=False)
            return table.to_numpy().astype(int)
        """),
    "regularization": ("xavier_uniform", """
        def xavier_uniform(fan_in, fan_out, seed):
            import numpy as np
            from sklearn.neural_network import MLPRegressor
            net = MLPRegressor(activation="relu")  # Glorot's bound, √(6/(fan_in + fan_out))
            net._random_state = np.random.RandomState(seed)
            return net._init_coef(fan_in, fan_out, np.float64)[0]
        """),
}


@pytest.mark.parametrize("topic", sorted(UNOFFERED_ROUTES))
def test_a_package_the_course_does_not_offer_does_no_exercise(engine, topic: str,
                                                              tmp_path: Path) -> None:
    course = Course(ROOT)
    fn, override = UNOFFERED_ROUTES[topic]
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / f"{topic}.py").write_text(course.solution(topic).read_text() + "\n\n"
                                     + textwrap.dedent(override))
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,)))
    own = [t for t in result.tests if fn in t.functions]
    assert own and all(t.outcome != "passed" for t in own), [(t.name, t.outcome) for t in own]
    package = {"metrics": "pandas", "regularization": "sklearn"}[topic]
    assert all(f"No module named '{package}'" in (t.message or "") or
               f"imports {package}, which the grading environment does not offer" in
               (t.message or "") for t in own), [t.message for t in own]
    honest = tmp_path / "honest"
    honest.mkdir()
    (honest / f"{topic}.py").write_text(course.solution(topic).read_text())
    result = engine.grade(honest, tmp_path / "honest-out", Options(topics=(topic,)))
    assert result.topic(topic).score == result.topic(topic).max_score


READ_BY_A_FOLDERS_DESCRIPTOR = """
import os

def read(site, relative):
    folder = os.open(site, os.O_RDONLY)  # a folder that holds one, as a descriptor
    return os.read(os.open(relative, os.O_RDONLY, dir_fd=folder), 60).decode()
"""


def test_a_package_the_course_does_not_offer_cannot_be_read_through_a_folders_descriptor(
        engine, tmp_path: Path) -> None:
    """The open event names a path relative to a descriptor (``dir_fd``) without it, as if it
    were in the current folder: neither the folder above theirs is opened, nor a relative path
    leaving the folder beside theirs (``numpy/..``) followed."""
    from test_ban_walls import run

    spec = importlib.util.find_spec("pandas")  # where it is installed (not imported here)
    assert spec is not None and spec.origin is not None
    site = os.path.dirname(os.path.dirname(spec.origin))
    # seq2seq bans no library, so Landlock lets the worker read the whole folder
    for folder, relative in ((site, "pandas/__init__.py"),  # the folder above
                             (os.path.join(site, "numpy"), "../pandas/__init__.py")):  # beside
        got = run(engine, "seq2seq", READ_BY_A_FOLDERS_DESCRIPTOR, "read", folder, relative,
                  tmp=tmp_path, provides=engine.provides)
        assert isinstance(got, Exception) and "is not available while grading" in str(got), \
            (relative, got)
    for folder, relative in ((site, "pandas/__init__.py"),
                             (os.path.join(site, "numpy"), "../pandas/__init__.py")):
        kept = run(engine, "seq2seq", READ_BY_A_FOLDERS_DESCRIPTOR, "read", folder, relative,
                   tmp=tmp_path)  # control: with nothing taken away, each reads
        assert isinstance(kept, str) and kept, kept


def test_a_package_the_course_does_not_offer_that_a_zygote_loaded_stays(monkeypatch) -> None:
    """A library the course offers may load one of them by itself (torch loads pynvml where it
    is installed) and keeps using it: what this process has loaded is not taken away."""
    from grader.isolation import worker

    monkeypatch.setitem(sys.modules, "loaded_by_a_library_zq", object())
    monkeypatch.delitem(sys.modules, "not_loaded_zq", raising=False)
    gone, unoffered_ = worker.absent(("torch",), ("not_loaded_zq", "loaded_by_a_library_zq"))
    assert gone == ("torch", "not_loaded_zq") and unoffered_ == ("not_loaded_zq",)


def test_a_students_own_module_named_as_a_package_the_course_does_not_offer_is_theirs(
        tmp_path: Path, monkeypatch) -> None:
    """nvidia-ml-py installs a top-level ``example.py``: a student's helper of that name is
    still theirs to import."""
    from grader.isolation import worker

    for name in ("example", "attr", "not_loaded_zq"):  # what this test process has not loaded
        monkeypatch.delitem(sys.modules, name, raising=False)
    (tmp_path / "example.py").write_text("X = 1\n")
    (tmp_path / "attr").mkdir()
    gone, _ = worker.absent((), ("example", "attr", "not_loaded_zq"), str(tmp_path))
    assert gone == ("not_loaded_zq",)


def test_a_helper_module_named_as_a_package_the_course_does_not_offer_is_graded(
        engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "example.py").write_text("HELPER = 'mine'\n")
    (sub / "metrics.py").write_text(Course(ROOT).solution("metrics").read_text() +
                                    "\n\nimport example\n\nassert example.HELPER == 'mine'\n")
    result = engine.grade(sub, tmp_path / "out", Options(topics=("metrics",)))
    assert result.topic("metrics").score == result.topic("metrics").max_score, \
        [t.message for t in result.tests if t.outcome != "passed"][:2]
