"""Per-student variants: seeds from an HMAC of exam, student and instructor secret; keys and options.

A question's seed is ``HMAC-SHA256(secret, exam · student · question id)``: the instructor can
recompute every variant at grading time, and without the secret a student cannot predict
anyone's numbers. A variant is accepted only when its key is finite and every listed mistake
changes at least one part (so the mistake is detectable and a multiple-choice part has distinct
options); otherwise the same seeded stream draws again. The paper code printed on a paper is
an HMAC of the whole variant, so grading notices answers made for another paper, another
secret or an edited bank.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.course import Course
from grader.exam.bank import Exam, ExamError, ExamQuestion, Params, canonical, finite, plain
from grader.exam.keys import AnswerFunction, Mistake, Refs, keys_folder, load_keys
from grader.exam.parts import LETTERS, Array, Choice, Integers, Part

SECRET_ENV = "GRADER_EXAM_SECRET"
SECRET_FILE = "secret.key"
MIN_SECRET = 16  # characters: shorter secrets could be guessed by trying them
ATTEMPTS = 60  # draws per question before the bank is declared broken
_DOMAIN = "dl-grader exam v1"


# ------------------------------------------------------------------------------------ secret


def default_secret_path(course: Course) -> Path:
    return keys_folder(course) / SECRET_FILE


def load_secret(course: Course, secret_file: Path | None = None, *,
                create: bool = False) -> tuple[bytes, str]:
    """The instructor secret and where it came from.

    Order: ``secret_file``, then ``$GRADER_EXAM_SECRET``, then ``reference/exams/secret.key``
    (made with a fresh random secret when ``create`` and it does not exist).
    """
    if secret_file is not None:
        return _checked(read_secret(secret_file), str(secret_file))
    if os.environ.get(SECRET_ENV):
        text, source = os.environ[SECRET_ENV].strip(), f"${SECRET_ENV}"
    else:
        path = default_secret_path(course)
        if not path.exists():
            if not create:
                raise ExamError(f"no instructor secret: {path} does not exist and "
                                f"${SECRET_ENV} is not set. Grade with the secret the papers were "
                                "built with (--secret-file FILE)")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
            source = f"{path} (new)"
        else:
            source = str(path)
        return _checked(read_secret(path), source)
    if len(text) < MIN_SECRET:
        raise ExamError(f"the instructor secret from {source} is {len(text)} characters long; "
                        f"use at least {MIN_SECRET} random characters")
    return text.encode(), source


def _checked(secret: bytes, source: str) -> tuple[bytes, str]:
    if len(secret) < MIN_SECRET:
        raise ExamError(f"the instructor secret in {source} is {len(secret)} bytes long; "
                        f"use at least {MIN_SECRET} random bytes or characters")
    return secret, source


def read_secret(path: Path) -> bytes:
    """A secret file's key: a text file's text without surrounding blanks (as it always was),
    or the bytes of a binary file (e.g. 32 random bytes) as they are."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExamError(f"cannot read the instructor secret {path}: {exc.strerror or exc}") \
            from None
    try:
        return data.decode("utf-8").strip().encode()
    except UnicodeDecodeError:
        return data


def _mac(secret: bytes, *fields: str) -> bytes:
    return hmac.new(secret, "\x1f".join((_DOMAIN, *fields)).encode(), hashlib.sha256).digest()


def question_seed(secret: bytes, exam: str, student: str, qid: str) -> int:
    return int.from_bytes(_mac(secret, "seed", exam, student, qid)[:8], "big")


def secret_fingerprint(secret: bytes) -> str:
    """Tells two secrets apart without revealing either."""
    return _mac(secret, "fingerprint").hex()[:12]


# ----------------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """One question as one student sees it, with its key."""

    q: ExamQuestion
    seed: int
    params: Params
    key: dict[str, Any]  # part -> right value (a letter for choice parts)
    options: dict[str, list[Any]]  # choice part -> option values, in the order printed
    mistakes: dict[str, Mistake]  # choice values replaced by their letters

    @property
    def qid(self) -> str:
        return self.q.qid

    @property
    def parts(self) -> tuple[Part, ...]:
        return self.q.question.parts


@dataclass(frozen=True)
class Paper:
    exam: Exam
    student: str
    code: str
    variants: tuple[Variant, ...]

    def public(self) -> dict[str, Any]:
        """What the paper shows (parameters and options), in the form the paper code signs."""
        return {"exam": self.exam.name, "student": self.student,
                "questions": [{"id": v.qid, "kind": v.q.question.kind, "params": v.params,
                               "options": v.options} for v in self.variants]}


def _well_formed(part: Part, value: Any) -> bool:
    if value is None or not finite(value):
        return False
    if isinstance(part, Array):
        return list(np.shape(value)) == list(part.shape)
    if isinstance(part, Integers):
        return isinstance(value, list) and all(isinstance(v, int) for v in value)
    return True


def _same(part: Part, key: Any, value: Any) -> bool:
    try:
        return part.same(key, value)
    except (TypeError, ValueError):  # e.g. a transposed array: certainly not the same
        return False


def _accept(eq: ExamQuestion, answers: dict[str, Any],
            mistakes: dict[str, Mistake]) -> dict[str, Mistake] | None:
    """The mistakes restricted to the parts they change, or None to draw again."""
    parts = eq.question.parts
    for p in parts:
        if p.name not in answers or not _well_formed(p, answers[p.name]):
            return None
    kept: dict[str, Mistake] = {}
    for name, m in mistakes.items():
        values = {}
        for p in parts:
            if p.name not in m.values:
                continue
            v = m.values[p.name]
            if v is None or not finite(v) or _same(p, answers[p.name], v):
                continue
            values[p.name] = v
        if not values:
            return None  # the mistake does not show in this variant: it would go unnoticed
        kept[name] = Mistake(values, m.why)
    for p in parts:
        if isinstance(p, Choice):
            options = [answers[p.name]] + [m.values[p.name] for m in kept.values()
                                           if p.name in m.values]
            if len(options) < p.min_options or any(
                    _same(p, a, b) for i, a in enumerate(options) for b in options[i + 1:]):
                return None  # too few options, or two a student could not tell apart
    return kept


def make_variant(eq: ExamQuestion, exam: str, student: str, secret: bytes,
                 answer: AnswerFunction, refs: Refs) -> Variant:
    seed = question_seed(secret, exam, student, eq.qid)
    rng = np.random.default_rng(seed)
    for _ in range(ATTEMPTS):
        params = plain(eq.question.generate(rng))
        key = answer(params, refs)
        mistakes = _accept(eq, key.answers, key.mistakes)
        if mistakes is None:
            continue
        answers = dict(key.answers)
        options: dict[str, list[Any]] = {}
        for p in eq.question.parts:
            if not isinstance(p, Choice):
                continue
            names = [n for n, m in mistakes.items() if p.name in m.values]
            values = [answers[p.name]] + [mistakes[n].values[p.name] for n in names]
            order = rng.permutation(len(values))
            options[p.name] = [values[i] for i in order]
            letter = {int(i): LETTERS[pos] for pos, i in enumerate(order)}
            answers[p.name] = letter[0]
            for j, n in enumerate(names, start=1):
                mistakes[n] = Mistake({**mistakes[n].values, p.name: letter[j]}, mistakes[n].why)
        return Variant(eq, seed, params, answers, options, mistakes)
    raise ExamError(f"question kind {eq.question.kind}: no acceptable variant in {ATTEMPTS} draws "
                    f"for {student!r}; its generator or answer function needs fixing")


class Maker:
    """Builds papers of one exam: the bank, answer functions and references loaded once."""

    def __init__(self, course: Course, exam: Exam, secret: bytes,
                 answer_functions: dict[str, AnswerFunction] | None = None) -> None:
        if answer_functions is None:
            answer_functions = load_keys(course, (q.question.kind for q in exam.questions))
        missing = [q.question.kind for q in exam.questions
                   if q.question.kind not in answer_functions]
        if missing:
            raise ExamError(f"no answer function for question kind {missing[0]!r} under "
                            f"{keys_folder(course)}")
        self.exam = exam
        self.secret = secret
        self.answers = answer_functions
        self.refs = Refs(course)

    def paper(self, student: str) -> Paper:
        variants = tuple(make_variant(q, self.exam.name, student, self.secret,
                                      self.answers[q.question.kind], self.refs)
                         for q in self.exam.questions)
        draft = Paper(self.exam, student, "", variants)
        code = _mac(self.secret, "paper", canonical(draft.public())).hex()[:12]
        return Paper(self.exam, student, code, variants)
