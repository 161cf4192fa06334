"""The class's output files, one small writer per format.

A writer turns the class's rows into one :class:`Table` (its file's name, columns and rows, and
what the end-of-batch summary should say about it). ``WRITERS`` is the one list of them that
``grader batch``, its summary and the exam workflow all go through: adding a format (say a
Blackboard CSV) is one module here and one line in ``WRITERS``. Every table is written by the
one CSV writer (``grader.results.model.write_csv_atomic``), which keeps formulas out of cells.
"""

from __future__ import annotations

from pathlib import Path

from grader.classroom.writers import canvas, gradebook, moodle, tests
from grader.classroom.writers.table import Context, Table, Writer
from grader.results.model import write_csv_atomic

# Every format, in the order the summary names them: a new format is a module and a line here.
WRITERS: tuple[Writer, ...] = (gradebook.WRITER, tests.WRITER, canvas.WRITER, moodle.WRITER)


def write_all(out: Path, context: Context) -> tuple[list[Path], list[str]]:
    """Write every file of ``WRITERS``; returns their paths and the writers' notes."""
    paths: list[Path] = []
    notes: list[str] = []
    for writer in WRITERS:
        table = writer.table(context)
        write_csv_atomic(out / table.name, table.columns, table.rows)
        paths.append(out / table.name)
        notes.extend(table.notes)
    return paths, notes


def names() -> list[str]:
    """The files the writers write, in order."""
    return [w.name for w in WRITERS]

__all__ = ["WRITERS", "Context", "Table", "Writer", "names", "write_all"]
