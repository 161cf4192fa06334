"""Every topic: a submission whose only defect is its dtype (or its shape) is told its dtype
(once per function) or its shape, and never a classic mistake (docs/charging.md).

Each topic's module returns the reference's own values in another precision (float64 arrays as
float32, float tensors in the other float precision), or with an extra leading axis. On every hidden test's inputs, a mutant
that the matcher could name would have to equal the reference's values there: a mistake the
student did not make. One grading of the whole course per defect, so that the test stays quick.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course import Course
from grader.grading.engine import Options

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
# Speed-graded: the wrapper's cost is what its tests time, and a dtype costs the same there.
TOPICS = tuple(t for t in COURSE.topics() if t != "performance")

SHIFTED = '''"""The reference's values, changed in one way only: their dtype or their shape."""

import {impl} as _impl
from {impl} import *  # noqa: F403 - classes, constants and helpers as the reference has them

import numpy as _np


def _shift(v):
{change}
    if isinstance(v, tuple):
        return tuple(_shift(x) for x in v)
    if isinstance(v, list):
        return [_shift(x) for x in v]
    if isinstance(v, dict):
        return {{k: _shift(x) for k, x in v.items()}}
    return v


def _wrap(f):
    def shifted(*args, **kwargs):
        return _shift(f(*args, **kwargs))

    shifted.__name__, shifted.__doc__ = f.__name__, f.__doc__
    return shifted


for _name, _f in list(vars(_impl).items()):
    if not _name.startswith("_") and not isinstance(_f, type) and callable(_f) \\
            and getattr(_f, "__module__", None) == _impl.__name__:
        globals()[_name] = _wrap(_f)
'''


CHANGES = {
    # float64 arrays as float32, float tensors in the other float precision
    "dtype": """    if isinstance(v, _np.ndarray) and v.dtype == _np.float64:
        return v.astype(_np.float32)
    if hasattr(v, "is_floating_point") and hasattr(v, "double") and v.is_floating_point():
        return v.float() if str(v.dtype) == "torch.float64" else v.double()""",
    # float arrays and tensors with an extra leading axis of size 1: the same values in order
    "shape": """    if isinstance(v, _np.ndarray) and v.dtype.kind == "f" and v.ndim:
        return v[None]
    if hasattr(v, "is_floating_point") and hasattr(v, "unsqueeze") and v.is_floating_point() \\
            and v.dim():
        return v.unsqueeze(0)""",
}


def _grade(engine, tmp: Path, change: str):
    sub = tmp / "submission"
    sub.mkdir()
    for topic in TOPICS:
        impl = f"{topic}_values"
        (sub / f"{impl}.py").write_text(COURSE.solution(topic).read_text())
        (sub / f"{topic}.py").write_text(SHIFTED.format(impl=impl, change=CHANGES[change]))
    result = engine.grade(sub, tmp / "out", Options(topics=TOPICS, seed=20261121))
    assert not result.error, result.error
    return result


@pytest.fixture(scope="module")
def graded(engine, tmp_path_factory: pytest.TempPathFactory):
    return _grade(engine, tmp_path_factory.mktemp("dtype_only"), "dtype")


@pytest.fixture(scope="module")
def reshaped(engine, tmp_path_factory: pytest.TempPathFactory):
    return _grade(engine, tmp_path_factory.mktemp("shape_only"), "shape")


@pytest.mark.parametrize("topic", TOPICS)
def test_a_dtype_alone_names_no_classic_mistake(graded, topic: str) -> None:
    tests = [t for t in graded.tests if t.topic == topic]
    assert tests, f"no test of {topic} ran"
    for t in tests:
        assert "classic mistake" not in t.message, f"{t.name}: {t.message}"


def test_a_shape_alone_names_no_classic_mistake(reshaped) -> None:
    named = [f"{t.name}: {t.message}" for t in reshaped.tests if "classic mistake" in t.message]
    assert not named, "\n".join(named)
    shaped = {t.topic for t in reshaped.tests if "extra axis of size 1" in t.message}
    assert len(shaped) >= len(TOPICS) // 2, sorted(shaped)  # not vacuous


def test_the_dtypes_were_met_and_each_charged_once(graded) -> None:
    # Not vacuous: most topics return floats, and each wrong dtype is charged once, then noted.
    noted = [t for t in graded.tests if t.outcome == "passed" and "charged once, in" in t.message]
    failed = {t.topic for t in graded.tests if t.outcome == "failed" and "dtype" in t.message}
    assert len(failed) >= len(TOPICS) // 2, sorted(failed)
    assert len(noted) >= len(TOPICS), len(noted)
