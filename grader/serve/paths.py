"""Path parameters checked where the route matches, so that a value no page can use is no route
(a plain 404) and never reaches a handler or the database: an id is 1 to 2**31-1 in plain
digits (the 32-bit ids of PostgreSQL's columns), a name is serve.toml's, a login has no slash
or control character, a first-login token is 40 hex digits (a registration link's, 32)."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from grader.serve.config import NAME

MAX_ID = 2**31 - 1
# Starlette ends a route's pattern with $, which also matches before a final newline: each
# parameter refuses one after it, so that "/submissions/5%0A" is no route either.
_NO_NEWLINE = r"(?!\n)"


def digits_up_to(limit: int) -> str:
    """A regular expression of the numbers 1 to ``limit`` written in plain digits (no sign, no
    leading zero, ASCII only)."""
    top = str(limit)
    parts = [f"[1-9][0-9]{{0,{len(top) - 2}}}"] if len(top) > 1 else []
    for i, digit in enumerate(top):  # as long as ``top``: the same up to i, then smaller
        low = 1 if i == 0 else 0
        if int(digit) > low:
            rest = len(top) - i - 1
            parts.append(f"{top[:i]}[{low}-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    parts.append(top)
    return "(?:" + "|".join(parts) + ")"


class IdConvertor(Convertor[int]):
    regex = digits_up_to(MAX_ID) + _NO_NEWLINE

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        assert 1 <= int(value) <= MAX_ID, "an id is 1 to 2**31-1"
        return str(int(value))


class _Matched(Convertor[str]):
    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class NameConvertor(_Matched):
    regex = NAME.pattern + _NO_NEWLINE


class LoginConvertor(_Matched):
    regex = r"[^/\x00-\x1f\x7f]{1,200}" + _NO_NEWLINE  # the login column holds 200


class TokenConvertor(_Matched):
    regex = "[0-9a-f]{40}" + _NO_NEWLINE


class Hex32Convertor(_Matched):
    regex = "[0-9a-f]{32}" + _NO_NEWLINE  # the LTI dynamic registration link's secret


def register() -> None:
    """Make ``{x:id}``, ``{x:name}``, ``{x:login}``, ``{x:token}`` and ``{x:hex32}`` known to
    Starlette's routes."""
    for key, convertor in (("id", IdConvertor()), ("name", NameConvertor()),
                           ("login", LoginConvertor()), ("token", TokenConvertor()),
                           ("hex32", Hex32Convertor())):
        register_url_convertor(key, convertor)
