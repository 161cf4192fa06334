"""``grader.isolation.bare``: reads and writes that run no code the student can put in place."""

from __future__ import annotations

import abc
import types
from typing import Any

import pytest

from grader.isolation import bare

RAN: list[str] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


class Twin:
    """A key with another key's hash, whose ``__eq__`` notes that it ran."""

    def __init__(self, of: Any) -> None:
        self.of = of

    def __hash__(self) -> int:
        return hash(self.of)

    def __eq__(self, other: object) -> bool:
        RAN.append(f"__eq__ of a twin of {self.of!r}")
        return False


class Name(str):
    def __hash__(self) -> int:
        RAN.append("a str subclass's __hash__")
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        RAN.append("a str subclass's __eq__")
        return str.__eq__(self, other)


def _twin_first(namespace: dict[Any, Any], name: Any) -> None:
    value = namespace.pop(name)
    namespace[Twin(name)] = "the twin's"
    namespace[name] = value
    RAN.clear()


def test_a_name_is_read_comparing_no_key_of_another_type() -> None:
    namespace = {"a": 1, "path": "/lib/x.py", 7: "seven"}
    _twin_first(namespace, "path")
    _twin_first(namespace, 7)
    namespace[Name("__name__")] = "theirs"
    RAN.clear()
    assert namespace.get("path") == "/lib/x.py" and RAN  # a dict lookup runs the twin's __eq__
    RAN.clear()
    assert bare.get(namespace, "path") == "/lib/x.py"
    assert bare.get(namespace, 7) == "seven"
    assert bare.get(namespace, "__name__") is None  # a str subclass's key is not the name
    assert bare.get(namespace, "missing", "default") == "default"
    assert RAN == []


def test_a_class_namespace_and_other_mappings() -> None:
    class C:
        x = 1
    assert bare.get(bare.class_dict(C), "x") == 1
    assert bare.get(types.MappingProxyType({"x": 1}), "x") == 1  # a proxy of a dict
    not_a_dict: Any = {"x": 1}.items()
    assert bare.get(not_a_dict, "x") is None  # nothing read

    class Mine(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            RAN.append("items")
            return super().items()
    assert bare.get(Mine(x=1), "x") is None and RAN == []


def test_only_a_namespace_of_plain_keys_is_written_by_key() -> None:
    theirs = {"a": 1, Name("b"): 2}
    RAN.clear()  # (making it hashed their key)
    assert bare.writable({"a": 1, 2: 3})
    assert not bare.writable(theirs)
    assert not bare.writable({(1, 2): 3})
    assert not bare.writable(types.MappingProxyType({"a": 1}))  # type: ignore[arg-type]
    assert RAN == []


def test_a_module_namespace_is_written_without_comparing_the_students_keys() -> None:
    module = types.ModuleType("m")
    namespace = vars(module)
    namespace["polyfit"] = "the original"
    _twin_first(namespace, "polyfit")
    keep: list[Any] = []
    bare.put(namespace, "polyfit", "a wire", keep)
    assert RAN == []
    assert module.polyfit == "a wire" and bare.writable(namespace)
    assert [type(k).__name__ for k, _ in keep] == ["Twin"]  # kept, so no finaliser runs
    assert list(namespace)[:2] == ["__name__", "__doc__"]  # the rest as it was, in order
    bare.put(namespace, "other", 1, keep)  # plain already: written as it is
    assert module.other == 1 and len(keep) == 1


def test_a_class_is_written_where_no_metaclass_of_a_class_statement_intercepts() -> None:
    class Meta(type):
        pass

    class Plain:
        def __init__(self) -> None:
            self.made = "original"

    class Guarded(metaclass=Meta):
        def __init__(self) -> None:
            self.made = "original"

    def wired(self: Any) -> None:
        self.made = "wired"

    assert bare.set_on_class(Plain, "__init__", wired) and Plain().made == "wired"
    assert bare.set_on_class(Guarded, "__init__", wired) and Guarded().made == "wired"

    class Watched(metaclass=abc.ABCMeta):
        def __init__(self) -> None:
            self.made = "original"

    original = Watched.__init__
    setter = property(lambda cls: None, lambda cls, value: RAN.append("the descriptor's __set__"))
    type.__setattr__(abc.ABCMeta, "__init__", setter)
    try:
        assert not bare.set_on_class(Watched, "__init__", wired)
    finally:
        type.__delattr__(abc.ABCMeta, "__init__")
    assert RAN == [] and Watched.__init__ is original  # refused, nothing of theirs ran

    # a function on the metaclass has no __set__: written as ever
    type.__setattr__(Meta, "__init__", lambda cls, *args: type.__init__(cls, *args))
    assert bare.set_on_class(Guarded, "__init__", original)


def test_a_refusal_is_made_without_its_class_code() -> None:
    class Refused(BaseException):
        def __init__(self, *args: Any) -> None:
            RAN.append("__init__")

    made = bare.refusal(Refused, "no")
    assert type(made) is Refused and made.args == ("no",) and RAN == []


def test_an_objects_own_namespace_is_read_by_the_built_in_lookup() -> None:
    class Sly:
        def __getattribute__(self, name: str) -> Any:
            RAN.append(name)
            return {}

    sly = Sly()
    object.__setattr__(sly, "x", 1)
    assert bare.own_dict(sly) == {"x": 1} and RAN == []
    assert bare.own_dict(3) == {}
    assert bare.built_in(int) and not bare.built_in(Sly)
