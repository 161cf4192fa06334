"""The module's own words in a hidden test's copy: a text the student's code sends whole that its
source spells out (a message of its own raise, a key, a class it defines) shows; a text built at
run time, which may carry a hidden input, stays withheld."""

from __future__ import annotations

import re
from pathlib import Path

from grader.results.visibility import MAX_WRITTEN, MAX_WRITTEN_SHOWN, WITHHELD_TEXT, withhold_text, written_words
from toy_grading import scale_graded


def _words(tmp_path: Path, source: str) -> tuple[str, ...]:
    path = tmp_path / "m.py"
    path.write_text(source)
    return written_words(path)


def test_the_words_are_the_modules_names_and_whole_string_constants(tmp_path: Path) -> None:
    words = _words(tmp_path, (
        "import numpy as np\n"
        "from collections import deque as dq\n"
        "class Node:\n"
        "    '''A node.'''\n"
        "    def backward(self, grad_in, *, scale=1.0):\n"
        "        global COUNT\n"
        "        d = {'dE': grad_in, \"W\": 2}\n"
        "        raise ValueError('combine must be '\n"
        "                         'mean or concat')\n"
        "        raise ValueError(f'a batch of {len(d)} is too large')\n"
        "        return b'bytes', self.grad_out\n"))
    for word in ("np", "numpy", "dq", "collections", "Node", "A node.", "backward", "grad_in",
                 "scale", "COUNT", "dE", "W", "combine must be mean or concat", "grad_out",
                 "ValueError"):
        assert word in words, word
    # An f-string's parts are no text the module sends whole; nor are bytes.
    assert not any("too large" in w for w in words) and "bytes" not in words


def test_a_module_that_does_not_tokenize_has_no_words_and_the_words_are_bounded(
        tmp_path: Path) -> None:
    assert _words(tmp_path, "X = \"\"\"never closed\n") == ()  # no tokens: nothing ran
    assert written_words(None) == ()
    many = "".join(f"W{i} = 'v{i}'\n" for i in range(2 * MAX_WRITTEN))
    assert len(_words(tmp_path, many)) == MAX_WRITTEN
    assert _words(tmp_path, "X = '" + "a" * 300 + "'\n") == ("X",)  # a long text is not kept


def test_withholding_keeps_the_modules_words_only() -> None:
    message = "f → grads: missing key 'E'; unexpected key 'dE'; unexpected key 'k0.25'"
    assert withhold_text(message, ["dE", "k0.25"], frozenset({"dE"})) == \
        f"f → grads: missing key 'E'; unexpected key 'dE'; unexpected key '{WITHHELD_TEXT}'"



def test_a_hidden_test_shows_the_message_of_the_students_own_raise(
        toy_engine, tmp_path: Path) -> None:
    graded, shown = scale_graded(toy_engine, tmp_path, (
        "def scale(x, c):\n"
        "    raise ValueError('scale is not written for negative c yet')\n"))
    assert shown.message.startswith("scale raised ValueError: scale is not written for negative "
                                    "c yet\nin your code:\n  toy.py, line "), shown.message
    # Built at run time from an input: withheld.
    graded, shown = scale_graded(toy_engine, tmp_path / "built", (
        "def scale(x, c):\n"
        "    raise ValueError(f'x[0] is {x[0]}')\n"))
    assert "x[0] is" in graded.message and "x[0] is" not in shown.message
    assert "not shown for hidden tests" in shown.message
    # A KeyError whose key the module spells, and one whose key it built.
    graded, shown = scale_graded(toy_engine, tmp_path / "key", (
        "def scale(x, c):\n"
        "    return {'velocity': x}['momentum']\n"))
    assert shown.message.startswith("scale raised KeyError: 'momentum'\n"), shown.message
    graded, shown = scale_graded(toy_engine, tmp_path / "built_key", (
        "def scale(x, c):\n"
        "    return {}[f'v{int(abs(x[0]) * 100)}']\n"))
    assert shown.message.startswith("scale raised KeyError (the message"), shown.message


def test_a_hidden_test_shows_a_value_and_a_class_the_module_spells(
        toy_engine, tmp_path: Path) -> None:
    graded, shown = scale_graded(toy_engine, tmp_path, (
        "class Scaled:\n"
        "    pass\n"
        "def scale(x, c):\n"
        "    return Scaled()\n"))
    assert "Scaled" in graded.message and "Scaled" in shown.message, shown.message
    graded, shown = scale_graded(toy_engine, tmp_path / "made", (
        "def scale(x, c):\n"
        "    return type('C%d' % int(abs(x[0]) * 1000), (), {})()\n"))
    made = re.search(r"\bC\d+\b", graded.message)
    assert made and made.group() not in shown.message and WITHHELD_TEXT in shown.message, \
        shown.message
    # An attribute the module's own class lacks, named in the module: Python's words, shown.
    graded, shown = scale_graded(toy_engine, tmp_path / "attr", (
        "class Scaled:\n"
        "    pass\n"
        "def scale(x, c):\n"
        "    return Scaled().grad_out\n"))
    assert shown.message.startswith(
        "scale raised AttributeError: 'Scaled' object has no attribute 'grad_out'\n"), \
        shown.message


def test_a_test_shows_at_most_a_few_of_the_modules_words(toy_engine, tmp_path: Path) -> None:
    """A dict of many keys, each chosen among words written for the purpose, would spell an
    input out: past MAX_WRITTEN_SHOWN such texts, none shows."""
    words = ", ".join(f"'w{i}'" for i in range(20))
    graded, shown = scale_graded(toy_engine, tmp_path, (
        f"WORDS = [{words}]\n"
        "def scale(x, c):\n"
        "    return {WORDS[i]: 1 for i in range(MANY)}\n").replace("MANY", str(MAX_WRITTEN_SHOWN)))
    assert "w0" in shown.message, shown.message
    graded, shown = scale_graded(toy_engine, tmp_path / "many", (
        f"WORDS = [{words}]\n"
        "def scale(x, c):\n"
        "    return {WORDS[i]: 1 for i in range(MANY)}\n").replace("MANY", str(MAX_WRITTEN_SHOWN + 1)))
    assert "w0" in graded.message and "w0" not in shown.message, shown.message


def test_a_dotted_text_of_many_spelt_parts_stays_withheld() -> None:
    """module.Class shows where the module spells both; a string of many spelt words joined by
    dots (each chosen by an input) would be many choices in one text, and does not."""
    from grader.results import python_errors

    written = frozenset({"toy", "Scaled", "w0", "w1"})
    assert withhold_text("type toy.Scaled", ["toy.Scaled"], written) == "type toy.Scaled"
    many = ".".join(["w0", "w1"] * 4)
    assert withhold_text(f"type {many}", [many], written) == f"type {WITHHELD_TEXT}"
    assert python_errors.public("numpy.linalg.LinAlgError")
    assert not python_errors.public(".".join(["numpy"] * 4))
    assert not python_errors.public(many, written)
