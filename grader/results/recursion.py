"""What a RecursionError's traceback shows, said for the student: the function (or the cycle of
functions) that led back into itself until Python stopped it.

Python writes three identical frames and "[Previous line repeated N more times]" for a
function that calls itself; a cycle of several functions is written out in full, and a worker
keeps only a traceback's end, which is where the cycle is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

ADVICE = ("until Python stops at its limit of nested calls (about 1,000). Either the recursion "
          "never reaches a case that ends it, or it is as deep as the data it walks, deeper "
          "than Python allows: write that walk as a loop, with a list as its stack")
# A notebook's frame says "cell N, line M" (``grader.grading.notebook``): its file is "x.ipynb, cell N".
_FRAME = re.compile(r'^  File "(?P<file>[^"]*)"(?P<cell>, cell \d+)?, line (?P<line>\d+), '
                    r'in (?P<name>.+)$')
LONGEST = 6  # functions in the longest cycle looked for


def cycle(items: Sequence[T]) -> list[T]:
    """The shortest run of ``items`` that repeats three times in a row at their end, or up to
    ``LONGEST`` items before it (the call that met the limit is often another line: a library
    call the recursing function makes), outermost first; [] where none."""
    for end in range(len(items), max(len(items) - LONGEST, 0) - 1, -1):
        for period in range(1, LONGEST + 1):
            tail = items[max(end - 3 * period, 0):end]
            if len(tail) == 3 * period and all(tail[i] == tail[i + period]
                                               for i in range(2 * period)):
                return list(tail[-period:])
    return []


def frames(traceback_text: str) -> list[tuple[str, str, str, str]]:
    """(file, line, function, first source line) of each frame of a traceback as
    ``traceback.format_list`` writes it; a frame whose header was cut off is left out."""
    found: list[list[str]] = []
    for text in traceback_text.splitlines():
        match = _FRAME.match(text)
        if match:
            found.append([match["file"] + (match["cell"] or ""), match["line"], match["name"], ""])
        elif found and text.startswith("    ") and not found[-1][3]:
            found[-1][3] = " ".join(text.split())
    return [(file, line, name, code) for file, line, name, code in found]


def hint(traceback_text: str) -> str:
    """The hint for a RecursionError whose traceback (the student's frames, as Python writes
    them) shows a cycle: which function, which line leads back into it; "" where none shows."""
    found = cycle(frames(traceback_text))
    if not found:
        return ""
    names = [name for _, _, name, _ in found]
    _, line, name, code = found[-1]
    said = f"line {line}" + (f" of {name}" if len(found) > 1 else "") + \
        (f" (`{code if len(code) <= 60 else code[:59] + '…'}`)" if code else "")
    if len(found) == 1:
        who = f"{name} calls itself over and over: {said} leads back into {name}"
    else:
        who = (f"{' and '.join(dict.fromkeys(names))} call each other over and over "
               f"({' → '.join([*names, names[0]])}): {said} leads back into {names[0]}")
    dunder = [n for n in dict.fromkeys(names) if n.startswith("__") and n.endswith("__")]
    if dunder:
        who += (f" ({' and '.join(dunder)} {'is' if len(dunder) == 1 else 'are'} what Python "
                "calls for an operator on your objects, so an operator written there can call "
                "it again)")
    return f"{who}, {ADVICE}"


def hint_by_place(places: Sequence[str]) -> str:
    """The same hint from where each frame was ("autograd.py, line 90"), innermost last: all a
    hidden test's message may say of the student's traceback."""
    found = cycle(places)
    if not found:
        return ""
    lines = "line" if len(found) == 1 else f"{len(found)} lines"
    return (f"your traceback ends in the same {lines} over and over "
            f"({' → '.join(found)}): the code there leads back into itself, {ADVICE}")
