"""The ``grader ci`` command: grade a student's repository in a CI job (thin click layer over
``grader/ci.py``)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.ci import DEFAULT_OUT, run_ci
from grader.commands.common import Failure, course_option, friendly, load_course


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
                      seed=seed, unsafe_no_sandbox=unsafe_no_sandbox, echo=click.echo)
        if done.exit_code == 2:
            raise Failure(done.reason)
        if done.reason:
            click.echo(done.reason, err=True)
        return done.exit_code

    raise SystemExit(go())
