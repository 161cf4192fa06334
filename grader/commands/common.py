"""What every command shares: one-line errors, the ``--course`` option and finding the course."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from grader.course import Course, CourseError, find_course

F = TypeVar("F", bound=Callable[..., Any])


class Failure(click.ClickException):
    """A one-line error for the user; exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


# The grader's expected failures, by module. Only a module that was imported can have raised
# one, so none is imported to be caught: `grader check` never imports the engine (nor torch).
_EXPECTED = {"grader.course": "CourseError", "grader.grading.engine": "SandboxUnavailable",
             "grader.grading.submission": "SubmissionError", "grader.grading.remote": "GraderFault",
             "grader.environment": "EnvironmentIncomplete"}


def _expected_errors() -> tuple[type[BaseException], ...]:
    return tuple(getattr(module, name) for path, name in _EXPECTED.items()
                 if (module := sys.modules.get(path)) is not None)


def friendly(func: F) -> F:
    """Turn the grader's expected failures into one-line errors instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            raise Failure("interrupted") from None
        except Exception as exc:
            if isinstance(exc, _expected_errors()):
                raise Failure(str(exc)) from None
            if isinstance(exc, OSError):
                raise Failure(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) \
                    from None
            raise

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
