"""canvas.csv: the class's final scores in the layout of Canvas's gradebook import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader.classroom.writers.table import Context, Table, records

CANVAS = "canvas.csv"
IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def blank(row: Mapping[str, Any]) -> bool:
    """A row that posts no grade: its grading broke, or other submissions claim its student."""
    return row["status"] in ("error", "not_graded") or bool(row.get("flag_duplicate"))


def canvas_rows(rows: Sequence[Mapping[str, Any]], assignment: str) -> list[dict[str, Any]]:
    """Canvas's gradebook import: identity columns from the roster and one assignment column.

    A row whose grading broke, or one of several submissions claiming the same student, is left
    blank (Canvas then keeps the grade it has) rather than posting a score that may be wrong;
    the gradebook's error and duplicate columns say why.
    """
    return [{"Student": row["name"] or row["student"], "ID": row["canvas_id"],
             "SIS User ID": row["sis_id"], "SIS Login ID": row["login"],
             "Section": row["section"], assignment: "" if blank(row) else row["final"]}
            for row in rows]


@dataclass(frozen=True)
class Canvas:
    name: str = CANVAS

    def table(self, context: Context) -> Table:
        columns = [*IDENTITY, context.assignment]
        notes = []
        broke = sum(1 for r in context.rows if r["status"] in ("error", "not_graded"))
        if broke:
            notes.append(f"{broke} student{'s have' if broke > 1 else ' has'} no grade in "
                         f"{self.name}: grading broke or has not run (see the error column "
                         "of the gradebook)")
        if not context.roster:
            notes.append(f"no roster: {self.name} has no Canvas or SIS ids to match students "
                         "by (give --roster FILE)")
        return Table(self.name, columns,
                     records(canvas_rows(context.rows, context.assignment), columns), notes)


WRITER = Canvas()
