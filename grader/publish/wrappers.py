"""The library functions that call a topic's banned functions by name: what its bans leave open.

The trip-wire takes a library frame that names a banned function for the library's own use
(``grader.isolation.tripwire``): ``nn.Linear`` initialising its weights with ``torch.nn.init``
must keep working where ``torch.nn.init`` is banned. So an allowed library function that calls
a banned one and hands its work back (``numpy.ma.polyfit``, which calls ``numpy.polyfit``) does
the banned work for the student, unless it is banned too. This finds every such caller in the
installed libraries, by the static scan the grader runs on student code (``grading.banned``:
names resolved through each file's imports), without importing anything, so that a course's
bans can be checked against them: each caller is either banned with what it calls or does none
of the exercise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from grader.grading import banned


@dataclass(frozen=True, order=True)
class Caller:
    name: str  # the module and its top-level function or class: "numpy.ma.extras.polyfit"
    calls: str  # the banned name it calls: "numpy.polyfit"
    module: str  # "numpy.ma.extras"


def callers(patterns: Sequence[str], packages: Iterable[Path]) -> list[Caller]:
    """The top-level functions and classes of the modules of ``packages`` (installed package
    folders) that call a name under ``patterns`` (banned calls), outside the libraries' tests;
    one per function and banned name. Callers inside a pattern's own modules are listed too:
    ``outside`` leaves them out for one topic's patterns."""
    # A file that calls one names its last part (``init.xavier_uniform_``: init), whole where
    # the pattern has no wildcard in it.
    words = {(p.split(".")[-1].split("*")[0].split("?")[0].split("[")[0],
              not any(ch in p.split(".")[-1] for ch in "*?[")) for p in patterns}
    pick = re.compile("|".join(rf"\b{re.escape(w)}" + (r"\b" if whole else "")
                               for w, whole in sorted(words) if w))
    found: set[Caller] = set()
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            module = _module(package, path)
            if _is_test(module):
                continue
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            if not pick.search(text):
                continue
            for finding in banned.calls(text, tuple(patterns)):
                if finding.function is not None:
                    found.add(Caller(f"{module}.{finding.function}", finding.name, module))
    return sorted(found)


def outside(found: Iterable[Caller], patterns: Sequence[str]) -> list[Caller]:
    """The callers of ``found`` that call a name under ``patterns`` from a module that is not
    under one of them (a banned module's own calls are banned with it)."""
    return [c for c in found if any(banned.matches(c.calls, p) for p in patterns)
            and not any(banned.matches(c.module, p) for p in patterns)]


def _module(package: Path, path: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_test(module: str) -> bool:
    return any(part in ("tests", "testing", "test") for part in module.split("."))
