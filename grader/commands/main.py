"""The command line: a thin layer over the engine. Every command has a one-line help and an example."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from grader.commands.common import Failure, course_option, friendly, load_course
from grader.course import CourseError
from grader.results.inert import terminal
from grader.results.numbers import number


class _Group(click.Group):
    """Usage errors in one line, like every other error of the grader."""

    # Commands imported when named or listed: `grader check` does not pay for their options'
    # imports, nor their engine-side modules (imported when the command runs).
    lazy = {"ci": "grader.commands.ci:ci", "release": "grader.commands.release:release_command",
            "export": "grader.commands.export:export", "exam": "grader.commands.exam:exam",
            "serve": "grader.commands.serve:serve_command",
            "statements": "grader.commands.release:statements_command"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, name = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code if isinstance(exc, Failure) else 2)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dl-grader")
def main() -> None:
    """Grade deep-learning exercises: hidden tests in a trusted process, student code in a sandbox."""


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("topics", nargs=-1, type=click.UNPROCESSED)
@course_option
@friendly
def check(topics: tuple[str, ...], course: Path | None) -> None:
    """Run the public tests on your own work in assignments/<topic>/<topic>.py.

    Options after the topics go to pytest (-k, -x, --pdb, --tb=short, ...).

    Example: grader check linear_regression -- -k fit -x
    """
    from grader.student.check import run_check, split_args

    c = load_course(course)
    names, pytest_args = split_args(topics)
    chosen = c.check_topics(names) if names else c.topics()
    click.echo("Running public tests without a sandbox: your own code, on your own machine.")
    here = Path.cwd().resolve()
    if course is None and here != c.root and c.root not in here.parents:
        # Found by the installed grader, not from here: say whose work this is.
        click.echo(f"{here} is not in a course folder: checking the work in {c.assignments}")
    sys.exit(run_check(c, chosen, pytest_args))


@main.command()
@click.argument("submission", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for results.json and report.html.")
@click.option("--topic", "topics", multiple=True,
              help="Grade only this topic (repeatable). Default: every topic of the course.")
@click.option("--seed", type=int, default=None, help="Seed of the random inputs (to regrade).")
@click.option("--unsafe-no-sandbox", is_flag=True,
              help="Run hidden tests even where a sandbox layer is missing.")
@course_option
@friendly
def grade(submission: Path, out: Path, topics: tuple[str, ...], seed: int | None,
          unsafe_no_sandbox: bool, course: Path | None) -> None:
    """Grade one submission (a folder, a .zip or .tar.gz, or one <topic>.py or <topic>.ipynb)
    with the hidden and public tests.

    Example: grader grade submissions/alice.zip --out graded/alice
    """
    from grader.environment import load_environment
    from grader.isolation.sandbox import layers_warning
    from grader.results.files import write_outputs
    from grader.results.report import topic_notes
    from grader.grading.engine import Engine, Options
    from grader.grading.submission import single_file_topic, submitted_topics

    c = load_course(course)
    if not c.has_reference:
        raise CourseError(f"{c.root} has no reference/ folder: hidden tests are needed to grade")
    chosen = tuple(c.check_topics(list(topics))) if topics else None
    if chosen is None and (single := single_file_topic(submission, c.topics())):
        chosen = (single,)  # one topic's file: that topic, not every other one as missing
    # The engine starts only what the topics handed in need; the others are "not submitted".
    found = submitted_topics(submission, list(chosen or c.topics()))
    with Engine(c, sandboxed=True, allow_unsandboxed=unsafe_no_sandbox,
                environment=load_environment(c),
                topics=tuple(t for t in chosen or c.topics() if t in found),
                chosen=chosen) as engine:
        if warning := layers_warning(engine.layers):
            click.echo(warning, err=True)
        result = engine.grade(submission, out, Options(topics=chosen, seed=seed))
    written = write_outputs(result, out)
    if result.error and not result.tests:  # nothing could be graded: say why, in one line
        raise Failure(terminal(result.error))
    if result.error:
        click.echo(f"note: {terminal(result.error)}", err=True)
    click.echo(f"{terminal(result.submission)}: {number(result.score)} / {number(result.max_score)}")
    for t in result.topics:
        click.echo(f"  {t.topic}: {number(t.score)} / {number(t.max_score)}"
                   + (f"  ({terminal(t.note)})" if t.note else ""))
        for n in topic_notes(result, t.topic):  # a notebook's cells graded, magics dropped
            click.echo(f"    note: {terminal(n)}")
    click.echo(f"wrote {out / 'results.json'} and {out / 'report.html'}")
    for n in written.notes[len(result.notes):]:  # the pages could not be made
        click.echo(f"note: {terminal(n)}", err=True)
    _refresh_batch(out)


def _refresh_batch(out: Path) -> None:
    """A regrade into a batch's students/<id> folder updates that batch's gradebook."""
    from grader.classroom.tables import batch_folder_of, refresh

    folder = batch_folder_of(out)
    if folder is not None and refresh(folder) is not None:
        click.echo(f"updated the gradebook and overview of {folder}")


@main.command()
@click.argument("submissions", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the gradebook, the class overview and every student's report.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Submissions graded at once (default: one per core).")
@click.option("--resume", is_flag=True,
              help="Keep the results already in --out; grade only new or changed submissions.")
@click.option("--only", multiple=True, metavar="ID",
              help="Regrade only this student (repeatable); the others keep their results.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with a 'student' column (and name, canvas_id, sis_id, login, section, "
                   "submission, submitted, deadline). Default: roster.csv in SUBMISSIONS.")
@click.option("--config", "config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML with the [late] policy and [canvas] assignment name. "
                   "Default: batch.toml in SUBMISSIONS.")
@click.option("--deadline", default=None, metavar="ISO-TIME",
              help="Deadline for the late policy, e.g. 2026-03-01T23:59 (local time) "
                   "or with an offset; overrides the config's.")
@click.option("--topic", "topics", multiple=True,
              help="Grade only this topic (repeatable). Default: every topic of the course.")
@click.option("--seed", type=int, default=None,
              help="One seed for every submission (default: a fresh one each, recorded).")
@click.option("--unsafe-no-sandbox", is_flag=True,
              help="Run hidden tests even where a sandbox layer is missing.")
@click.option("--overrides", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV of manual adjustments (student, topic, points, reason; topic may be a "
                   "test); kept on later --resume and --only runs. See docs/instructors.md.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Grade on a Dask cluster: its scheduler's address (tcp://host:8786), or "
                   "'local' to start one of --jobs processes on this machine. Needs the 'dask' "
                   "extra; see docs/distributed.md.")
@course_option
@friendly
def batch(submissions: Path, out: Path, jobs: int | None, resume: bool, only: tuple[str, ...],
          roster: Path | None, config: Path | None, deadline: str | None,
          topics: tuple[str, ...], seed: int | None, unsafe_no_sandbox: bool,
          overrides: Path | None, scheduler: str | None, course: Path | None) -> None:
    """Grade a class: a folder (or .zip, .tar.gz) with one folder or archive per student.

    Example: grader batch submissions/ --out grades --jobs 4 --resume
    """
    from grader.classroom.batch import Batch

    c = load_course(course)
    if not c.has_reference:
        raise CourseError(f"{c.root} has no reference/ folder: hidden tests are needed to grade")
    chosen = tuple(c.check_topics(list(topics))) if topics else None
    factory = None
    if scheduler:
        try:
            from grader.classroom.dask import HANDED_OVER, dask_engine
        except ImportError:
            raise Failure("--scheduler needs Dask: pip install 'dl-grader[dask]'") from None
        factory = dask_engine(scheduler, topics=chosen, processes=jobs, echo=click.echo)
        jobs = HANDED_OVER  # the cluster's workers set the pace, not this machine's cores
    run = Batch(course=c, submissions=submissions, out=out, jobs=jobs, resume=resume, only=only,
                roster=roster, config=config, deadline=deadline, topics=chosen, seed=seed,
                allow_unsandboxed=unsafe_no_sandbox, echo=click.echo, engine_factory=factory,
                overrides=overrides)
    summary = run.run()
    for line in summary.lines():
        click.echo(line)


if __name__ == "__main__":
    main()
