"""Reading and writing what student code can change, without running any code of theirs.

The audit hook and the trip-wire's handlers run in the middle of the worker's own frames, so
nothing they do may call code the student can put in place (see ``grader.isolation.audit``).
Python's ordinary reads and writes call such code in ways the source does not show:

- **a class's code**: ``x.attr``, ``vars(x)``, ``isinstance``, ``==``, ``hash`` run what ``x``'s
  class holds now, and student code can change any class made by a class statement, a library's
  included (``SourceFileLoader.__eq__ = f``, ``OpOverload.__hash__ = f``);
- **a key of the student's in a dict**: looking a name up in a dict (``d.get("path")``,
  ``d["name"] = v``) hashes it and compares it with every key of the same hash it meets on its
  way; a key the student put in a module's namespace, or in ``threading._active``, whose hash
  is that of the name (a str subclass, any class with ``__hash__``), has its ``__eq__`` called;
- **a metaclass's descriptor**: ``type.__setattr__(cls, name, value)`` calls the ``__set__`` of
  a data descriptor named ``name`` on ``cls``'s metaclass (``ABCMeta.__init__ = property(...)``).

The functions here do each of those jobs by the built-in machinery alone: dict keys are read one
by one and compared only where they are exact strs (or ints); an object's own ``__dict__`` is
read by the built-in lookup; a dict is written by key only where all its keys are exact strs (so
nothing but str comparisons can happen); a class is written only where its metaclasses hold no
descriptor of a class statement's under that name. Where one cannot be done that way it says so
(``None``, ``False``), and the caller refuses rather than guess.
"""

from __future__ import annotations

import types
from typing import Any, Iterable, Mapping, TypeVar

HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement, not built in
# read from the type itself, never through a metaclass's lookup
flags = type.__dict__["__flags__"].__get__
mro = type.__dict__["__mro__"].__get__
class_dict = type.__dict__["__dict__"].__get__  # a mappingproxy of the class's own namespace
_OWN = object.__getattribute__
_SET_ON_CLASS = type.__setattr__
_NEW = BaseException.__new__
_MISSING = object()

E = TypeVar("E", bound=BaseException)


def refusal(kind: type[E], message: str) -> E:
    """An exception of ``kind`` made without running any code of its class: a class's namespace
    is the student's to write (``AuditRefused.__init__ = f``)."""
    made: E = _NEW(kind, message)
    return made


def built_in(kind: type) -> bool:
    """Whether ``kind`` is a built-in class (no class statement made it: nothing in it changes)."""
    return not flags(kind) & HEAPTYPE


def own_dict(obj: Any) -> dict[str, Any]:
    """``obj.__dict__``, read by the built-in lookup (never by its class's
    ``__getattribute__``), or an empty dict where it has none. (A class cannot be given a
    ``__dict__`` of the student's: ``type``'s own descriptor refuses the write.)"""
    try:
        found = _OWN(obj, "__dict__")
    except AttributeError:
        return {}
    return found if type(found) is dict else {}


def get(mapping: Mapping[Any, Any], key: str | int, default: Any = None) -> Any:
    """``mapping[key]`` for an exact str or int ``key``, or ``default``: found by reading the
    keys one by one, so that no key of another type is hashed or compared (a dict lookup would
    call the ``__eq__`` of a key of the student's with the same hash). ``mapping`` is a dict or a
    class's mappingproxy."""
    items: Iterable[tuple[Any, Any]]
    if type(mapping) is dict:
        items = dict.items(mapping)
    elif type(mapping) is types.MappingProxyType:  # a class's: its own dict's items
        items = mapping.items()
    else:
        return default
    kind = type(key)
    for k, v in items:
        if type(k) is kind and k == key:
            return v
    return default


def writable(mapping: Mapping[Any, Any]) -> bool:
    """Whether every key of ``mapping`` is an exact str or int: only then may it be written by key
    (``mapping[k] = v`` compares ``k`` with the keys of the same hash it meets)."""
    if type(mapping) is not dict:
        return False
    for k in dict.keys(mapping):
        kind = type(k)
        if kind is not str and kind is not int:
            return False
    return True


def put(namespace: dict[Any, Any], key: str, value: Any, keep: list[Any]) -> None:
    """``namespace[key] = value`` for an exact str ``key`` in a module's namespace, comparing no
    key but strs: where the student put keys of other types there (their hash could be a name's,
    their ``__eq__`` would run), the namespace is first made again without them (a namespace's
    attributes are strs: no attribute is lost). What is taken out is kept in ``keep``, so that
    no finaliser of theirs runs."""
    if not writable(namespace):
        again: dict[Any, Any] = {}
        for k, v in dict.items(namespace):
            if type(k) is str or type(k) is int:
                again[k] = v
            else:
                keep.append((k, v))
        dict.clear(namespace)
        dict.update(namespace, again)
    namespace[key] = value


def has_setter(found: Any) -> bool:
    """Whether ``found``, an attribute of a class, is a data descriptor (which a write through
    the class calls): anything of a class statement's counts as one, its ``__set__`` could be
    added at any time."""
    kind = type(found)
    if not built_in(kind):
        return True
    return any(get(class_dict(c), "__set__", _MISSING) is not _MISSING or
               get(class_dict(c), "__delete__", _MISSING) is not _MISSING for c in mro(kind))


def set_on_class(cls: type, name: str, value: Any) -> bool:
    """``type.__setattr__(cls, name, value)`` where it runs no code but ``type``'s (it updates
    the class's slots and caches, as a class's write must); whether it did. Not done where
    ``cls``'s metaclass, or one of its bases, holds a data descriptor named ``name`` that is not
    built in: ``type.__setattr__`` would call its ``__set__``."""
    for meta in mro(type(cls)):
        found = get(class_dict(meta), name, _MISSING)
        if found is _MISSING:
            continue
        if not built_in(meta) and has_setter(found):
            return False
        break  # the first found is the one type.__setattr__ honours
    _SET_ON_CLASS(cls, name, value)
    return True
