"""What a writer of the class's output files is given and gives back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Context:
    """What every writer may draw on: the class's rows as the gradebook computes them."""

    rows: Sequence[Mapping[str, Any]]  # one per student (classroom.gradebook.student_rows)
    tests: Sequence[Mapping[str, Any]]  # one per student and test (gradebook.rows_per_test)
    assignment: str  # the LMS's name of the assignment (a column of the LMS imports)
    topics: Sequence[str]  # the topics (or an exam's questions), in order
    roster: bool = True  # whether a roster gave the students' LMS ids


@dataclass(frozen=True)
class Table:
    name: str  # the file, in the batch's folder
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    notes: Sequence[str] = ()  # lines for the summary, where there is something to say


class Writer(Protocol):
    @property
    def name(self) -> str:
        """The file it writes."""

    def table(self, context: Context) -> Table:
        """The file's contents for this class."""


def records(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
    """Rows of dicts laid out in ``columns`` (a missing key is an empty cell)."""
    return [[row.get(c) for c in columns] for row in rows]
