"""Answer parts: how each kind of answer is read from untrusted input, compared with its key and shown.

Every kind has the same three operations: ``parse`` (raw JSON value → value, or ValueError with a
sentence the student can act on), ``grade`` (value against the key → fraction of the part's
points and a message) and ``show`` (value → text). Keys and answers are plain JSON values.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

# Hand computation with a calculator: three significant figures pass, two do not.
RTOL = 5e-3
ATOL = 5e-4
MAX_TEXT = 2000  # characters of one raw answer that are looked at
MAX_ENTRIES = 400  # numbers in one array answer

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SUPERSCRIPT = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")
# What people paste for a minus sign, a digit group separator or a printed power of ten.
_TEXT_FIXES = str.maketrans({"−": "-", "–": "-", "\u2009": "", "\u202f": "", "\xa0": "",
                             **dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+"))})
_POWER = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))[×xX*·]10\^?\(?([+-]?\d+)\)?")


def fmt(x: float, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits, no trailing zeros, a true minus sign."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x)).replace("-", "−")
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    text = f"{x:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}×10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    return text.replace("-", "−")


def _check_text(raw: str) -> str:
    if len(raw) > MAX_TEXT:
        raise ValueError(f"your answer is {len(raw)} characters long; at most {MAX_TEXT} are read")
    return raw.translate(_TEXT_FIXES).strip()


def parse_number(raw: Any) -> float:
    """A finite number from a JSON number or a string such as ``0.75``, ``-3e-4`` or ``3/4``."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError("expected a number")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        text = _check_text(raw).replace(" ", "")
        if not text:
            raise ValueError("no answer")
        power = _POWER.fullmatch(text)
        if power:  # 1.5×10⁻³ as printed, or 1.5x10^-3 as typed
            text = f"{power[1]}e{power[2]}"
        if "/" in text:
            num, _, den = text.partition("/")
            if not (_NUMBER.fullmatch(num) and _NUMBER.fullmatch(den)):
                raise ValueError(f"could not read {raw!r} as a number")
            if float(den) == 0:
                raise ValueError(f"{raw!r} divides by zero")
            value = float(Fraction(num) / Fraction(den))
        elif _NUMBER.fullmatch(text):
            value = float(text)
        elif re.fullmatch(r"[+-]?\d+,\d+", text):
            raise ValueError(f"could not read {raw!r}: write decimals with a point (0.75, not 0,75)")
        elif text.endswith("%") and _NUMBER.fullmatch(text[:-1].strip()):
            raise ValueError(f"could not read {raw!r}: give the value as a number, without % "
                             f"(0.5 for a half)")
        else:
            raise ValueError(f"could not read {raw!r} as a number")
    else:  # a wrong answer, not a programming error: ValueError like every other bad answer
        raise ValueError(f"expected a number, found {type(raw).__name__}")  # noqa: TRY004
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _flatten(raw: Any, depth: int = 0) -> tuple[list[Any], tuple[int, ...]]:
    """Entries and shape of a nested JSON list (ragged lists are an error)."""
    if not isinstance(raw, list):
        return [raw], ()
    if depth >= 3:
        raise ValueError("nested too deeply")
    if not raw:
        return [], (0,)
    rows = [_flatten(r, depth + 1) for r in raw]
    shape = rows[0][1]
    if any(s != shape for _, s in rows):
        raise ValueError("rows of different lengths")
    return [x for r, _ in rows for x in r], (len(raw), *shape)


def _split_text(raw: str) -> tuple[list[str], tuple[int, ...]]:
    """Entries and shape of a typed array: rows split by ';' or new lines, entries by ',' or spaces."""
    text = _check_text(raw).strip("[]() \n")
    lines = [ln.strip().strip("[](),") for ln in re.split(r"[;\n]", text)]
    rows = [[e.strip("[]()") for e in re.split(r"[,\s]+", ln.strip()) if e.strip("[]()")]
            for ln in lines if ln.strip()]
    if len(rows) == 1:
        return rows[0], (len(rows[0]),)
    if any(len(r) != len(rows[0]) for r in rows):
        raise ValueError("rows of different lengths")
    return [e for r in rows for e in r], (len(rows), len(rows[0]))


def parse_entries(raw: Any) -> tuple[list[Any], tuple[int, ...]]:
    """Raw entries and the shape of an array answer given as a JSON list or as typed text."""
    if isinstance(raw, str) and raw.lstrip().startswith("[["):
        try:  # a table typed as nested lists; read as JSON data, like the file around it
            raw = json.loads(_check_text(raw))
        except json.JSONDecodeError:
            pass
    if isinstance(raw, str):
        entries, shape = _split_text(raw)
    elif isinstance(raw, list):
        entries, shape = _flatten(raw)
    else:
        entries, shape = [raw], ()
    if len(entries) > MAX_ENTRIES:
        raise ValueError(f"{len(entries)} numbers; at most {MAX_ENTRIES} are read")
    return entries, shape


def _shape_text(shape: tuple[int, ...]) -> str:
    """"a single number", "3 values", "a 2×3 table"."""
    if not shape:
        return "a single number"
    if len(shape) == 1:
        return f"{shape[0]} value{'s' * (shape[0] != 1)}"
    return "a " + "×".join(str(s) for s in shape) + " table"


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def tolerance(expected: float, rtol: float, atol: float) -> float:
    return max(atol, rtol * abs(expected))


@dataclass(frozen=True)
class Grade:
    """One part as graded: the share of its points earned and what the student reads."""

    fraction: float
    message: str


@dataclass(frozen=True)
class Part:
    """One answer box of a question: ``name`` in answers files, ``label`` for the student."""

    name: str
    label: str
    weight: float = 1.0  # share of the question's points, relative to its other parts
    kind: ClassVar[str] = ""

    def parse(self, raw: Any) -> Any:
        raise NotImplementedError

    def grade(self, given: Any, expected: Any) -> Grade:
        raise NotImplementedError

    def show(self, value: Any) -> str:
        raise NotImplementedError

    def same(self, a: Any, b: Any) -> bool:
        """Whether two keys are too close to tell apart (a mistake that changes nothing here)."""
        return self.show(a) == self.show(b)

    def blank(self) -> Any:
        """What an empty answers file holds for this part."""
        return ""

    def hint(self) -> str:
        """How to write the answer, for the paper."""
        return ""


@dataclass(frozen=True)
class Number(Part):
    """A real number, correct within ``max(atol, rtol·|key|)``."""

    rtol: float = RTOL
    atol: float = ATOL
    kind: ClassVar[str] = "number"

    def parse(self, raw: Any) -> float:
        return parse_number(raw)

    def grade(self, given: float, expected: float) -> Grade:
        tol = tolerance(expected, self.rtol, self.atol)
        if abs(given - expected) <= tol:
            return Grade(1.0, "")
        return Grade(0.0, f"expected {self.show(expected)}, you gave {fmt(given, 6)} "
                          f"(tolerance ±{fmt(tol, 2)})")

    def show(self, value: Any) -> str:
        return fmt(value, 6)

    def same(self, a: Any, b: Any) -> bool:
        # Twice the tolerance: an answer near either value can then match only one of them.
        return abs(float(a) - float(b)) <= 2 * tolerance(float(a), self.rtol, self.atol)

    def hint(self) -> str:
        return "a number, at least 3 significant figures"


@dataclass(frozen=True)
class Array(Part):
    """A small array of fixed shape; credit in proportion to the entries within tolerance."""

    shape: tuple[int, ...] = (1,)
    rtol: float = RTOL
    atol: float = ATOL
    exact: bool = False  # integer entries compared exactly
    kind: ClassVar[str] = "array"

    def parse(self, raw: Any) -> list[Any]:
        entries, shape = parse_entries(raw)
        if not entries or all(e in ("", None) for e in entries):
            raise ValueError("no answer")
        # A list of n values may be typed as one row or one column (n × 1, "1; 2; 3").
        fits = tuple(shape) == self.shape or \
            len(self.shape) == 1 and _squeezed(tuple(shape)) == _squeezed(self.shape)
        if not fits and (int(np.prod(shape)) != int(np.prod(self.shape)) or len(shape) > 1):
            raise ValueError(f"expected {_shape_text(self.shape)}, you gave "
                             f"{_shape_text(tuple(shape))}")
        values = []
        for i, e in enumerate(entries):
            try:
                v = parse_number(e)
            except ValueError as exc:
                raise ValueError(f"entry {i + 1}: {exc}") from None
            if self.exact and v != int(v):
                raise ValueError(f"entry {i + 1}: expected a whole number, you gave {e!r}")
            values.append(v)
        return np.array(values).reshape(self.shape).tolist()

    def grade(self, given: Any, expected: Any) -> Grade:
        g = np.asarray(given, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
        if g.shape != e.shape:
            return Grade(0.0, f"expected {_shape_text(e.shape)}, you gave "
                              f"{_shape_text(g.shape)}")
        if self.exact:
            ok = g == e
        else:
            ok = np.abs(g - e) <= np.maximum(self.atol, self.rtol * np.abs(e))
        if ok.all():
            return Grade(1.0, "")
        first = tuple(int(i) for i in np.argwhere(~ok)[0])
        where = ", ".join(str(i + 1) for i in first)
        return Grade(float(ok.mean()),
                     f"{int(ok.sum())} of {ok.size} entries right; the first wrong one, at "
                     f"({where}), should be {fmt(e[first], 6)}, you gave {fmt(g[first], 6)}")

    def show(self, value: Any) -> str:
        a = np.asarray(value, dtype=np.float64)
        item = (lambda x: fmt(int(x))) if self.exact else (lambda x: fmt(x, 6))
        if a.ndim == 1:
            return "[" + ", ".join(item(x) for x in a) + "]"
        return "[" + "; ".join(", ".join(item(x) for x in row) for row in a) + "]"

    def same(self, a: Any, b: Any) -> bool:
        x = np.asarray(a, dtype=np.float64)
        y = np.asarray(b, dtype=np.float64)
        if x.shape != y.shape:
            return False
        if self.exact:
            return bool(np.array_equal(x, y))
        return bool(np.all(np.abs(x - y) <= 2 * np.maximum(self.atol, self.rtol * np.abs(x))))

    def blank(self) -> Any:
        return np.full(self.shape, "", dtype=object).tolist()

    def hint(self) -> str:
        return "whole numbers" if self.exact else "numbers, at least 3 significant figures"


@dataclass(frozen=True)
class Integer(Part):
    """A whole number, checked exactly."""

    kind: ClassVar[str] = "integer"

    def parse(self, raw: Any) -> int:
        value = parse_number(raw)
        if value != int(value):
            raise ValueError(f"expected a whole number, you gave {raw!r}")
        return int(value)

    def grade(self, given: int, expected: int) -> Grade:
        if given == expected:
            return Grade(1.0, "")
        return Grade(0.0, f"expected {self.show(expected)}, you gave {self.show(given)}")

    def show(self, value: Any) -> str:
        return fmt(int(value))

    def hint(self) -> str:
        return "a whole number"


@dataclass(frozen=True)
class Integers(Part):
    """A list of whole numbers, checked exactly; ``ordered=False`` accepts any order."""

    ordered: bool = True
    kind: ClassVar[str] = "integers"

    def parse(self, raw: Any) -> list[int]:
        entries, shape = parse_entries(raw)
        entries = [e for e in entries if e != ""]
        if not entries:
            raise ValueError("no answer")
        if len(shape) > 1:
            raise ValueError("expected a list, you gave a table")
        out = []
        for e in entries:
            v = parse_number(e)
            if v != int(v):
                raise ValueError(f"expected whole numbers, you gave {e!r}")
            out.append(int(v))
        return out

    def grade(self, given: list[int], expected: list[int]) -> Grade:
        a, b = (given, expected) if self.ordered else (sorted(given), sorted(expected))
        if list(a) == list(b):
            return Grade(1.0, "")
        return Grade(0.0, f"expected {self.show(expected)}, you gave {self.show(given)}")

    def show(self, value: Any) -> str:
        return ", ".join(fmt(int(v)) for v in value)

    def hint(self) -> str:
        return "whole numbers separated by commas" + ("" if self.ordered else ", in any order")


LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class Choice(Part):
    """Multiple choice: the options are the key and the values of classic mistakes, shuffled.

    The key of a choice part is the value of the right option; once a variant's options are
    shuffled, what a student gives and what is compared is the option's letter.
    """

    min_options: int = 3
    # Options closer than this (relative to their size) are too alike to tell apart by hand.
    gap: float = 0.02
    kind: ClassVar[str] = "choice"

    def parse(self, raw: Any) -> str:
        if not isinstance(raw, str):
            raise ValueError("expected the letter of an option")  # noqa: TRY004
        text = _check_text(raw).strip("().: ").upper()
        if not text:
            raise ValueError("no answer")
        if len(text) != 1 or text not in LETTERS:
            raise ValueError(f"expected the letter of an option, you gave {raw!r}")
        return text

    def grade(self, given: str, expected: str) -> Grade:
        if given == expected:
            return Grade(1.0, "")
        return Grade(0.0, f"the answer is ({expected}), you chose ({given})")

    def show(self, value: Any) -> str:
        return str(value)

    def option_text(self, value: Any) -> str:
        """An option's value as printed on the paper."""
        if isinstance(value, list):
            a = np.asarray(value, dtype=np.float64)
            if a.ndim == 1:
                return "(" + ", ".join(fmt(x) for x in a) + ")"
            return "[" + "; ".join(", ".join(fmt(x) for x in row) for row in a) + "]"
        return fmt(value)

    def same(self, a: Any, b: Any) -> bool:
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if x.shape != y.shape:
            return False
        scale = max(float(np.max(np.abs(x), initial=0)), float(np.max(np.abs(y), initial=0)))
        return self.option_text(a) == self.option_text(b) or \
            bool(np.max(np.abs(x - y), initial=0) <= self.gap * max(scale, 1e-12))

    def hint(self) -> str:
        return "the letter of one option"
