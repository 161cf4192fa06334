"""tests.csv: one row per student and test."""

from __future__ import annotations

from dataclasses import dataclass

from grader.classroom import gradebook
from grader.classroom.writers.table import Context, Table, records

COLUMNS = ("student", "topic", "test", "kind", "outcome", "score", "max_score", "duration", "seed",
           "flags", "functions", "message")


@dataclass(frozen=True)
class Tests:
    name: str = gradebook.TESTS

    def table(self, context: Context) -> Table:
        return Table(self.name, COLUMNS, records(context.tests, COLUMNS))


WRITER = Tests()
