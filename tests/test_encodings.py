"""A module saved in an encoding Python does not read (UTF-16, Windows-1252: what editors on
Windows write where asked to) fails as Python reports it, a syntax error, with what it is
instead and what to do, in grading and in the student's own check; a syntax error of another
kind keeps Python's words."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from grader.grading.encoding import not_python_text
from grader.grading.engine import Options

FIX = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIX / "reference" / "toy" / "solution.py").read_text()
ACCENTED = 'GREETING = "café, señor"  # in the student\'s language\n'


@pytest.mark.parametrize(("data", "says"), [
    ((ACCENTED + TOY).encode("utf-16"), 'saved as UTF-16 ("Unicode" in Notepad)'),
    ((ACCENTED + TOY).encode("utf-16-le"), 'saved as UTF-16 ("Unicode" in Notepad)'),
    ((ACCENTED + TOY).encode("utf-32"), 'saved as UTF-16 ("Unicode" in Notepad)'),
    ((ACCENTED + TOY).encode("cp1252"), "line 1 holds the byte 0xe9 (most likely saved as "
     "Windows-1252 or Latin-1, where it is 'é')"),
    (("x = 1\n" * 4 + "s = 'naïve'\n" + TOY).encode("latin-1"), "line 5 holds the byte 0xef"),
    (b"# coding: klingon\nx = 1\n", "its coding line names an encoding Python does not know"),
    (b"x = 1\n" + bytes(range(0, 256, 3)), "line 2 holds a NUL byte"),
    (b"x = 1\ny = 2\x00\n", "line 2 holds a NUL byte"),
])
def test_what_python_cannot_read_is_said_with_what_to_do(data: bytes, says: str) -> None:
    text = not_python_text(data)
    assert says in text, text
    assert "UTF-8" in text
    with pytest.raises((SyntaxError, ValueError)):  # Python itself cannot read it
        compile(data, "toy.py", "exec")


@pytest.mark.parametrize("data", [
    TOY.encode(), codecs.BOM_UTF8 + (ACCENTED + TOY).encode(), (ACCENTED + TOY).encode(),
    ("# -*- coding: latin-1 -*-\n" + ACCENTED + TOY).encode("latin-1"), b"", b"x",
])
def test_text_python_reads_is_not_questioned(data: bytes) -> None:
    assert not_python_text(data) == ""
    compile(data, "toy.py", "exec")


def _grade(engine, tmp_path: Path, files: dict[str, bytes]):
    sub = tmp_path / "sub"
    sub.mkdir(parents=True)
    for name, data in files.items():
        (sub / name).write_bytes(data)
    return engine.grade(sub, tmp_path / "out", Options(seed=1, topics=("toy",)))


def _messages(result) -> set[str]:
    return {t.message for t in result.tests if t.topic == "toy" and t.outcome != "passed"}


@pytest.mark.parametrize(("encoding", "says"), [
    ("utf-16", "toy.py has a syntax error: it is saved as UTF-16"),
    ("cp1252", "toy.py has a syntax error: it is not saved as UTF-8, the encoding Python reads: "
     "line 1 holds the byte 0xe9"),
])
def test_a_module_in_another_encoding_is_told_so_in_grading(toy_engine, tmp_path: Path,
                                                           encoding: str, says: str) -> None:
    result = _grade(toy_engine, tmp_path, {"toy.py": (ACCENTED + TOY).encode(encoding)})
    messages = _messages(result)
    assert messages and all(m.startswith(says) and "Save it again as UTF-8" in m
                            for m in messages), messages
    again = _grade(toy_engine, tmp_path / "utf8", {"toy.py": (ACCENTED + TOY).encode()})
    assert not _messages(again)  # the same module saved as UTF-8 keeps its grade


def test_a_stray_byte_in_a_comment_that_python_reads_costs_nothing(toy_engine,
                                                                   tmp_path: Path) -> None:
    data = ("# café\n" + TOY).encode("cp1252")
    assert not_python_text(data) == ""
    assert not _messages(_grade(toy_engine, tmp_path, {"toy.py": data}))


def test_a_helper_in_another_encoding_is_named(toy_engine, tmp_path: Path) -> None:
    result = _grade(toy_engine, tmp_path, {
        "toy.py": ("from helpers import twice\n" + TOY).encode(),
        "helpers.py": (ACCENTED + "def twice(x):\n    return 2 * x\n").encode("cp1252")})
    messages = _messages(result)
    assert messages and all(m.startswith("toy.py has a syntax error: helpers.py, which it "
                                         "imports: it is not saved as UTF-8") for m in messages), \
        messages


def test_another_syntax_error_keeps_pythons_words(toy_engine, tmp_path: Path) -> None:
    """A helper in Windows-1252 that the module does not import is no reason given for the
    module's own syntax error."""
    result = _grade(toy_engine, tmp_path, {
        "toy.py": (TOY + "\ndef broken(:\n").encode(),
        "notes.py": (ACCENTED + "X = 1\n").encode("cp1252")})
    messages = _messages(result)
    assert messages and all("toy.py has a syntax error" in m and "invalid syntax" in m and
                            "UTF-8" not in m for m in messages), messages
