"""The ``grader exam`` commands: build per-student papers, grade the answers files (thin click layer)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.common import course_option, friendly, load_course

SECRET_HELP = ("File holding the instructor secret (default: $GRADER_EXAM_SECRET, else "
               "reference/exams/secret.key, created by the first build).")


@click.group("exam")
def exam() -> None:
    """Exams with a variant per student: build the papers, then grade the answers files."""


@exam.command("build")
@click.argument("exam_name", metavar="EXAM")
@click.option("--roster", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with a 'student' column (and optionally name, canvas_id, sis_id, login, "
                   "section).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for papers/ (to hand out), keys/ (instructor only) and manifest.json.")
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help=SECRET_HELP)
@course_option
def build_command(exam_name: str, roster: Path, out: Path, secret_file: Path | None,
                  course: Path | None) -> None:
    """Build every student's paper (HTML with an answer form, Markdown) and answer key.

    Example: grader exam build midterm --roster roster.csv --out midterm-papers
    """
    from grader.exam.workflow import build

    @friendly
    def go() -> None:
        built = build(load_course(course), exam_name, roster, out, secret_file=secret_file,
                      echo=click.echo)
        for line in built.lines():
            click.echo(line)

    go()


@exam.command("grade")
@click.argument("exam_name", metavar="EXAM")
@click.option("--answers", "answers", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the students' answers files (*.json, as the papers save them).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the gradebook, the class overview and every student's report.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="CSV with a 'student' column, to list students without an "
                                 "answers file too (default: roster.csv in the answers folder).")
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help=SECRET_HELP)
@course_option
def grade_command(exam_name: str, answers: Path, out: Path, roster: Path | None,
                  secret_file: Path | None, course: Path | None) -> None:
    """Grade every answers file against its student's variant, recomputed from the secret.

    Example: grader exam grade midterm --answers collected/ --roster roster.csv --out grades
    """
    from grader.exam.workflow import grade

    @friendly
    def go() -> None:
        summary = grade(load_course(course), exam_name, answers, out, roster_path=roster,
                        secret_file=secret_file, echo=click.echo)
        for line in summary.lines():
            click.echo(line)

    go()
