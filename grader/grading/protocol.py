"""The contract between a batch and an engine: the options of a grading, and the Engine and Job
protocols that the local engine and the Dask engine both implement."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from grader.results.model import SubmissionResult

# What a grading does with its result once the tests have run (writing the submission's files):
# where the engine can, the grading's own process does it, in parallel with the others.
Finish = Callable[[SubmissionResult], object]


@dataclass(frozen=True)
class Options:
    """What to grade and how; sent to Dask workers as a dict (``to_dict``/``from_dict``)."""

    topics: tuple[str, ...] | None = None  # None: every topic of the course
    kinds: tuple[str, ...] = ("hidden", "public")
    seed: int | None = None  # None: a fresh one, recorded in the result
    count_hidden: bool = False  # public tests only, and count the hidden ones

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Options:
        """The inverse of ``to_dict``, field by field of the class itself, so a field added
        later travels too; JSON turns tuples into lists, turned back here."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown grading options: {', '.join(unknown)}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in data.items()}
        return cls(**values)


def choose_seed(seed: int | None) -> int:
    """The seed of a grading: the one asked for, else a fresh one (recorded in the result)."""
    return seed if seed is not None else random.SystemRandom().randrange(2**31)


class Job(Protocol):
    """One submission being graded."""

    seed: int  # the seed it is graded with, chosen when it started
    pidfd: int  # a descriptor readable when a local grading child ends; -1 for none
    rc: int | None  # the grading child's exit status once it ended; None elsewhere
    deadline: float  # time.monotonic() past which the engine stops it; inf for none
    finished: bool  # whether ``start``'s finish was done with the result ``poll`` gives

    def ended(self) -> bool:
        """Whether grading is over (its result may still need collecting with ``poll``)."""

    def poll(self) -> SubmissionResult | None:
        """The result once grading is over, else None; raises if collecting it failed."""

    def kill(self) -> None:
        """Stop grading it."""

    def wait(self) -> SubmissionResult | None:
        """Wait for it to end (after ``kill``: collect the child and remove its work)."""


class Engine(Protocol):
    """Grades submissions: ``start`` one, then poll its job."""

    layers: tuple[str, ...]  # the sandbox layers in use
    sandboxed: bool

    def start(self, submission: Path, out: Path, options: Options, *,
              name: str | None = None, finish: Finish | None = None) -> Job:
        """Start grading ``submission`` (folder or .zip), writing its files into ``out``;
        ``finish`` is done with the result where the engine can (``Job.finished`` says)."""

    def prepare_children(self) -> None:
        """Before grading many submissions: what each grading child would otherwise do for
        itself, done once where they can share it."""

    def close(self) -> None:
        """Stop what the engine started (zygote, cluster client)."""
