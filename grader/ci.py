"""The work in a student's repository graded inside a CI job, reported in CI formats (``grader ci``).

Public tests run without a sandbox (the student's own code on a machine the student controls);
hidden tests run only when given a folder of them, and then only in the sandbox. The job fails
only when grading itself broke, unless ``--fail-under`` asks for a minimum score.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.course import Course, CourseError, TopicConfig, load_topic_config
from grader.results.inert import terminal
from grader.results.model import Flag, Outcome, SubmissionResult
from grader.results.numbers import number

if TYPE_CHECKING:
    from grader.grading.engine import Options

DEFAULT_OUT = "grader-report"
JUNIT = "junit.xml"
SUMMARY = "summary.md"


@dataclass(frozen=True)
class CourseWithHidden(Course):
    """A student's repository graded with a secret half handed to the job (a folder laid out like
    reference/). The repository is the student's: the trusted side takes from it only the topic
    modules, which run in the sandbox. Tests (public ones included) and grading.toml come from
    the hidden folder alone; a test file or grading.toml in the repository is never read."""

    hidden: Path = Path("reference")

    @property
    def reference(self) -> Path:
        return self.hidden

    def public_tests(self, topic: str) -> Path | None:
        p = self.hidden / topic / "test_public.py"
        return p if p.is_file() else None

    def config(self, topic: str) -> TopicConfig:
        return load_topic_config(self.hidden / topic / "grading.toml")


@dataclass(frozen=True)
class CiRun:
    result: SubmissionResult
    exit_code: int  # see exit_status
    reason: str  # why the exit code is not 0; empty when it is


def grader_broke(result: SubmissionResult) -> str:
    """Why grading itself failed (not the student's code), or ``""``."""
    if result.error:
        return result.error
    if not result.tests:
        return "no test ran"
    broken = [t for t in result.tests if Flag.GRADER_ERROR in t.flags]
    if broken:
        return f"the grader could not run {len(broken)} test(s), e.g. {broken[0].name}: " + \
            broken[0].message.splitlines()[0]
    return ""


def run_ci(course: Course, out: Path, *, topics: tuple[str, ...] = (),
           hidden: Path | None = None, fail_under: float | None = None, seed: int | None = None,
           unsafe_no_sandbox: bool = False, environ: Mapping[str, str] | None = None,
           echo: Callable[[str], Any] = print) -> CiRun:
    """Grade ``course.assignments`` in place and write every CI output into ``out``.

    Writes results.json, result.json, report.html, junit.xml and summary.md; on GitHub Actions
    (``GITHUB_ACTIONS=true``) also appends the summary to ``$GITHUB_STEP_SUMMARY`` and prints
    ``::error`` annotations at the student's functions.
    """
    env = dict(os.environ if environ is None else environ)
    chosen = tuple(course.check_topics(list(topics))) if topics else tuple(course.topics())
    graded, options = _plan(course, chosen, hidden, seed)
    from grader.grading.engine import Engine  # after _plan's checks: it imports numpy, pytest

    if hidden is None:
        echo("Running the public tests (no sandbox: your own code on your own CI machine).")
    name = env.get("GITHUB_REPOSITORY") or course.root.name
    with Engine(graded, sandboxed=hidden is not None,
                allow_unsandboxed=unsafe_no_sandbox, topics=chosen, chosen=chosen) as engine:
        result = engine.grade(course.assignments, out, options, name=name)
    _write_reports(course, result, out, chosen, env, echo)
    _print_scores(result, out, hidden is not None, echo)
    return CiRun(result, *exit_status(result, fail_under))


def _plan(course: Course, chosen: tuple[str, ...], hidden: Path | None,
          seed: int | None) -> tuple[Course, Options]:
    """The course to grade with (the repository's, or it with the hidden folder) and the options.
    The hidden folder is checked before the grading modules (and numpy, pytest) are imported."""
    if hidden is None:
        from grader.grading.engine import Options

        return course, Options(topics=chosen, kinds=("public",), seed=seed,
                               count_hidden=course.has_reference)
    graded = CourseWithHidden(course.root, Path(hidden).resolve())
    if not any(graded.hidden_tests(t) for t in chosen):
        raise CourseError(f"{hidden} holds no <topic>/test_hidden.py for "
                          f"{', '.join(chosen)}; it must be laid out like reference/")
    _nothing_of_the_repository(graded, chosen)
    from grader.grading.engine import Options

    return graded, Options(topics=chosen, kinds=("hidden", "public"), seed=seed)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _nothing_of_the_repository(course: CourseWithHidden, topics: tuple[str, ...]) -> None:
    """With hidden tests, the trusted side runs only files of the hidden folder: refuse a hidden
    folder inside the student's repository (the student could have put files where its own
    land: an __init__.py, a test_public.py it lacks), a file of it that leads into the
    repository (a link), and an import path reaching into the repository (PYTHONPATH,
    ``python -m`` run from it, a virtual environment inside it), from which Python would import
    the student's files before the library's."""
    repo = course.root.resolve()
    if _inside(course.hidden, repo):
        raise CourseError(f"the hidden folder {course.hidden} is inside the student's repository "
                          f"{repo}; copy it to a folder outside the repository")
    for t in topics:
        for p in (course.hidden_tests(t), course.public_tests(t), course.solution(t),
                  course.hidden / t / "grading.toml", *course.mutants(t),
                  *course.alternatives(t)):
            if p is not None and p.exists() and _inside(p.resolve(), repo):
                raise CourseError(f"{p} leads into the student's repository {repo}; the hidden "
                                  "folder must hold its own files")
    reach = [p for p in sys.path if _import_folder(p) and _inside(Path(p or os.curdir).resolve(),
                                                                   repo)]
    if reach:
        raise CourseError(f"Python's import path reaches into the student's repository "
                          f"({reach[0] or os.curdir}); run the installed `grader` command from "
                          "an environment outside the repository, with no PYTHONPATH into it")
    package = Path(__file__).resolve().parent
    if _inside(package, repo):
        raise CourseError(f"the grader itself is imported from the student's repository "
                          f"({package}): install it from the course, outside the repository")


def _import_folder(entry: str) -> bool:
    """Whether Python imports files from a ``sys.path`` entry: ``""`` (the current folder), or
    a file or folder that exists (a relative one, from the current folder). Other entries are
    keys for import hooks, not paths: an editable install (``pip install -e .``) adds
    ``__editable__.<name>.finder.__path_hook__``, which names no file, wherever the command
    runs from."""
    if not entry:
        return True
    try:
        return Path(entry).exists()
    except (OSError, ValueError):  # a name too long for the system, a NUL byte: no file
        return False


def _write_reports(course: Course, result: SubmissionResult, out: Path, chosen: tuple[str, ...],
                   env: Mapping[str, str], echo: Callable[[str], Any]) -> None:
    """results.json, report.html, junit.xml and summary.md; on GitHub Actions, the job summary
    and the annotations too. What is shown of hidden tests is what the student may see."""
    from grader.results.files import write_outputs
    from grader.results.junit import write_junit
    from grader.results.model import write_text_atomic
    from grader.results.summary import github_annotations, summary_markdown
    from grader.results.visibility import student_view

    write_outputs(result, out)
    shown = student_view(result)
    write_junit(shown, out / JUNIT)
    hidden_counts = result.hidden_tests or course.released_hidden_counts()
    markdown = summary_markdown(shown, hidden_counts)
    write_text_atomic(out / SUMMARY, markdown)
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(markdown + "\n")
    if env.get("GITHUB_ACTIONS") == "true":
        root = Path(env.get("GITHUB_WORKSPACE") or Path.cwd())
        for note in github_annotations(shown, {t: course.stub(t) for t in chosen}, root):
            echo(note.command())


def _print_scores(result: SubmissionResult, out: Path, with_hidden: bool,
                  echo: Callable[[str], Any]) -> None:
    """Each topic's tests passed and points, the score, and where the reports are."""
    from grader.results.scoring import percentage

    for t in result.topics:
        tests = [x for x in result.tests if x.topic == t.topic and x.counted]
        passed = sum(x.outcome == Outcome.PASSED for x in tests)
        extra = f"  ({terminal(t.note.splitlines()[0])})" if t.note else ""
        echo(f"  {t.topic}: {passed}/{len(tests)} tests passed, {number(t.score)} / {number(t.max_score)} "
             f"points{extra}")
    pct = percentage(result.score, result.max_score)
    what = "public and hidden tests" if with_hidden else "public tests only, not your grade"
    echo(f"Score: {number(result.score)} / {number(result.max_score)} ({pct:.0f} %, {what})")
    echo(f"wrote {out / 'results.json'}, {out / JUNIT}, {out / SUMMARY} and "
         f"{out / 'report.html'}")


def exit_status(result: SubmissionResult, fail_under: float | None) -> tuple[int, str]:
    """(exit code, why): 2 when grading broke, 1 when below ``fail_under`` percent, else 0.

    Failing tests alone never fail the job: on a student's repository a red job on every push
    of unfinished work says nothing the summary does not say better.
    """
    from grader.results.scoring import percentage

    broke = grader_broke(result)
    if broke:
        return 2, f"grading did not complete: {terminal(broke)}"
    pct = percentage(result.score, result.max_score)
    if fail_under is not None and pct < fail_under:
        return 1, f"score {pct:.1f} % is below --fail-under {fail_under:g} %"
    return 0, ""
