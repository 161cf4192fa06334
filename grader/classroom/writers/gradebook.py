"""gradebook.csv: one row per student, every column the gradebook computes."""

from __future__ import annotations

from dataclasses import dataclass

from grader.classroom import gradebook
from grader.classroom.writers.table import Context, Table, records


@dataclass(frozen=True)
class Gradebook:
    name: str = gradebook.GRADEBOOK

    def table(self, context: Context) -> Table:
        columns = gradebook.columns(context.topics)
        return Table(self.name, columns, records(context.rows, columns))


WRITER = Gradebook()
