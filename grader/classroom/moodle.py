"""moodle.csv: the class's final scores in the layout of Moodle's gradebook import (CSV file).

Moodle's "Import > CSV file" asks which column identifies the user ("Map from": ID number,
email address, ...) and which grade item each other column goes to ("Map to"). Two of its rules
shape this file: a row whose identifier Moodle cannot find stops the whole import, and an empty
or "-" grade clears the grade that was there. So a student without an identifier is left out,
and so is one whose grading broke (their grade in Moodle stays as it is).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
        if row["status"] in ("error", "not_graded") or row.get("flag_duplicate") or \
                not (row["sis_id"] or email):
            left_out.append(row["student"])
            continue
        out.append({"Full name": row["name"] or row["student"], ID_NUMBER: row["sis_id"],
                    EMAIL: email, assignment: row["final"]})
    return out, left_out
