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


@click.command("statements")
@click.argument("topics", nargs=-1)
@click.option("--write", is_flag=True,
              help="Rewrite the lists that are out of date instead of only naming them.")
@course_option
def statements_command(topics: tuple[str, ...], write: bool, course: Path | None) -> None:
    """Check that each topic's statement (assignments/<topic>/README.md) says what its
    grading.toml bans: the "Not allowed" list is written from the [banned] table. Exits 1 when a
    list is out of date (and --write is not given).

    Example: grader statements --write transformer
    """
    from grader.publish.statement import drifts, write as rewrite

    @friendly
    def go() -> None:
        c = load_course(course)
        found = drifts(c, c.check_topics(topics) if topics else None)
        for drift in found:
            if write:
                rewrite(drift)
                click.echo(f"rewrote the list of {drift.path}")
            else:
                click.echo(f"{drift.path}: the list of what is not allowed is not what "
                           f"{drift.topic}'s grading.toml bans")
        if found and not write:
            click.echo("run `grader statements --write` to rewrite them")
            raise SystemExit(1)
        if not found:
            click.echo("every statement says what its grading.toml bans")

    go()
