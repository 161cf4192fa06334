"""The question bank and the exams: question kinds (text, parts, parameter generator) and exam.toml.

Both are public course material under ``assignments/exams/``: ``bank/<topic>.py`` modules
define question kinds with :func:`question`; ``<exam>/exam.toml`` picks kinds and points.
Answer keys live apart, in ``reference/exams/`` (see :mod:`grader.exam.keys`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.course import Course, CourseError
from grader.exam.parts import Part

BANK = "bank"
EXAM_FILE = "exam.toml"
Params = dict[str, Any]
Generator = Callable[[np.random.Generator], Params]


class ExamError(CourseError):
    """An exam, its bank or an instructor input is missing or malformed."""


@dataclass(frozen=True)
class Question:
    """A question kind: a Jinja text, its answer parts, and a generator of random parameters."""

    kind: str  # "<topic>.<name>", e.g. "conv.output_size"
    topic: str
    title: str
    text: str  # Jinja template; the generator's parameters are its variables
    parts: tuple[Part, ...]
    generate: Generator

    def part(self, name: str) -> Part:
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(name)


def question(kind: str, *, title: str, text: str, parts: Sequence[Part]) -> Callable[[Generator], Question]:
    """Decorator turning a parameter generator ``f(rng) -> dict`` into a question kind."""
    topic = kind.split(".", 1)[0]
    names = [p.name for p in parts]
    if len(set(names)) != len(names):
        raise ValueError(f"{kind}: two parts share a name")

    def wrap(generate: Generator) -> Question:
        return Question(kind=kind, topic=topic, title=title, text=text.strip("\n"),
                        parts=tuple(parts), generate=generate)

    return wrap


def plain(value: Any) -> Any:
    """A JSON value from NumPy and torch values (arrays become nested lists)."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{type(value).__name__} is not a plain value")


def finite(value: Any) -> bool:
    """Whether every number in a plain value is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(finite(v) for v in value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    return True


def load_module(path: Path, name: str) -> ModuleType:
    """Import a course file (trusted course code) under a private module name."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExamError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ExamError(f"{path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def exams_folder(course: Course) -> Path:
    return course.assignments / "exams"


def load_bank(course: Course) -> dict[str, Question]:
    """Every question kind of the course's bank, by kind."""
    folder = exams_folder(course) / BANK
    if not folder.is_dir():
        raise ExamError(f"no question bank: {folder} is missing")
    bank: dict[str, Question] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = load_module(path, f"grader_exam_bank_{path.stem}")
        for value in vars(module).values():
            if isinstance(value, Question):
                if value.kind in bank and bank[value.kind] is not value:
                    raise ExamError(f"question kind {value.kind!r} is defined twice in {folder}")
                bank[value.kind] = value
    return bank


@dataclass(frozen=True)
class ExamQuestion:
    """A question of an exam: its id (used in answers files and the gradebook), kind and points."""

    qid: str
    number: int  # 1, 2, … as printed
    question: Question
    points: float


@dataclass(frozen=True)
class Exam:
    name: str
    title: str
    instructions: str
    duration: str
    questions: tuple[ExamQuestion, ...]

    @property
    def points(self) -> float:
        return sum(q.points for q in self.questions)

    @property
    def qids(self) -> list[str]:
        return [q.qid for q in self.questions]


_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def exam_names(course: Course) -> list[str]:
    folder = exams_folder(course)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / EXAM_FILE).is_file())


def load_exam(course: Course, name: str, bank: dict[str, Question] | None = None) -> Exam:
    """The exam ``assignments/exams/<name>/exam.toml`` with its questions resolved in the bank."""
    names = exam_names(course)
    if name not in names:
        known = ", ".join(names) or "none"
        raise ExamError(f"no exam {name!r} in {exams_folder(course)}; the course has: {known}")
    path = exams_folder(course) / name / EXAM_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ExamError(f"{path}: {exc}") from None
    bank = load_bank(course) if bank is None else bank
    questions = []
    for i, q in enumerate(data.get("question", []), start=1):
        kind = q.get("kind", "")
        if kind not in bank:
            raise ExamError(f"{path}: question {i} has kind {kind!r}, which the bank lacks; "
                            f"known kinds: {', '.join(sorted(bank))}")
        qid = str(q.get("id", f"q{i}"))
        if not _NAME.fullmatch(qid):
            raise ExamError(f"{path}: question id {qid!r} must be short, lowercase letters, "
                            "digits, '-' or '_'")
        points = float(q.get("points", 1))
        if not points > 0:
            raise ExamError(f"{path}: question {qid} needs points > 0")
        questions.append(ExamQuestion(qid, i, bank[kind], points))
    if not questions:
        raise ExamError(f"{path} lists no [[question]]")
    ids = [q.qid for q in questions]
    if len(set(ids)) != len(ids):
        raise ExamError(f"{path}: two questions share an id")
    return Exam(name=name, title=str(data.get("title", name)),
                instructions=str(data.get("instructions", "")).strip(),
                duration=str(data.get("duration", "")), questions=tuple(questions))


def canonical(value: Any) -> str:
    """One JSON text per plain value (for MACs and comparisons)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
