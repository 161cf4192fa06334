"""The side-by-side page of two similar modules: their shared passages, on the original text and on
the normalised form the comparison saw.

Both modules are normalised (``grader.classroom.normalise``) keeping, for each token, its line in
the original text and in the normalised text. A run of ``K`` tokens both hold (and the stub does
not) is a shared passage; each unit of B is aligned with the unit of A it shares most with, and a
run that occurs several times is matched occurrence by occurrence, so that a line and its copy get
the same colour even where the same code occurs more than once. The work is linear in the number
of runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from markupsafe import Markup, escape

from grader.classroom import fingerprint as fingerprints
from grader.classroom import normalise

PASSAGE_COLOURS = 6
MAX_HOLDERS = 8  # units of A a run is looked for in when B's unit is aligned (repeated code)


def shown_text(source: str, runtime: Sequence[str] = ()) -> str:
    """The module as its page shows it: its text, then the code it built and ran at run time
    (a bytecode listing as comments: it is not Python)."""
    parts = [source.rstrip("\n")]
    for i, text in enumerate(runtime[:fingerprints.MAX_RUNTIME_TEXTS], 1):
        if text.startswith(fingerprints.codelisting.MARK):
            text = "\n".join("# " + line for line in text.splitlines())
        parts.append(f"\n\n# --- code {i} this module built and ran at run time, as grading "
                     f"saw it ---\n{text.rstrip()}")
    return "\n".join(parts) + "\n"


def side(source: str, stub: fingerprints.Stub) -> _Side:
    """A module as its pages need it (normalised with each token's lines); made once."""
    return _Side(source, stub)


class _Side:
    def __init__(self, source: str, stub: fingerprints.Stub) -> None:
        self.source = source
        self.units = normalise.normalise(source, stub.names, keep_nodes=True)
        self.normalised, self.norm_lines = normalise.normalised_lines(self.units)
        self.runs = [fingerprints.unit_runs(u).tolist() for u in self.units]
        # Each line escaped once for all the module's pages (only its colour changes).
        self.escaped = [str(escape(line)) for line in source.splitlines()]
        self.escaped_normalised = [str(escape(line)) for line in self.normalised.splitlines()]
        self.widths = [min(fingerprints.K, len(u.tokens)) for u in self.units]
        # The first and last original line of each run (tokens are in tree order, not in line
        # order), computed at once per unit.
        self.spans: list[tuple[list[int], list[int]]] = []
        for u, width in zip(self.units, self.widths):
            if not u.lines:
                self.spans.append(([], []))
                continue
            view = np.lib.stride_tricks.sliding_window_view(np.asarray(u.lines), width)
            self.spans.append((view.min(axis=1).tolist(), view.max(axis=1).tolist()))


def _match(a: _Side, b: _Side, shared: set[int]) -> dict[tuple[int, int], tuple[int, int]]:
    """(unit of B, token) -> (unit of A, token) for every token of a shared run of B."""
    where: list[dict[int, list[int]]] = []  # per unit of A: hash -> positions
    anywhere: dict[int, tuple[int, int]] = {}
    for ua, runs in enumerate(a.runs):
        places: dict[int, list[int]] = {}
        for i, h in enumerate(runs):
            if h in shared:
                places.setdefault(h, []).append(i)
                anywhere.setdefault(h, (ua, i))
        where.append(places)
    holders: dict[int, list[int]] = {}  # hash -> the first units of A that hold it
    for ua, places in enumerate(where):
        for h in places:
            got = holders.setdefault(h, [])
            if len(got) < MAX_HOLDERS:
                got.append(ua)
    out: dict[tuple[int, int], tuple[int, int]] = {}
    for ub, runs in enumerate(b.runs):
        counts: dict[int, int] = {}
        for h in runs:
            for ua in holders.get(h, ()):
                counts[ua] = counts.get(ua, 0) + 1
        if not counts:
            continue
        partner = max(counts, key=lambda u: (counts[u], -u))
        rank: dict[int, int] = {}
        previous = (-1, -2, -2)  # (unit of A, its run, B's run) of the last match
        for j, h in enumerate(runs):
            if h not in shared:
                continue
            found = where[partner].get(h)
            if found:
                r = rank.get(h, 0)
                rank[h] = r + 1
                ua, i = partner, found[min(r, len(found) - 1)]
            else:
                ua, i = anywhere[h]
            width = min(b.widths[ub], a.widths[ua])
            # A run that continues the last match adds only its last token.
            first = width - 1 if previous == (ua, i - 1, j - 1) else 0
            for t in range(first, width):
                out.setdefault((ub, j + t), (ua, i + t))
            previous = (ua, i, j)
    return out


def _numbered(lines: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    number, previous = -1, -2
    for line in sorted(lines):
        if line != previous + 1:
            number += 1
        previous = line
        out[line] = number
    return out


def passages(a: _Side, b: _Side, shared: set[int]) -> tuple[dict[int, int], dict[int, int],
                                                            dict[int, int], dict[int, int]]:
    """Line -> passage number: A's and B's original lines, A's and B's normalised lines."""
    matched = _match(a, b, shared)
    covered: set[int] = set()
    for ua, runs in enumerate(a.runs):
        low, high = a.spans[ua]
        for i, h in enumerate(runs):
            if h in shared:
                covered.update(range(low[i], high[i] + 1))
    original_a = _numbered(covered)
    original_b: dict[int, int] = {}
    norm_a: dict[int, int] = {}
    norm_b: dict[int, int] = {}
    for (ub, tb), (ua, ta) in sorted(matched.items()):
        line_a = a.units[ua].lines[ta]
        p = original_a.get(line_a)
        if p is None:
            continue
        original_b.setdefault(b.units[ub].lines[tb], p)
        norm_b.setdefault(b.norm_lines[ub][tb], p)
    for ua, runs in enumerate(a.runs):
        lines, norm, width = a.units[ua].lines, a.norm_lines[ua], a.widths[ua]
        last = -2
        for i, h in enumerate(runs):
            if h in shared:
                for t in range(i + width - 1 if last == i - 1 else i, i + width):
                    norm_a.setdefault(norm[t], original_a[lines[t]])
                last = i
    # Lines of B inside a shared run without tokens of their own (a comment, a docstring, a
    # blank line) go with the run, as they do in A.
    for ub, runs in enumerate(b.runs):
        lines = b.units[ub].lines
        low, high = b.spans[ub]
        for j, h in enumerate(runs):
            if h in shared:
                first = original_b.get(lines[j])
                if first is not None:
                    for line in range(low[j], high[j] + 1):
                        original_b.setdefault(line, first)
    for d in (norm_a, norm_b):
        d.pop(0, None)
    return original_a, original_b, norm_a, norm_b


def _pre(escaped: Sequence[str], marks: Mapping[int, int]) -> Markup:
    """The lines of a ``<pre>``, each a span with its number and its passage's colour; the
    text was escaped when the side was made."""
    out = []
    for number, text in enumerate(escaped, start=1):
        p = marks.get(number)
        colour = "" if p is None else f' class="m{p % PASSAGE_COLOURS}"'
        out.append(f"<span{colour}><i>{number}</i>{text}</span>")
    return Markup("".join(out))  # noqa: S704 - made of escaped text and our own numbers


def _lines(text: str, marks: Mapping[int, int]) -> list[dict[str, Any]]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        p = marks.get(number)
        out.append({"number": number, "text": line,
                    "passage": "" if p is None else f"m{p % PASSAGE_COLOURS}"})
    return out


def side_by_side(topic: str, student_a: str, student_b: str, similarity: float,
                 source_a: str | _Side, source_b: str | _Side,
                 stub: fingerprints.Stub = fingerprints.EMPTY_STUB,
                 *, common: frozenset[int] = frozenset(), functions: Sequence[str] = (),
                 reports: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the page shows: both modules line by line, original and normalised, shared
    passages marked with the same colour on both sides. ``source_*``: the text shown
    (``shown_text``), or its ``side`` made once for all the module's pages; ``common``: runs too
    common in the class to be evidence."""
    a = source_a if isinstance(source_a, _Side) else _Side(source_a, stub)
    b = source_b if isinstance(source_b, _Side) else _Side(source_b, stub)
    shared = ({h for r in a.runs for h in r} & {h for r in b.runs for h in r}) - \
        stub.hashes - common
    original_a, original_b, norm_a, norm_b = passages(a, b, shared)
    reports = reports or {}
    sides = []
    for student, side, original, norm in ((student_a, a, original_a, norm_a),
                                          (student_b, b, original_b, norm_b)):
        lines = _lines(side.source, original)
        normalised = _lines(side.normalised, norm)
        sides.append({"student": student, "lines": lines,
                      "shared": sum(1 for line in lines if line["passage"]),
                      "total": len(lines), "normalised": normalised,
                      "pre": _pre(side.escaped, original),
                      "pre_normalised": _pre(side.escaped_normalised, norm),
                      "report": reports.get(student, "")})
    return {"topic": topic, "similarity": f"{similarity:.2f}",
            "percent": f"{100 * similarity:.0f}", "sides": sides,
            "functions": list(functions)}
