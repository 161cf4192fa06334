"""What every command shares: one-line errors, the ``--course`` option and finding the course."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from grader.course import Course, CourseError, find_course
from grader.errors import GraderError

F = TypeVar("F", bound=Callable[..., Any])


class Failure(click.ClickException):
    """A one-line error for the user; exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def friendly(func: F) -> F:
    """Turn the grader's expected failures (``GraderError``, and the system's own ``OSError``)
    into one-line errors and exit status 2, instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            raise Failure("interrupted") from None
        except GraderError as exc:
            raise Failure(str(exc)) from None
        except OSError as exc:
            raise Failure(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None

    return wrapper  # type: ignore[return-value]


def course_option(func: F) -> F:
    """``--course FOLDER``: which course a command works on (default: found from the cwd)."""
    return click.option("--course", type=click.Path(file_okay=False, path_type=Path),
                        default=None,
                        help="Course folder (default: the one containing the current directory).")(func)


def load_course(path: Path | None) -> Course:
    """The course in ``path``, or the one containing the current directory."""
    if path is not None:
        if not (path / "assignments").is_dir():
            raise CourseError(f"{path} has no assignments/ folder")
        return Course(path.resolve())
    return find_course()
