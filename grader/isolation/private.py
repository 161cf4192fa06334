"""Copies of the code that runs inside the worker's audit hook, over namespaces no student code reaches.

Python code finds what it calls by name, at the moment it calls it: in its function's globals,
in the builtins, in a module's attributes, in its object's class. Student code can write to
every one of those namespaces, and none of the writes raises an audit event
(``sys.modules["grader.isolation.audit"].banned_library = f``, ``builtins.getattr = f``,
``os.path.realpath = f``, ``SomeClass.method = f``, a closure's cell). Code that ran inside the
hook over the namespaces everyone shares would call what the student put there, in the middle
of the hook, with the hook's state in the frames below.

So the hook runs copies (:class:`Copier`), made when the worker arms it, before any student
code exists:

- **a function**: the same code over a private copy of its module's globals, whose
  ``__builtins__`` is a private copy of the builtins; its defaults and closure copied likewise;
- **a module** its code reaches (``os.path.realpath``): a new module object, in no
  ``sys.modules``, holding copies of the attributes the copied code can name (the names of its
  code objects, and of theirs, until no new name appears);
- **an object** whose methods the hook calls (the checker, the trip-wire): a
  ``types.SimpleNamespace`` (a built-in type: no student code changes its class) holding the
  object's state as it is (the same sets, lists and dicts: what the hook records is where the
  worker reads it) and its class's methods, copied and bound to it;
- anything else (built-in functions and types, classes, data) is shared as it is: a built-in
  function looks nothing up by name.

Nothing refers to a copy but the hook's closure and other copies: no module, class or
``__subclasses__()`` list leads to one, so its globals cannot be read and changed either. What
copying cannot do: a class the copies call, or whose instances' attributes they read, runs what
its class holds at that moment. The hook's code calls no class of the grader's (its refusals are
made with ``BaseException.__new__``) and reads only objects of exact built-in types (see
``audit``).
"""

from __future__ import annotations

import builtins
import functools
import types
from typing import Any, Iterable

from grader.isolation import bare

# functools.lru_cache's wrapper: it calls a function with globals of its own, so it is copied
_CACHED = type(functools.lru_cache(maxsize=None)(lambda: None))


class Copier:
    """Makes private copies (see the module's docstring); one per worker, used before any student
    code runs, then dropped. Copies of the same original are the same object."""

    def __init__(self, own: tuple[str, ...] = ("grader.",)) -> None:
        """``own``: the packages whose methods are code the hook runs (a dict of them is a
        table of handlers, copied); any other bound method in an object's state is state."""
        self._own = own
        self._copies: dict[int, Any] = {}
        self._originals: list[Any] = []  # alive while copying: an id is not reused meanwhile
        self._names: set[str] = set()  # every name the copied code can look up
        # (original namespace, its copy, the names filled so far), filled by ``_settle``
        self._fill: list[tuple[dict[str, Any], dict[str, Any], set[str]]] = []
        self.builtins: dict[str, Any] = {}
        self._fill.append((vars(builtins), self.builtins, set()))

    def copy(self, obj: Any) -> Any:
        """The private copy of ``obj``: a function, a bound method, a module, a functools cache,
        or an object of a class statement's (``object``); anything else is ``obj`` itself."""
        made = self._copy(obj)
        self._settle()
        return made

    def object(self, obj: Any) -> Any:
        """``obj``, an instance of a class statement's, as a namespace holding its state and its
        class's methods bound to the namespace, copied."""
        made = self._object(obj)
        self._settle()
        return made

    # -- the kinds of copy ------------------------------------------------------------------------

    def _copy(self, obj: Any) -> Any:
        made = self._copies.get(id(obj))
        if made is not None:
            return made
        kind = type(obj)
        if kind is types.FunctionType:
            return self._function(obj)
        if kind is types.ModuleType:
            return self._module(obj)
        if kind is types.MethodType:
            owner = obj.__self__
            bound = owner if issubclass(type(owner), (type, types.ModuleType)) else \
                self._object(owner)
            made = types.MethodType(self._copy(obj.__func__), bound)
        elif kind is _CACHED:
            wrapped = self._copy(obj.__wrapped__)
            made = functools.lru_cache(**obj.cache_parameters())(wrapped)
        elif kind is functools.partial:
            made = functools.partial(self._copy(obj.func), *obj.args, **obj.keywords)
        else:
            return obj
        self._remember(obj, made)
        return made

    def _function(self, fn: types.FunctionType) -> types.FunctionType:
        code = fn.__code__
        cells = tuple(types.CellType() for _ in fn.__closure__ or ())
        made = types.FunctionType(code, self._globals(fn.__globals__), fn.__name__, None,
                                  cells or None)
        self._remember(fn, made)
        self._names.update(_names(code))
        for old, new in zip(fn.__closure__ or (), cells):
            try:
                contents = old.cell_contents
            except ValueError:  # a cell not filled yet
                continue
            new.cell_contents = self._copy(contents)
        if fn.__defaults__:
            made.__defaults__ = tuple(self._copy(v) for v in fn.__defaults__)
        if fn.__kwdefaults__:
            made.__kwdefaults__ = {k: self._copy(v) for k, v in fn.__kwdefaults__.items()}
        made.__qualname__, made.__module__ = fn.__qualname__, fn.__module__
        return made

    def _globals(self, namespace: dict[str, Any]) -> dict[str, Any]:
        made = self._copies.get(id(namespace))
        if made is None:
            made = {"__builtins__": self.builtins, "__name__": namespace.get("__name__")}
            self._remember(namespace, made)
            self._fill.append((namespace, made, {"__builtins__"}))
        return made

    def _module(self, module: types.ModuleType) -> types.ModuleType:
        made = types.ModuleType(module.__name__)
        self._remember(module, made)
        self._fill.append((vars(module), vars(made), {"__builtins__"}))
        return made

    def _object(self, obj: Any) -> Any:
        made = self._copies.get(id(obj))
        if made is not None:
            return made
        cls = type(obj)
        if bare.built_in(cls):
            return obj  # a built-in type's: its methods are C and its class cannot change
        made = types.SimpleNamespace()
        self._remember(obj, made)
        space = vars(made)
        for klass in reversed(cls.__mro__):
            if klass is object:
                continue
            for name, value in vars(klass).items():
                if name.startswith("__") and name.endswith("__"):
                    continue  # the object's protocol (__init__, __dict__): not called by name
                kind = type(value)
                if kind is types.FunctionType:
                    space[name] = types.MethodType(self._copy(value), made)
                elif kind is staticmethod:
                    space[name] = self._copy(value.__func__)
                elif kind is classmethod:
                    space[name] = types.MethodType(self._copy(value.__func__), cls)
                elif kind is property:
                    raise TypeError(f"{cls.__qualname__}.{name} is a property: its code would "
                                    f"run from the class, which student code can change")
                else:
                    space[name] = value
        for name, value in vars(obj).items():
            space[name] = self._state(value)
        return made

    def _state(self, value: Any) -> Any:
        """An attribute of an object copied: code is copied; a dict holding methods of the
        grader's own (handlers by event) is made again with copies of them; state is shared as
        it is (a dict of library callables, the trip-wire's originals, is state: those are what
        it hands back, a library's bound method among them, as they are)."""
        kind = type(value)
        if kind in (types.FunctionType, types.MethodType, _CACHED, functools.partial):
            return self._copy(value)
        if kind is dict and any(self._ours(v) for v in value.values()):
            return {k: self._copy(v) if self._ours(v) else v for k, v in value.items()}
        return value

    def _ours(self, value: Any) -> bool:
        """Whether ``value`` is a method of code the hook runs (read before any student code)."""
        if type(value) is not types.MethodType:
            return False
        module = getattr(value.__func__, "__module__", None)
        return type(module) is str and module.startswith(self._own)

    def _remember(self, original: Any, made: Any) -> None:
        self._copies[id(original)] = made
        self._originals.append(original)

    def _settle(self) -> None:
        """Fill every namespace copied with copies of what the copied code can name, until
        copying brings in no new name."""
        while True:
            before = len(self._names), len(self._fill)
            for original, made, filled in list(self._fill):
                wanted = self._names - filled
                filled |= wanted
                for name in wanted:
                    if name in original:
                        made[name] = self._copy(original[name])
            if (len(self._names), len(self._fill)) == before:
                return


def _names(code: types.CodeType) -> Iterable[str]:
    """The names ``code`` and the code nested in it can look up (globals, attributes)."""
    yield from code.co_names
    for const in code.co_consts:
        if type(const) is types.CodeType:
            yield from _names(const)
