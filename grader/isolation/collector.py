"""The garbage collector in a worker: it runs where the worker runs it, never inside the grader's
own frames.

A collection runs the finalisers (``__del__``), weak-reference callbacks and ``gc.callbacks`` of
what it frees, and Python starts one by itself wherever an allocation crosses the collector's
threshold (3.11), or at the next check of the interpreter's eval breaker after that (3.12 and
later: the entry of any Python function, the audit hook's first). So while the automatic
collector is on, student code can run in the middle of any of the grader's frames: a finaliser's
``sys._getframe(1)`` there is the audit hook's frame, whose locals hold its state (and on 3.13
``f_locals`` writes through to the frame). The student can time it: ``gc.set_threshold`` with
the count read from ``gc.get_count()``, or the first audit event of a new thread (the hook's
per-thread flag is allocated then), or on 3.12 any event at all.

So the worker switches the automatic collector off before any student code runs
(:func:`take_over`, called by ``audit.arm``) and collects itself, as the automatic collector
would have, between the calls it serves (:func:`collect`): there the only frames below a
finaliser are the serving loop's, which every student function has below it anyway.

Student code keeps the usual view. ``gc.collect()`` collects, in its own frame;
``gc.disable()``, ``gc.enable()`` and ``gc.isenabled()`` say whether the worker collects between
calls. The automatic collector's own switch is out of its reach: the builtin ``gc.enable`` is
dropped (nothing else in the process holds it), and the ``gc`` module cannot be made again (the
audit hook lets a built-in module be made once).
"""

from __future__ import annotations

import gc

__all__ = ["collect", "take_over"]

# Whether the worker collects between calls: the student's ``gc.enable()`` / ``gc.disable()``.
_wanted = [True]


def take_over() -> None:
    """Switch the automatic collector off for good in this process, and give ``gc`` the
    student's view of it (see the module's docstring). Once per process; again does nothing."""
    if gc.enable is _enable:
        return
    gc.disable()
    gc.enable, gc.disable, gc.isenabled = _enable, _disable, _isenabled


def _enable() -> None:
    """Collect garbage between the calls the grader makes (the automatic collector of this
    process stays off: see grader/isolation/collector.py)."""
    _wanted[0] = True


def _disable() -> None:
    """Collect no garbage between the calls the grader makes."""
    _wanted[0] = False


def _isenabled() -> bool:
    """Whether garbage is collected between the calls the grader makes."""
    return _wanted[0]


def collect() -> None:
    """A collection of the generations Python's own collector would have collected by now, if
    any is due and the student's code has not switched collections off. Called by the worker
    between calls, where no frame of the grader below it holds anything of the grader's."""
    if not _wanted[0]:
        return
    (count0, count1, count2), (limit0, limit1, limit2) = gc.get_count(), gc.get_threshold()
    if not limit0 or count0 <= limit0:
        return
    gc.collect(2 if count1 > limit1 and count2 > limit2 else 1 if count1 > limit1 else 0)
