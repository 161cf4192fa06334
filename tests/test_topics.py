"""Every topic held to the same bar: the reference scores full marks, the stub zero, every mutant
loses points with a message that points at its mistake, and every alternative scores full marks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from grader.course import Course
from grader.grading.engine import Options

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
TOPICS = COURSE.topics()
SEED = 20261121


def _cases(kind: str) -> list:
    out = []
    for topic in TOPICS:
        files = COURSE.mutants(topic) if kind == "mutant" else COURSE.alternatives(topic)
        out += [pytest.param(topic, f, id=f"{topic}-{f.stem}") for f in files]
    return out


def grade_module(engine, topic: str, module: Path, tmp_path: Path):
    sub = tmp_path / "submission"
    sub.mkdir()
    shutil.copyfile(module, sub / f"{topic}.py")
    if "linear_regression" in module.read_text() and topic != "linear_regression":
        # model_selection may build on the student's own linear_regression module
        shutil.copyfile(COURSE.solution("linear_regression"), sub / "linear_regression.py")
    result = engine.grade(sub, tmp_path / "out", Options(topics=(topic,), seed=SEED))
    assert not result.error, result.error
    return result


def _failures(result) -> str:
    return "\n".join(f"  {t.name} [{t.outcome}]: {t.message[:400]}" for t in result.tests
                     if t.outcome != "passed")


def expectation(module: Path) -> str:
    for line in module.read_text().splitlines():
        m = re.match(r"\s*#\s*expect:\s*(.+?)\s*$", line)
        if m:
            return m.group(1)
    raise AssertionError(f"{module} has no '# expect: <regex>' line")


@pytest.mark.parametrize("topic", TOPICS)
def test_topic_is_complete(topic: str) -> None:
    assert COURSE.hidden_tests(topic) is not None, f"{topic} has no hidden tests"
    assert COURSE.public_tests(topic) is not None, f"{topic} has no public tests"
    assert COURSE.solution(topic).is_file()
    assert (ROOT / "reference" / topic / "grading.toml").is_file()
    assert (ROOT / "assignments" / topic / "README.md").is_file()
    assert len(COURSE.mutants(topic)) >= 5, f"{topic} needs at least 5 mutants"
    assert len(COURSE.alternatives(topic)) >= 2, f"{topic} needs at least 2 alternatives"


@pytest.mark.parametrize("topic", TOPICS)
def test_reference_scores_full_marks(engine, topic: str, tmp_path: Path) -> None:
    result = grade_module(engine, topic, COURSE.solution(topic), tmp_path)
    t = result.topic(topic)
    assert t.max_score > 0
    assert t.score == t.max_score, f"reference of {topic} lost points:\n{_failures(result)}"


@pytest.mark.parametrize("topic", TOPICS)
def test_stub_scores_zero(engine, topic: str, tmp_path: Path) -> None:
    result = grade_module(engine, topic, COURSE.stub(topic), tmp_path)
    assert result.topic(topic).score == 0, f"the stub of {topic} scored points"
    for t in result.tests:
        if t.outcome == "not_graded":  # a GPU test on a machine without one
            continue
        assert t.outcome == "failed" and "not implemented" in t.message, \
            f"{t.name}: a stub failure should say 'not implemented', got {t.outcome}: {t.message}"


@pytest.mark.parametrize(("topic", "mutant"), _cases("mutant"))
def test_mutant_loses_points(engine, topic: str, mutant: Path, tmp_path: Path) -> None:
    result = grade_module(engine, topic, mutant, tmp_path)
    t = result.topic(topic)
    assert t.score < t.max_score, f"mutant {mutant.name} of {topic} got full marks"
    pattern = re.compile(expectation(mutant), re.IGNORECASE)
    messages = [x.message for x in result.tests if x.outcome != "passed"]
    assert any(pattern.search(m) for m in messages), (
        f"no failure of {mutant.name} matches {pattern.pattern!r}:\n{_failures(result)}")


@pytest.mark.parametrize(("topic", "alternative"), _cases("alternative"))
def test_alternative_scores_full_marks(engine, topic: str, alternative: Path,
                                       tmp_path: Path) -> None:
    result = grade_module(engine, topic, alternative, tmp_path)
    t = result.topic(topic)
    assert t.score == t.max_score, \
        f"alternative {alternative.name} of {topic} lost points:\n{_failures(result)}"
