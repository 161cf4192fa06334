"""Whether a student's Python file is text Python reads: saved as UTF-8 (or as the encoding its
coding line declares), and, where it is not, what it is, said so that they can save it again.

Python reports such a file as a SyntaxError ("source code string cannot contain null bytes",
"(unicode error) 'utf-8' codec can't decode byte 0xb7"), which does not say what to do: editors
on Windows save UTF-16 ("Unicode" in Notepad) or Windows-1252 where asked to. The file is read
and parsed, never run, on either side (the trusted grading process, the student's own check),
and only after Python has refused it.
"""

from __future__ import annotations

import ast
import codecs
import io
import tokenize

MAX_READ = 4 * 1024 * 1024  # bytes of a file looked at (staging takes modules up to 2 MB)
SAVE_AS_UTF8 = ("Save it again as UTF-8 (in most editors: File › Save with Encoding, or the "
                "encoding shown in the status bar › UTF-8)")


def not_python_text(data: bytes) -> str:
    """Why ``data``, a Python file's bytes, is not text Python reads ("" where Python reads it,
    or where what stops it is a syntax error of another kind, which its own words say): which
    encoding it is in instead, and where the first byte Python cannot read lies. Only parsed
    (as ``ast.parse`` does), never run."""
    why, text = _misread(data)
    if not why or _parses(data):  # a stray byte in a comment: Python reads the file all the same
        return ""
    if text is not None and not _parses(text):  # read as what it is, it still does not parse
        return ""
    return why


def _parses(source: bytes | str) -> bool:
    try:
        compile(source, "<submission>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def _misread(data: bytes) -> tuple[str, str | None]:
    """What is wrong with ``data``'s encoding (or "") and its text read as what it most likely
    is (None where that is not known)."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return _UTF16, _decoded(data, "utf-32")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _UTF16, _decoded(data, "utf-16")
    if (order := _utf16_without_bom(data)):
        return _UTF16, _decoded(data, order)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "unknown encoding" in str(exc):  # a coding line naming one Python does not know
            return (f"its coding line names an encoding Python does not know ({exc}): remove "
                    "that line, and save the file as UTF-8"), _decoded(data, "utf-8")
        encoding = "utf-8"  # its first two lines are not UTF-8 themselves: said below
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        return (f"line {line} holds a NUL byte (0x00), which no text file of Python code holds: "
                "is it the file you meant to hand in? " + SAVE_AS_UTF8), None
    try:
        data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        start = getattr(exc, "start", 0)
        line = data.count(b"\n", 0, start) + 1
        byte = data[start]
        guess, text = "", _decoded(data, "cp1252") or _decoded(data, "latin-1")
        if (char := _decoded(bytes([byte]), "cp1252")) is not None:
            guess = f" (most likely saved as Windows-1252 or Latin-1, where it is {char!r})"
        return (f"it is not saved as {_shown(encoding)}, the encoding Python reads: line {line} "
                f"holds the byte 0x{byte:02x}{guess}. " + SAVE_AS_UTF8), text
    return "", None


_UTF16 = ('it is saved as UTF-16 ("Unicode" in Notepad), not as UTF-8, which Python reads. '
          + SAVE_AS_UTF8)


def _decoded(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _utf16_without_bom(data: bytes) -> str:
    """"utf-16-le" or "utf-16-be" where ``data`` reads as UTF-16 text without a byte-order
    mark (ASCII characters with a NUL byte beside each, as many editors write "Unicode"), else
    ""."""
    head = data[:200]
    if len(head) < 4:
        return ""
    if all(b == 0 for b in head[1::2]) and 0 not in head[0::2][:10]:
        return "utf-16-le"
    if all(b == 0 for b in head[0::2]) and 0 not in head[1::2][:10]:
        return "utf-16-be"
    return ""


def _shown(encoding: str) -> str:
    return "UTF-8" if encoding in ("utf-8", "utf-8-sig") else encoding
