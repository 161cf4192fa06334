"""Banned operators refused in PyTorch's dispatcher, in the worker, before student code runs.

Every route to a kernel (``F.conv2d``, a module's private ``_conv_forward``, an ``nn.LSTM`` made
with ``__new__``, ``torch.ops.aten.convolution``, ``torch._C._VariableFunctionsClass``, the
operator registry's ``_get_operation_overload`` and ``_jit_get_operation``, the ``func`` a
tensor subclass's ``__torch_function__`` receives, a quantized or reference module, a
``redispatch`` to a backend key) ends in the dispatcher. So a topic's ``[banned] ops`` names
operators (``"*::*convolution*"``: shell patterns on ``namespace::name``, every overload
included), and the worker registers, for each operator they match, a kernel that refuses the
call at every dispatch key where the operator has a kernel of its own: its composite kernel
where it has one (that covers every backend), else its backend, autograd and meta kernels.

The registrations cannot be undone from Python: the dispatcher's registration handles (what a
``torch.library.Library`` wraps) are kept alive by their reference count alone (nothing refers to them, so nothing leads to
them), a later registration by student code only hides the refusal behind a kernel of its own,
never the original one, and the refusing kernels are held by the dispatcher, not by any Python
object. What fired is told through ``record``, which the worker gives (see ``audit``).
"""

from __future__ import annotations

import ctypes
import fnmatch
import functools
import re
import warnings
from typing import Any, Callable, Sequence

# Keys at which an operator may have a kernel of its own. A composite kernel serves every
# backend, so where an operator has one, overriding it is enough (and a backend kernel beside a
# composite one would break tensors of other layouts: mkldnn, sparse).
_COMPOSITE = ("CompositeImplicitAutograd", "CompositeExplicitAutograd",
              "CompositeExplicitAutogradNonFunctional")
_KEYS = ("Autograd", "AutogradCPU", "AutogradCUDA", "AutogradOther", "AutogradMeta",
         "AutogradNestedTensor", "CPU", "CUDA", "Meta", "QuantizedCPU", "QuantizedCUDA",
         "QuantizedMeta", "SparseCPU", "SparseCUDA", "SparseMeta", "SparseCsrCPU", "SparseCsrCUDA",
         "SparseCsrMeta", "NestedTensorCPU", "NestedTensorCUDA", "NestedTensorMeta", "MkldnnCPU",
         "FuncTorchBatched", "BackendSelect", "Functionalize", "ADInplaceOrView", "AutocastCPU",
         "AutocastCUDA", "Python", "PreDispatch", "ZeroTensor", "Conjugate", "Negative")


class OperatorRefused(BaseException):
    """Raised in place of a banned operator. Not an ``Exception``, so ``except Exception``
    does not hide it; the call is recorded whether or not the student catches it."""


def matches(op: str, pattern: str) -> bool:
    """Whether operator ``op`` (``aten::conv2d.padding``) falls under ``pattern``: the pattern
    is matched against the name without its overload."""
    return fnmatch.fnmatchcase(op.split(".", 1)[0], pattern)


# Worked out once in the zygote for the course's patterns (``prepare``), inherited by workers.
_OPERATORS: dict[str, tuple[str, ...]] = {}  # a pattern -> the operators it bans
_KEYS_OF: dict[str, tuple[str, ...]] = {}  # an operator -> the keys to refuse it at


def prepare(patterns: Sequence[str]) -> None:
    """Work out now, in the zygote, what workers refusing ``patterns`` will need."""
    for pattern in patterns:
        _OPERATORS[pattern] = tuple(operators([pattern]))
        for op in _OPERATORS[pattern]:
            _KEYS_OF.setdefault(op, tuple(keys_of(op)))


def operators(patterns: Sequence[str]) -> list[str]:
    """Every operator the dispatcher knows (each overload apart) that ``patterns`` ban."""
    if not patterns:
        return []
    if all(p in _OPERATORS for p in patterns):
        return sorted({op for p in patterns for op in _OPERATORS[p]})
    import torch

    one = re.compile("|".join(fnmatch.translate(p) for p in patterns))
    return sorted(op for op in _all_operators(torch) if one.match(op.split(".", 1)[0]))


@functools.lru_cache(maxsize=1)
def _all_operators(torch: Any) -> tuple[str, ...]:
    return tuple(torch._C._dispatch_get_all_op_names())


def keys_of(op: str) -> list[str]:
    """The dispatch keys at which ``op`` must be refused (see the module's docstring)."""
    if op in _KEYS_OF:
        return list(_KEYS_OF[op])
    import torch

    def has(op: str, key: str) -> bool:
        try:
            return bool(torch._C._dispatch_has_kernel_for_dispatch_key(op, key))
        except RuntimeError:  # a key this build of torch does not know
            return False

    composite = [k for k in _COMPOSITE if has(op, k)]
    if "CompositeImplicitAutograd" in composite:
        return ["CompositeImplicitAutograd"]
    return composite + [k for k in _KEYS if has(op, k)] + (
        [] if composite else ["CPU", "CUDA", "Meta"])


def refuse(patterns: Sequence[str], record: Callable[[str], None],
           describe: Callable[[str], str]) -> int:
    """Register a refusing kernel for every operator ``patterns`` ban; how many operators.

    ``record(op)`` is called first on every refused call (the worker reports it with the
    reply); ``describe(op)`` makes the refusal's message."""
    ops = operators(patterns)
    if not ops:
        return 0
    import torch

    # The dispatcher's own registration handles (what torch.library.Library wraps), one per
    # namespace, are kept alive by their count alone: no object leads to them.
    libraries: dict[str, Any] = {}
    with warnings.catch_warnings():  # "overriding a previously registered kernel": on purpose
        warnings.simplefilter("ignore")
        for op in ops:
            namespace, name = op.split("::", 1)
            lib = libraries.get(namespace)
            if lib is None:
                lib = libraries[namespace] = torch._C._dispatch_library(
                    "IMPL", namespace, "", __file__, 0)
            kernel = _refusal(op, record, describe)
            for key in keys_of(op):
                try:
                    lib.impl(name, key, kernel)
                except (RuntimeError, ValueError):
                    pass  # a key this build has no use for
    for lib in libraries.values():
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(lib))
    return len(ops)


def _refusal(op: str, record: Callable[[str], None],
             describe: Callable[[str], str]) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        record(op)
        raise OperatorRefused(describe(op))
    return refused
