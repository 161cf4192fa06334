"""Bad instructor input is one clear line: every command's files and options, malformed, give a
single error line naming the file and the problem, a non-zero exit and no traceback."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.commands.main import main
from grader.course import Course
from grader.exam import variant

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIX / "reference" / "toy" / "solution.py").read_text()
BINARY = bytes(range(256))[::7] + b"\xff\xfe\x80"  # not UTF-8 text


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def submissions(tmp: Path) -> Path:
    write(tmp / "subs" / "alice" / "toy.py", TOY)
    return tmp / "subs"


def batch_with(option: str, name: str, data: str | bytes) -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        path = write(tmp / name, data)
        return ["batch", str(submissions(tmp)), "--out", str(tmp / "out"), option, str(path),
                "--course", str(FIX)]
    return args


def grade_archive(data: bytes) -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        path = write(tmp / "alice.zip", data)
        return ["grade", str(path), "--out", str(tmp / "out"), "--course", str(FIX)]
    return args


def grading_toml(data: str | bytes) -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        course = tmp / "course"
        shutil.copytree(FIX, course)
        write(course / "reference" / "toy" / "grading.toml", data)
        return ["grade", str(submissions(tmp) / "alice"), "--out", str(tmp / "out"),
                "--topic", "toy", "--course", str(course)]
    return args


def exam_build(roster: str | bytes, secret: str | bytes) -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        return ["exam", "build", "midterm", "--roster", str(write(tmp / "roster.csv", roster)),
                "--out", str(tmp / "out"), "--secret-file", str(write(tmp / "s.key", secret)),
                "--course", str(ROOT)]
    return args


def exam_grade(roster: str | bytes) -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        (tmp / "answers").mkdir()
        return ["exam", "grade", "midterm", "--answers", str(tmp / "answers"),
                "--roster", str(write(tmp / "roster.csv", roster)), "--out", str(tmp / "out"),
                "--secret-file", str(write(tmp / "s.key", os.urandom(32))),
                "--course", str(ROOT)]
    return args


def corrupt_zip() -> bytes:
    return b"PK\x03\x04" + hashlib.sha256(b"x").digest() * 8


def zip_of(files: dict[str, str]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


GOOD_SECRET = "a-test-secret-of-enough-length-42\n"
CASES = {
    # (arguments, the file named in the message, the problem)
    "roster-binary": (batch_with("--roster", "roster.csv", BINARY), "roster.csv", "UTF-8"),
    "roster-no-student-column": (batch_with("--roster", "roster.csv", "name,section\nAda,A\n"),
                                 "roster.csv", "no 'student' column"),
    "roster-student-twice": (batch_with("--roster", "roster.csv", "student\nalice\nalice\n"),
                             "roster.csv", "appears twice"),
    "roster-bad-time": (batch_with("--roster", "roster.csv", "student,submitted\nalice,soon\n"),
                        "roster.csv", "ISO 8601"),
    "batch-toml-binary": (batch_with("--config", "batch.toml", BINARY), "batch.toml", "UTF-8"),
    "batch-toml-syntax": (batch_with("--config", "batch.toml", "[late\n"), "batch.toml",
                          "Expected"),
    "batch-toml-late-not-a-table": (batch_with("--config", "batch.toml", "late = 3\n"),
                                    "batch.toml", "must be a table"),
    "batch-toml-canvas-not-a-table": (batch_with("--config", "batch.toml", 'canvas = "x"\n'),
                                      "batch.toml", "must be a table"),
    "batch-toml-bad-number": (batch_with("--config", "batch.toml", '[late]\nper_day = "x"\n'),
                              "batch.toml", "must be a number"),
    "batch-toml-unknown-table": (batch_with("--config", "batch.toml", "[nope]\n"),
                                 "batch.toml", "unknown table"),
    "batch-deadline-option": (lambda tmp: ["batch", str(submissions(tmp)), "--out",
                                           str(tmp / "out"), "--deadline", "friday",
                                           "--course", str(FIX)], "friday", "ISO 8601"),
    "class-archive-corrupt": (lambda tmp: ["batch", str(write(tmp / "class.zip", corrupt_zip())),
                                           "--out", str(tmp / "out"), "--course", str(FIX)],
                              "class.zip", "not a readable zip archive"),
    "submission-archive-corrupt": (grade_archive(corrupt_zip()), "alice.zip",
                                   "not a readable zip archive"),
    "submission-archive-slip": (grade_archive(zip_of({"../../x.py": "x = 1"})), "x.py",
                                "outside the archive"),
    "grading-toml-binary": (grading_toml(BINARY), "grading.toml", "UTF-8"),
    "grading-toml-syntax": (grading_toml("[grading\n"), "grading.toml", "Expected"),
    "grading-toml-bad-number": (grading_toml('[grading]\ntimeout = "ten"\n'), "grading.toml",
                                "wrong kind"),
    "grading-toml-not-a-table": (grading_toml("grading = 3\n"), "grading.toml", "wrong kind"),
    "grading-toml-banned-not-a-list": (grading_toml('[banned]\ncalls = "numpy"\n'),
                                       "grading.toml", "list of names"),
    "grading-toml-negative-timeout": (grading_toml("[grading]\ntimeout = -1\n"), "grading.toml",
                                      "positive"),
    "exam-roster-binary": (exam_build(BINARY, GOOD_SECRET), "roster.csv", "UTF-8"),
    "exam-roster-no-student-column": (exam_build("name\nAda\n", GOOD_SECRET), "roster.csv",
                                      "no 'student' column"),
    "exam-secret-too-short": (exam_build("student\nada\n", "short\n"), "s.key", "at least"),
    "exam-secret-empty": (exam_build("student\nada\n", b""), "s.key", "at least"),
    "exam-grade-roster-binary": (exam_grade(BINARY), "roster.csv", "UTF-8"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input_is_one_line_naming_the_file(case: str, tmp_path: Path) -> None:
    make_args, names, problem = CASES[case]
    got = CliRunner().invoke(main, make_args(tmp_path))
    assert isinstance(got.exception, SystemExit), got.exception  # no other exception escaped
    assert got.exit_code != 0
    errors = [line for line in got.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, got.stderr
    assert names in errors[0] and problem in errors[0], errors[0]
    assert "Traceback" not in got.output


def test_a_binary_secret_file_is_a_secret_and_a_text_one_keeps_its_key(tmp_path: Path) -> None:
    course = Course(ROOT)
    raw = os.urandom(32)
    binary = write(tmp_path / "binary.key", raw)
    assert variant.load_secret(course, binary)[0] == raw
    text = write(tmp_path / "text.key", "  a-test-secret-of-enough-length-42\n")
    secret, _ = variant.load_secret(course, text)
    assert secret == b"a-test-secret-of-enough-length-42"  # as before binary secrets were read
    assert variant.secret_fingerprint(secret) != variant.secret_fingerprint(raw)


def test_exam_build_accepts_32_random_bytes_as_the_secret(tmp_path: Path) -> None:
    got = CliRunner().invoke(main, exam_build("student\nada\nben\n", os.urandom(32))(tmp_path))
    assert got.exit_code == 0, got.output
    assert (tmp_path / "out" / "papers" / "ada").is_dir()
