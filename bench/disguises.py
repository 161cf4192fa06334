"""A ladder of disguises a copier may apply to a classmate's module, each made by a script.

L1 layout and comments, L2 a formatter (``ast.unparse``; ``ruff format`` with narrow lines where
ruff is installed), L3 every parameter, local and private helper renamed, L4 definitions and
methods reordered, L5 dead code (stores nothing reads between statements, an unused helper), L6
equivalent control flow and arithmetic (``x = x + y`` for ``x += y`` and back, operands of ``+``
and ``*`` swapped, ``for … in range`` as ``while``, comprehensions as loops), L7 the module run
from a string or a code object at run time (several routes), L8 all of L2–L6 at once.

Every disguise keeps the module a working module (the benchmark grades the copies).
"""

from __future__ import annotations

import ast
import base64
import builtins
import io
import keyword
import marshal
import shutil
import subprocess
import tokenize
import zlib
from collections.abc import Callable



def replace_tokens(source: str, edits: list[tuple[tuple[int, int], str, str]]) -> str:
    """``source`` with each token ``(start, old, new)`` (as ``tokenize`` places it) replaced where
    it stands; the rest of the text as it was. Not ``tokenize.untokenize``, which fails on Python
    3.12.1 where a string spanning lines holds a non-ASCII character (its tokenizer gives that
    string's end in bytes, past the next token's start)."""
    lines = io.StringIO(source).readlines()  # as tokenize numbers them
    for (row, col), old, new in sorted(edits, reverse=True):
        line = lines[row - 1]
        if line[col:col + len(old)] != old:
            raise ValueError(f"{old!r} is not at line {row}, column {col}: {line!r}")
        lines[row - 1] = line[:col] + new + line[col + len(old):]
    return "".join(lines)


# ---------------------------------------------------------------------------------- L1


def layout(source: str) -> str:
    """Comments removed and others added, blank lines doubled, trailing comments on lines."""
    out = []
    text = replace_tokens(source, [(t.start, t.string, "") for t in tokenize.generate_tokens(
        io.StringIO(source).readline) if t.type == tokenize.COMMENT])
    for i, line in enumerate(text.splitlines()):
        stripped = line.rstrip()
        out.append(stripped)
        if not stripped:
            out.append("")
        elif i % 4 == 1 and not stripped.endswith(("\\", ",", "(", "[", "{", ":")):
            indent = " " * (len(line) - len(line.lstrip()))
            out.append(f"{indent}# step {i}: worked this out myself")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------- L2


def unparse(source: str) -> str:
    return ast.unparse(ast.parse(source)) + "\n"


def ruff_format(source: str, ruff: str | None = None) -> str | None:
    """``ruff format`` with 60-character lines; None where ruff is not installed."""
    ruff = ruff or shutil.which("ruff")
    if not ruff:
        return None
    done = subprocess.run([ruff, "format", "--line-length", "60", "-"], input=source,
                          capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else None


# ---------------------------------------------------------------------------------- L3


def rename(source: str, api: frozenset[str] = frozenset()) -> str:
    """Every parameter, local variable and private top-level helper renamed; the names in
    ``api`` (what tests call), keyword arguments, attributes and builtins stay."""
    tree = ast.parse(source)
    keep = {k.arg for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg}
    keep |= set(dir(builtins)) | {"self", "cls"} | set(api)
    imported = {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("_") \
                and not node.name.startswith("__"):
            names.add(node.name)
    top = {t.id for s in tree.body if isinstance(s, ast.Assign) for t in s.targets
           if isinstance(t, ast.Name)}
    names -= keep | imported | {n for n in top if not n.startswith("_")}
    mapping = {n: f"q{i}_{n[::-1].strip('_')[:3]}" for i, n in enumerate(sorted(names))}
    edits, previous = [], ""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        # (from Python 3.12, the conversion of an f-string's field, !r, is a name token)
        if tok.type == tokenize.NAME and previous not in (".", "!") and \
                not keyword.iskeyword(tok.string) and tok.string in mapping:
            edits.append((tok.start, tok.string, mapping[tok.string]))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            previous = tok.string
    return replace_tokens(source, edits)


# ---------------------------------------------------------------------------------- L4


def reorder(source: str) -> str:
    """Top-level functions and classes in reverse order (after the rest), methods too."""
    tree = ast.parse(source)

    class Methods(ast.NodeTransformer):
        def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
            doc = [s for s in node.body[:1] if isinstance(s, ast.Expr)]
            rest = node.body[len(doc):]
            defs = [s for s in rest if isinstance(s, ast.FunctionDef)]
            other = [s for s in rest if not isinstance(s, ast.FunctionDef)]
            node.body = doc + other + defs[::-1]
            return node

    lines = source.splitlines()
    chunks_other, chunks_defs = [], []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        chunk = "\n".join(lines[start - 1:node.end_lineno])
        if isinstance(node, ast.ClassDef):
            chunk = ast.unparse(Methods().visit(ast.parse(chunk)))
        (chunks_defs if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else
         chunks_other).append(chunk)
    return "\n\n".join(chunks_other + chunks_defs[::-1]) + "\n"


# ---------------------------------------------------------------------------------- L5


class _DeadStores(ast.NodeTransformer):
    """After every second statement of a function body: a store nothing reads."""

    def __init__(self) -> None:
        self.n = 0

    def _fill(self, body: list[ast.stmt], names: list[str]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for i, stmt in enumerate(body):
            out.append(stmt)
            if i % 2 == 0 and not isinstance(stmt, (ast.Return, ast.Raise, ast.Continue,
                                                     ast.Break)):
                self.n += 1
                value = f"len(str({names[self.n % len(names)]}))" if names else str(self.n)
                out.append(ast.parse(f"_scratch{self.n} = {value}").body[0])
        return out

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        names = [a.arg for a in node.args.args if a.arg not in ("self", "cls")]
        start = 1 if node.body and isinstance(node.body[0], ast.Expr) else 0
        node.body = node.body[:start] + self._fill(node.body[start:], names)
        return node


UNUSED_HELPER = '''

def _check_shapes(a, b):
    """Checks that two arrays have the same shape."""
    total = 0
    for i in range(len(a)):
        if a[i] != b[i]:
            total = total + 1
    return total == 0
'''


def dead_code(source: str) -> str:
    tree = _DeadStores().visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n" + UNUSED_HELPER


# ---------------------------------------------------------------------------------- L6


class _Rewrites(ast.NodeTransformer):
    """``x += y`` as ``x = x + y``, operands of ``+``/``*`` swapped, counted loops as
    ``while``, list comprehensions assigned to a name as loops."""

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.target, ast.Name):
            return ast.Assign([ast.Name(node.target.id, ast.Store())],
                              ast.BinOp(ast.Name(node.target.id, ast.Load()), node.op,
                                        node.value))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, (ast.Add, ast.Mult)) and not _stringy(node):
            node.left, node.right = node.right, node.left
        return node

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            out += _while(stmt) or _loop(stmt) or [stmt]
        return out

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                setattr(node, name, self._body(body))
        return node


def _stringy(node: ast.BinOp) -> bool:
    """An operand that may be a string, list or tuple: swapping it changes the result."""
    for side in (node.left, node.right):
        for n in ast.walk(side):
            if isinstance(n, (ast.JoinedStr, ast.List, ast.Tuple, ast.ListComp)) or \
                    (isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes))):
                return True
    return False


def _while(stmt: ast.stmt) -> list[ast.stmt] | None:
    if not (isinstance(stmt, ast.For) and isinstance(stmt.target, ast.Name) and not stmt.orelse
            and isinstance(stmt.iter, ast.Call) and isinstance(stmt.iter.func, ast.Name)
            and stmt.iter.func.id == "range" and 1 <= len(stmt.iter.args) <= 2
            and not stmt.iter.keywords):
        return None
    if any(isinstance(n, ast.Continue) for n in ast.walk(stmt)):
        return None
    args = stmt.iter.args
    start, stop = (ast.Constant(0), args[0]) if len(args) == 1 else (args[0], args[1])
    i = stmt.target.id
    init = [ast.Assign([ast.Name(i, ast.Store())], start)]
    loop = ast.While(ast.Compare(ast.Name(i, ast.Load()), [ast.Lt()], [stop]),
                     stmt.body + [ast.AugAssign(ast.Name(i, ast.Store()), ast.Add(),
                                                ast.Constant(1))], [])
    return init + [loop]


def _loop(stmt: ast.stmt) -> list[ast.stmt] | None:
    """``x = [e for a in it if c]`` as ``x = []`` and a loop that appends."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and
            isinstance(stmt.targets[0], ast.Name) and isinstance(stmt.value, ast.ListComp)):
        return None
    name = stmt.targets[0].id
    inner: ast.stmt = ast.Expr(ast.Call(ast.Attribute(ast.Name(name, ast.Load()), "append",
                                                      ast.Load()), [stmt.value.elt], []))
    for gen in reversed(stmt.value.generators):
        if gen.is_async:
            return None
        for cond in reversed(gen.ifs):
            inner = ast.If(cond, [inner], [])
        inner = ast.For(gen.target, gen.iter, [inner], [])
    return [ast.Assign([ast.Name(name, ast.Store())], ast.List([], ast.Load())), inner]


def rewrites(source: str) -> str:
    tree = _Rewrites().visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


# ---------------------------------------------------------------------------------- L7


def exec_getattr_base64(source: str) -> str:
    data = base64.b64encode(source.encode()).decode()
    return ("import base64 as _codec\nimport builtins as _b\n"
            f"_PAYLOAD = {data!r}\n"
            "getattr(_b, 'ex' + 'ec')(_codec.b64decode(_PAYLOAD).decode(), globals())\n")


def compile_eval(source: str) -> str:
    data = zlib.compress(source.encode()).hex()
    return ("import zlib as _z\n"
            f"_CODE = _z.decompress(bytes.fromhex({data!r})).decode()\n"
            "eval(compile(_CODE, 'solution', 'exec'), globals())\n")


def vars_builtins_exec(source: str) -> str:
    rot = "".join(chr(ord(c) ^ 1) for c in source)
    return ("import builtins as _b\n"
            f"_S = {rot!r}\n"
            "vars(_b)['exe' + 'c'](''.join(chr(ord(c) ^ 1) for c in _S), globals())\n")


def marshal_code(source: str) -> str:
    data = base64.b64encode(marshal.dumps(compile(source, "solution", "exec"))).decode()
    return ("import base64 as _codec, marshal as _m\n"
            f"exec(_m.loads(_codec.b64decode({data!r})), globals())\n")


def function_type(source: str) -> str:
    """Each function made by ``types.FunctionType`` from the code objects of the compiled text."""
    data = base64.b64encode(source.encode()).decode()
    return ("import base64 as _codec, types as _t\n"
            f"_c = compile(_codec.b64decode({data!r}).decode(), 'solution', 'exec')\n"
            "_g = globals()\n"
            "exec(_c, _g)\n"
            "for _k in [k for k in _c.co_consts if isinstance(k, _t.CodeType)]:\n"
            "    _old = _g.get(_k.co_name)\n"
            "    if isinstance(_old, _t.FunctionType):\n"
            "        _new = _t.FunctionType(_k, _g, _k.co_name, _old.__defaults__)\n"
            "        _new.__kwdefaults__ = _old.__kwdefaults__\n"
            "        _g[_k.co_name] = _new\n")


ROUTES: dict[str, Callable[[str], str]] = {
    "getattr(builtins, 'exec') of base64": exec_getattr_base64,
    "compile + eval of zlib hex": compile_eval,
    "vars(builtins)['exec'] of a xor-ed string": vars_builtins_exec,
    "marshal.loads of a code object": marshal_code,
    "types.FunctionType of compiled code": function_type,
}


# ---------------------------------------------------------------------------------- the ladder


def everything(source: str, api: frozenset[str] = frozenset()) -> str:
    """L8: L3, L4, L5, L6 and L2 at once."""
    return unparse(rewrites(dead_code(reorder(rename(source, api)))))


def ladder(api: frozenset[str], ruff: str | None = None
           ) -> dict[str, list[tuple[str, Callable[[str], str | None]]]]:
    """level -> [(variant, disguise)]."""
    return {
        "L1 layout and comments": [("comments", layout)],
        "L2 formatter": [("ast.unparse", unparse),
                         ("ruff format", lambda s: ruff_format(s, ruff))],
        "L3 renamed": [("rename", lambda s: rename(s, api))],
        "L4 reordered": [("reorder", reorder)],
        "L5 dead code": [("dead stores + unused helper", dead_code)],
        "L6 equivalent rewrites": [("+=, operands, while, loops", rewrites)],
        "L7 run at run time": list(ROUTES.items()),
        "L8 L2-L6 at once": [("all", lambda s: everything(s, api))],
    }
