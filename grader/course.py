"""The course on disk: its topics, their public and secret files, and each topic's grading.toml."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.isolation.profiles import CAPABILITIES

DEFAULT_TIMEOUT = 10.0  # seconds per test, all its remote calls together
DEFAULT_MEMORY_MB = 1024


class CourseError(GraderError):
    """The course folder is missing or malformed."""


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str


@dataclass(frozen=True)
class TopicConfig:
    """A topic's grading.toml, with defaults for what it leaves out."""

    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY_MB
    banned: tuple[str, ...] = ()  # [banned] calls: library functions, wired in the worker
    banned_ops: tuple[str, ...] = ()  # [banned] ops: torch operators, refused in its dispatcher
    banned_libraries: tuple[str, ...] = ()  # [banned] libraries: never loaded in the worker
    # [banned] capabilities: what the worker cannot do at all ("autograd": no graph recorded)
    banned_capabilities: tuple[str, ...] = ()
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # Who sees the topic's tests ([grading] visibility; grader.results.visibility); "" = default.
    visibility: str = ""

    @property
    def banned_names(self) -> tuple[str, ...]:
        """Every dotted name the static scan looks for: ``[banned] calls`` and ``libraries``,
        and torch's Python names of the banned operators (``"*::*conv[0-9]d*"`` gives
        ``torch.conv2d``, ``torch.nn.functional.conv2d``, ``torch.ops.aten.conv2d``...)."""
        derived: list[str] = []
        for op in self.banned_ops:
            name = op.split("::", 1)[-1]
            derived += [f"torch.{name}", f"torch.*.{name}"]
        return tuple(dict.fromkeys((*self.banned, *self.banned_libraries, *derived)))


def load_topic_config(path: Path) -> TopicConfig:
    """Read ``grading.toml``; a missing file means all defaults."""
    if not path.exists():
        return TopicConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CourseError(f"{path} is not UTF-8 text; save it as UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path}: {exc}") from None
    try:
        config = _topic_config(path, data)
    except (AttributeError, TypeError, ValueError) as exc:
        raise CourseError(f"{path}: a setting has a value of the wrong kind ({exc})") from None
    for key, example in (("calls", '["numpy.polyfit"]'), ("ops", '["aten::*convolution*"]'),
                         ("libraries", '["sklearn"]'), ("capabilities", '["autograd"]')):
        given = data.get("banned", {}).get(key, ())
        if not isinstance(given, (list, tuple)) or not all(isinstance(c, str) for c in given):
            raise CourseError(f"{path}: [banned] {key} must be a list of names, e.g. {example}")
    unknown = sorted(set(config.banned_capabilities) - set(CAPABILITIES))
    if unknown:
        raise CourseError(f"{path}: [banned] capabilities: {unknown[0]!r} is not one the grader "
                          f"can take away; known: {', '.join(CAPABILITIES)}")
    if config.visibility:
        from grader.results.visibility import VISIBILITIES  # its rules: only where a topic sets one

        if config.visibility not in VISIBILITIES:
            raise CourseError(f"{path}: [grading] visibility must be one of "
                              f"{', '.join(VISIBILITIES)}, not {config.visibility!r}")
    if config.timeout <= 0 or config.memory_mb <= 0:
        raise CourseError(f"{path}: [grading] timeout and memory_mb must be positive numbers")
    return config


def _topic_config(path: Path, data: dict[str, Any]) -> TopicConfig:
    grading = data.get("grading", {})
    tols = {}
    for dtype, spec in data.get("tolerances", {}).items():
        if "reason" not in spec:
            raise CourseError(f"{path}: tolerance override for {dtype} needs a reason")
        tols[dtype] = Tolerance(float(spec.get("rtol", 0.0)), float(spec.get("atol", 0.0)),
                                str(spec["reason"]))
    return TopicConfig(
        timeout=float(grading.get("timeout", DEFAULT_TIMEOUT)),
        memory_mb=int(grading.get("memory_mb", DEFAULT_MEMORY_MB)),
        visibility=str(grading.get("visibility", "")),
        banned=tuple(data.get("banned", {}).get("calls", ())),
        banned_ops=tuple(data.get("banned", {}).get("ops", ())),
        banned_libraries=tuple(data.get("banned", {}).get("libraries", ())),
        banned_capabilities=tuple(data.get("banned", {}).get("capabilities", ())),
        tolerances=tols,
        extra={k: v for k, v in data.items() if k not in ("grading", "banned", "tolerances")},
    )


@dataclass(frozen=True)
class Course:
    """A course checkout: ``assignments/`` (public) and, for instructors, ``reference/`` (secret)."""

    root: Path

    @property
    def assignments(self) -> Path:
        return self.root / "assignments"

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def has_reference(self) -> bool:
        return self.reference.is_dir()

    def topics(self) -> list[str]:
        """Every topic of the course, in a stable order."""
        if not self.assignments.is_dir():
            raise CourseError(f"no assignments/ folder in {self.root}")
        # A student who works in the topic's notebook may have no .py left: still a topic.
        return sorted(p.name for p in self.assignments.iterdir()
                      if (p / f"{p.name}.py").is_file() or (p / f"{p.name}.ipynb").is_file())

    def check_topics(self, topics: list[str] | tuple[str, ...]) -> list[str]:
        known = self.topics()
        unknown = [t for t in topics if t not in known]
        if unknown:
            raise CourseError(f"unknown topic {unknown[0]!r}; the course has: {', '.join(known)}")
        return list(topics)

    def stub(self, topic: str) -> Path:
        return self.assignments / topic / f"{topic}.py"

    def public_tests(self, topic: str) -> Path | None:
        p = self.assignments / topic / "test_public.py"
        return p if p.is_file() else None

    def hidden_tests(self, topic: str) -> Path | None:
        p = self.reference / topic / "test_hidden.py"
        return p if p.is_file() else None

    def solution(self, topic: str) -> Path:
        return self.reference / topic / "solution.py"

    def config(self, topic: str) -> TopicConfig:
        secret = self.reference / topic / "grading.toml"
        if secret.exists():
            return load_topic_config(secret)
        return load_topic_config(self.assignments / topic / "grading.toml")

    def mutants(self, topic: str) -> list[Path]:
        return sorted((self.reference / topic / "mutants").glob("*.py"))

    def alternatives(self, topic: str) -> list[Path]:
        return sorted((self.reference / topic / "alternatives").glob("*.py"))

    def released_hidden_counts(self) -> dict[str, int]:
        """Hidden-test counts a student release records in ``assignments/manifest.json``."""
        manifest = self.assignments / "manifest.json"
        if not manifest.exists():
            return {}
        return {k: int(v) for k, v in json.loads(manifest.read_text()).get("hidden_tests", {}).items()}


def find_course(start: Path | None = None) -> Course:
    """The course containing ``start`` (default: the current directory), else the installed one."""
    env = os.environ.get("GRADER_COURSE")
    if env:
        return Course(Path(env).resolve())
    here = (start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "assignments").is_dir() and (p / "grader").is_dir() or \
                (p / "assignments").is_dir() and (p / "reference").is_dir():
            return Course(p)
    package_root = Path(__file__).resolve().parent.parent
    if (package_root / "assignments").is_dir():
        return Course(package_root)
    raise CourseError("no course found: run this inside a course folder (one with assignments/) "
                      "or set GRADER_COURSE")
