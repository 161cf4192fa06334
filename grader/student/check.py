"""`grader check`: the public tests under pytest in this process, with the student plugin.

``grader check`` is pytest on the course's public test files with the student plugin
(``grader.student.plugin``) and tracebacks off; options after the topics go to pytest as they
are (``grader check linear_regression -- -k fit -x``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from grader.student.session import StudentSession


def split_args(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(topics, pytest options): the topics come first; the first option and what follows it
    go to pytest (``linear_regression -k fit -x``, or after ``--``)."""
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            return list(args[:i]), list(args[i:])
    return list(args), []


def run_check(course: Any, topics: Sequence[str], pytest_args: Sequence[str]) -> int:
    """Run the public tests of ``topics`` under pytest in this process; pytest's exit status.

    Plugins that other packages register are not loaded (they cost time and have nothing to do
    here); one named with ``-p`` in ``pytest_args`` still is. Where the course has its hidden
    tests (an instructor's checkout), they are collected to be counted and never run.
    """
    import pytest

    files = [str(p) for t in topics if (p := course.public_tests(t)) is not None]
    session = StudentSession(count_hidden=course.has_reference)
    session.lines = {t: [] for t in topics}  # a topic without public tests is shown as such
    if course.has_reference and not course.released_hidden_counts():
        files += [str(p) for t in topics if (p := course.hidden_tests(t)) is not None]
    args = [*files, "--rootdir", str(course.root), "-q", "--tb=no", "-rN", "-p", "no:cacheprovider",
            "-p", "grader.student.plugin", *pytest_args]
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        code = int(pytest.main(args, plugins=[session]))
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
    # No public test ran (a topic without them, or -k matching none): nothing passed.
    return 1 if code == pytest.ExitCode.NO_TESTS_COLLECTED else code
