"""``grader ci``: grade the work in a student's repository inside a CI job and report in CI formats.

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
from typing import Any

import click

from grader.commands.common import Failure, course_option, friendly, load_course
from grader.course import Course, CourseError, TopicConfig, load_topic_config
from grader.results.inert import terminal
from grader.results.model import Flag, Outcome, SubmissionResult
from grader.results.numbers import number

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
    reach = [p for p in sys.path if _inside(Path(p or os.curdir).resolve(), repo)]
    if reach:
        raise CourseError(f"Python's import path reaches into the student's repository "
                          f"({reach[0] or os.curdir}); run the installed `grader` command from "
                          "an environment outside the repository, with no PYTHONPATH into it")


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
           echo: Callable[[str], Any] = click.echo) -> CiRun:
    """Grade ``course.assignments`` in place and write every CI output into ``out``.

    Writes results.json, result.json, report.html, junit.xml and summary.md; on GitHub Actions
    (``GITHUB_ACTIONS=true``) also appends the summary to ``$GITHUB_STEP_SUMMARY`` and prints
    ``::error`` annotations at the student's functions.
    """
    chosen = tuple(course.check_topics(list(topics))) if topics else tuple(course.topics())
    if hidden is not None:  # checked before the grading modules (and numpy, pytest) are imported
        secret = CourseWithHidden(course.root, Path(hidden).resolve())
        if not any(secret.hidden_tests(t) for t in chosen):
            raise CourseError(f"{hidden} holds no <topic>/test_hidden.py for "
                              f"{', '.join(chosen)}; it must be laid out like reference/")
        _nothing_of_the_repository(secret, chosen)

    from grader.results.junit import write_junit
    from grader.results.files import write_outputs
    from grader.results.model import write_text_atomic
    from grader.grading.engine import Engine, Options
    from grader.results.scoring import percentage
    from grader.results.summary import github_annotations, summary_markdown
    from grader.results.visibility import student_copy

    env = dict(os.environ if environ is None else environ)
    if hidden is not None:
        graded: Course = secret
        options = Options(topics=chosen, kinds=("hidden", "public"), seed=seed)
    else:
        graded = course
        options = Options(topics=chosen, kinds=("public",), seed=seed,
                          count_hidden=course.has_reference)
        echo("Running the public tests (no sandbox: your own code on your own CI machine).")
    name = env.get("GITHUB_REPOSITORY") or course.root.name
    with Engine(graded, sandboxed=hidden is not None,
                allow_unsandboxed=unsafe_no_sandbox) as engine:
        result = engine.grade(course.assignments, out, options, name=name)

    write_outputs(result, out)
    shown = student_copy(result)  # what the student may see of the hidden tests
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

    for t in result.topics:
        tests = [x for x in result.tests if x.topic == t.topic and x.counted]
        passed = sum(x.outcome == Outcome.PASSED for x in tests)
        extra = f"  ({terminal(t.note.splitlines()[0])})" if t.note else ""
        echo(f"  {t.topic}: {passed}/{len(tests)} tests passed, {number(t.score)} / {number(t.max_score)} "
             f"points{extra}")
    pct = percentage(result.score, result.max_score)
    what = "public and hidden tests" if hidden is not None else \
        "public tests only, not your grade"
    echo(f"Score: {number(result.score)} / {number(result.max_score)} ({pct:.0f} %, {what})")
    echo(f"wrote {out / 'results.json'}, {out / JUNIT}, {out / SUMMARY} and "
         f"{out / 'report.html'}")

    return CiRun(result, *exit_status(result, fail_under))


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


@click.command("ci")
@click.argument("topics", nargs=-1)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default=True,
              help="Folder for results.json, junit.xml, summary.md and report.html.")
@click.option("--hidden", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None,
              help="Folder laid out like reference/ (<topic>/test_hidden.py, solution.py): "
                   "run its hidden tests too, in the sandbox.")
@click.option("--fail-under", type=click.FloatRange(0, 100), default=None, metavar="PERCENT",
              help="Exit 1 when the score is below PERCENT of the maximum. "
                   "Default: fail only when grading itself broke.")
@click.option("--seed", type=int, default=None, help="Seed of the random inputs (to regrade).")
@click.option("--unsafe-no-sandbox", is_flag=True,
              help="With --hidden: run hidden tests even where a sandbox layer is missing.")
@course_option
def ci(topics: tuple[str, ...], out: Path, hidden: Path | None, fail_under: float | None,
       seed: int | None, unsafe_no_sandbox: bool, course: Path | None) -> None:
    """Grade this repository in a CI job: JUnit XML, results.json, a job summary, annotations.

    Example: grader ci --out grader-report --fail-under 50
    """

    @friendly
    def go() -> int:
        done = run_ci(load_course(course), out, topics=topics, hidden=hidden, fail_under=fail_under,
                      seed=seed, unsafe_no_sandbox=unsafe_no_sandbox)
        if done.exit_code == 2:
            raise Failure(done.reason)
        if done.reason:
            click.echo(done.reason, err=True)
        return done.exit_code

    raise SystemExit(go())
