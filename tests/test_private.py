"""The private copies the worker's audit hook runs (grader.isolation.private): what the copied code
looks up by name is what it was when copied, whatever is rebound later where it came from."""

from __future__ import annotations

import builtins
import contextlib
import functools
import os
import string
import types
from typing import Any, Iterator

import pytest

from grader.isolation import private

LIMIT = 3


def helper(x: int) -> int:
    return x + LIMIT


def uses_everything(path: str) -> tuple[int, str, int]:
    """A global function and constant, a builtin, a library function reached through a module."""
    return helper(len(path)), os.path.basename(path), LIMIT


@functools.lru_cache(maxsize=None)
def cached(x: int) -> int:
    return helper(x)


class Counter:
    def __init__(self) -> None:
        self.seen: list[int] = []
        self.handlers = {"add": self.add}

    def add(self, x: int) -> int:
        self.seen.append(x)
        return self.double(x)

    def double(self, x: int) -> int:
        return helper(x) * 2


class WithProperty:
    @property
    def value(self) -> int:
        return 1


@contextlib.contextmanager
def rebound() -> Iterator[None]:
    """Every name the code looks up, rebound where it came from (for as short a time as the
    calls take: ``len`` is everyone's)."""
    saved = [(globals(), "helper", helper), (globals(), "LIMIT", LIMIT),
             (vars(builtins), "len", len), (vars(os.path), "basename", os.path.basename)]
    double = Counter.double
    globals()["helper"], globals()["LIMIT"] = (lambda x: -1), -1
    os.path.basename = lambda p: "theirs"  # type: ignore[assignment]
    Counter.double = lambda self, x: -1  # type: ignore[method-assign]
    builtins.len = lambda x: -1  # type: ignore[assignment]
    try:
        yield
    finally:
        for namespace, name, value in saved:
            namespace[name] = value
        Counter.double = double  # type: ignore[method-assign]


def test_a_copied_function_looks_up_what_was_there_when_copied() -> None:
    copy = private.Copier().copy(uses_everything)
    with rebound():
        theirs, ours = uses_everything("/a/b.py"), copy("/a/b.py")
    assert theirs == (-1, "theirs", -1)  # the original sees the change
    assert ours == (10, "b.py", 3)
    assert copy.__globals__ is not globals()
    assert copy.__globals__["__builtins__"] is not vars(builtins)


def test_a_copied_object_shares_its_state_and_calls_its_own_methods() -> None:
    counter = Counter()
    copy = private.Copier(own=(__name__,)).object(counter)
    with rebound():
        got = copy.add(4), copy.handlers["add"](1), counter.add(2)
    assert type(copy) is types.SimpleNamespace
    assert got == (14, 8, -1)  # the original's class was changed
    assert counter.seen == [4, 1, 2] and copy.seen is counter.seen  # what it records is shared


def test_caches_and_partials_are_copied_with_what_they_call() -> None:
    copier = private.Copier()
    cache, partial = copier.copy(cached), copier.copy(functools.partial(helper, 1))
    with rebound():
        got = cache(2), partial()
    assert got == (5, 4)


def test_copies_are_made_once() -> None:
    copier = private.Copier()
    counter = Counter()
    assert copier.object(counter) is copier.object(counter)
    assert copier.copy(helper) is copier.copy(helper)
    assert copier.copy(counter.add).__self__ is copier.object(counter)


def test_a_property_is_not_copied() -> None:
    with pytest.raises(TypeError, match="property"):
        private.Copier().object(WithProperty())


def test_what_looks_nothing_up_is_shared() -> None:
    copier = private.Copier()
    for value in (len, os.stat, 3, "text", [1], Counter, types.SimpleNamespace()):
        assert copier.copy(value) is value


class Holder:
    def __init__(self, held: Any) -> None:
        self.originals = {1: held, 2: len}  # what it hands back: state
        self.handlers = {"look": self.look}  # code the hook runs

    def look(self) -> int:
        return 1


def test_a_libraries_bound_method_in_the_state_is_state_as_it_is() -> None:
    """A method of the package's own is copied with its object; a library's bound method held
    as state (a trip-wire's original) is handed back as it is, bound to its own object."""
    method = string.Formatter().format
    holder = Holder(method)
    copy = private.Copier(own=(__name__,)).object(holder)
    assert copy.originals is holder.originals and copy.originals[1] is method
    assert copy.handlers["look"].__self__ is copy
