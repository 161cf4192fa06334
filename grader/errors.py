"""The root of the grader's expected failures: what the user can fix, told in one line.

A command prints such a failure's message as ``error: ...`` and exits 2, instead of a
traceback (``grader.commands.common.friendly``). Anything else that escapes is a bug of the
grader and keeps its traceback.

``grader/isolation/`` imports nothing of the rest of the grader, so its exceptions do not
derive from this one; none reaches a command: ``SandboxError`` is raised in the worker and comes
back as that test's grader error, and a missing layer is told by the engine as
``SandboxUnavailable``; ``WireError`` is a reply the trusted side refuses, a note on a test.
"""

from __future__ import annotations


class GraderError(Exception):
    """An expected failure; its message says what was found and how to fix it, in one line."""
