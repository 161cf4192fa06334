"""pytest on the student's own machine: the ``student`` fixture for a course's public tests.

Registered as a pytest plugin (entry point ``pytest11``), so ``pytest``, ``pytest -k``,
``--pdb`` and an IDE's test panel run ``assignments/<topic>/test_public.py`` on the student's
own ``assignments/<topic>/<topic>.py``, imported in this process (their code, their laptop: no
sandbox, as ``grader check`` says). Failures read as grading writes them, naming the student's
file and lines; the end of the run has a line per topic with the number of hidden tests that
will grade it (``assignments/manifest.json``) and a total.

In any other pytest session it does nothing: it only acts on a file that is the
``test_public.py`` of an ``assignments/<topic>/`` folder holding ``<topic>.py`` (or the
student's ``<topic>.ipynb``, whose code cells are read as grading reads them), and never in a
grading session of the engine (which loads no plugins by entry point and runs the course's tests
with its own ``GraderPlugin``). This module imports nothing heavy; the rest is imported the
first time a public test file is collected.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

PUBLIC_TESTS = "test_public.py"
HIDDEN_TESTS = "test_hidden.py"


def public_topic(path: Path) -> tuple[Path, str] | None:
    """(course root, topic) when ``path`` is a course's ``assignments/<topic>/test_public.py``."""
    folder = path.parent
    if path.name != PUBLIC_TESTS or folder.parent.name != "assignments" or \
            not any((folder / f"{folder.name}{suffix}").is_file() for suffix in (".py", ".ipynb")):
        return None
    return folder.parent.parent, folder.name


def hidden_topic(path: Path) -> tuple[Path, str] | None:
    """(course root, topic) when ``path`` is a course's ``reference/<topic>/test_hidden.py``."""
    folder = path.parent
    if path.name != HIDDEN_TESTS or folder.parent.name != "reference" or \
            not (folder.parent.parent / "assignments" / folder.name).is_dir():
        return None
    return folder.parent.parent, folder.name


def in_grading_session(config: pytest.Config) -> bool:
    """Whether this is one of the engine's sessions (which has a GraderPlugin registered)."""
    engine = sys.modules.get("grader.grading.plugin")
    return engine is not None and any(isinstance(p, engine.GraderPlugin)
                                      for p in config.pluginmanager.get_plugins())


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    path = Path(module_path)
    public = public_topic(path)
    hidden = None if public else hidden_topic(path)
    if (public is None and hidden is None) or in_grading_session(parent.config):
        return None
    from grader.student.session import StudentSession

    session = StudentSession.of(parent.config)
    if public is not None:
        return session.public_module(parent, path, *public)
    if session.count_hidden:  # `grader check` in a course checkout: counted, never run
        return session.hidden_module(parent, path, *hidden)  # type: ignore[misc]
    return None
