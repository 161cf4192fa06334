"""Notebook submissions: code cells staged as the topic's module (read, never run, on the trusted
side), IPython lines dropped with a note, messages pointing at cells, and a .py preferred."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

from grader.course import Course
from grader.grading.notebook import convert
from grader.grading.engine import Options
from grader.grading.submission import stage

v4 = nbformat.v4

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
SEED = 20261121


def _write(path: Path, cells: list) -> Path:
    nb = v4.new_notebook()
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _solution_cells() -> list:
    """The linear_regression reference cut into cells at each function, as a student's notebook
    would be, with a Markdown cell, magics and shell escapes around it."""
    text = COURSE.solution("linear_regression").read_text()
    parts = text.split("\ndef ")
    code = [parts[0]] + ["def " + p for p in parts[1:]]
    return [
        v4.new_markdown_cell("# Linear regression\nMy answers."),
        v4.new_code_cell("%matplotlib inline\n!pip install numpy\n" + code[0]),
        *[v4.new_code_cell(c) for c in code[1:]],
        v4.new_code_cell("%%timeit\nfit_linear(np.ones((3, 1)), np.ones(3))"),
        v4.new_code_cell("if True:\n    %time x = 1\n"),
    ]


# ---------------------------------------------------------------------------- conversion


def test_magics_and_shell_escapes_are_dropped_and_named(tmp_path: Path) -> None:
    nb = _write(tmp_path / "t.ipynb", [
        v4.new_markdown_cell("intro"),
        v4.new_code_cell("import os\n%load_ext autoreload\n!ls -l"),
        v4.new_code_cell('DOC = """\n% of the data\n!important\n"""\nX = 1'),
        v4.new_code_cell("%%bash\necho hi\nexit 1"),
        v4.new_code_cell("def f():\n    !echo inside\n    return 2"),
    ])
    module = convert(nb)
    assert [(c, n, t) for c, n, t in module.dropped] == [
        (2, 2, "%load_ext autoreload"), (2, 3, "!ls -l"), (4, 1, "%%bash"), (5, 2, "!echo inside")]
    namespace: dict = {}
    exec(compile(module.source, "t.py", "exec"), namespace)  # the test's own notebook
    # A "%" or "!" inside a string is text, and stays.
    assert namespace["DOC"] == "\n% of the data\n!important\n"
    assert namespace["f"]() == 2 and namespace["X"] == 1
    note = " ".join(module.notes)
    assert "%load_ext autoreload" in note and "!ls -l" in note and "cell 4, line 1: %%bash" in note
    assert not module.syntax_error


def test_a_cell_magic_that_runs_its_code_in_the_notebook_keeps_it(tmp_path: Path) -> None:
    """%%time, %%capture and %%prun run the cell's code in the notebook's namespace, so what it
    defines is defined after it, in Jupyter as in grading; %%timeit runs it inside a function,
    %%writefile and %%bash do not run it as Python: their cells stay dropped."""
    nb = _write(tmp_path / "t.ipynb", [
        v4.new_code_cell("%%time\ndef f():\n    return 2\n%matplotlib inline\nX = f()"),
        v4.new_code_cell("%%capture out\nY = 3\nprint(Y)"),
        v4.new_code_cell("%%prun -s cumulative\nZ = 4"),
        v4.new_code_cell("%%timeit\nW = 5"),
        v4.new_code_cell("%%writefile helper.py\nV = 6"),
        v4.new_code_cell("%time U = f() + 5\nif True:\n    %time T = U + 1\n%time for\n%timeit S = 1"),
    ])
    module = convert(nb)
    namespace: dict = {}
    exec(compile(module.source, "t.py", "exec"), namespace)  # the test's own notebook
    assert (namespace["f"](), namespace["X"], namespace["Y"], namespace["Z"]) == (2, 2, 3, 4)
    assert "W" not in namespace and "V" not in namespace and "S" not in namespace
    assert (namespace["U"], namespace["T"]) == (7, 8)  # %time runs its statement where it is
    assert [(c, n, t) for c, n, t in module.dropped] == [
        (1, 1, "%%time (the cell's code was kept)"), (1, 4, "%matplotlib inline"),
        (2, 1, "%%capture out (the cell's code was kept)"),
        (3, 1, "%%prun -s cumulative (the cell's code was kept)"),
        (4, 1, "%%timeit"), (5, 1, "%%writefile helper.py"),
        (6, 1, "%time U = f() + 5 (its code was kept)"), (6, 3, "%time T = U + 1 (its code was kept)"),
        (6, 4, "%time for"), (6, 5, "%timeit S = 1")]
    assert module.locate(module.source.splitlines().index("X = f()") + 1) == (1, 5)


def test_module_lines_map_back_to_cells(tmp_path: Path) -> None:
    nb = _write(tmp_path / "t.ipynb", [
        v4.new_code_cell("a = 1\nb = 2"),
        v4.new_markdown_cell("text"),
        v4.new_code_cell("c = 3\n\nd = 4\n"),
    ])
    module = convert(nb)
    lines = module.source.splitlines()
    for text, spot in (("b = 2", (1, 2)), ("d = 4", (3, 3)), ("a = 1", (1, 1))):
        assert module.locate(lines.index(text) + 1) == spot
    assert module.locate(1) is None  # the header


def test_syntax_error_is_placed_in_its_cell(tmp_path: Path) -> None:
    nb = _write(tmp_path / "t.ipynb", [
        v4.new_code_cell("x = 1"),
        v4.new_markdown_cell("text"),
        v4.new_code_cell("y = 2\ndef broken(:\n    pass"),
        v4.new_code_cell("z = (("),
    ])
    module = convert(nb)
    assert module.syntax_error.startswith("cell 3, line 2:")  # the first one


def test_a_file_that_is_not_a_notebook_is_not_graded_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "linear_regression.ipynb").write_text("{ not json")
    staged = stage(tmp_path, tmp_path / "work", ["linear_regression"])
    assert staged.module("linear_regression") is None
    assert staged.notes["linear_regression"][0].startswith("unreadable notebook (not valid JSON")


def test_py_wins_over_a_notebook_of_the_same_topic_and_says_so(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    _write(sub / "linear_regression.ipynb", [v4.new_code_cell("X = 'notebook'")])
    (sub / "linear_regression.py").write_text("X = 'module'\n")
    staged = stage(sub, tmp_path / "work", ["linear_regression"])
    assert staged.module("linear_regression").read_text() == "X = 'module'\n"
    assert not staged.notebooks
    (note,) = staged.notes["linear_regression"]
    assert "graded linear_regression.py and ignored the notebook" in note


# ----------------------------------------------------------------------- through the engine


def _grade(engine, sub: Path, tmp_path: Path, topic: str = "linear_regression"):
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,), seed=SEED))
    assert not result.error, result.error
    return result


def test_notebook_with_magics_gets_full_marks(engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    _write(sub / "linear_regression.ipynb", _solution_cells())
    result = _grade(engine, sub, tmp_path)
    t = result.topic("linear_regression")
    assert t.submitted and t.max_score > 0 and t.score == t.max_score, [
        (x.name, x.message) for x in result.tests if x.outcome != "passed"]
    notes = " ".join(result.notes)
    assert "graded the code cells of linear_regression.ipynb" in notes
    assert "%matplotlib inline" in notes and "!pip install numpy" in notes and "%%timeit" in notes


def test_notebook_with_a_syntax_error_points_at_the_cell(engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    cells = _solution_cells()
    cells[3] = v4.new_code_cell("x = 1\ndef fit_linear(X, y:\n    return X")
    _write(sub / "linear_regression.ipynb", cells)
    result = _grade(engine, sub, tmp_path)
    t = result.topic("linear_regression")
    assert t.score == 0
    assert "linear_regression.ipynb has a syntax error in cell 4, line 2" in t.note
    messages = [x.message for x in result.tests]
    assert all("cell 4, line 2" in m for m in messages), messages[0]
    assert not any("linear_regression.py" in m for m in messages)  # the generated file's name


def test_notebook_banned_call_points_at_the_cell(engine, tmp_path: Path) -> None:
    assert "numpy.polyfit" in COURSE.config("linear_regression").banned
    sub = tmp_path / "sub"
    cells = _solution_cells()
    assert cells[2].source.startswith("def fit_univariate")
    cells[2] = v4.new_code_cell("import numpy\n\n\ndef fit_univariate(x, y):\n"
                                "    a, b = numpy.polyfit(x, y, 1)\n    return float(a), float(b)")
    _write(sub / "linear_regression.ipynb", cells)
    result = _grade(engine, sub, tmp_path)
    found = [x.message for x in result.tests if "not allowed in this exercise" in x.message]
    assert found and all("(cell 3, line 5" in m for m in found), found[:1]


def test_a_function_inside_a_class_is_placed_in_its_cell(engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    cells = _solution_cells()
    assert cells[2].source.startswith("def fit_univariate")
    cells[2] = v4.new_code_cell("import numpy\n\n\nclass Model:\n    " +
                                cells[2].source.replace("\n", "\n    "))
    _write(sub / "linear_regression.ipynb", cells)
    result = _grade(engine, sub, tmp_path)
    found = [x.message for x in result.tests if "there is no function fit_univariate" in x.message]
    assert found and all("Hint: your fit_univariate is a method of class Model (cell 3, line 4)"
                         in m for m in found), found[:1]


def test_both_files_grade_the_py_and_say_so(engine, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    _write(sub / "linear_regression.ipynb", _solution_cells())
    (sub / "linear_regression.py").write_text(COURSE.stub("linear_regression").read_text())
    result = _grade(engine, sub, tmp_path)
    assert result.topic("linear_regression").score == 0  # the stub .py, not the notebook
    assert any("both linear_regression.py and linear_regression.ipynb were submitted: graded "
               "linear_regression.py" in n for n in result.notes), result.notes


def test_grader_grade_gives_a_notebook_full_marks(tmp_path: Path) -> None:
    sub = tmp_path / "alice"
    _write(sub / "linear_regression.ipynb", _solution_cells())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(sub), "--out", str(tmp_path / "out"),
         "--topic", "linear_regression", "--course", str(ROOT)],
        capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    topic = doc["extra_data"]["topics"]["linear_regression"]
    assert topic["max_score"] > 0 and topic["score"] == topic["max_score"], proc.stdout
