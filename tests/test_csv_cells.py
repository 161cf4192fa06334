"""Every CSV the project writes keeps a formula-like cell (a student's id, name, file or message
starting with =, +, -, @, tab or carriage return) as text: one writer does it
(``grader.results.model.write_csv_atomic``), no module writes a CSV any other way, and each
file a batch or an exam writes is read back cell by cell."""

from __future__ import annotations

import ast
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader.classroom.batch import Batch
from grader.course import Course
from shared_engine import SharedEngine

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIX / "reference" / "toy" / "solution.py").read_text()
# Ids a student can choose (a folder's name, an LMS's name): each would run as a formula.
HOSTILE = ["=SUM(1+1)", "+cmd|' -C calc'!A0", "-2+3+cmd", "@SUM(1+1)",
           '=HYPERLINK("evil.example","open")']
BATCH_CSVS = ["gradebook.csv", "tests.csv", "canvas.csv", "moodle.csv", "similarity.csv"]
EXAM_CSVS = ["gradebook.csv", "tests.csv", "canvas.csv", "moodle.csv"]
# What the csv module may be used for outside the one writer: reading.
CSV_READING = {"reader", "DictReader", "Sniffer", "Error", "field_size_limit", "QUOTE_MINIMAL"}
WRITER = ROOT / "grader" / "results" / "model.py"


def _csv_writes(path: Path) -> list[str]:
    """Each place in ``path`` that could write a CSV: the csv module used for anything but
    reading, pandas' to_csv, a csv name imported under another."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "csv":
            found.append(f"{node.lineno}: from csv import ...")
        elif isinstance(node, ast.Import) and any(a.name == "csv" and a.asname for a in node.names):
            found.append(f"{node.lineno}: import csv as ...")
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "csv" \
                    and node.attr not in CSV_READING:
                found.append(f"{node.lineno}: csv.{node.attr}")
            elif node.attr in ("to_csv", "writerow", "writerows", "DictWriter"):
                found.append(f"{node.lineno}: .{node.attr}")
    return found


def test_no_module_writes_a_csv_but_the_one_writer() -> None:
    others = {str(p.relative_to(ROOT)): w for p in sorted((ROOT / "grader").rglob("*.py"))
              if p != WRITER and (w := _csv_writes(p))}
    assert others == {}, "write CSVs with grader.results.model.write_csv_atomic"
    assert sorted(w.split(": ")[1] for w in _csv_writes(WRITER)) == [".writerow", "csv.QUOTE_ALL",
                                                                     "csv.writer"]


def test_the_scan_sees_every_way_of_writing_one(tmp_path: Path) -> None:
    """The scan's own check: each way of writing a CSV is caught, reading is not."""
    p = tmp_path / "m.py"
    p.write_text("import csv\nimport csv as c\nfrom csv import writer\n"
                 "csv.writer(f)\ncsv.DictWriter(f, [])\ndf.to_csv('x')\nw.writerow([1])\n"
                 "csv.reader(f)\ncsv.DictReader(f)\n")
    assert len(_csv_writes(p)) == 6  # all but the plain import and the two readers


def _live(cells: list[str]) -> list[str]:
    """The cells a spreadsheet would run (a plain number such as -3 is a number, not one)."""
    out = []
    for c in cells:
        if not c.startswith(("=", "+", "-", "@", "\t", "\r")):
            continue
        try:
            float(c)
        except ValueError:
            out.append(c)
    return out


def _cells(path: Path) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8")))
            for cell in row]


@pytest.fixture(scope="module")
def batch_out(toy_engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("csv-cells")
    subs = base / "subs"
    for i, sid in enumerate(HOSTILE):
        (subs / sid).mkdir(parents=True)
        (subs / sid / "toy.py").write_text(TOY)
        (subs / sid / f"=cmd{i}.txt").write_text("x")  # a file note too
    (subs / "roster.csv").write_text("student,name,section,canvas_id,sis_id,login\n" + "".join(
        f'"{s.replace(chr(34), chr(34) * 2)}","=HYPERLINK(""x"")",@sec,+1{i}x,-x{i},=a{i}@b\n'
        for i, s in enumerate(HOSTILE)))
    Batch(course=Course(FIX), submissions=subs, out=base / "out", jobs=1, topics=("toy",),
          echo=lambda s: None, progress_stream=io.StringIO(), tty=False,
          engine_factory=lambda *a, **k: SharedEngine(toy_engine)).run()
    return base / "out"


@pytest.mark.parametrize("name", BATCH_CSVS)
def test_every_batch_csv_keeps_formulas_as_text(batch_out: Path, name: str) -> None:
    cells = _cells(batch_out / name)
    assert _live(cells) == []
    assert sum(c.startswith("'") for c in cells) >= len(HOSTILE), cells  # shown, as text


def test_a_batch_writes_no_csv_unchecked_here(batch_out: Path) -> None:
    assert sorted(p.name for p in batch_out.rglob("*.csv")) == sorted(BATCH_CSVS)


@pytest.fixture(scope="module")
def exam_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grader.commands.main import main

    d = tmp_path_factory.mktemp("exam-cells")
    with open(d / "roster.csv", "w", newline="") as f:
        f.write("student,name,canvas_id,sis_id,login,section\n")
        for i, s in enumerate(HOSTILE):
            quoted = s.replace('"', '""')
            f.write(f'"{quoted}","=HYPERLINK(""x"")",{1000 + i},-S{i},@l{i},+A\n')
    (d / "secret.txt").write_text("a-test-secret-of-enough-length-42\n")

    def run(*args: str | Path) -> None:
        got = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert got.exit_code == 0, got.output

    run("exam", "build", "midterm", "--roster", d / "roster.csv", "--out", d / "built",
        "--secret-file", d / "secret.txt", "--course", ROOT)
    answers = d / "answers"
    answers.mkdir()
    for i, key_file in enumerate(sorted((d / "built" / "keys").glob("*.json"))):
        key = json.loads(key_file.read_text())
        doc = {"exam": key["exam"], "student": key["student"], "paper": key["paper"],
               "answers": {q["id"]: dict(q["answers"]) for q in key["questions"]}}
        (answers / f"answers-{i}.json").write_text(json.dumps(doc))
    (answers / "stray.json").write_text(json.dumps({"student": "=unknown()", "answers": {}}))
    run("exam", "grade", "midterm", "--answers", answers, "--out", d / "graded",
        "--roster", d / "roster.csv", "--secret-file", d / "secret.txt", "--course", ROOT)
    return d / "graded"


@pytest.mark.parametrize("name", EXAM_CSVS)
def test_every_exam_csv_keeps_formulas_as_text(exam_out: Path, name: str) -> None:
    cells = _cells(exam_out / name)
    assert _live(cells) == []
    assert sum(c.startswith("'") for c in cells) >= len(HOSTILE), cells  # shown, as text


def test_an_exam_writes_no_csv_unchecked_here(exam_out: Path) -> None:
    assert sorted(p.name for p in exam_out.rglob("*.csv")) == sorted(EXAM_CSVS)


# Characters str.splitlines() breaks a line at, inside a quoted cell as well.
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"]


def test_a_cell_holding_a_line_break_reads_back_as_written(tmp_path: Path) -> None:
    """A student's id with a carriage return in it (a folder's name may hold one) made the
    similarity table's rows fall apart when read back, and a batch fail as it finished."""
    from grader.classroom.similarity import CSV_NAME, NOTES_NAME, read_notes, read_pairs
    from grader.results.model import csv_cell, read_csv_rows, write_csv_atomic

    ids = [f"eve{b}mallory" for b in LINE_BREAKS]
    write_csv_atomic(tmp_path / CSV_NAME, ["topic", "student_a", "student_b", "similarity"],
                     [["toy", sid, "bob", 0.9] for sid in ids])
    assert [p.student_a for p in read_pairs(tmp_path)] == [csv_cell(sid) for sid in ids]
    write_csv_atomic(tmp_path / NOTES_NAME, ["student", "note"], [[sid, "n"] for sid in ids])
    assert read_notes(tmp_path) == {csv_cell(sid): "n" for sid in ids}
    assert [r["student_b"] for r in read_csv_rows(tmp_path / CSV_NAME)] == ["bob"] * len(ids)


def test_an_instructors_table_keeps_a_line_break_in_a_quoted_cell(tmp_path: Path) -> None:
    from grader.classroom.layout import read_table

    path = tmp_path / "roster.csv"
    path.write_bytes('\ufeffstudent,name\r\nada,"Ada\rLovelace"\r\nben,"Ben\nBitdiddle"\r\n'
                     .encode())
    reader, header = read_table(path, "roster", ValueError)
    assert header == {"student": "student", "name": "name"}
    assert [(r["student"], r["name"]) for r in reader] == [("ada", "Ada\rLovelace"),
                                                          ("ben", "Ben\nBitdiddle")]


def test_no_module_reads_a_csv_split_into_lines_first() -> None:
    found = [f"{p.relative_to(ROOT)}:{n.lineno}" for p in sorted((ROOT / "grader").rglob("*.py"))
             for n in ast.walk(ast.parse(p.read_text(), str(p)))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and
             isinstance(n.func.value, ast.Name) and n.func.value.id == "csv" and n.args and
             "splitlines" in ast.unparse(n.args[0])]
    assert found == [], "read with grader.results.model.read_csv_rows (newline='')"
