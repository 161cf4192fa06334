"""What a module that raised while being imported is told, where the cause is code at its top
level that belongs to the student's own runs: reading their data files, asking for input,
ending the program, calling their functions to try them, or a notebook's magics left in a
script exported from it; and another topic's module imported through a package path, where
grading puts every topic's module side by side, in no package.

Every line at a module's top level runs whenever it is imported: by ``grader check`` and, when
graded, in a worker whose folder holds only the submission's modules, on a machine without the
student's files. Such code belongs under ``if __name__ == "__main__":`` (true when the file is
run and in Jupyter, false when it is imported or graded).
"""

from __future__ import annotations

import re

from grader.results.recursion import frames

WHEN = ("Every line at the top level of a module (every code cell of a notebook) runs whenever "
        "it is imported: by `grader check`, and when it is graded, in a folder that holds only "
        "your .py files, on a machine without your data")
GUARD = ('put that code under `if __name__ == "__main__":`, which is true when you run the file '
         "yourself and in Jupyter, and false when it is imported or graded")
_FILES = ("FileNotFoundError", "NotADirectoryError", "IsADirectoryError")
# Names a notebook's code has without defining them: IPython's, which a script exported from a
# notebook (jupyter nbconvert --to script, "Download as .py") still calls for its magics.
IPYTHON_NAMES = ("get_ipython", "display")
_DEFINING = ("class ", "@")  # a class body or a decorator: part of defining, not a try-out


def hint(type_name: str, message: str, traceback_text: str) -> str:
    """The hint for a module that raised ``type_name`` (``message``) while being imported, from
    the student's frames of its traceback as Python writes them; "" where none applies. It
    names no line (the traceback below it does), so a notebook's needs no relocating."""
    ipython = next((n for n in IPYTHON_NAMES if f"name '{n}' is not defined" in message), None)
    if type_name == "NameError" and ipython:
        return (f"{ipython}() exists only inside IPython (Jupyter). A script exported from a "
                "notebook (Download as .py, jupyter nbconvert --to script) keeps the notebook's "
                "magics and shell escapes as get_ipython() calls, and display() calls: delete "
                "those lines, or hand in the notebook itself, whose magics grading leaves out")
    if type_name in _FILES:
        return (f"your code reads a file or folder while the module is imported. {WHEN}. To "
                f"load data or try your functions, {GUARD}")
    if (type_name == "EOFError" and "EOF when reading a line" in message) or \
            "reading from stdin" in message:  # input(): EOF in a worker, pytest's OSError here
        return (f"your code calls input() while the module is imported, and nobody types "
                f"then. {WHEN}. To ask for input, {GUARD}")
    if type_name == "SystemExit":
        return (f"your code calls exit() while the module is imported, which ends the import: "
                f"none of your functions can be graded. {WHEN}. To end your own runs early, "
                f"{GUARD}")
    found = frames(traceback_text)
    if len(found) >= 2 and found[0][2] == "<module>" and found[-1][2] != "<module>" and \
            not found[0][3].startswith(_DEFINING):
        code = found[0][3]
        shown = f"`{code if len(code) <= 60 else code[:59] + '…'}`" if code else "a line"
        return (f"{shown}, at the top level of your module, called {found[-1][2]} while the "
                f"module was imported, and it raised. {WHEN}. If that line tries your code, "
                f"{GUARD}")
    return ""


_FROM = re.compile(r"from\s+(\.*)([\w.]*)\s+import\s+\(?\s*([\w\s,]*)")
_IMPORT = re.compile(r"import\s+([\w.]+)")


def topic_by_path(type_name: str, message: str, traceback_text: str,
                  topics: tuple[str, ...] | list[str]) -> str:
    """The hint for a module whose import of a course topic's module named a package path: a
    relative import (``from .linear_regression import …``) or the release's own layout
    (``from assignments.linear_regression.linear_regression import fit_ridge``, or any path
    that names the topic twice in a row), or a relative import of a helper module of theirs:
    graded, the submission's modules lie in one folder, in no package. "" where the line that raised is no such import; a path that names a topic once
    (``keras.metrics``) may be a library's, which is said as such elsewhere."""
    if type_name not in ("ModuleNotFoundError", "ImportError"):
        return ""
    missing = re.fullmatch(r"No module named '([\w.]+)'", message)
    relative = "relative import" in message
    if not relative and not missing:  # a library taken away says so in other words
        return ""
    found = frames(traceback_text)
    code = found[-1][3] if found else ""
    names: list[str] = []
    if (m := _FROM.match(code)) and (m[1] or "." in m[2]):
        names = m[2].split(".") if m[2] else [n.split()[0] for n in m[3].split(",") if n.split()]
    elif (m := _IMPORT.match(code)) and "." in m[1]:
        names = m[1].split(".")
    topic = next((n for n in names if n in topics), None)
    layout = bool(names) and (names[0] == "assignments" or any(
        a == b for a, b in zip(names, names[1:])))
    shown = code if len(code) <= 80 else code[:79] + "…"
    if relative and names and topic is None:  # a helper module of theirs
        return (f"`{shown}` is a relative import, which only a package has. When it is graded, "
                f"your modules lie in one folder beside each other, in no package: write "
                f"`import {names[0]}` (or `from {names[0]} import …`), which `grader check` "
                "finds too")
    if topic is None or not (relative or layout):
        return ""
    return (f"`{shown}` reaches your {topic} module through a package path. When it is "
            f"graded, each topic's module lies in one folder beside the others, in no package: "
            f"write `import {topic}` (or `from {topic} import …`), which `grader check` finds "
            "too")
