"""The ``grader release`` command: build and verify the student repository (thin click layer over
``grader/publish/release.py``)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.common import course_option, friendly, load_course


@click.command("release")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--topic", "topics", multiple=True,
              help="Release only this topic (repeatable). Default: every topic of the course.")
@course_option
def release_command(out: Path, topics: tuple[str, ...], course: Path | None) -> None:
    """Build the student repository in OUT (never reference/) and verify it.

    Example: grader release ../course-2025-students --topic linear_regression
    """
    from grader.publish.release import release

    @friendly
    def go() -> None:
        release(load_course(course), out, topics=topics, echo=click.echo)

    go()
