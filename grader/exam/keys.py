"""Answer keys (secret): answer functions that call the references, and mistakes from the mutants.

``reference/exams/<module>.py`` files mark their answer functions with :func:`answers`; each
takes a variant's parameters and a :class:`Refs` and returns a :class:`Key`: the right value of
every part, computed by the topic's reference solution, and the values that the topic's mutants
(its classic mistakes) give. Mistakes become the distractors of multiple-choice parts and tell
a student which mistake their wrong answer matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.course import Course
from grader.exam.bank import ExamError, Params, load_module, plain

KEYS_FOLDER = "exams"


@dataclass(frozen=True)
class Mistake:
    """What a classic mistake gives for some parts of a question, and what the mistake is."""

    values: dict[str, Any]  # part name -> value
    why: str


@dataclass(frozen=True)
class Key:
    answers: dict[str, Any]  # part name -> the right value
    mistakes: dict[str, Mistake] = field(default_factory=dict)


AnswerFunction = Callable[[Params, "Refs"], Key]


def answers(kind: str) -> Callable[[AnswerFunction], AnswerFunction]:
    """Mark a function as the answer function of a question kind."""

    def mark(fn: AnswerFunction) -> AnswerFunction:
        fn.exam_kind = kind  # type: ignore[attr-defined]
        return fn

    return mark


class Refs:
    """The course's reference solutions and mutants, imported in this (trusted) process."""

    def __init__(self, course: Course) -> None:
        self.course = course
        self._modules: dict[Path, ModuleType] = {}

    def _load(self, path: Path, name: str) -> ModuleType:
        if path not in self._modules:
            if not path.is_file():
                raise ExamError(f"{path} is missing")
            self._modules[path] = load_module(path, name)
        return self._modules[path]

    def solution(self, topic: str) -> ModuleType:
        return self._load(self.course.solution(topic), f"grader_exam_reference_{topic}")

    def mutant(self, topic: str, name: str) -> ModuleType:
        path = self.course.reference / topic / "mutants" / f"{name}.py"
        return self._load(path, f"grader_exam_mutant_{topic}_{name}")

    def why(self, topic: str, name: str) -> str:
        """The mistake a mutant makes: the first line of its docstring."""
        doc = (self.mutant(topic, name).__doc__ or name).strip().splitlines()[0]
        return doc.removeprefix("Mutant:").strip()

    def key(self, topic: str, compute: Callable[[ModuleType], Mapping[str, Any]],
            mutants: Iterable[str] = (),
            classic: Mapping[str, tuple[Mapping[str, Any], str]] | None = None) -> Key:
        """``compute`` run on the topic's solution (the key) and on each named mutant.

        ``classic`` adds mistakes no mutant makes: name -> (values, what the mistake is).
        A mutant that raises for these parameters gives no values (and the variant is redrawn).
        """
        key = {k: plain(v) for k, v in compute(self.solution(topic)).items()}
        mistakes: dict[str, Mistake] = {}
        for name in mutants:
            module = self.mutant(topic, name)
            try:
                values = {k: plain(v) for k, v in compute(module).items()}
            except Exception:  # noqa: BLE001 - a mutant failing here is a variant to redraw
                values = {}
            mistakes[name] = Mistake(values, self.why(topic, name))
        for name, (given, why) in (classic or {}).items():
            mistakes[name] = Mistake({k: plain(v) for k, v in given.items()}, why)
        return Key(key, mistakes)


def keys_folder(course: Course) -> Path:
    return course.reference / KEYS_FOLDER


def load_keys(course: Course, kinds: Iterable[str] | None = None) -> dict[str, AnswerFunction]:
    """Answer functions under ``reference/exams/``, by question kind.

    With ``kinds``, only the modules named after their topics (``<topic>.py``) are imported
    first, so an exam that needs no torch topic does not pay for importing torch.
    """
    folder = keys_folder(course)
    if not folder.is_dir():
        raise ExamError(f"no answer keys: {folder} is missing (exams are built and graded from a "
                        "course with its reference/ folder)")
    paths = sorted(p for p in folder.rglob("*.py") if not p.name.startswith("_"))
    if kinds is not None:
        wanted = set(kinds)
        topics = {k.split(".", 1)[0] for k in wanted}
        found = _scan(folder, [p for p in paths if p.stem in topics])
        if wanted <= set(found):
            return found
    return _scan(folder, paths)


def _scan(folder: Path, paths: list[Path]) -> dict[str, AnswerFunction]:
    found: dict[str, AnswerFunction] = {}
    for path in paths:
        rel = "_".join(path.relative_to(folder).with_suffix("").parts)
        module = load_module(path, f"grader_exam_keys_{rel}")
        for value in vars(module).values():
            kind = getattr(value, "exam_kind", None)
            if callable(value) and isinstance(kind, str):
                if kind in found and found[kind] is not value:
                    raise ExamError(f"two answer functions for {kind!r} in {folder}")
                found[kind] = value
    return found
