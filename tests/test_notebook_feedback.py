"""What a notebook submission is told: an unreadable notebook is named as such (never "not
submitted") on every page and line, and the notes of a notebook read (cells graded, magics
dropped) reach the report and the command line, with messages naming the notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.classroom.gradebook import ClassEntry, student_row
from grader.classroom.late import LatePolicy
from grader.classroom.overview import flag_detail
from grader.course import Course
from grader.grading.engine import Options
from grader.grading.notebook import NotebookModule, relocate, read_notebook
from grader.grading.submission import stage
from grader.results.files import write_outputs

v4 = nbformat.v4
ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
TOPIC = "linear_regression"
SEED = 20261123

# (file's bytes, the start of the reason given)
BROKEN = {
    "bad_json": (b'{ "cells": [ ,', "not valid JSON: Expecting value at line 1"),
    "empty_file": (b"", "the file is empty"),
    "blank_file": (b"\n  \n", "the file is empty"),
    "wrong_nbformat": (b'{"nbformat": 9, "nbformat_minor": 0, "metadata": {}, "cells": []}',
                       "nbformat version 9 is not one this grader reads"),
    "json_not_a_notebook": (b'[1, 2, 3]', "JSON, but not a notebook"),
    "not_utf8": (b'{"nbformat": 4, "cells": ["\xff\xfe"]}', "not UTF-8 text"),
    "invalid_cells": (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "x"}',
                      "nbformat cannot read it (ValidationError"),
}


def _notebook(path: Path, cells: list) -> Path:
    nb = v4.new_notebook()
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# ------------------------------------------------------------------- an unreadable notebook


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_an_unreadable_notebook_is_staged_as_unreadable_with_its_reason(
        tmp_path: Path, case: str) -> None:
    data, reason = BROKEN[case]
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / f"{TOPIC}.ipynb").write_bytes(data)
    with pytest.raises(ValueError, match="^" + reason.replace("(", r"\(")):
        read_notebook(sub / f"{TOPIC}.ipynb")
    staged = stage(sub, tmp_path / "work", [TOPIC])
    assert staged.module(TOPIC) is None
    assert staged.notebooks[TOPIC].unreadable.startswith(reason)
    (note,) = staged.notes[TOPIC]
    assert note.startswith(f"unreadable notebook ({reason}")
    # The notebook is the topic's file, told once: not "not graded: ... graded instead".
    assert staged.files == [], staged.files


def test_a_notebook_without_code_cells_is_readable(tmp_path: Path) -> None:
    path = _notebook(tmp_path / f"{TOPIC}.ipynb", [v4.new_markdown_cell("only words")])
    assert read_notebook(path)["cells"][0]["cell_type"] == "markdown"


def _grade(engine, sub: Path, out: Path):
    result = engine.grade(sub, out, Options(topics=(TOPIC,), seed=SEED))
    assert not result.error, result.error
    return result


def test_an_unreadable_notebook_says_so_on_every_page(engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / f"{TOPIC}.ipynb").write_bytes(BROKEN["bad_json"][0])
    result = _grade(engine, sub, tmp_path / "out")
    said = "unreadable notebook (not valid JSON: Expecting value at line 1, column 14)"
    topic = result.topic(TOPIC)
    assert topic.submitted and topic.note == said and topic.score == 0
    assert "not_submitted" not in topic.flags
    assert result.tests and all(t.message.startswith(said) and "not_submitted" not in t.flags
                                for t in result.tests)
    assert f"{TOPIC}: {said}" in result.notes
    assert not any("not submitted" in n or "graded instead" in n for n in result.notes)

    write_outputs(result, tmp_path / "out")
    for page in ("report.html", "instructor.html"):
        text = (tmp_path / "out" / page).read_text()
        assert said in text and "was not submitted" not in text, page
    gradescope = json.loads((tmp_path / "out" / "results.json").read_text())
    assert said in gradescope["output"]

    row = student_row(ClassEntry("ann", "graded", result), [TOPIC], LatePolicy(), {})
    assert not row["flag_not_submitted"] and row["missing_topics"] == ""
    assert row["flag_import_error"] and said in row["import_errors"]
    assert said in flag_detail(row, "import_error")  # the class overview's flag list


def test_grader_grade_names_an_unreadable_notebook(tmp_path: Path) -> None:
    sub = tmp_path / "ann"
    sub.mkdir()
    (sub / f"{TOPIC}.ipynb").write_bytes(BROKEN["wrong_nbformat"][0])
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(sub), "--out", str(tmp_path / "out"),
         "--topic", TOPIC, "--course", str(ROOT)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{TOPIC}: 0 / " in proc.stdout
    assert "(unreadable notebook (nbformat version 9 is not one this grader reads" in proc.stdout


# --------------------------------------------------------------- the notes of a notebook read


def _magic_notebook(sub: Path, first: str) -> None:
    _notebook(sub / f"{TOPIC}.ipynb", [
        v4.new_markdown_cell("# Linear regression"),
        v4.new_code_cell(f"%matplotlib inline\n!pip install numpy\n{first}"),
        v4.new_code_cell(COURSE.solution(TOPIC).read_text()),
    ])


def test_notebook_notes_reach_the_report_and_messages_name_the_notebook(
        engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    _magic_notebook(sub, "import not_a_package_of_the_course")
    result = _grade(engine, sub, tmp_path / "out")
    messages = [t.message for t in result.tests] + [result.topic(TOPIC).note, *result.notes]
    assert not any(f"{TOPIC}.py" in m for m in messages), [m for m in messages
                                                            if f"{TOPIC}.py" in m][:1]
    assert f"{TOPIC}.ipynb imports not_a_package_of_the_course" in result.topic(TOPIC).note
    write_outputs(result, tmp_path / "out")
    for page in ("report.html", "instructor.html"):
        text = (tmp_path / "out" / page).read_text()
        assert f"graded the code cells of {TOPIC}.ipynb (cells 2, 3;" in text, page
        assert "cell 2, line 1: %matplotlib inline" in text and "!pip install numpy" in text


def test_grader_grade_prints_the_notebook_notes(tmp_path: Path) -> None:
    sub = tmp_path / "ann"
    _magic_notebook(sub, "import numpy as np")
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(sub), "--out", str(tmp_path / "out"),
         "--topic", TOPIC, "--course", str(ROOT)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"note: graded the code cells of {TOPIC}.ipynb" in proc.stdout
    assert "note: dropped IPython magics" in proc.stdout and "%matplotlib inline" in proc.stdout


def test_every_mention_of_the_generated_module_names_the_notebook() -> None:
    module = NotebookModule(f"{TOPIC}.ipynb", "", ((4, 2, 3),))
    text = (f"{TOPIC}.py imports scipy, which ...\nFile \"/w/student/{TOPIC}.py\", line 5, in f\n"
            f"see {TOPIC}.py; other_{TOPIC}.py and model_selection.py stay")
    out = relocate(text, TOPIC, module)
    assert out == (f"{TOPIC}.ipynb imports scipy, which ...\nFile \"{TOPIC}.ipynb\", cell 2, "
                   f"line 2, in f\nsee {TOPIC}.ipynb; other_{TOPIC}.py and model_selection.py "
                   "stay")


def test_a_ci_annotation_names_an_unreadable_notebook(tmp_path: Path) -> None:
    from grader.ci import run_ci

    repo = tmp_path / "repo"
    (repo / "assignments" / "vec").mkdir(parents=True)
    (repo / "assignments" / "vec" / "vec.ipynb").write_text("{ not json")
    (repo / "assignments" / "vec" / "test_public.py").write_text(
        "def test_one(student):\n    assert student.one() == 1\n")
    lines: list[str] = []
    run_ci(Course(repo), tmp_path / "report", environ={"GITHUB_ACTIONS": "true",
                                                       "GITHUB_WORKSPACE": str(repo)},
           echo=lines.append)
    notes = [n for n in lines if n.startswith("::error")]
    assert len(notes) == 1 and "title=vec%3A unreadable notebook (not valid JSON" in notes[0], lines
    assert "not submitted" not in notes[0]


def test_a_ci_annotation_for_a_notebook_says_which_tests_failed(tmp_path: Path) -> None:
    from grader.ci import run_ci

    repo = tmp_path / "repo"
    (repo / "assignments" / "vec").mkdir(parents=True)
    _notebook(repo / "assignments" / "vec" / "vec.ipynb", [v4.new_code_cell(
        "def one():\n    return 2")])
    (repo / "assignments" / "vec" / "test_public.py").write_text(
        "def test_one(student):\n    assert student.one() == 1, 'one() should be 1'\n")
    lines: list[str] = []
    run_ci(Course(repo), tmp_path / "report", environ={"GITHUB_ACTIONS": "true",
                                                       "GITHUB_WORKSPACE": str(repo)},
           echo=lines.append)
    notes = [n for n in lines if n.startswith("::error")]
    assert len(notes) == 1 and "title=vec%3A 1 test failed::test_one: " in notes[0], lines
    assert "one() should be 1" in notes[0] and "not submitted" not in notes[0]
