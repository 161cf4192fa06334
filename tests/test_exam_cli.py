"""`grader exam build` and `grader exam grade` as an instructor runs them, on a small class."""

from __future__ import annotations

import csv
import json
import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.classroom import gradebook
from grader.commands.main import main
from grader.course import Course
from grader.exam import variant
from grader.exam.bank import ExamError
from grader.exam.variant import load_secret

ROOT = Path(__file__).resolve().parent.parent
CLASS = ["ada", "ben", "chloe", "dan", "eve", "finn", "gus", "mia"]


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("exam-class")
    with open(d / "roster.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "name", "canvas_id", "sis_id", "login", "section"])
        for i, s in enumerate(CLASS):
            w.writerow([s, s.title(), 1000 + i, f"S{i}", f"{s}@example.edu", "A"])
    (d / "secret.txt").write_text("a-test-secret-of-enough-length-42\n")
    (d / "other-secret.txt").write_text("a-different-secret-of-enough-length\n")
    return d


@pytest.fixture(scope="module")
def built(class_dir) -> Path:
    out = class_dir / "built"
    code, output = run("exam", "build", "midterm", "--roster", class_dir / "roster.csv",
                       "--out", out, "--secret-file", class_dir / "secret.txt", "--course", ROOT)
    assert code == 0, output
    assert "8 papers of 12 questions" in output and "keep" in output
    return out


def _keys(built: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (built / "keys").glob("*.json")}


def _answers_from_key(key: dict, mistake: bool = False) -> dict:
    answers = {}
    for q in key["questions"]:
        answers[q["id"]] = dict(q["answers"])
        if mistake and q["mistakes"]:
            answers[q["id"]].update(next(iter(q["mistakes"].values()))["values"])
    return {"exam": key["exam"], "student": key["student"], "paper": key["paper"],
            "answers": answers}


def test_build_writes_papers_apart_from_keys(built):
    papers = built / "papers"
    assert sorted(p.name for p in papers.iterdir()) == sorted(CLASS)
    for s in CLASS:
        assert {p.name for p in (papers / s).iterdir()} == {"paper.html", "paper.md",
                                                           "answers-template.json"}
    manifest = json.loads((built / "manifest.json").read_text())
    assert [s["student"] for s in manifest["students"]] == CLASS
    assert "answers" not in json.dumps(manifest) and "mistakes" not in json.dumps(manifest)
    keys = _keys(built)
    assert set(keys) == set(CLASS)
    # Nothing under papers/ shows a key value printed with 4 or more significant digits.
    everything = "".join(p.read_text() for p in papers.rglob("*") if p.is_file())
    for key in keys.values():
        for q in key["questions"]:
            for shown in q["shown"].values():
                for number in re.findall(r"−?\d+\.\d{3,}", shown):
                    assert number not in everything, (q["kind"], number)
    assert "a-test-secret" not in everything
    assert "Instructor only" in (built / "keys" / "answer-keys.md").read_text()


def test_build_is_reproducible_and_depends_on_the_secret(class_dir, built, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    for out, secret in ((again, "secret.txt"), (other, "other-secret.txt")):
        code, output = run("exam", "build", "midterm", "--roster", class_dir / "roster.csv",
                           "--out", out, "--secret-file", class_dir / secret, "--course", ROOT)
        assert code == 0, output
    ada = (built / "papers/ada/paper.md").read_text()
    assert (again / "papers/ada/paper.md").read_text() == ada
    assert (other / "papers/ada/paper.md").read_text() != ada
    assert (built / "papers/ben/paper.md").read_text() != ada


@pytest.fixture(scope="module")
def graded(class_dir, built) -> tuple[Path, str]:
    keys = _keys(built)
    answers = class_dir / "answers"
    answers.mkdir()

    def put(name: str, doc) -> None:
        (answers / name).write_text(doc if isinstance(doc, str) else json.dumps(doc))

    put("midterm-ada.json", _answers_from_key(keys["ada"]))
    put("midterm-ben.json", _answers_from_key(keys["ben"], mistake=True))
    put("midterm-chloe.json", '{"answers": {"q1": ')
    put("midterm-dan.json", _answers_from_key(keys["ada"]) | {"student": "dan"})
    half = _answers_from_key(keys["eve"])
    for qid in list(half["answers"])[:6]:
        del half["answers"][qid]
    put("eve.json", half)
    put("finn-1.json", _answers_from_key(keys["finn"]))
    put("finn-2.json", _answers_from_key(keys["finn"]))
    # Written by hand: no student field or paper code, numbers typed as text.
    typed = _answers_from_key(keys["gus"])
    typed = {"answers": {q: {p: (v if isinstance(v, str) else json.dumps(v))
                             for p, v in parts.items()} for q, parts in typed["answers"].items()}}
    put("midterm-gus.json", typed)
    put("midterm-zed.json", {"student": "zed", "answers": {}})
    put("final-ada.json", {"exam": "final", "student": "ada", "answers": {}})
    out = class_dir / "graded"
    code, output = run("exam", "grade", "midterm", "--answers", answers, "--out", out,
                       "--roster", class_dir / "roster.csv", "--secret-file",
                       class_dir / "secret.txt", "--course", ROOT)
    assert code == 0, output
    return out, output


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def test_gradebook_has_the_batch_format(graded):
    out, _ = graded
    with open(out / "gradebook.csv", newline="") as f:
        header = next(csv.reader(f))
    qids = [f"q{i}" for i in range(1, 13)]
    assert header[:len(gradebook.ROSTER_FIELDS) + 2] == ["student", *gradebook.ROSTER_FIELDS,
                                                          "status"]
    assert header[len(gradebook.ROSTER_FIELDS) + 2:][:12] == qids
    for column in ("score", "max_score", "percent", "final", "final_percent", "flag_error",
                   "flag_not_submitted", "error", "report"):
        assert column in header
    book = gradebook.read_gradebook(out / "gradebook.csv")
    assert list(book["student"]) == sorted(CLASS)
    assert (out / "tests.csv").is_file() and (out / "canvas.csv").is_file()


def test_every_student_gets_a_grade_or_a_reason(graded):
    out, output = graded
    rows = _rows(out)
    assert rows["ada"]["status"] == "graded" and float(rows["ada"]["percent"]) == 100.0
    assert float(rows["ada"]["max_score"]) == 37.0
    assert rows["ben"]["status"] == "graded" and 0 < float(rows["ben"]["percent"]) < 100
    assert rows["chloe"]["status"] == "error" and "not valid JSON" in rows["chloe"]["error"]
    assert rows["dan"]["status"] == "error" and "made for paper" in rows["dan"]["error"]
    assert 0 < float(rows["eve"]["percent"]) < 100
    assert rows["finn"]["status"] == "error" and "keep one" in rows["finn"]["error"]
    assert rows["gus"]["status"] == "graded" and float(rows["gus"]["percent"]) == 100.0
    assert rows["mia"]["status"] == "not_submitted" and rows["mia"]["flag_not_submitted"] == "True"
    assert "zed" not in rows and "midterm-zed.json is for student 'zed'" in output
    assert "final-ada.json answers the exam 'final'" in output  # not a second file of ada's
    assert "no answers file: mia" in output
    with open(out / "canvas.csv", newline="") as f:
        canvas = {r["Student"]: r for r in csv.DictReader(f)}
    assert canvas["Chloe"]["Deep learning — midterm"] == ""  # blank: the instructor looks first
    assert float(canvas["Ada"]["Deep learning — midterm"]) == 37.0


def test_reports_show_expected_and_given_and_name_the_mistake(graded, built):
    out, _ = graded
    ben = (out / "students/ben/report.html").read_text()
    assert "Your answer" in ben and "Expected" in ben
    assert "classic mistake" in ben
    key = _keys(built)["ben"]
    assert key["questions"][0]["shown"]["a"] in ben
    chloe = (out / "students/chloe/report.html").read_text()
    assert "could not be graded" in chloe and "not valid JSON" in chloe
    index = (out / "index.html").read_text()
    assert "Mean score per question" in index and "students/ada/report.html" in index
    tests = (out / "tests.csv").read_text()
    assert "classic mistake" in tests


def test_grading_with_another_secret_says_so(class_dir, graded, tmp_path):
    code, output = run("exam", "grade", "midterm", "--answers", class_dir / "answers",
                       "--out", tmp_path / "g", "--roster", class_dir / "roster.csv",
                       "--secret-file", class_dir / "other-secret.txt", "--course", ROOT)
    assert code == 0
    assert "does not match: grade with the secret" in output


def test_unknown_exam_and_missing_secret_are_one_line_errors(class_dir, tmp_path, monkeypatch):
    code, output = run("exam", "build", "nope", "--roster", class_dir / "roster.csv",
                       "--out", tmp_path / "x", "--secret-file", class_dir / "secret.txt",
                       "--course", ROOT)
    assert code == 2 and "no exam 'nope'" in output and "midterm" in output
    monkeypatch.delenv(variant.SECRET_ENV, raising=False)
    monkeypatch.setattr(variant, "default_secret_path", lambda course: tmp_path / "none.key")
    code, output = run("exam", "grade", "midterm", "--answers", class_dir / "answers",
                       "--out", tmp_path / "y", "--course", ROOT)
    assert code == 2 and "no instructor secret" in output


def test_the_first_build_creates_a_private_secret(tmp_path, monkeypatch):
    monkeypatch.delenv(variant.SECRET_ENV, raising=False)
    course = Course(tmp_path)
    with pytest.raises(ExamError, match="no instructor secret"):
        load_secret(course)
    secret, source = load_secret(course, create=True)
    path = tmp_path / "reference" / "exams" / "secret.key"
    assert source.endswith("(new)") and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(secret) >= 32
    assert load_secret(course) == (secret, str(path))
    monkeypatch.setenv(variant.SECRET_ENV, "short")
    with pytest.raises(ExamError, match="at least 16"):
        load_secret(course)
