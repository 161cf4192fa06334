"""Ban profiles: which zygote forks a topic's workers, what it has loaded, and what they may not load.

A library a topic bans is absent from its workers, not removed from them: a module dropped from
``sys.modules`` after loading stays reachable (its classes through ``object.__subclasses__()``,
its functions' ``__globals__``), so only a process that never imported it is free of it. So
workers are forked from one of a few zygotes, each preloaded for a profile:

- ``numpy``: NumPy only; torch was never imported. For the topics that ban torch.
- ``torch``: NumPy and torch. For the topics that may use torch.
- ``torch-no-autograd``: forked from the ``torch`` zygote, then autograd taken away as a
  capability (``dispatch.no_autograd``: no graph is ever recorded, the gradient-only operators
  are refused). For the topics whose exercise is a gradient written by hand.

Beside its profile, each worker is told the modules it goes without, the topic's banned
libraries: none of them is loaded in any zygote, the audit hook refuses importing them and
opening their files, and Landlock leaves their files out of what the worker may read
(``sandbox.readable``), so no route, however it gets past the hook, can load them later.

Torch's Python decompositions and references of operators (``torch._decomp``, ``torch._refs``,
``torch._prims``: Python implementations of the operators a topic bans, and of their gradients,
in tables looked up by an operator's name) cannot be absent from a torch worker: ``import torch``
loads them. In every torch worker whose topic bans an operator or autograd they are banned
calls instead (:func:`calls`): the trip-wire wires every function they define wherever a module
or one of their tables holds it, so student code that reaches one, by any name, is refused. Their
modules are loaded by the zygote. No module under a banned call, theirs or any other, may join
the worker once student code runs (:func:`sealed`).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from typing import Iterable, Sequence

NUMPY = "numpy"
TORCH = "torch"
NO_AUTOGRAD = "torch-no-autograd"
ALL = (NUMPY, TORCH, NO_AUTOGRAD)
# Which profile each zygote is forked from (the root zygote is NUMPY).
PARENT = {TORCH: NUMPY, NO_AUTOGRAD: TORCH}
# The zygote whose modules a profile's workers have: where their trip-wires are planned, before
# it forks the zygotes below it (NO_AUTOGRAD changes torch's dispatcher, not its modules).
PLANNED_IN = {NUMPY: NUMPY, TORCH: TORCH, NO_AUTOGRAD: TORCH}

CAPABILITIES = ("autograd",)  # what ``[banned] capabilities`` may name
DECOMPOSITIONS = ("torch._decomp", "torch._refs", "torch._prims")
# TorchScript, where autograd is banned: its compiler differentiates what it compiles by rules of
# its own (the graph executor's autodiff, ``torch._C._jit_differentiate``), with no autograd graph
# and no gradient operator. Banned at every way in: the compiler, tracer and loaders of
# ``torch.jit``, and torch._C's own doors to them (the graph passes and executor settings, a
# graph made into a function, IR parsed or loaded); torch's own code calls them by name, which
# stays allowed. ``torch._C.CompilationUnit`` is a C class, whose constructor no trip-wire
# guards: what it compiles runs under the profiling executor, which records no gradient here.
TORCHSCRIPT = ("torch.jit", "torch._C._jit_*", "torch._C._create_function_from_*",
               "torch._C.CompilationUnit", "torch._C.parse_ir", "torch._C.import_ir_module*",
               "torch._C._import_ir_module_from_package", "torch._C._load_*",
               "torch._C._debug_set_autodiff_subgraph_inlining",
               "torch._C._set_graph_executor_optimize", "torch._C._get_graph_executor_optimize")
# Autograd's ways in, where autograd is banned: no graph is recorded there (the dispatcher's
# fallthroughs are the wall), so each would only fail with torch's own message ("element 0 of
# tensors does not require grad"), read by a student as a bug of theirs; as banned calls, the
# message names the call and the student's line. ``torch.func``'s transforms that differentiate,
# not the others (``vmap``, ``functional_call``), and the deprecated ones of the ``functorch``
# package, which call them.
_TRANSFORMS = ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian")
AUTOGRAD = ("torch.autograd.grad", "torch.autograd.backward", "torch.autograd.functional",
            "torch.autograd.graph._engine_run_backward", "torch.Tensor.backward",
            *(f"torch.func.{t}" for t in (*_TRANSFORMS, "linearize")),
            *(f"torch._functorch.deprecated.{t}" for t in _TRANSFORMS))
# The one module of theirs that zygotes do not load, absent from the workers that ban them: only
# forward-mode AD loads it (scripting its decompositions costs a zygote 0.3 s and 9 MB), and
# forward-mode AD is refused there anyway (it runs those banned decompositions).
LEFT_OUT = ("torch._decomp.decompositions_for_jvp",)


def profile(libraries: Iterable[str], capabilities: Iterable[str] = ()) -> str:
    """The profile of a topic that bans ``libraries`` and ``capabilities``."""
    if "torch" in libraries:
        return NUMPY
    return NO_AUTOGRAD if "autograd" in capabilities else TORCH


def calls(calls: Sequence[str], libraries: Sequence[str] = (), ops: Sequence[str] = (),
          capabilities: Sequence[str] = ()) -> tuple[str, ...]:
    """The library functions a topic's worker refuses to student code (its trip-wires): the
    topic's ``[banned] calls``, torch's Python decompositions and references where the topic
    bans an operator or autograd, and autograd's ways in and TorchScript where it bans
    autograd."""
    extra: tuple[str, ...] = ()
    if profile(libraries, capabilities) != NUMPY and (ops or "autograd" in capabilities):
        extra = DECOMPOSITIONS
    if profile(libraries, capabilities) == NO_AUTOGRAD:
        extra += AUTOGRAD + TORCHSCRIPT
    return tuple(dict.fromkeys((*calls, *extra)))


def sealed(calls: Iterable[str]) -> tuple[str, ...]:
    """What no module may fall under once student code runs: every pattern of ``calls`` (a
    worker's banned calls). A module loaded later under one (``torch.nn.attention.bias`` where
    ``torch.nn.attention`` is banned, ``torch.func._random`` where ``torch.func`` is) would define
    banned functions, which its body could hand to code of the student's (a library function
    they changed, that the body calls) before the trip-wire wires them; and in torch's
    decompositions it would register them in tables keyed by operators, whose hash and ``==``
    are Python code that student code can change, so that the trip-wire could not wire those
    entries without running it. So such a module is absent from the worker: the audit hook
    refuses it before its body runs (by the file's own name, under any other). What a pattern
    names is loaded before any worker exists (:func:`modules_named`), so only what no zygote
    loaded is refused: modules that a package's own ``__init__`` does not import."""
    return tuple(calls)


def lineage(name: str) -> list[str]:
    """The profiles a zygote of ``name`` is forked through, root first."""
    chain = [name]
    while chain[0] in PARENT:
        chain.insert(0, PARENT[chain[0]])
    return chain


def preload(name: str) -> None:
    """Import, in a zygote of profile ``name`` forked from its parent's, what that profile adds."""
    if name == TORCH:
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        # Warm up once here so workers do not each read CPU information after Landlock is on.
        (torch.ones(4, 4) @ torch.ones(4, 4)).sum().item()
        # A CUDA context does not survive fork: GPU workers must start CUDA themselves.
        if torch.cuda.is_initialized():
            raise RuntimeError("the zygote must never initialise CUDA")
        from grader.isolation import compiled

        torch.compile = compiled.as_written  # its compiler cannot work in a worker
    elif name == NO_AUTOGRAD:
        from grader.isolation import dispatch

        dispatch.no_autograd()


def modules_named(patterns: Iterable[str]) -> list[str]:
    """The modules that banned-call ``patterns`` name or lie in (``scipy.special.softmax``:
    ``scipy.special``), that are installed. A zygote loads them before any worker exists, so
    that the trip-wire wires their functions before any student code runs, however the student
    imports them later (an import the trip-wire's own finder does not see included); a module
    under one that they do not load is absent from the worker (:func:`sealed`). For torch's
    decompositions, every module of theirs but ``LEFT_OUT``: torch itself imports some of them
    lazily (``torch._decomp.decompositions_for_rng``, from its compiler)."""
    out: list[str] = []
    for pattern in patterns:
        if pattern in DECOMPOSITIONS:
            out.extend(n for n in _package(pattern) if n not in out and n not in LEFT_OUT)
            continue
        parts = pattern.split(".")
        for n in range(len(parts), 0, -1):
            name = ".".join(parts[:n])
            if any(ch in name for ch in "*?["):
                continue
            try:
                found = importlib.util.find_spec(name) is not None
            except (ImportError, ValueError, AttributeError):
                found = False
            if found:
                if name not in out:
                    out.append(name)
                break
    return out


def _package(name: str) -> list[str]:
    """``name`` and every module below it, where it is an installed package."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return []
    if spec is None:
        return []
    found = [name]
    for folder in spec.submodule_search_locations or ():
        for _, sub, is_package in pkgutil.iter_modules([folder], name + "."):
            found.extend(_package(sub) if is_package else [sub])
    return found


def preload_modules(names: Iterable[str], absent: Sequence[str]) -> None:
    """Import ``names`` (see :func:`modules_named`) in a zygote; a module that is not installed
    is left out (as is a module of torch's decompositions that fails to load: it is absent
    then, :func:`sealed`), and
    one whose import would load a module of ``absent`` (what a topic bans
    altogether) is an error of the course's configuration, said as such."""
    from grader.isolation.audit import banned_library

    for name in names:
        before = set(sys.modules)
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        except Exception:  # noqa: BLE001 (a module of torch's that cannot load here)
            if banned_library(name, DECOMPOSITIONS):
                continue
            raise
        loaded = sorted(m for m in set(sys.modules) - before if banned_library(m, absent))
        if loaded:
            raise RuntimeError(f"loading {name}, which a topic's [banned] calls name, loads "
                               f"{loaded[0]}, which a topic bans altogether")
