"""What one grading has charged already: a wrong dtype with right values costs one test, not
every test that meets it (docs/charging.md).

A grading opens a book (the plugin does, once per submission); while none is open, as in a check
called on its own, every check charges what it finds. A check that meets a defect the book holds
already compares the rest and passes with a note, which says where the defect was charged.
"""

from __future__ import annotations

from collections.abc import Hashable

_book: dict[Hashable, str] | None = None  # defect → the test that was charged for it
_notes: list[str] = []  # of the test now running: what it did not charge again
_test = ""  # the test now running, as the student reads its name


def open_book() -> None:
    """Start a grading: nothing charged yet."""
    global _book
    _book = {}
    _notes.clear()


def close_book() -> None:
    """No grading: every check charges what it finds."""
    global _book
    _book = None
    _notes.clear()


def start_test(name: str) -> None:
    """A test begins: its notes start empty."""
    global _test
    _test = name
    _notes.clear()


def charge(defect: Hashable) -> str | None:
    """None when `defect` is to be charged now (the first test to find it, or no book open);
    else the name of the test that was charged for it."""
    if _book is None:
        return None
    if defect in _book:
        return _book[defect]
    _book[defect] = _test
    return None


def note(text: str) -> None:
    """A defect this test found and did not charge again, as the student reads it."""
    if text not in _notes:
        _notes.append(text)


def take_notes() -> list[str]:
    """The running test's notes, once."""
    taken = list(_notes)
    _notes.clear()
    return taken
