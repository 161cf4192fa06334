"""What a module that raised while being imported is told, where the cause is code at its top
level that belongs to the student's own runs: reading their data files, asking for input,
ending the program, calling their functions to try them, or a notebook's magics left in a
script exported from it.

Every line at a module's top level runs whenever it is imported: by ``grader check`` and, when
graded, in a worker whose folder holds only the submission's modules, on a machine without the
student's files. Such code belongs under ``if __name__ == "__main__":`` (true when the file is
run and in Jupyter, false when it is imported or graded).
"""

from __future__ import annotations

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
