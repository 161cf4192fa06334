"""A code object as text: its instructions, nested code included, for comparing code that has no source.

Code a module builds and runs at run time from a code object (``marshal.loads``, a function made
from a code object) has no source text to fingerprint. The worker lists it with this function and
sends the listing as data; the trusted side lists the code it compiles from other modules' source
the same way (compiling is parsing, never running), so that the two can be compared. The listing
is one instruction per line, ``OPNAME argument``, where the argument is the name, the attribute,
the constant's type, the operator or nothing; nested code objects (functions, classes, comprehensions) follow
their parent, each under a line ``code NAME``. Line numbers and offsets are left out, so that
layout changes nothing.
"""

from __future__ import annotations

import dis
import types

MARK = "#codelisting\n"  # the first line of every listing, so a listing is never taken for source
MAX_CHARS = 256 * 1024  # what one listing may hold; the rest is cut


def listing(code: types.CodeType, *, limit: int = MAX_CHARS) -> str:
    """The listing of ``code`` and the code nested in it (see the module's docstring)."""
    lines = [MARK.rstrip("\n")]
    size = 0
    todo = [code]
    while todo and size < limit:
        c = todo.pop(0)
        lines.append(f"code {c.co_name}")
        for ins in dis.get_instructions(c):
            if ins.opname in ("CACHE", "RESUME", "NOP", "EXTENDED_ARG"):
                continue
            arg = ins.argval
            if isinstance(arg, types.CodeType):
                todo.append(arg)
                text = "<code>"
            elif ins.opcode in dis.hasname or ins.opcode in dis.haslocal or \
                    ins.opcode in dis.hasfree:
                text = str(arg)
            elif ins.opcode in dis.hasconst:
                text = type(arg).__name__
            elif ins.opname in ("BINARY_OP", "COMPARE_OP", "IS_OP", "CONTAINS_OP"):
                text = ins.argrepr
            else:
                text = ""
            line = f"{ins.opname} {text}".rstrip()
            lines.append(line)
            size += len(line) + 1
    return "\n".join(lines)[:limit]
