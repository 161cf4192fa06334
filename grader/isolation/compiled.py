"""``torch.compile`` in a worker: the function as written.

torch's compiler cannot work where student code runs: its default backend builds C++ or Triton
kernels in processes of its own, which the sandbox does not start, and its tracer runs torch's
Python decompositions, banned calls in every topic that bans an operator or autograd (a call of
one from the compiled function reads as the student's). Compiling changes how fast a function
runs, never what it returns, so in the zygote that imports torch ``torch.compile`` becomes
:func:`as_written`, which hands back what it is given: a submission that compiles its functions
(``torch.compile(f)``, ``@torch.compile``, ``@torch.compile(mode=...)``, ``model.compile()``) is
graded, and timed, on the code it wrote. The report says so where the source names
``torch.compile`` (``grading.engine``).

Nothing here holds anything of the grader's: the function's globals are this module's.
"""

from __future__ import annotations

from typing import Any


def as_written(model: Any = None, **options: Any) -> Any:
    """``model`` itself; with no model, a decorator that hands back what it decorates (the
    form ``@torch.compile(mode="max-autotune")``). ``options`` (torch.compile's) are read
    nowhere."""
    if model is None:
        return _same
    return model


def _same(model: Any) -> Any:
    return model
