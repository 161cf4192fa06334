"""The student repository built from the course, then verified (``grader release OUT``).

The release holds ``assignments/`` (stubs, statements, public tests, a manifest of hidden-test
counts), the ``grader`` package, ``templates/``, the packaging, a student README and the
student CI workflow. Never ``reference/`` or anything derived from it other than the counts.
Before it is handed out it is checked three ways: no line of a reference solution or hidden
test appears in it, the public tests fail on the stubs only with "not implemented", and
``grader check`` works in a fresh virtual environment made from a copy of it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import jinja2

from grader.course import Course, CourseError
from grader.environment import environment_files, load_environment, python_floor
from grader.errors import GraderError
from grader.publish import statement
from grader.results.model import Flag, Outcome

# Where the grader's own source lives: the package, templates/ and pyproject.toml beside it.
PROJECT = Path(__file__).resolve().parent.parent.parent
STUDENT_WORKFLOW = Path("templates") / "ci" / "student.yml"
MIN_SECRET_LINE = 30  # shorter lines (imports, `return x`) are too common to mean a leak
COPY_FRACTION, COPY_MIN_LINES = 0.25, 5  # this much of a solution in one file is a copy of it
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
VENV_STEP_TIMEOUT = 900  # seconds for each step of the fresh-environment check

STUDENT_README = jinja2.Template("""\
# Exercises

Each topic of the course is a folder in `assignments/`:

- `README.md` — the statement: the math, the shapes, the conventions and the banned APIs;
- `<topic>.py` — your code: replace every `raise NotImplementedError(...)` with your solution
  (or work in a notebook `<topic>.ipynb` in the same folder and delete `<topic>.py`: `grader
  check`, `pytest` and grading then run its code cells; `%` magics and `!` lines are skipped
  (a `%time` line's statement runs), and so is a cell under a cell magic, except `%%time`,
  `%%capture` and `%%prun`, whose code runs);
- `test_public.py` — a few public tests you can run and read.

| Topic | Public tests | Hidden tests |
|---|---|---|
{% for t in topics -%}
| `{{ t.name }}` | {{ "yes" if t.public else "none" }} | {{ t.hidden }} |
{% endfor %}
## Set up, once

You need Python {{ python }} or newer (the oldest the versions below install on). In this folder:

```bash
python -m venv .venv
source .venv/bin/activate          # Windows: .venv\\Scripts\\activate
{% if torch %}pip install torch=={{ torch }} --index-url https://download.pytorch.org/whl/cpu   # a small CPU build; skip if you have torch {{ torch }}
{% endif %}pip install {{ install }} -e .
```

Keep the `-e`: the grader reads its report templates from this folder. Your code may import
Python's standard library and {{ packages }}, at the versions above: the grading machine has
exactly these.

## Check your work

```bash
grader check                       # public tests of every topic
grader check linear_regression     # one topic
grader check linear_regression -- -k fit -x    # with pytest's options
python -m pytest assignments/linear_regression # or pytest itself: -k, -x, --pdb, your IDE's tests
```

`grader check` runs the public tests on your own machine, on the files in `assignments/`.
It tells you which tests fail and why, and how many hidden tests will grade each topic. It
refuses some of what grading refuses, in the same words: the banned names in your file, an
import of a library the topic bans (or of a module that needs one), and where you write
gradients by hand, `backward()` and `torch.autograd.grad`. Grading enforces the whole list.
**The public tests are not your grade**: they are a few sanity checks. Hidden tests check every
function on many more inputs (edge shapes, large values, gradients) after you submit. A hidden
test's report says what was wrong with your result, but not the text of an exception your code
raised where it may quote the hidden inputs: it gives the exception's type, your lines, and, where
NumPy, torch or Python raised it, what it means. Python's own words about names and types
(`'float' object has no attribute 'data'`) show, and so does a message your file spells out
whole (`raise ValueError("combine must be 'mean' or 'concat'")`); one built from values does not.

## Submit

Your work is the `<topic>.py` file of each topic, in place: `assignments/<topic>/<topic>.py`.
Keep the file names, the function names and their signatures exactly as given; you may add
helper functions in the same file. Grading imports your file, which runs every line at its top
level (every code cell of a notebook) on a machine that has only your `.py` files, where nobody
types: code that loads your data, asks for `input()` or tries your functions belongs under
`if __name__ == "__main__":`, which runs when you run the file yourself and not when it is
imported.

- If your course collects this repository: commit and push before the deadline. Every push runs
  the public tests on GitHub (`.github/workflows/grader.yml`); the job summary shows what
  passed, and the `grader-report` artifact holds the full report. Your grade comes from the
  hidden tests your instructor runs on the pushed files.
- If your course uses Gradescope: upload the `<topic>.py` files (or this repository) there.
  A module that imports another topic's (`import linear_regression`) needs that file uploaded
  with it.

A banned API (listed in each statement) scores 0 on the tests of the function that uses it.
""")

STUDENT_GITIGNORE = """\
__pycache__/
*.pyc
*.egg-info/
.venv/
.grader-check/
grader-report/
"""


class ReleaseProblem(GraderError):
    """The release was built but failed its verification; the message lists what is wrong."""


# ----------------------------------------------------------------------------------- building


def build(course: Course, out: Path, topics: Iterable[str], hidden_counts: dict[str, int]) -> None:
    """Copy the public part of the course into ``out`` and write the release's own files."""
    topics = list(topics)
    _check_target(out)
    out.mkdir(parents=True, exist_ok=True)
    for topic in topics:
        shutil.copytree(course.assignments / topic, out / "assignments" / topic, ignore=IGNORED)
        # Limits, banned calls, tolerances and speed thresholds are no secret: with them
        # ``grader check`` enforces what grading does.
        if (config := course.reference / topic / "grading.toml").is_file():
            shutil.copy2(config, out / "assignments" / topic / "grading.toml")
    (out / "assignments" / "manifest.json").write_text(
        json.dumps({"hidden_tests": {t: hidden_counts.get(t, 0) for t in topics}}, indent=1) + "\n")
    shutil.copytree(PROJECT / "grader", out / "grader", ignore=IGNORED)
    shutil.copytree(PROJECT / "templates", out / "templates", ignore=IGNORED)
    shutil.copy2(PROJECT / "pyproject.toml", out / "pyproject.toml")
    for rel in environment_files(course):  # what student code may import, at locked versions
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(course.root / rel, out / rel)
    (out / ".github" / "workflows").mkdir(parents=True)
    (out / ".github" / "workflows" / "grader.yml").write_text(student_workflow(course))
    (out / ".gitignore").write_text(STUDENT_GITIGNORE)
    rows = [{"name": t, "public": (course.assignments / t / "test_public.py").is_file(),
             "hidden": hidden_counts.get(t, 0)} for t in topics]
    env = load_environment(course)
    (out / "README.md").write_text(STUDENT_README.render(
        topics=rows, packages=env.describe(), torch=env.versions.get("torch", ""),
        python=".".join(map(str, python_floor())),
        install=" ".join((["-c", env.lock.relative_to(course.root).as_posix()]
                          if env.lock is not None else []) + env.requirements())))


# The install step's pip lines in templates/ci/student.yml, which the release writes anew.
_PIP_LINES = re.compile(r"(?m)^( +)python -m pip install .*\n(?:\1python -m pip install .*\n)*")


def student_workflow(course: Course) -> str:
    """The student CI workflow for this course: it installs exactly the course's environment
    (course.toml, pinned by its lock), as the README's set-up and Gradescope's setup.sh do."""
    template = (PROJECT / STUDENT_WORKFLOW).read_text()
    env = load_environment(course)
    lock = ["-c", env.lock.relative_to(course.root).as_posix()] if env.lock is not None else []
    torch = env.versions.get("torch")
    lines = ([f'python -m pip install "torch=={torch}" --index-url '
              "https://download.pytorch.org/whl/cpu"] if torch else [])
    lines.append("python -m pip install " +
                 " ".join(shlex.quote(a) for a in [*lock, *env.requirements(), "-e", "."]))
    found = _PIP_LINES.search(template)
    if found is None:
        raise CourseError(f"{STUDENT_WORKFLOW} has no `python -m pip install` step to fill in")
    indent = found.group(1)
    return template[:found.start()] + "".join(f"{indent}{line}\n" for line in lines) + \
        template[found.end():]


def _check_target(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CourseError(f"{out} is not an empty folder: give a new folder for the release")
    if not (PROJECT / "pyproject.toml").is_file():
        raise CourseError(f"the grader at {PROJECT} is not a source checkout (no pyproject.toml); "
                          "install it with `pip install -e` to release a course")


def count_hidden(course: Course, topics: list[str]) -> dict[str, int]:
    """Hidden tests per topic, counted by collecting them (their source is never copied)."""
    from grader.grading.engine import Engine, Options

    with tempfile.TemporaryDirectory(prefix="grader-release-") as tmp, \
            Engine(course, sandboxed=False) as engine:
        result = engine.grade(course.assignments, Path(tmp), Options(
            topics=tuple(topics), kinds=("public",), count_hidden=True), name="stubs")
    return {t: int(result.hidden_tests.get(t, 0)) for t in topics}


# -------------------------------------------------------------------------------- verification


def _text_files(root: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            try:
                yield path, path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue  # binary files cannot hold a copied line of Python


def _long_lines(text: str) -> dict[str, int]:
    """Stripped lines long enough to be telling, with the number of their first occurrence."""
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if len(line.strip()) > MIN_SECRET_LINE:
            found.setdefault(line.strip(), number)
    return found


def _lines_of(paths: Iterable[Path]) -> set[str]:
    lines: set[str] = set()
    for path in paths:
        if path.is_file() and path.suffix != ".pyc":
            lines.update(line.strip() for line in path.read_text(errors="replace").splitlines())
    return lines


def secret_lines(course: Course) -> dict[Path, dict[str, int]]:
    """The long lines of every Python file under ``reference/``, by file, less those the
    topics' stubs, statements and public tests share with them (signatures, docstrings)."""
    shared = _lines_of(p for topic in course.topics()
                       for p in (course.stub(topic), course.assignments / topic / "README.md",
                                 course.assignments / topic / "test_public.py"))
    return {path: {line: n for line, n in _long_lines(path.read_text()).items()
                   if line not in shared}
            for path in sorted(course.reference.rglob("*.py"))}


def find_secrets(course: Course, out: Path) -> list[str]:
    """Where ``out`` holds a secret file, a line of one, or a copy of a solution or hidden test.

    A secret line found in ``out`` is a leak unless the course publishes that line on purpose:
    somewhere in ``assignments/`` (a public baseline may share a loop with a solution, an exam
    question an equation) or in the grader's own code and templates (an idiom such as
    ``rng = np.random.default_rng(seed)``). Such published lines still count towards copies:
    a file holding a quarter or more of the lines of a ``solution.py`` or ``test_hidden.py``
    (and at least five) is reported as one, wherever it comes from.
    """
    problems = [f"{p.relative_to(out)} must not be released"
                for p in sorted(out.rglob("*"))
                if p.name in ("reference", "solution.py", "test_hidden.py", "mutants",
                              "alternatives")]
    published = _lines_of([*course.assignments.rglob("*"), *(PROJECT / "grader").rglob("*"),
                           *(PROJECT / "templates").rglob("*")])
    secrets = secret_lines(course)
    for path, text in _text_files(out):
        rel = path.relative_to(out)
        lines = _long_lines(text)
        leaks: dict[int, str] = {}
        for source, secret in secrets.items():
            hits = secret.keys() & lines.keys()
            origin = source.relative_to(course.root)
            for line in hits - published:
                leaks.setdefault(lines[line], f"{origin}:{secret[line]}")
            if source.name in ("solution.py", "test_hidden.py") and secret and \
                    len(hits) >= max(COPY_MIN_LINES, COPY_FRACTION * len(secret)):
                problems.append(f"{rel} holds {len(hits)} of the {len(secret)} lines of "
                                f"{origin}: a copy of it?")
        problems += [f"{rel}:{n} repeats {where}" for n, where in sorted(leaks.items())]
    return problems


def check_stubs(out: Path) -> tuple[int, list[str]]:
    """Run the release's public tests on its stubs: each must fail with "not implemented".

    Returns how many tests ran and what is wrong. GPU tests on a machine without one are
    not graded and not counted as problems.
    """
    from grader.grading.engine import Engine, Options

    released = Course(out)
    try:
        with tempfile.TemporaryDirectory(prefix="grader-release-") as tmp, \
                Engine(released, sandboxed=False) as engine:
            result = engine.grade(released.assignments, Path(tmp),
                                  Options(kinds=("public",)), name="stubs")
    finally:
        # Importing the release's tests and stubs to grade them wrote their bytecode beside
        # them (wherever Python writes it): the release ships none.
        for cache in sorted(out.rglob("__pycache__"), reverse=True):
            shutil.rmtree(cache, ignore_errors=True)
    problems = [f"grading the stubs failed: {result.error}"] if result.error else []
    for t in result.tests:
        if t.outcome == Outcome.NOT_GRADED:  # a GPU test on a machine without one: nothing to check
            continue
        if t.outcome != Outcome.FAILED or Flag.NOT_IMPLEMENTED not in t.flags:
            first = t.message.splitlines()[0] if t.message else ""
            problems.append(f"{t.topic}/{t.name} on the stub: {t.outcome} ({first}); every "
                            "public test must fail with 'not implemented' on the stubs")
    return sum(t.outcome != Outcome.NOT_GRADED for t in result.tests), problems


def check_fresh_venv(out: Path, topics: list[str]) -> list[str]:
    """Install a copy of ``out`` into a new virtual environment and run ``grader check`` there.

    The environment is made as a student makes it (README): a venv with its own pip and nothing
    from this interpreter, the grader and the course's environment installed from the release's
    lock. The check makes sure the copy is the one imported.
    """
    with tempfile.TemporaryDirectory(prefix="grader-release-venv-") as tmp:
        repo, venv = Path(tmp) / "repo", Path(tmp) / "venv"
        shutil.copytree(out, repo)
        bindir = venv / ("Scripts" if os.name == "nt" else "bin")
        env = {k: v for k, v in os.environ.items()
               if k not in ("GRADER_COURSE", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"

        def run(*args: str | Path, cwd: Path = repo) -> subprocess.CompletedProcess[str]:
            argv = [str(a) for a in args]
            try:
                return subprocess.run(argv, cwd=cwd, env=env, text=True, capture_output=True,
                                      timeout=VENV_STEP_TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                return subprocess.CompletedProcess(
                    argv, -1, "", f"{' '.join(argv)} ran past {VENV_STEP_TIMEOUT} s")

        steps: list[tuple[str, tuple[str | Path, ...]]] = [
            ("create the virtual environment", (_base_python(), "-m", "venv", venv)),
            # --no-compile: what is imported is compiled when first imported, as anywhere;
            # compiling all of torch ahead would double the install's time and prove nothing.
            ("install the release", (bindir / "python", "-m", "pip", "install", "--quiet",
                                     "--no-compile", *install_args(Course(repo)), "-e", repo)),
        ]
        for what, args in steps:
            done = run(*args)
            if done.returncode != 0:
                return [f"could not {what}: {_tail(done.stdout + done.stderr)}"]
        # From outside the copy, so that the current directory cannot supply the package.
        where = run(bindir / "python", "-c", "import grader; print(grader.__file__)",
                    cwd=Path(tmp)).stdout
        if not Path(where.strip()).resolve().is_relative_to(repo.resolve()):
            return [(f"the fresh environment imports the grader from {where.strip()}, "
                     "not from the release")]
        done = run(bindir / "grader", "check")
        text = done.stdout + done.stderr
        # Exit 1: tests failed, as they must on stubs. 0 would mean stubs pass; 2 a broken run.
        problems = [] if done.returncode == 1 else [
            f"`grader check` in a fresh environment exited {done.returncode}: {_tail(text)}"]
        missing = [t for t in topics if t not in text]
        if missing:
            problems.append(f"`grader check` did not report {', '.join(missing)}: {_tail(text)}")
        return problems


def _base_python() -> str:
    """The interpreter this one's virtual environment (if any) was made from: a venv made from
    a venv's interpreter is made from its base anyway, and says so more plainly."""
    base = Path(sys.base_prefix) / ("python.exe" if os.name == "nt" else "bin/python3")
    return str(base) if base.exists() else sys.executable


def install_args(course: Course) -> list[str]:
    """pip's arguments (before the grader itself) that install the course's environment at the
    versions of its lock, with the grader's own dependencies held to the lock as well."""
    env = load_environment(course)
    return (["-c", str(env.lock)] if env.lock is not None else []) + env.requirements()


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def release(course: Course, out: Path, *, topics: Iterable[str] = (),
            echo: Callable[[str], Any] = print) -> None:
    """Build the student repository in ``out`` and verify it; raises ``ReleaseProblem``."""
    if not course.has_reference:
        raise CourseError(f"{course.root} has no reference/ folder: release from the course "
                          "checkout, where the hidden tests can be counted and searched for")
    chosen = course.check_topics(list(topics)) if topics else course.topics()
    stale = statement.drifts(course, chosen)
    if stale:  # a student would read one list and be graded by another
        raise ReleaseProblem(
            "these statements do not say what their grading.toml bans: " +
            ", ".join(str(d.path) for d in stale) + "; run `grader statements --write`")
    _check_target(out)  # before the slow counting
    counts = count_hidden(course, chosen)
    build(course, out, chosen, counts)
    echo(f"built {out}: {len(chosen)} topics, {sum(counts.values())} hidden tests counted")
    problems = find_secrets(course, out)
    if not problems:
        echo("  no reference or hidden-test text in the release")
    n, stub_problems = check_stubs(out)
    problems += stub_problems
    if not stub_problems:
        echo(f"  {n} public tests fail on the stubs, each with 'not implemented'")
    venv_problems = check_fresh_venv(out, chosen)
    problems += venv_problems
    if not venv_problems:
        echo("  `grader check` works in a fresh virtual environment made from the release")
    if problems:
        raise ReleaseProblem(f"{out} failed verification; do not publish it:\n  " +
                             "\n  ".join(problems))
