"""Making student-supplied text inert where it is shown: on a terminal and in a spreadsheet."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Escape sequences as terminals read them: CSI (ESC [ … final byte, or its one-byte form 0x9B),
# OSC/DCS/APC/PM/SOS strings up to their terminator, and two-byte ESC sequences.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]P_^X]|[\x90\x9d\x9e\x9f\x98])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?")
# Bidirectional overrides and isolates reorder what a terminal shows (U+202A-E, U+2066-9).
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def _shown(ch: str, newlines: bool) -> str:
    if ch == "\n" and newlines:
        return ch
    if ch in "\t\n\r":
        return " "
    if ch in _BIDI or unicodedata.category(ch) == "Cc":
        return "?"
    return ch


def terminal(text: Any, *, newlines: bool = False) -> str:
    """``text`` with every control character made harmless for a terminal: escape sequences
    removed, other control characters (and carriage returns, tabs and, unless ``newlines``,
    line breaks) shown as ``?`` or a space, so that it cannot move the cursor, rewrite lines
    already printed or change colours; a file name's bytes that are not UTF-8 are shown as
    ``\\xNN`` (a terminal that takes only UTF-8 would stop the command at them)."""
    text = file_name(_SEQUENCE.sub("", str(text)))
    if text.isprintable() and "\n" not in text:
        return text
    return "".join(_shown(ch, newlines) for ch in text)


def file_name(text: str) -> str:
    """``text`` (a file name, or a line quoting one) with the bytes that are not UTF-8 shown as
    ``\\xNN``: Python holds such bytes of a name as lone surrogates, which no UTF-8 file, page
    or terminal can take."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no byte stands for
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula: a string starting
    with =, +, -, @, tab or carriage return gets a leading single quote (OWASP's advice),
    except a number such as -3 or +1.5. Other values are returned as they are."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if value[0] in "+-":
        try:
            float(value)
            return value
        except ValueError:
            pass
    return "'" + value
