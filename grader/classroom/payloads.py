"""Code a module hides in literals and runs with ``exec``/``eval``/``compile``, decoded for the
similarity comparison without running anything.

A copy handed in as ``exec(base64.b64decode("…"))`` has no tokens of its own to compare. Here the
first argument of every such call is evaluated as far as it is made of literals, names bound
to literals at the top of the module, ``+`` and the standard library's pure decoders (base64,
hex, zlib, codecs, ``bytes.decode``); anything else (a call of the module's own code, an
attribute of an object) stops the evaluation and that payload is left alone. Each step is
bounded: at most ``MAX_BYTES`` of decoded text per payload and in all, ``MAX_DEPTH`` levels of
payloads inside payloads.
"""

from __future__ import annotations

import ast
import base64
import binascii
import codecs
import zlib
from collections.abc import Callable

MAX_BYTES = 512 * 1024  # decoded text per module, in all
MAX_DEPTH = 3  # a payload whose decoded code runs exec again, and so on
RUNNERS = frozenset({"exec", "eval", "compile"})


class _Stop(Exception):
    """The expression is not made of literals and known decoders."""


def _zlib(data: bytes) -> bytes:
    return zlib.decompressobj().decompress(data, MAX_BYTES)  # a zip bomb stops at the bound


_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "b64decode": base64.b64decode, "standard_b64decode": base64.standard_b64decode,
    "urlsafe_b64decode": base64.urlsafe_b64decode, "b32decode": base64.b32decode,
    "b16decode": base64.b16decode, "a85decode": base64.a85decode,
    "b85decode": base64.b85decode, "decodebytes": base64.decodebytes,
    "unhexlify": binascii.unhexlify, "a2b_base64": binascii.a2b_base64,
    "a2b_hex": binascii.a2b_hex, "decompress": _zlib,
}
_CODECS: dict[str, Callable[[bytes], bytes]] = {
    "base64": base64.b64decode, "base64_codec": base64.b64decode, "hex": binascii.unhexlify,
    "hex_codec": binascii.unhexlify, "zlib": _zlib, "zlib_codec": _zlib}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


class _Evaluator:
    def __init__(self, constants: dict[str, ast.expr]) -> None:
        self.constants = constants
        self.seen: set[str] = set()

    def value(self, node: ast.expr) -> str | bytes:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            return node.value
        if isinstance(node, ast.Name) and node.id in self.constants and node.id not in self.seen:
            self.seen.add(node.id)  # a name bound to itself is not followed for ever
            try:
                return self.value(self.constants[node.id])
            finally:
                self.seen.discard(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.value(node.left), self.value(node.right)
            if type(left) is not type(right):
                raise _Stop
            return _bounded(left + right)  # type: ignore[operator]
        if isinstance(node, ast.Call):
            return self.call(node)
        raise _Stop

    def call(self, node: ast.Call) -> str | bytes:
        name = _name(node.func)
        if name in ("decode", "encode") and isinstance(node.func, ast.Attribute) and \
                not node.args and not node.keywords:  # "…".encode(), b"…".decode()
            inner = self.value(node.func.value)
            if name == "decode":
                return inner.decode("utf-8", "replace") if isinstance(inner, bytes) else inner
            return inner.encode("utf-8", "replace") if isinstance(inner, str) else inner
        if not node.args or node.keywords:
            raise _Stop
        data = self.value(node.args[0])
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
        try:
            if name == "decode" and isinstance(node.func, ast.Attribute) and \
                    _name(node.func.value) == "codecs" and len(node.args) == 2:
                codec = self.value(node.args[1])
                codec = codec.lower().replace("-", "_") if isinstance(codec, str) else ""
                if codec in ("rot13", "rot_13") and isinstance(data, str):
                    return codecs.decode(data, "rot13")
                if codec in _CODECS:
                    return _bounded(_CODECS[codec](raw))
                raise _Stop
            if name == "fromhex" and len(node.args) == 1:
                return _bounded(bytes.fromhex(raw.decode("ascii", "replace")))
            if name in _DECODERS and len(node.args) == 1:
                return _bounded(_DECODERS[name](raw))
        except (ValueError, TypeError, zlib.error, binascii.Error):
            raise _Stop from None
        raise _Stop


def _bounded(value: str | bytes) -> str | bytes:
    if len(value) > MAX_BYTES:
        raise _Stop
    return value


def _constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Top-level names bound once, to an expression (``CODE = "…"``)."""
    out: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], ast.Name):
            out[stmt.targets[0].id] = stmt.value
    return out


def hidden_code(source: str, depth: int = MAX_DEPTH) -> list[str]:
    """The code ``source`` hands to exec/eval/compile as decodable literals, in order, payloads
    inside payloads included (``depth`` levels); at most ``MAX_BYTES`` of text in all."""
    out: list[str] = []
    total = 0
    todo = [(source, depth)]
    while todo:
        text, left = todo.pop(0)
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        evaluator = _Evaluator(_constants(tree))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node.func) in RUNNERS and node.args):
                continue
            try:
                value = evaluator.value(node.args[0])
            except (_Stop, RecursionError):
                continue
            code = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            if total + len(code) > MAX_BYTES:
                return out
            total += len(code)
            out.append(code)
            if left > 1:
                todo.append((code, left - 1))
    return out


def with_hidden_code(source: str) -> str:
    """``source`` followed by the code it hides (each piece under a comment saying so), so that
    the comparison and its side-by-side page see what the module really runs."""
    pieces = hidden_code(source)
    if not pieces:
        return source
    parts = [source.rstrip("\n")]
    for i, code in enumerate(pieces, 1):
        parts.append(f"\n\n# --- code {i} this module runs with exec/eval/compile, decoded by the "
                     f"grader ---\n{code}")
    return "\n".join(parts) + "\n"
