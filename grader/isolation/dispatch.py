"""Banned operators refused in PyTorch's dispatcher, in the worker, before student code runs.

Every route to a kernel (``F.conv2d``, a module's private ``_conv_forward``, an ``nn.LSTM`` made
with ``__new__``, ``torch.ops.aten.convolution``, ``torch._C._VariableFunctionsClass``, the
operator registry's ``_get_operation_overload`` and ``_jit_get_operation``, the ``func`` a
tensor subclass's ``__torch_function__`` receives, a quantized or reference module, a
``redispatch`` to a backend key) ends in the dispatcher. So a topic's ``[banned] ops`` names
operators (``"*::*convolution*"``: shell patterns on ``namespace::name``, every overload
included), and the worker registers, for each operator they match, a kernel that refuses the
call at every dispatch key where the operator has a kernel of its own, and where it has no
composite kernel (one that covers every backend) at the CPU, CUDA and Meta keys it has none for.
Every key, not only those a call dispatches to by itself: a kernel can be called by its key
(``OpOverload._op_dk``, ``redispatch``), and the kernels at keys a call only reaches in a mode
compute too (functorch's decomposition of ``_scaled_dot_product_attention_math`` or ``dropout``,
registered at ``FuncTorchBatchedDecomposition``; a nested-tensor kernel of another backend).

The registrations cannot be undone from Python: the dispatcher's registration handles (what a
``torch.library.Library`` wraps) are kept alive by their reference count alone (nothing refers
to them and the garbage collector does not track them, so nothing leads to them), a later
registration by student code only hides the refusal behind a kernel of its own, never the
original one, and the refusing kernels are held by the dispatcher, not by any Python object. A
refusing kernel holds the operator's name and its message, nothing else: it tells the worker's
trip-wire what fired through an audit event (``grader.refused``) that only the audit hook
answers, so that even the frame a refusal's traceback shows leads nowhere.

**Autograd as a capability** (``no_autograd``): in a topic whose exercise is a gradient written
by hand, no graph is recorded for any operator. Every kernel at torch's autograd keys is replaced
by a fallthrough (the call goes straight on to the operator's computation, recording nothing),
in the zygote of that profile, before any worker exists; so ``grad_fn`` nodes never exist to be
called, and ``torch.autograd.grad``, ``Tensor.backward``, ``torch.func`` and forward-mode AD have
nothing to work on, whatever ``torch.enable_grad`` says and in every thread. The operators that
exist only to compute gradients (``*_backward*``: ``threshold_backward`` is ReLU's) are refused.
An operator with no autograd kernel of its own (quantized, sparse and distributed ones, a few
``out=`` forms) is left to torch's fallback for such operators, which computes no gradient: at
most it records a node that gives none. Replacing that fallback too would rewrite the dispatch
table of every operator once more (some 7 MB of the zygote's memory) for nothing more.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import re
import sys
import warnings
from typing import Any, Callable, Iterator, Sequence

# A composite kernel serves every backend: where an operator has one, no backend key it has no
# kernel for needs a refusal of its own (and one there would break tensors of other layouts:
# mkldnn, sparse).
_COMPOSITE = ("CompositeImplicitAutograd", "CompositeExplicitAutograd",
              "CompositeExplicitAutogradNonFunctional")


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
    return sorted(op for base, ops in _all_operators(torch).items() if one.match(base)
                  for op in ops)


@functools.lru_cache(maxsize=1)
def _all_operators(torch: Any) -> dict[str, tuple[str, ...]]:
    """Every operator, by its name without the overload (what patterns match)."""
    by_name: dict[str, list[str]] = {}
    for op in torch._C._dispatch_get_all_op_names():
        by_name.setdefault(op.split(".", 1)[0], []).append(op)
    return {name: tuple(ops) for name, ops in by_name.items()}


def keys_of(op: str) -> list[str]:
    """The dispatch keys at which ``op`` must be refused (see the module's docstring)."""
    if op in _KEYS_OF:
        return list(_KEYS_OF[op])
    import torch

    def has(op: str, key: str) -> bool:
        return op in _kernels(torch, key)

    own = [k for k in _keys(torch) if has(op, k)]
    own += [k for k in _listed_keys(torch, op) if k not in own]
    backends = [] if any(k in own for k in _COMPOSITE) else \
        [k for k in ("CPU", "CUDA", "Meta") if k not in own]
    return own + backends


# Keys with kernels that Python's ``torch._C.DispatchKey`` does not name, reached by a tensor's
# layout (mkldnn), a mode (the TorchScript tracer, the older vmap) or another device's autocast.
_UNNAMED = ("MkldnnCPU", "Tracer", "Batched", "VmapMode", "BatchedNestedTensor", "AutocastMTIA",
            "AutocastMAIA", "AutocastHPU", "AutocastXLA", "AutocastIPU", "AutocastPrivateUse1")


# A line of the dispatcher's own account of an operator that names a key it has a kernel at.
_REGISTERED = re.compile(r"^(\w+)(?:\[alias\])?(?: \(inactive\))?: .*registered at ", re.M)


def _listed_keys(torch: Any, op: str) -> list[str]:
    """The keys at which the dispatcher's own account of ``op`` lists a kernel: those
    ``_keys`` does not name too, which differ between builds of torch (a kernel at ``Named`` in
    some), so that no kernel of a banned operator is left unrefused whatever build runs."""
    dump = getattr(torch._C, "_dispatch_dump", None)
    if dump is None:
        return []
    try:
        text = dump(op)
    except RuntimeError:
        return []
    return [k for k in _REGISTERED.findall(text) if k != "debug"]  # debug: the schema's own


@functools.lru_cache(maxsize=1)
def _keys(torch: Any) -> tuple[str, ...]:
    """Every dispatch key an operator may have a kernel of its own at, composites first: those
    Python can name (``torch._C.DispatchKey``), at which a kernel can be called by its key if in
    no other way, and those it cannot that calls reach (``_UNNAMED``)."""
    named = list(getattr(torch._C.DispatchKey, "__members__", ()))
    return tuple(dict.fromkeys((*_COMPOSITE, *sorted({*named, *_UNNAMED}))))


def refuse(patterns: Sequence[str], describe: Callable[[str], str]) -> int:
    """Register a refusing kernel for every operator ``patterns`` ban; how many operators.
    ``describe(op)`` makes the refusal's message. Each refused call raises the audit event
    ``grader.refused`` with the operator's name before it raises (see the module's docstring)."""
    ops = operators(patterns)
    if not ops:
        return 0
    with _registrations() as library:
        for op in ops:
            kernel = _refusal(op, describe(op))
            for key in keys_of(op):
                try:
                    library(op).impl(op.split("::", 1)[1], key, kernel)
                except (RuntimeError, ValueError):
                    pass  # a key this build has no use for
    return len(ops)


def _refusal(op: str, message: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        sys.audit("grader.refused", op)
        raise OperatorRefused(message)
    return refused


GRADIENT_OPERATORS = ("*::*_backward*",)


def no_autograd() -> int:
    """Record no autograd graph in this process, whoever asks, and refuse the operators that
    only compute gradients (see the module's docstring); how many kernels were replaced.
    Called once in the zygote of a profile that bans autograd."""
    import torch

    fallthrough = getattr(torch.library, "fallthrough_kernel")
    count = 0
    with _registrations() as library:
        for key in autograd_keys(torch):
            for op in _kernels_at(torch, key):
                try:
                    library(op).impl(op.split("::", 1)[1], key, fallthrough)
                    count += 1
                except (RuntimeError, ValueError):
                    pass
    refuse(GRADIENT_OPERATORS, lambda op: f"{op} computes a gradient for you: write the "
                                          "gradient yourself, with basic operations")
    # An autograd kernel calls on below it with autograd's keys (and, before an operator's
    # computation, the in-place and view bookkeeping's) left out of what its thread dispatches
    # to; kernels below count on that (sparse coalescing asserts it, sparse softmax computes
    # zeros without it), and a fallthrough leaves them in. So this thread, and the workers
    # forked from it, run as below autograd for good: every computation as torch runs it, but
    # in-place changes counted in no version and views not marked as views (``_version``,
    # ``_base``: autograd's, which is not there). It adds nothing to the wall: a student's guard
    # that brings those keys back finds the fallthroughs there.
    below = torch._C._AutoDispatchBelowADInplaceOrView()
    below.__enter__()
    _keep(below)
    return count


def _keep(obj: Any) -> None:
    """Keep ``obj`` alive by its reference count alone, so that nothing leads to it."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def autograd_keys(torch: Any) -> tuple[str, ...]:
    """Torch's autograd keys, every one Python can name: a kernel there records the graph, then
    calls on below."""
    return tuple(k for k in _keys(torch) if k.startswith("Autograd"))


@functools.lru_cache(maxsize=None)
def _kernels(torch: Any, key: str) -> frozenset[str]:
    """The operators with a kernel of their own at ``key`` when first asked: in the zygote,
    before any refusal is registered, so the kernels the operators came with."""
    return frozenset(_kernels_at(torch, key))


def _kernels_at(torch: Any, key: str) -> list[str]:
    """The operators with a kernel of their own at dispatch key ``key``: asked of the
    dispatcher once, where this build of torch can say, rather than operator by operator."""
    listing = getattr(torch._C, "_dispatch_get_registrations_for_dispatch_key", None)
    if listing is not None:
        try:
            return list(listing(key))
        except RuntimeError:  # a key this build of torch does not know
            return []
    return [op for op in torch._C._dispatch_get_all_op_names() if _has(torch, op, key)]


def _has(torch: Any, op: str, key: str) -> bool:
    try:
        return bool(torch._C._dispatch_has_kernel_for_dispatch_key(op, key))
    except RuntimeError:  # a key this build of torch does not know
        return False


@contextlib.contextmanager
def _registrations() -> Iterator[Callable[..., Any]]:
    """``library(op)``: the dispatcher's registration handle for ``op``'s namespace (what
    torch.library.Library wraps), made once; on leaving, every handle made is kept alive by its
    reference count alone, so that nothing leads to it and no registration is ever undone."""
    import torch

    handles: dict[tuple[str, str], Any] = {}

    def library(op: str, key: str = "") -> Any:
        namespace = op.split("::", 1)[0]
        handle = handles.get((namespace, key))
        if handle is None:
            handle = handles[(namespace, key)] = torch._C._dispatch_library(
                "IMPL", namespace, key, __file__, 0)
        return handle

    with warnings.catch_warnings():  # "overriding a previously registered kernel": on purpose
        warnings.simplefilter("ignore")
        try:
            yield library
        finally:
            for handle in handles.values():
                _keep(handle)
