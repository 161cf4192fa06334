"""A module's syntax tree normalised for the similarity comparison, as a stream of tokens per unit.

The module is parsed with the standard library's ``ast`` (never imported or run) and rewritten so
that what a copy changes without changing the code changes nothing here:

- docstrings, bare literals, ``pass``, type annotations and imports go (imports only say what
  a name stands for: ``np.sum`` and ``numpy.sum`` are one token); statements after ``return``,
  ``raise``, ``break`` or ``continue`` go, and so do ``if False:`` blocks;
- dead code goes: a store to a name that nothing reads (until none is left), and a top-level
  function or class that nothing refers to and that the stub does not define (an unused helper);
- ``x += y`` becomes ``x = x + y``; a counted ``while`` (``i = a`` before it, ``i += s`` at the
  end of its body) becomes ``for i in range(a, b, s)``, and every ``range`` has its three
  arguments; a list or dict filled by a loop (``out = []``, ``for ...: out.append(e)``) becomes
  the comprehension, and ``list(e for ...)`` the list comprehension;
- the operands of ``+``, ``*``, ``&``, ``|``, ``^``, ``and``, ``or``, ``==`` and ``!=`` are put in
  one order (``a > b`` is ``b < a``); top-level definitions and a class's methods are sorted by
  their normalised text, so their order changes nothing;
- names become their role and the order of their first use in their definition (``a1`` a
  parameter, ``v2`` a local, ``g1`` a name of the module, ``f1`` the function defined), literals
  their type (``int``, ``float``, ``str``); names the module does not bind (builtins) stay.

Each top-level definition (and each method of a class) is a *unit* whose tokens are numbered on
their own, so that a unit is the same wherever it stands and can be compared on its own. The rest
of the module (constants, code at the top level) is one more unit.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

_COMMUTATIVE = (ast.Add, ast.Mult, ast.BitAnd, ast.BitOr, ast.BitXor)
_SWAPPED = {ast.Gt: ast.Lt, ast.GtE: ast.LtE}
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SKIPPED_FIELDS = frozenset({"ctx", "type_comment", "annotation", "returns", "type_params",
                             "type_ignores", "kind"})
_ENDS = (ast.Return, ast.Raise, ast.Break, ast.Continue)


@dataclass
class Unit:
    """One top-level definition (or method, or the rest of the module), normalised."""

    name: str  # as written: "softmax", "Model.forward", "<module>"
    node: ast.AST  # the normalised tree (names canonical)
    tokens: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # each token's line in the original text
    nodes: list[ast.AST] = field(default_factory=list)  # each token's node (pages only)


def _literal(value: object) -> str:
    if value is None or isinstance(value, bool) or value is Ellipsis:
        return repr(value)
    return type(value).__name__


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def _children(node: ast.AST) -> Iterator[ast.AST]:
    for f in node._fields:
        v = getattr(node, f, None)
        if isinstance(v, list):
            for x in v:
                if isinstance(x, ast.AST):
                    yield x
        elif isinstance(v, ast.AST):
            yield v


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node`` (itself included), in no particular order; faster than
    ``ast.walk``."""
    stack = [node]
    pop, push, AST = stack.pop, stack.append, ast.AST
    while stack:
        n = pop()
        yield n
        for f in n._fields:
            v = getattr(n, f, None)
            if type(v) is list:
                for x in v:
                    if isinstance(x, AST):
                        push(x)
            elif isinstance(v, AST):
                push(v)


@dataclass
class _Names:
    loaded: set[str] = field(default_factory=set)
    stored: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)
    declared: set[str] = field(default_factory=set)  # global, nonlocal
    first_stores: list[str] = field(default_factory=list)  # in the order of first binding
    blocks: list[tuple[ast.AST, str]] = field(default_factory=list)  # statement lists


_BLOCKS = ("body", "orelse", "finalbody")
_VALUE_FIRST = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr)


def _names(node: ast.AST) -> _Names:
    """What ``node`` reads, binds (and in which order), takes as parameters, declares global,
    and its statement lists: one pass in source order."""
    out = _Names()
    loaded, stored, params = out.loaded, out.stored, out.params
    first: dict[str, None] = {}
    stack = [node]
    pop, AST, Name, Load, Store = stack.pop, ast.AST, ast.Name, ast.Load, ast.Store
    while stack:
        n = pop()
        t = type(n)
        if t is Name:
            if type(n.ctx) is Load:  # type: ignore[attr-defined]
                loaded.add(n.id)  # type: ignore[attr-defined]
            else:
                stored.add(n.id)  # type: ignore[attr-defined]
                if type(n.ctx) is Store:  # type: ignore[attr-defined]
                    first.setdefault(n.id, None)  # type: ignore[attr-defined]
            continue
        if t is ast.Constant:
            v = n.value  # type: ignore[attr-defined]
            if type(v) is str and v.isidentifier():
                loaded.add(v)  # __all__, getattr(module, "name")
            continue
        if t is ast.arg:
            params.add(n.arg)  # type: ignore[attr-defined]
        elif t in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            stored.add(n.name)  # type: ignore[attr-defined]
        elif t is ast.Global or t is ast.Nonlocal:
            out.declared.update(n.names)  # type: ignore[attr-defined]
            loaded.update(n.names)  # type: ignore[attr-defined]
        children: list[ast.AST] = []
        for f in n._fields:
            v = getattr(n, f, None)
            if type(v) is list:
                if v and f in _BLOCKS and isinstance(v[0], ast.stmt):
                    out.blocks.append((n, f))
                children.extend(x for x in v if isinstance(x, AST))
            elif isinstance(v, AST):
                children.append(v)
        if not isinstance(n, _VALUE_FIRST):  # else the value is computed before the target
            children.reverse()
        stack.extend(children)
    out.first_stores = list(first)
    return out


def _loaded(node: ast.AST) -> set[str]:
    return _names(node).loaded


# ------------------------------------------------------------------------ rewriting statements


_LEAVES = (ast.Name, ast.Constant, ast.Load, ast.Store, ast.Del, ast.alias, ast.Pass,
           ast.Break, ast.Continue, ast.Global, ast.Nonlocal, ast.operator, ast.unaryop,
           ast.cmpop, ast.boolop)


class _Transformer:
    """``ast.NodeTransformer``'s contract (``visit_X`` returns the node, a list of nodes or
    None), about twice as fast: methods looked up once per class, leaves not entered, and each
    statement list cleaned (``_block``) once its statements are visited."""

    def __init__(self) -> None:
        self._methods: dict[type, Any] = {}

    def visit(self, node: ast.AST) -> Any:
        t = type(node)
        method = self._methods.get(t)
        if method is None:
            method = self._methods[t] = getattr(self, "visit_" + t.__name__, self.generic_visit)
        return method(node)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, _LEAVES):
            return node
        AST = ast.AST
        for f in node._fields:
            v = getattr(node, f, None)
            if type(v) is list:
                new: list[Any] = []
                changed = False
                for x in v:
                    if isinstance(x, AST):
                        r = self.visit(x)
                        if r is not x:
                            changed = True
                            if r is None:
                                continue
                            if type(r) is list:
                                new.extend(r)
                                continue
                        new.append(r)
                    else:
                        new.append(x)
                if new and f in _BLOCKS and isinstance(new[0], ast.stmt):
                    new, changed = _block(new), True
                if changed:
                    setattr(node, f, new)
            elif isinstance(v, AST):
                r = self.visit(v)
                if r is not v:
                    setattr(node, f, r)
        return node


class _Rewriter(_Transformer):
    """Rewrites inside one definition: augmented assignments, loops, comprehensions, order."""

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        target = copy.deepcopy(node.target)
        for n in ast.walk(target):
            if hasattr(n, "ctx"):
                n.ctx = ast.Load()
        value = ast.BinOp(target, node.op, node.value)
        return ast.copy_location(ast.Assign([node.target], ast.copy_location(value, node)), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "list" and len(node.args) == 1 \
                and not node.keywords and isinstance(node.args[0], ast.GeneratorExp):
            g = node.args[0]
            return ast.copy_location(ast.ListComp(g.elt, g.generators), node)
        if isinstance(node.func, ast.Name) and node.func.id == "range" and \
                1 <= len(node.args) <= 2 and not node.keywords:
            args = list(node.args)
            if len(args) == 1:
                args.insert(0, ast.copy_location(ast.Constant(0), node))
            args.append(ast.copy_location(ast.Constant(1), node))
            node.args = args
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) == 1 and type(node.ops[0]) in _SWAPPED:
            node.left, node.comparators = node.comparators[0], [node.left]
            node.ops = [_SWAPPED[type(node.ops[0])]()]
        return node

    def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant):
            return node.body if node.test.value else node.orelse
        return node



def _block(body: list[ast.stmt]) -> list[ast.stmt]:
    """A statement list cleaned: dead ends and bare literals gone, loops and fills rewritten."""
    out: list[ast.stmt] = []
    for stmt in body:
        if _is_docstring(stmt) or isinstance(stmt, ast.Pass):
            continue
        out.append(stmt)
        if isinstance(stmt, _ENDS):
            break
    i = 0
    while i < len(out):
        merged = _counted_while(out, i) or _filled(out, i)
        if merged is not None:
            out[i - 1:i + 1] = [merged]
            continue
        i += 1
    return out


def _name(node: ast.AST | None, ident: str | None = None) -> bool:
    return isinstance(node, ast.Name) and (ident is None or node.id == ident)


def _counted_while(body: list[ast.stmt], i: int) -> ast.stmt | None:
    """``c = a`` then ``while c < b: ...; c += s`` as ``for c in range(a, b, s): ...``."""
    loop = body[i]
    if i == 0 or not isinstance(loop, ast.While) or loop.orelse or not loop.body:
        return None
    init, test, last = body[i - 1], loop.test, loop.body[-1]
    if not (isinstance(init, ast.Assign) and len(init.targets) == 1 and _name(init.targets[0])):
        return None
    counter = init.targets[0].id  # type: ignore[attr-defined]
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and
            isinstance(test.ops[0], ast.Lt) and _name(test.left, counter)):
        return None
    step: ast.expr | None = None
    if isinstance(last, ast.Assign) and len(last.targets) == 1 and \
            _name(last.targets[0], counter) and isinstance(last.value, ast.BinOp) and \
            isinstance(last.value.op, ast.Add):
        a, b = last.value.left, last.value.right
        step = b if _name(a, counter) else a if _name(b, counter) else None
    if step is None:
        return None
    inner = loop.body[:-1]
    for stmt in inner:
        for n in _walk(stmt):
            if isinstance(n, ast.Name) and n.id == counter and isinstance(n.ctx, ast.Store):
                return None
    if _continues(inner):
        return None
    rng = ast.Call(ast.Name("range", ast.Load()), [init.value, test.comparators[0], step], [])
    target = ast.Name(counter, ast.Store())
    new = ast.For(target, rng, inner or [ast.Pass()], [])
    for n in (rng, rng.func, target, new):
        ast.copy_location(n, loop)
    return new


def _continues(body: list[ast.stmt]) -> bool:
    """Whether a ``continue`` of this loop (not of a loop inside it) is in ``body``."""
    stack: list[ast.AST] = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Continue):
            return True
        if not isinstance(n, (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef,
                              ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(_children(n))
        else:
            stack.extend(getattr(n, "orelse", []))
    return False


def _filled(body: list[ast.stmt], i: int) -> ast.stmt | None:
    """``out = []`` then ``for x in it: out.append(e)`` as ``out = [e for x in it]`` (also with
    ``if`` filters and nested loops), and the same for ``d = {}`` / ``d[k] = v``."""
    loop = body[i]
    if i == 0 or not isinstance(loop, ast.For) or loop.orelse:
        return None
    init = body[i - 1]
    if not (isinstance(init, ast.Assign) and len(init.targets) == 1 and _name(init.targets[0])
            and isinstance(init.value, (ast.List, ast.Dict))):
        return None
    if (init.value.elts if isinstance(init.value, ast.List) else init.value.keys):
        return None
    acc = init.targets[0].id  # type: ignore[attr-defined]
    generators: list[ast.comprehension] = []
    node: ast.stmt = loop
    while True:
        if isinstance(node, ast.For) and not node.orelse and len(node.body) == 1:
            generators.append(ast.comprehension(node.target, node.iter, [], 0))
            node = node.body[0]
        elif isinstance(node, ast.If) and not node.orelse and len(node.body) == 1 and generators:
            generators[-1].ifs.append(node.test)
            node = node.body[0]
        else:
            break
    value: ast.expr | None = None
    if isinstance(init.value, ast.List) and isinstance(node, ast.Expr) and \
            isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute) and \
            node.value.func.attr == "append" and _name(node.value.func.value, acc) and \
            len(node.value.args) == 1 and not node.value.keywords:
        value = ast.ListComp(node.value.args[0], generators)
    elif isinstance(init.value, ast.Dict) and isinstance(node, ast.Assign) and \
            len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript) and \
            _name(node.targets[0].value, acc):
        value = ast.DictComp(node.targets[0].slice, node.value, generators)
    if value is None or acc in _loaded(value):
        return None
    ast.copy_location(value, loop)
    return ast.copy_location(ast.Assign([init.targets[0]], value), init)


def _drop_dead_stores(fn: ast.AST) -> _Names:
    """Remove assignments to names nothing in ``fn`` reads, until there are none; the names of
    what is left."""
    while True:
        names = _names(fn)
        removed = False
        for node, name in names.blocks:
            body = getattr(node, name)
            kept = [s for s in body if not _dead(s, names.loaded)]
            if len(kept) != len(body):
                removed = True
                setattr(node, name, kept or [ast.copy_location(ast.Pass(), body[0])])
        if not removed:
            return names


def _dead(stmt: ast.stmt, loaded: set[str]) -> bool:
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign):
        targets = [stmt.target]
    else:
        return False
    return all(isinstance(t, ast.Name) and t.id not in loaded for t in targets)


# --------------------------------------------------------------------------- serialising


class _Serialiser:
    """The tokens of a unit in pre-order; names by role, numbered by first use when asked."""

    def __init__(self, params: set[str], local: set[str], module: set[str],
                 imports: dict[str, str], keep_nodes: bool = False,
                 numbers: dict[str, str] | None = None) -> None:
        self.params, self.local, self.module, self.imports = params, local, module, imports
        # Parameters are numbered by their place in the signature, locals by their first
        # binding: an operand's key (see _Orderer) can then name them before they are written.
        self.numbers: dict[str, str] = dict(numbers or {})
        self.counts: dict[str, int] = {}
        for key in self.numbers:
            self.counts[key[0]] = self.counts.get(key[0], 0) + 1
        self.keep_nodes = keep_nodes
        self.tokens: list[str] = []
        self.lines: list[int] = []
        self.nodes: list[ast.AST] = []
        self.line = 0

    def role(self, name: str, default: str = "") -> str:
        if name in self.params:
            return "a"
        if name in self.local:
            return "v"
        if name in self.imports:
            return ""
        if name in self.module:
            return "g"
        return default

    def canonical(self, name: str, role: str) -> str:
        key = role + ":" + name
        got = self.numbers.get(key)
        if got is None:
            self.counts[role] = self.counts.get(role, 0) + 1
            got = self.numbers[key] = f"{role}{self.counts[role]}"
        return got

    def put(self, token: str, node: ast.AST) -> None:
        self.tokens.append(token)
        self.lines.append(self.line)
        if self.keep_nodes:
            self.nodes.append(node)

    def name(self, node: ast.AST, ident: str, default: str = "") -> str:
        role = self.role(ident, default)
        if not role:
            return self.imports.get(ident, ident)
        new = self.canonical(ident, role)
        if isinstance(node, ast.Name):
            node.id = new
        elif isinstance(node, ast.arg):
            node.arg = new
        return new

    def emit(self, node: ast.AST) -> None:
        line = getattr(node, "lineno", None)
        saved = self.line
        if line is not None:
            self.line = line
        t = type(node)
        if t is ast.Name:
            self.put(self.name(node, node.id), node)  # type: ignore[attr-defined]
        elif t is ast.Constant:
            self.put(_literal(node.value), node)  # type: ignore[attr-defined]
        elif t is ast.JoinedStr:
            self.put("str", node)
        elif t is ast.Attribute:
            self.put("." + node.attr, node)  # type: ignore[attr-defined]
            self.emit(node.value)  # type: ignore[attr-defined]
        elif t is ast.arg:
            self.put(self.name(node, node.arg, "a"), node)  # type: ignore[attr-defined]
        elif t in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            self.put(t.__name__, node)
            new = self.canonical(node.name, "c" if t is ast.ClassDef else "f")  # type: ignore
            node.name = new  # type: ignore[attr-defined]
            for f in node._fields:
                if f not in _SKIPPED_FIELDS and f != "name":
                    self.field(getattr(node, f))
        elif t is ast.keyword:
            # The keyword's name is not kept: it is often a parameter's, renamed with it.
            self.put("kw" if node.arg else "kw**", node)  # type: ignore[attr-defined]
            self.emit(node.value)  # type: ignore[attr-defined]
        elif isinstance(node, (ast.expr_context, ast.Import, ast.ImportFrom)):
            pass
        else:
            self.put(t.__name__, node)
            for f in node._fields:
                if f not in _SKIPPED_FIELDS:
                    self.field(getattr(node, f))
            if isinstance(node, (ast.For, ast.While, ast.If, ast.With, ast.Try)):
                self.put("end", node)
        self.line = saved

    def field(self, value: object) -> None:
        if isinstance(value, list):
            for v in value:
                if isinstance(v, ast.AST):
                    self.emit(v)
        elif isinstance(value, ast.AST):
            self.emit(value)


class _Orderer(_Rewriter):
    """Operands of commutative operators in one order: by their text with names as roles."""

    def __init__(self, serialiser: _Serialiser) -> None:
        super().__init__()
        self.s = serialiser

    def key(self, node: ast.AST) -> str:
        probe = _Serialiser(self.s.params, self.s.local, self.s.module, self.s.imports)

        def name(n: ast.AST, ident: str, default: str = "") -> str:
            role = probe.role(ident, default)
            return self.s.numbers.get(role + ":" + ident, role) if role else \
                probe.imports.get(ident, ident)

        probe.name = name  # type: ignore[method-assign,assignment]
        probe.emit(node)
        return " ".join(probe.tokens)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if not isinstance(node.op, _COMMUTATIVE):
            self.generic_visit(node)
            return node
        # The whole chain (a + b + c) at once, each operand visited once: a long chain costs
        # its length, not its square.
        op = type(node.op)
        operands: list[ast.expr] = []
        todo: list[ast.expr] = [node]
        while todo:
            n = todo.pop()
            if isinstance(n, ast.BinOp) and type(n.op) is op:
                todo += [n.right, n.left]
            else:
                operands.append(self.visit(n))
        operands.sort(key=self.key)
        out = operands[0]
        for o in operands[1:]:
            out = ast.copy_location(ast.BinOp(out, op(), o), node)
        return out

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        node.values.sort(key=self.key)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        super().visit_Compare(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            a, b = sorted([node.left, node.comparators[0]], key=self.key)
            node.left, node.comparators = a, [b]
        return node


# ------------------------------------------------------------------------------ the module


def _imports(tree: ast.Module) -> dict[str, str]:
    """Name bound by an import -> what it stands for (``np`` -> ``numpy``)."""
    out: dict[str, str] = {}
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    out[a.asname] = a.name
                else:
                    out[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                out[a.asname or a.name] = f"{node.module or ''}.{a.name}".lstrip(".")
    return out


def top_level_names(tree: ast.Module) -> frozenset[str]:
    """The names a module's top level defines (functions, classes, assigned names)."""
    out: set[str] = set()
    for s in tree.body:
        if isinstance(s, _DEFS):
            out.add(s.name)
        elif isinstance(s, (ast.Assign, ast.AnnAssign)):
            for t in (s.targets if isinstance(s, ast.Assign) else [s.target]):
                out.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return frozenset(out)


def parse(source: str) -> ast.Module:
    """The module's tree. A module that does not parse whole (a syntax error, an expression
    nested too deep for the parser) is parsed top-level statement by statement, and what does
    not parse is left out: the rest is still compared."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    body: list[ast.stmt] = []
    for start, chunk in _chunks(source.splitlines()):
        try:
            tree = ast.parse("\n" * start + chunk)  # the lines keep their numbers
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        body += tree.body
    return ast.Module(body, [])


def _chunks(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(first line index, text) of each run of lines that starts at column 0 (a top-level
    statement with its decorators, a comment or a blank line going with the next one)."""
    start, pending = 0, False
    for i, line in enumerate(lines):
        top = line[:1] not in ("", " ", "\t", "#", ")", "]", "}")
        if top and pending and not lines[i - 1].startswith("@"):
            yield start, "\n".join(lines[start:i])
            start = i
        pending = pending or top
    if start < len(lines):
        yield start, "\n".join(lines[start:])


def normalise(source: str, api: Iterable[str] = (), *, keep_nodes: bool = False) -> list[Unit]:
    """The units of ``source``, normalised (see the module's docstring), in canonical order.

    ``api``: the names the stub defines (kept even when nothing in the module uses them; any
    other top-level function or class that nothing refers to is an unused helper, dropped).
    When ``api`` is empty no definition is dropped as unused."""
    tree = parse(source)
    return normalise_tree(tree, frozenset(api), keep_nodes=keep_nodes)


def normalise_tree(tree: ast.Module, api: frozenset[str], *, keep_nodes: bool = False
                   ) -> list[Unit]:
    imports = _imports(tree)
    body = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        try:  # statement by statement: one too deep to rewrite leaves the others compared
            body += _Rewriter().visit(ast.Module([stmt], [])).body
        except RecursionError:
            continue
    if api:
        # Unused helpers and module-level dead stores go (until none is left).
        loads = [_loaded(s) for s in body]
        while True:
            used = set().union(*loads) | api
            keep = [not ((isinstance(s, _DEFS) and s.name not in used) or
                         (_dead(s, used) and not any(n.startswith("__")
                                                     for n in top_level_names(ast.Module([s], [])))))
                    for s in body]
            if all(keep):
                break
            body = [s for s, k in zip(body, keep) if k]
            loads = [n for n, k in zip(loads, keep) if k]
    module_names = set(top_level_names(ast.Module(body, [])))
    units: list[Unit] = []
    rest: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            units.append(_unit(stmt, stmt.name, module_names, imports, keep_nodes))
        elif isinstance(stmt, ast.ClassDef):
            methods = [s for s in stmt.body if isinstance(s, (ast.FunctionDef,
                                                               ast.AsyncFunctionDef))]
            stmt.body = [s for s in stmt.body if s not in methods] or [ast.Pass()]
            units.append(_unit(stmt, stmt.name, module_names, imports, keep_nodes))
            attrs = module_names | top_level_names(ast.Module(stmt.body, []))
            units += [_unit(m, f"{stmt.name}.{m.name}", attrs, imports, keep_nodes)
                      for m in methods]
        else:
            rest.append(stmt)
    if rest:
        units.append(_unit(ast.Module(rest, []), "<module>", module_names, imports, keep_nodes))
    units.sort(key=lambda u: u.tokens)
    # Units whose tokens are the same (twins that differ by a literal) in the order of their
    # text, so that their order in the module changes nothing either.
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and units[j].tokens == units[i].tokens:
            j += 1
        if j - i > 1:
            units[i:j] = sorted(units[i:j], key=lambda u: _text(u.node))
        i = j
    return units


def _text(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except (ValueError, RecursionError, AttributeError, TypeError):
        return ""


def _unit(node: ast.AST, name: str, module: set[str], imports: dict[str, str],
          keep_nodes: bool) -> Unit:
    is_def = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    params: set[str] = set()
    local: set[str] = set()
    try:
        numbers: dict[str, str] = {}
        if not is_def:  # a class's body or the module's rest: only lambdas have parameters
            params = _names(node).params
        if is_def:
            names = _drop_dead_stores(node)
            params = names.params
            local = names.stored - params - names.declared
            order = [a.arg for a in (*node.args.posonlyargs, *node.args.args,  # type: ignore
                                     *([node.args.vararg] if node.args.vararg else []),  # type: ignore
                                     *node.args.kwonlyargs,  # type: ignore
                                     *([node.args.kwarg] if node.args.kwarg else []))]  # type: ignore
            numbers = {f"a:{p}": f"a{i}" for i, p in enumerate(order, 1)}
            ordered = [n for n in names.first_stores if n in local]
            numbers.update({f"v:{n}": f"v{i}" for i, n in enumerate(ordered, 1)})
        s = _Serialiser(params, local, module, imports, keep_nodes, numbers)
        # The block cleaner runs again (a dead store removed may have joined a loop to its
        # start), with the operands of commutative operators put in order.
        node = _Orderer(s).visit(node)
        s.emit(node)
    except RecursionError:
        s = _Serialiser(params, local, module, imports, keep_nodes)
    return Unit(name, node, s.tokens, s.lines, s.nodes)


def normalised_lines(units: list[Unit]) -> tuple[str, list[list[int]]]:
    """The normalised module as text (``ast.unparse`` of each unit, in order) and, for each
    unit, each token's line in that text (0 where it cannot be placed). Units must come from
    ``normalise(..., keep_nodes=True)``."""
    texts, per_unit = [], []
    offset = 0
    for u in units:
        try:
            text = ast.unparse(u.node) if not \
                isinstance(u.node, ast.Module) or u.node.body else ""
            twin = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, AttributeError, TypeError):
            text, twin = "", ast.Module([], [])
        where: dict[int, int] = {}
        ours: list[ast.stmt] = u.node.body if isinstance(u.node, ast.Module) else \
            [u.node]  # type: ignore[list-item]
        for a, b in zip(_walk(ast.Module(ours, [])), _walk(twin)):
            if type(a) is not type(b) and not isinstance(b, ast.Module):
                break
            if hasattr(b, "lineno"):
                where[id(a)] = b.lineno + offset
        per_unit.append([where.get(id(n), 0) for n in u.nodes])
        texts.append(text)
        offset += text.count("\n") + 3
    return "\n\n\n".join(texts) + "\n", per_unit
