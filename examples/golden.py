"""The demo class's recorded grades (``expected_grades.csv``): read a gradebook the same way and
say where it differs. Used by the suite (tests/test_demo.py) and by bench/host_check.py."""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = ROOT / "examples" / "expected_grades.csv"
# Speed-graded tests score the student's time against the baseline's, measured in the same run
# on a shared machine: a topic with such tests may move by this many points between runs.
SPEED_TOPICS = {"performance": 2.0}


def is_topic(column: str) -> bool:
    return (ROOT / "assignments" / column / f"{column}.py").is_file()


def grades(gradebook: Path) -> list[dict[str, str]]:
    """Per student: status, each topic's points and the flags raised, from a gradebook.csv."""
    with gradebook.open(newline="") as f:
        rows = list(csv.DictReader(f))
    topics = [c for c in rows[0] if c not in ("student",) and rows[0][c] and is_topic(c)]
    out = []
    for r in rows:
        flags = sorted(c.removeprefix("flag_") for c in r if c.startswith("flag_") and
                       r[c] == "True")
        out.append({"student": r["student"], "status": r["status"],
                    **{t: f"{float(r[t]):g}" for t in topics}, "flags": ";".join(flags)})
    return out


def expected() -> dict[str, dict[str, str]]:
    with EXPECTED.open(newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def record(graded: list[dict[str, str]]) -> None:
    """Write ``graded`` as the recorded grades (on purpose: a grade of the demo changed)."""
    with EXPECTED.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(graded[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(graded)


def differences(graded: list[dict[str, str]]) -> list[str]:
    """Each cell where ``graded`` is not the recorded grade (speed topics within their band)."""
    want_all = expected()
    got = {r["student"]: r for r in graded}
    if sorted(got) != sorted(want_all):
        return [f"students {sorted(got)}, recorded {sorted(want_all)}"]
    found = []
    for student, want in want_all.items():
        for column, value in want.items():
            have = got[student].get(column)
            band = SPEED_TOPICS.get(column)
            if band is not None and have is not None:
                if abs(float(have) - float(value)) > band:
                    found.append(f"{student} {column}: {have}, recorded {value} (±{band})")
            elif have != value:
                found.append(f"{student} {column}: {have}, recorded {value}")
    return found
