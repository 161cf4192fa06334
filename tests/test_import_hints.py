"""What a student reads when their module raised while being imported because of code at its
top level meant for their own runs: data files read, input() asked for, exit() called, their
functions tried. The hint comes from what raised and the traceback Python itself wrote, in
grading (a worker that has none of the student's files and no one typing) as in the check."""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import traceback
from pathlib import Path

import pytest

from grader.grading.engine import Options
from grader.results import top_level
from grader.results.recursion import frames

TOY = (Path(__file__).resolve().parent / "fixtures" / "course" / "reference" / "toy" /
       "solution.py").read_text()

FILES = "your code reads a file or folder while the module is imported"
INPUT = "your code calls input() while the module is imported"
EXIT = "your code calls exit() while the module is imported"
GUARD = 'under `if __name__ == "__main__":`'

READS = "import numpy as np\n_data = np.load('train.npy')\n"
CHDIR = "import os\nos.chdir('/home/someone/hw1')\n"
OPENS = "with open('data') as f:\n    rows = f.read()\n"
ASKS = "name = input('your name? ')\n"
EXITS = "import sys\nsys.exit(0)\n"
TRIES = "def add(a, b):\n    return a + [b]\n\n\nprint(add(1, 2))\n"
CLASS = "class Model:\n    size = undefined_name\n"
DECORATED = "def register(f):\n    raise KeyError(f.__name__)\n\n\n@register\ndef add(a, b):\n    return a + b\n"
TYPO = "import numpy as np\nx = np.arange(3) + undefined_name\n"


def _import_error(source: str, tmp_path: Path, stdin: str | None = "") -> tuple[str, str, str]:
    """(type, message, the module's frames as Python writes them) of importing ``source``."""
    path = tmp_path / "student.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("student_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    old_stdin, old_cwd = sys.stdin, Path.cwd()
    sys.stdin = io.StringIO(stdin) if stdin is not None else sys.stdin
    try:
        os.chdir(tmp_path)
        spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit too
        kept = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        return type(exc).__name__, str(exc), "".join(traceback.format_list(kept))
    finally:
        sys.stdin = old_stdin
        os.chdir(old_cwd)
    raise AssertionError("the module imported")


@pytest.mark.parametrize("source, told", [(READS, FILES), (CHDIR, FILES), (OPENS, FILES),
                                          (ASKS, INPUT), (EXITS, EXIT)])
def test_code_for_the_students_own_runs_is_told_to_go_under_the_main_guard(
        source: str, told: str, tmp_path: Path) -> None:
    text = top_level.hint(*_import_error(source, tmp_path))
    assert text.startswith(told), text
    assert GUARD in text and "runs whenever it is imported" in text, text


def test_a_function_tried_at_the_top_level_is_named_with_the_line_that_tried_it(
        tmp_path: Path) -> None:
    text = top_level.hint(*_import_error(TRIES, tmp_path))
    assert text.startswith("`print(add(1, 2))`, at the top level of your module, called add "
                           "while the module was imported, and it raised."), text
    assert GUARD in text


@pytest.mark.parametrize("source", [CLASS, DECORATED, TYPO])
def test_errors_in_defining_the_module_get_no_such_hint(source: str, tmp_path: Path) -> None:
    """A class body, a decorator, a name misspelt at the top level: the code is the module's
    own, and moving it under the guard would be wrong advice."""
    assert top_level.hint(*_import_error(source, tmp_path)) == ""


EXPORTED = ("#!/usr/bin/env python\n# coding: utf-8\n\n# In[1]:\n\n\n"
            "get_ipython().run_line_magic('matplotlib', 'inline')\n")


@pytest.mark.parametrize("source", [EXPORTED, "display(3)\n"])
def test_a_script_exported_from_a_notebook_is_told_what_its_ipython_lines_are(
        source: str, tmp_path: Path) -> None:
    text = top_level.hint(*_import_error(source, tmp_path))
    assert "exists only inside IPython (Jupyter). A script exported from a notebook" in text, text
    assert "delete those lines, or hand in the notebook itself" in text


def test_input_under_pytests_capture_is_told_as_input(tmp_path: Path) -> None:
    """pytest (the check) refuses input() with an OSError of its own, not an EOFError."""
    said = top_level.hint("OSError", "pytest: reading from stdin while output is captured!  "
                          "Consider using `-s`.", "")
    assert said.startswith(INPUT), said


def test_a_notebooks_frames_are_read_with_their_cells(tmp_path: Path) -> None:
    text = ('  File "toy.ipynb", cell 2, line 5, in <module>\n    print(add(1, 2))\n'
            '  File "toy.ipynb", cell 1, line 2, in add\n    return a + [b]\n')
    assert [(f, n) for f, _, n, _ in frames(text)] == [("toy.ipynb, cell 2", "<module>"),
                                                       ("toy.ipynb, cell 1", "add")]
    assert top_level.hint("TypeError", "x", text).startswith("`print(add(1, 2))`, at the top")


def _graded(engine, tmp_path: Path, name: str, source: str):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / name).write_text(source)
    return engine.grade(sub, tmp_path / "out", Options(topics=("toy",)))


@pytest.mark.parametrize("top, told", [(READS, FILES), (ASKS, INPUT), (EXITS, EXIT),
                                       ("print(add([1], 2))\n", "`print(add([1], 2))`, at the top"),
                                       (EXPORTED, "get_ipython() exists only inside IPython")])
def test_grading_tells_each_test_why_the_module_did_not_import(
        toy_engine, tmp_path: Path, top: str, told: str) -> None:
    """In a worker, which has no data files and closes the student's input: each test's message
    carries the hint between Python's words and the traceback; the topic's note stays one line."""
    result = _graded(toy_engine, tmp_path, "toy.py", TOY + "\n" + top)
    tests = [t for t in result.tests if t.topic == "toy"]
    assert tests and all(t.outcome != "passed" for t in tests)
    for t in tests:
        first, hint, *rest = t.message.splitlines()
        assert "while being imported" in first and hint.startswith(f"  Hint: {told}"), t.message
        assert (GUARD in hint) == ("IPython" not in told), t.message  # the guard is no help there
        assert rest and rest[0].lstrip().startswith("File "), t.message
    assert "\n" not in result.topic("toy").note and "Hint" not in result.topic("toy").note


def test_a_notebook_cell_that_loads_data_gets_the_hint_with_its_cell(
        toy_engine, tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    v4 = nbformat.v4
    book = v4.new_notebook(cells=[v4.new_code_cell(READS), v4.new_code_cell(TOY)])
    result = _graded(toy_engine, tmp_path, "toy.ipynb", nbformat.writes(book))
    message = next(t.message for t in result.tests if t.topic == "toy")
    assert f"  Hint: {FILES}" in message and 'File "toy.ipynb", cell 1, line 2' in message, message


TOPICS = ("linear_regression", "model_selection", "metrics", "rnn")


@pytest.mark.parametrize("line, message", [
    ("from .linear_regression import fit_ridge", "attempted relative import with no known "
     "parent package"),
    ("from . import linear_regression", "attempted relative import with no known parent package"),
    ("from assignments.linear_regression.linear_regression import fit_ridge as fr",
     "No module named 'assignments'"),
    ("import assignments.linear_regression.linear_regression as lr", "No module named 'assignments'"),
    ("from hw1.linear_regression.linear_regression import (fit_ridge,", "No module named 'hw1'"),
])
def test_another_topic_imported_through_a_package_path_is_told_to_import_it_by_name(
        line: str, message: str) -> None:
    frames_text = f'  File "model_selection.py", line 3, in <module>\n    {line}\n'
    text = top_level.topic_by_path("ModuleNotFoundError" if "No module" in message else
                                   "ImportError", message, frames_text, TOPICS)
    assert "reaches your linear_regression module through a package path" in text, text
    assert "write `import linear_regression`" in text


@pytest.mark.parametrize("line, message", [
    ("from keras.metrics import Precision", "No module named 'keras'"),  # a library's path
    ("from hw1.linear_regression import fit_ridge", "No module named 'hw1'"),
    ("from torch.nn.modules.rnn import LSTM", "torch is not available in this exercise: write it "
     "without torch"),
    ("import linear_regression", "No module named 'linear_regression'"),  # not handed in
])
def test_an_import_that_is_not_a_topic_by_its_package_path_gets_no_such_hint(
        line: str, message: str) -> None:
    frames_text = f'  File "model_selection.py", line 3, in <module>\n    {line}\n'
    assert top_level.topic_by_path("ModuleNotFoundError", message, frames_text, TOPICS) == ""


def test_grading_tells_a_package_path_to_another_topic_and_not_a_missing_package(
        toy_engine, tmp_path: Path) -> None:
    result = _graded(toy_engine, tmp_path, "toy.py",
                     "from assignments.other.other import *\n" + TOY)
    t = next(t for t in result.tests if t.topic == "toy")
    assert "Hint: `from assignments.other.other import *` reaches your other module through a " \
        "package path" in t.message, t.message
    assert "missing_package" not in t.flags and "does not have" not in t.message, t.message


def test_a_relative_import_of_a_helper_is_told_to_import_it_by_name() -> None:
    frames_text = '  File "model_selection.py", line 3, in <module>\n    from .helpers import f\n'
    text = top_level.topic_by_path("ImportError", "attempted relative import with no known "
                                   "parent package", frames_text, TOPICS)
    assert text.startswith("`from .helpers import f` is a relative import, which only a package "
                           "has"), text
    assert "write `import helpers` (or `from helpers import …`)" in text
