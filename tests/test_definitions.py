"""A function the tests call that is not at the top level of the student's module: where it
stands instead (a method, a function inside another, under the main guard or another block, a
value in its place, a name that is almost the statement's), read from the source, never run,
and said in grading, hidden tests included, and in the check."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.results import definitions
from toy_grading import REFERENCE, SCALE, failed_hidden, grade_toy


@pytest.mark.parametrize("source, said", [
    ("class Layer:\n    def scale(self, x, c):\n        return c * x\n",
     "your scale is a method of class Layer (line 1): the tests call a function of the module, "
     "so define scale at the top level, outside any class (and without self)"),
    ("def main():\n    def scale(x, c):\n        return c * x\n",
     "your scale is defined inside main (line 1), so it exists only while main runs: define "
     "scale at the top level"),
    ("import numpy as np\n\nif __name__ == '__main__':\n    def scale(x, c):\n        return c * x\n",
     'your scale is defined under `if __name__ == "__main__":` (line 3), which is false when '
     "the module is imported, as it is when graded: define it at the top level, above that "
     "block"),
    ("try:\n    import cupy\n    def scale(x, c):\n        return c * x\nexcept ImportError:\n"
     "    pass\n",
     "your scale is defined inside a `try` statement (line 1), which did not define it when "
     "the module was imported: define scale at the top level, outside any block"),
    ("DEBUG = False\nif DEBUG:\n    pass\nelse:\n    for _ in range(0):\n        def scale(x, c):\n"
     "            return c * x\n",
     "your scale is defined inside an `if` statement (line 2)"),
    ("def scale(x, c):\n    return c * x\n\nscale = 3.0\n",
     "your module assigns scale a value (line 4), which takes the place of a function of that "
     "name: define scale with def, and give the value another name"),
    ("def Scale(x, c):\n    return c * x\n",
     "your module defines Scale (line 1), not scale: the tests call the statement's names "
     "exactly, so rename it scale"),
    ("class Layer:\n    def scale(self, x, c):\n        return c * x\n\n"
     "def scale(x, c):\n    return c * x\n\nscale = Layer().scale(1, 2)\n",
     "your module assigns scale a value (line 8)"),  # the method is not what took its place
    ("def leaky_Relu(x):\n    return x\n", None),  # another function's name: see below
])
def test_where_a_function_stands_instead_is_said(tmp_path: Path, source: str,
                                                 said: str | None) -> None:
    module = tmp_path / "toy.py"
    module.write_text(source)
    if said is None:
        assert definitions.hint(module, "leaky_relu").startswith(
            "your module defines leaky_Relu (line 1), not leaky_relu")
        assert definitions.hint(module, "relu") == ""  # not near enough to name
        return
    assert definitions.hint(module, "scale").startswith(said)


def test_a_typo_is_named_and_an_unreadable_module_is_not(tmp_path: Path) -> None:
    module = tmp_path / "toy.py"
    module.write_text("def scaled_dot_product_atention(q, k, v):\n    return q\n")
    assert definitions.hint(module, "scaled_dot_product_attention").startswith(
        "your module defines scaled_dot_product_atention (line 1), not "
        "scaled_dot_product_attention")
    assert definitions.hint(module, "multi_head_attention") == ""
    module.write_text("def scale(x, c)\n    return c * x\n")  # a syntax error
    assert definitions.hint(module, "scale") == ""
    assert definitions.hint(tmp_path / "absent.py", "scale") == ""
    assert definitions.hint(None, "scale") == ""


def test_grading_says_where_the_function_stands_in_a_hidden_test_too(
        toy_engine, tmp_path: Path) -> None:
    graded, shown = failed_hidden(grade_toy(toy_engine, tmp_path, REFERENCE.replace(SCALE, (
        "class Toy:\n"
        "    def scale(self, x, c):\n"
        "        return c * x\n"))))
    line = REFERENCE.replace(SCALE, "class Toy:\n").splitlines().index("class Toy:") + 1
    said = ("there is no function scale at the top level of the module you handed in: define "
            "scale(x, c), as the statement gives it\n"
            f"  Hint: your scale is a method of class Toy (line {line}): the tests call a "
            "function of the module, so define scale at the top level, outside any class (and "
            "without self)")
    assert graded.message == said and shown.message == said, shown.message
