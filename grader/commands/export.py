"""The ``grader export`` commands: a Gradescope autograder bundle (thin click layer over
``grader/publish/gradescope.py``; the bundle runs ``grader/publish/autograder.py``)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.common import course_option, friendly, load_course
from grader.results.visibility import VISIBILITIES


@click.group("export")
def export() -> None:
    """Export the course for other graders (Gradescope)."""


@export.command("gradescope")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--topic", "topics", multiple=True,
              help="Grade only this topic (repeatable). Default: every topic of the course.")
@click.option("--unsafe-no-sandbox", is_flag=True,
              help="Grade even where Gradescope's container has no Landlock (the student's "
                   "code could then read the hidden tests).")
@click.option("--visibility", type=click.Choice(VISIBILITIES), default="visible",
              show_default=True, help="When students see the test results on Gradescope.")
@course_option
def gradescope(out: Path, topics: tuple[str, ...], unsafe_no_sandbox: bool, visibility: str,
               course: Path | None) -> None:
    """Write a Gradescope autograder bundle (setup.sh, run_autograder) to OUT.zip.

    Example: grader export gradescope autograder.zip --topic linear_regression
    """
    from grader.publish.gradescope import export_gradescope

    @friendly
    def go() -> None:
        chosen = export_gradescope(load_course(course), out, topics=topics,
                                   unsafe_no_sandbox=unsafe_no_sandbox, visibility=visibility)
        click.echo(f"wrote {out}: {len(chosen)} topics ({', '.join(chosen)}); upload it as the "
                   "autograder of a Gradescope programming assignment")

    go()
