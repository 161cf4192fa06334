"""Python's own messages about names and types (and NumPy's floating-point warnings), told in a
hidden test with only public names.

A hidden test's student copy withholds an exception's text, which may quote the hidden inputs
(``grader.results.visibility``). Much of what students hit there is Python's own wording, whose
only variable parts are names: ``'Tensor' object has no attribute 'exp'``, ``module 'numpy' has
no attribute 'softmax'``, ``cannot access local variable 'h' where it is not associated with a
value``, ``list indices must be integers or slices, not tuple``. Without the text the student
reads only "raised AttributeError" and a line number.

``shown`` re-makes such a message from Python's template: each name in it stays where it is a
public name (one that Python, NumPy or torch defines: a builtin, a module, a type, an attribute
of an array or a tensor) or one the student's module spells in its source as handed in
(``TopicResult.written``), and reads ``(withheld)`` otherwise, so a name the student's code made
up at run time never shows. The student's code can still choose which public name a message
shows, which tells about as much as the line number already shown beside it, and never a hidden
array or number. Messages of any other form are not shown, as before.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import math
import re
import sys

WITHHELD = "(withheld)"
# Parts a dotted name may have to show (numpy.linalg.LinAlgError): one text is one choice among
# the names, not many strung together.
MAX_PARTS = 3
_NAME = r"([A-Za-z_][\w.]{0,80})"  # a slot: a name, or a dotted path to one

# Python's messages (the first line of str(exc)), each matched whole; every group is a name.
_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("AttributeError", rf"'{_NAME}' object has no attribute '{_NAME}'"),
    ("AttributeError", rf"module '{_NAME}' has no attribute '{_NAME}'"),
    ("AttributeError", rf"type object '{_NAME}' has no attribute '{_NAME}'"),
    ("AttributeError", rf"'{_NAME}' object attribute '{_NAME}' is read-only"),
    ("AttributeError", rf"attribute '{_NAME}' of '{_NAME}' objects is not writable"),
    ("AttributeError", rf"property '{_NAME}' of '{_NAME}' object has no setter"),
    ("NameError", rf"name '{_NAME}' is not defined"),
    ("NameError", rf"cannot access free variable '{_NAME}' where it is not associated with a "
                  r"value in enclosing scope"),
    ("UnboundLocalError", rf"cannot access local variable '{_NAME}' where it is not associated "
                          r"with a value"),
    ("TypeError", rf"'{_NAME}' object is not (?:callable|subscriptable|iterable|an iterator)"),
    ("TypeError", rf"'{_NAME}' object does not support item assignment"),
    ("TypeError", rf"'{_NAME}' object cannot be interpreted as an integer"),
    ("TypeError", rf"object of type '{_NAME}' has no len\(\)"),
    ("TypeError", rf"unhashable type: '{_NAME}'"),
    ("TypeError", rf"{_NAME} indices must be integers or slices, not {_NAME}"),
    ("TypeError", rf"unsupported operand type\(s\) for (?:[-+*/%@&|^<>=]{{1,3}}|\*\* or pow\(\)): "
                  rf"'{_NAME}' and '{_NAME}'"),
    ("TypeError", rf"can't multiply sequence by non-int of type '{_NAME}'"),
    ("TypeError", rf"bad operand type for unary (?:[-+~]): '{_NAME}'"),
    ("TypeError", rf"'(?:<|<=|>|>=)' not supported between instances of '{_NAME}' and '{_NAME}'"),
    ("TypeError", rf'can only concatenate {_NAME} \(not "{_NAME}"\) to {_NAME}'),
    ("TypeError", rf"cannot unpack non-iterable {_NAME} object"),
    ("TypeError", rf"{_NAME}\(\) argument must be a string or a (?:real )?number, not '{_NAME}'"),
    ("IndexError", r"(?:list|tuple|string) index out of range"),
    ("IndexError", r"(?:list|tuple) assignment index out of range"),
    ("IndexError", r"pop from empty list"),
    ("ZeroDivisionError", r"(?:float |integer )?(?:division by zero|division or modulo by zero|"
                          r"modulo by zero|divmod\(\) by zero)"),
    ("ValueError", r"math domain error"),
    ("RuntimeError", r"dictionary changed size during iteration"),
    ("OverflowError", r"math range error"),
    ("RecursionError", r"maximum recursion depth exceeded(?: while calling a Python object| in "
                       r"comparison| while getting the repr of an object)?"),
    # NumPy's floating-point warnings, which a test that refuses warnings reports.
    ("RuntimeWarning", rf"(?:overflow|underflow|invalid value|divide by zero) encountered in "
                       rf"(?:scalar )?{_NAME}"),
    ("RuntimeWarning", r"Mean of empty slice\.?"),
    ("RuntimeWarning", r"Degrees of freedom <= 0 for slice\.?"),
)
# Every capturing group is a name (Python's fixed words are in (?:...)).
_COMPILED = tuple((kind, re.compile(pattern)) for kind, pattern in _TEMPLATES)
_WORDS = re.compile(r"[A-Za-z_]\w*$")
# Where the public names come from: what a student's code can name without making one up.
_MODULES = ("numpy", "numpy.linalg", "numpy.random", "torch", "torch.nn", "torch.nn.functional",
            "torch.linalg", "torch.autograd", "collections", "itertools", "functools")
_TYPES = ("numpy.ndarray", "numpy.generic", "torch.Tensor", "torch.nn.Module")


@functools.lru_cache(maxsize=1)
def _public_names() -> frozenset[str]:
    """The names Python, NumPy and torch define: builtins, the modules students import and their
    members, and the attributes of arrays and tensors."""
    for module in _MODULES:  # the same names in every process, whatever it had loaded
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    names: set[str] = set(dir(builtins)) | set(dir(math)) | set(sys.builtin_module_names)
    names |= {"np", "torch", "F", "nn", "numpy", "math", "self", "cls", "module", "function",
              "method", "builtin_function_or_method", "NoneType", "generator", "dict_keys",
              "dict_values", "dict_items", "range_iterator", "list_iterator"}
    for value in vars(builtins).values():
        if isinstance(value, type):
            names |= set(dir(value))
    for path in (*_MODULES, *_TYPES):
        module, _, attr = path.rpartition(".") if path in _TYPES else (path, "", "")
        holder = sys.modules.get(module)
        if holder is not None and attr:
            holder = getattr(holder, attr, None)
        if holder is not None:
            names |= {n for n in dir(holder) if _WORDS.match(n)}
            names.add(path)
            names.add(path.rsplit(".", 1)[-1])
    return frozenset(names)


def public(name: str, written: frozenset[str] = frozenset()) -> bool:
    """Whether ``name`` (or each part of a dotted one) is a name Python, NumPy or torch define,
    or one of the module's own (``written``: spelt in its source before any test ran)."""
    parts = name.split(".")
    return bool(name) and (name in written or len(parts) <= MAX_PARTS and all(
        part in _public_names() or part in written for part in parts))


def remade(text: str, written: frozenset[str] = frozenset()) -> str:
    """``text`` re-made as ``shown`` re-makes it, where it is one of Python's messages about names
    and types whatever the exception that carried it (a text the test quotes beside another
    type's name, say); "" where it is not."""
    for kind in dict.fromkeys(kind for kind, _ in _TEMPLATES):
        if said := shown(kind, text, written):
            return said
    return ""


def shown(type_name: str, message: str, written: frozenset[str] = frozenset()) -> str:
    """``message``'s first line re-made with only public names, the others ``(withheld)``, where
    it is one of Python's messages about names and types, raised as the type named
    ``type_name`` (the exact type: a subclass's words are its own); "" where it is not."""
    first = message.split("\n", 1)[0].strip()
    for kind, pattern in _COMPILED:
        if kind != type_name:
            continue
        found = pattern.fullmatch(first)
        if found is None:
            continue
        text, cut = [], 0
        for i in range(1, (found.lastindex or 0) + 1):  # every group is a name
            start, end = found.span(i)
            name = found.group(i)
            text += [first[cut:start], name if public(name, written) else WITHHELD]
            cut = end
        return "".join([*text, first[cut:]])
    return ""


__all__ = ["WITHHELD", "public", "remade", "shown"]
