"""moodle.csv: the class's final scores in the layout of Moodle's gradebook import (CSV file).

Moodle's "Import > CSV file" asks which column identifies the user ("Map from": ID number,
email address, ...) and which grade item each other column goes to ("Map to"). Two of its rules
shape this file: a row whose identifier Moodle cannot find stops the whole import, and an empty
or "-" grade clears the grade that was there. So a student without an identifier is left out,
and so is one whose grading broke (their grade in Moodle stays as it is).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader.classroom.writers.table import Context, Table, records
from grader.classroom.writers.canvas import blank

MOODLE = "moodle.csv"
ID_NUMBER = "ID number"  # Moodle's user field "idnumber": the roster's sis_id
EMAIL = "Email address"  # Moodle's user field "email": the roster's login when it is an address
COLUMNS = ("Full name", ID_NUMBER, EMAIL)


def moodle_rows(rows: Sequence[Mapping[str, Any]], assignment: str
                ) -> tuple[list[dict[str, Any]], list[str]]:
    """The import's rows, and the students left out of it (no identifier, or no grade)."""
    out: list[dict[str, Any]] = []
    left_out: list[str] = []
    for row in rows:
        email = row["login"] if "@" in str(row["login"]) else ""
        if blank(row) or not (row["sis_id"] or email):
            left_out.append(row["student"])
            continue
        out.append({"Full name": row["name"] or row["student"], ID_NUMBER: row["sis_id"],
                    EMAIL: email, assignment: row["final"]})
    return out, left_out


@dataclass(frozen=True)
class Moodle:
    name: str = MOODLE

    def table(self, context: Context) -> Table:
        columns = [*COLUMNS, context.assignment]
        rows, _ = moodle_rows(context.rows, context.assignment)
        no_id = [r["student"] for r in context.rows if not blank(r) and not
                 (r["sis_id"] or "@" in str(r["login"]))]
        notes = [f"{self.name} leaves out {len(no_id)} student(s) with neither an sis_id nor an "
                 f"email login in the roster: {', '.join(no_id[:5])}"] \
            if no_id and context.roster else []
        return Table(self.name, columns, records(rows, columns), notes)


WRITER = Moodle()
