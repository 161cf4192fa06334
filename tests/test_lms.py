"""Submissions as LMSs deliver them: Canvas's, Moodle's and Gradescope's downloads, browser
copies of a file, and files that are no topic's, each said on the student's row and report."""

from __future__ import annotations

import io
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from grader.classroom import gradebook
from grader.classroom.batch import Batch
from grader.classroom.discover import discover
from grader.classroom.lms import read_gradescope_metadata
from grader.classroom.roster import read_roster
from grader.course import Course
from grader.grading.submission import SubmissionError, stage, submitted_topics
from shared_engine import SharedEngine

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "class"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIXTURE / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIXTURE / "reference" / "other" / "solution.py").read_text()
TOPICS = Course(ROOT).topics()


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


# ------------------------------------------------------------------------ one submission's files

def test_a_browser_copy_is_graded_as_its_topic_and_said_so(tmp_path: Path) -> None:
    sub = _write(tmp_path / "sub", {"toy (1).py": TOY, "other-1.py": "old", "other-2.py": OTHER,
                                    "notes.txt": "hello"})
    staged = stage(sub, tmp_path / "work", ["toy", "other"])
    assert staged.module("toy").read_text() == TOY  # type: ignore[union-attr]
    assert staged.module("other").read_text() == OTHER  # the newest copy  # type: ignore[union-attr]
    assert staged.files == ["toy (1).py graded as toy.py", "other-2.py graded as other.py",
                            "unrecognised file notes.txt",
                            "other-1.py not graded: other.py was graded instead"]


def test_a_file_of_the_topics_own_name_wins_over_a_copy(tmp_path: Path) -> None:
    sub = _write(tmp_path / "sub", {"toy.py": TOY, "toy (1).py": "broken("})
    staged = stage(sub, tmp_path / "work", ["toy", "other"])
    assert staged.module("toy").read_text() == TOY  # type: ignore[union-attr]
    assert staged.files == ["toy (1).py not graded: toy.py was graded instead"]


def test_a_name_in_other_letters_case_is_graded_as_its_topic(tmp_path: Path) -> None:
    """Saved where names ignore case ("Toy.py" on Windows or macOS): graded, and said so; the
    name as spelt wins over it, and it over a numbered copy."""
    sub = _write(tmp_path / "sub", {"Toy.py": TOY, "OTHER (2).py": OTHER, "notes.txt": ""})
    staged = stage(sub, tmp_path / "work", ["toy", "other"])
    assert staged.module("toy").read_text() == TOY  # type: ignore[union-attr]
    assert staged.module("other").read_text() == OTHER  # type: ignore[union-attr]
    assert staged.files[:2] == ["Toy.py graded as toy.py", "OTHER (2).py graded as other.py"]
    assert submitted_topics(sub, ["toy", "other"]) == {"toy", "other"}
    both = _write(tmp_path / "both", {"toy.py": TOY, "Toy.py": "broken(", "toy (3).py": "old",
                                      "Other.py": OTHER, "other (3).py": "old"})
    staged = stage(both, tmp_path / "work2", ["toy", "other"])
    assert staged.module("toy").read_text() == TOY  # type: ignore[union-attr]
    assert staged.module("other").read_text() == OTHER  # type: ignore[union-attr]
    lone = _write(tmp_path / "lone", {"TOY.py": TOY}) / "TOY.py"
    assert stage(lone, tmp_path / "work3", ["toy"]).module("toy").read_text() == TOY  # type: ignore[union-attr]


def test_a_name_that_only_starts_like_a_topic_is_not_taken_for_it(tmp_path: Path) -> None:
    sub = _write(tmp_path / "sub", {"toy_old.py": TOY, "toy-final.py": TOY})
    staged = stage(sub, tmp_path / "work", ["toy"])
    assert staged.module("toy") is None
    assert staged.files == ["unrecognised file toy-final.py", "unrecognised file toy_old.py"]


# ------------------------------------------------------ the demo class, as each LMS delivers it

def _roster() -> dict[str, Any]:
    return read_roster(DEMO / "roster.csv")


def _entries(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir())
            if p.name not in ("roster.csv", "batch.toml") and (p.is_dir() or p.suffix == ".zip")]


def _canvas_name(full: str) -> str:
    """Canvas's "lastfirst": lower case, letters only."""
    words = unicodedata.normalize("NFKD", full).encode("ascii", "ignore").decode().lower().split()
    return "".join(words[-1:] + words[:-1])


def canvas_download(dest: Path) -> Path:
    """examples/class as Canvas's "Download Submissions" gives it: flat, renamed files."""
    roster = _roster()
    dest.mkdir()
    n = 9000
    for p in _entries(DEMO):
        s = roster[p.stem]
        late = "LATE_" if s.student == "leo" else ""
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        for f in files:
            n += 1
            shutil.copy2(f, dest / f"{_canvas_name(s.name)}_{late}{s.canvas_id}_{n}_{f.name}")
    return dest


def moodle_download(dest: Path) -> Path:
    """examples/class as Moodle's "Download all submissions" gives it: a folder per student."""
    roster = _roster()
    dest.mkdir()
    for i, p in enumerate(_entries(DEMO)):
        folder = dest / f"{roster[p.stem].name}_{70000 + i}_assignsubmission_file_"
        if p.is_file():
            folder.mkdir()
            shutil.copy2(p, folder / p.name)
        else:
            shutil.copytree(p, folder)
    return dest


def _staged(entries: list[Any], work: Path) -> dict[str, Any]:
    """Per student: each topic's staged module, or the reason staging refused the submission."""
    out: dict[str, Any] = {}
    for e in entries:
        if e.path is None:
            out[e.student] = None
            continue
        try:
            staged = stage(e.path, work / e.folder, TOPICS)
        except SubmissionError as exc:
            out[e.student] = f"refused: {str(exc).split(' contains ')[-1]}"
            continue
        out[e.student] = {t: staged.module(t).read_bytes() for t in TOPICS  # type: ignore[union-attr]
                          if staged.module(t) is not None}
    return out


@pytest.mark.parametrize("download", [canvas_download, moodle_download])
def test_an_lms_download_of_the_demo_class_stages_like_the_plain_folder(
        tmp_path: Path, download: Any) -> None:
    plain, _ = discover(DEMO, _roster(), tmp_path / "u1")
    lms, ignored = discover(download(tmp_path / "download"), _roster(), tmp_path / "u2")
    assert ignored == []
    assert [e.student for e in lms] == [e.student for e in plain]  # matched to the roster
    assert {e.student: e.layout for e in lms if e.path} == \
        {e.student: download.__name__.split("_")[0] for e in plain if e.path}
    want = _staged(plain, tmp_path / "s1")
    assert want["ada"] and len(want["ada"]) == len(TOPICS)  # the comparison compares something
    assert _staged(lms, tmp_path / "s2") == want


def test_gradescope_metadata_names_the_submitters(tmp_path: Path) -> None:
    (tmp_path / "submission_metadata.yml").write_text(
        "submission_111:\n  :submitters:\n  - :name: Ada Perfect\n    :sid: 'S2026000'\n"
        "    :email: ada@example.edu\n  :created_at: 2026-03-01 12:00:00 +0000\n"
        "submission_222:\n  :submitters:\n  - :name: Pair One\n    :sid: '9'\n"
        "  - :name: Ben Typical\n    :email: ben@example.edu\n")
    assert read_gradescope_metadata(tmp_path / "submission_metadata.yml") == {
        "submission_111": [{"name": "Ada Perfect", "sid": "S2026000", "email": "ada@example.edu"}],
        "submission_222": [{"name": "Pair One", "sid": "9"},
                           {"name": "Ben Typical", "email": "ben@example.edu"}]}
    shutil.copytree(DEMO / "ada", tmp_path / "submission_111")
    _write(tmp_path / "submission_222", {"notes.txt": "x"})
    entries, _ = discover(tmp_path, _roster(), tmp_path / ".u")
    by = {e.student: e for e in entries}
    assert by["ada"].path == tmp_path / "submission_111"  # by sid = the roster's sis_id
    assert by["ben"].path == tmp_path / "submission_222"  # by email
    assert by["pair_one_9"].roster is None  # not on the roster: named after the LMS
    assert by["mia"].path is None


# ------------------------------------------------------------------------ graded end to end


def test_a_canvas_download_grades_like_folders_and_reports_every_file(
        tmp_path: Path, toy_engine: Any) -> None:
    roster = "student,name,canvas_id\ngood,Good Student,201\nblank,Blank Student,202\n"
    plain = tmp_path / "plain"
    _write(plain / "good", {"toy.py": TOY, "other.py": OTHER})
    _write(plain / "blank", {"notes.txt": "my notes"})
    canvas = _write(tmp_path / "canvas", {"studentgood_201_1_toy.py": TOY,
                                          "studentgood_201_2_other (1).py": OTHER,
                                          "studentblank_LATE_202_3_notes.txt": "my notes"})
    books = {}
    for name, subs in (("plain", plain), ("canvas", canvas)):
        (subs / "roster.csv").write_text(roster)
        Batch(course=Course(FIXTURE), submissions=subs, out=tmp_path / f"out-{name}", jobs=2,
              echo=lambda s: None, progress_stream=io.StringIO(), tty=False,
              engine_factory=lambda *a, **k: SharedEngine(toy_engine)).run()
        books[name] = gradebook.read_gradebook(tmp_path / f"out-{name}" / "gradebook.csv") \
            .set_index("student")
    plain_book, canvas_book = books["plain"], books["canvas"]
    assert list(canvas_book.index) == ["blank", "good"]
    for column in ("toy", "other", "score", "final", "status", "flag_not_submitted"):
        assert list(canvas_book[column]) == list(plain_book[column]), column
    assert canvas_book.loc["good", "score"] == canvas_book.loc["good", "max_score"] > 0
    assert canvas_book.loc["good", "files"] == "other (1).py graded as other.py"
    # Nothing recognised: flagged, with the file named, in both layouts.
    for b in (plain_book, canvas_book):
        assert b.loc["blank", "flag_no_recognised_file"]
        assert b.loc["blank", "files"] == "unrecognised file notes.txt"
    report = (tmp_path / "out-canvas" / "students" / "good" / "report.html").read_text()
    assert "other (1).py graded as other.py" in report
    overview = (tmp_path / "out-canvas" / "index.html").read_text()
    assert "no recognised file" in overview and "unrecognised file notes.txt" in overview


# ------------------------------------------------ when a download was submitted, and when not

LATE_POLICY = ('[late]\ndeadline = "2026-03-01T23:59:00+00:00"\nper_day = 10\ncap = 50\n')


def _graded_book(subs: Path, out: Path, toy_engine: Any, said: list[str] | None = None) -> Any:
    summary = Batch(course=Course(FIXTURE), submissions=subs, out=out, jobs=2,
                    echo=(said.append if said is not None else lambda s: None),
                    progress_stream=io.StringIO(), tty=False,
                    engine_factory=lambda *a, **k: SharedEngine(toy_engine)).run()
    if said is not None:  # what the command prints at its end
        said.extend(summary.notes)
    return gradebook.read_gradebook(out / "gradebook.csv").set_index("student")


def test_a_fresh_canvas_download_is_never_charged_from_its_file_times(
        tmp_path: Path, toy_engine: Any) -> None:
    # Every file was written now, months after the deadline: that is when it was downloaded.
    canvas = _write(tmp_path / "canvas", {"studentgood_201_1_toy.py": TOY,
                                          "studentgood_201_2_other.py": OTHER,
                                          "studentlate_LATE_202_3_toy.py": TOY,
                                          "studentlate_LATE_202_4_other.py": OTHER})
    (canvas / "roster.csv").write_text("student,name,canvas_id\ngood,Good Student,201\n"
                                       "late,Late Student,202\n")
    (canvas / "batch.toml").write_text(LATE_POLICY)
    said: list[str] = []
    book = _graded_book(canvas, tmp_path / "out", toy_engine, said)
    full = book.loc["good", "max_score"]
    # No LATE marker and no time: no penalty, and one line says why.
    assert (book.loc["good", "late_penalty_percent"], book.loc["good", "final"]) == (0.0, full)
    assert not book.loc["good", "flag_late"] and book.loc["good", "submitted_at"] == ""
    lines = [s for s in said if s.startswith("late policy not applied")]
    assert len(lines) == 1 and "1 submission(s) with no submission time (good)" in lines[0]
    assert "times.csv" in lines[0]
    # Canvas's LATE marker: late by an unknown time, charged one day (10 %) as the policy says.
    assert book.loc["late", "flag_late"] and book.loc["late", "submitted_source"] == "marked late"
    assert (book.loc["late", "late_penalty_percent"], book.loc["late", "final"]) == \
        (10.0, 0.9 * full)
    assert "late policy not applied" in (tmp_path / "out" / "index.html").read_text()


def test_a_timestamp_file_gives_the_submission_times(tmp_path: Path, toy_engine: Any) -> None:
    subs = tmp_path / "subs"
    for who in ("early", "late"):
        _write(subs / who, {"toy.py": TOY, "other.py": OTHER})
    (subs / "batch.toml").write_text(LATE_POLICY)
    (subs / "times.csv").write_text("student,submitted_at\nearly,2026-03-01T20:00:00+00:00\n"
                                    "late,2026-03-03T10:00:00+00:00\n")
    said: list[str] = []
    book = _graded_book(subs, tmp_path / "out", toy_engine, said)
    assert book.loc["early", "late_penalty_percent"] == 0.0
    assert book.loc["late", "late_penalty_percent"] == 20.0  # two days started
    assert set(book["submitted_source"]) == {"times.csv"}
    assert not any(s.startswith("late policy not applied") for s in said)
    assert "submission times: 2 from times.csv" in said


def test_gradescope_metadata_gives_the_submission_time(tmp_path: Path, toy_engine: Any) -> None:
    subs = tmp_path / "gs"
    (subs / "submission_1").mkdir(parents=True)
    (subs / "submission_2").mkdir()
    for sub in ("submission_1", "submission_2"):
        _write(subs / sub, {"toy.py": TOY, "other.py": OTHER})
    (subs / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - :name: On Time\n    :sid: '1'\n"
        "  :created_at: 2026-03-01 20:00:00.123456000 -08:00\n"  # 04:00 UTC on the 2nd
        "submission_2:\n  :submitters:\n  - :name: Very Late\n    :sid: '2'\n"
        "  :created_at: 2026-03-05 12:00:00 +0000\n")
    (subs / "batch.toml").write_text(LATE_POLICY)
    book = _graded_book(subs, tmp_path / "out", toy_engine)
    assert book.loc["on_time_1", "submitted_at"] == "2026-03-01T20:00:00-08:00"
    assert book.loc["on_time_1", "late_penalty_percent"] == 10.0
    assert book.loc["very_late_2", "late_penalty_percent"] == 40.0
    assert set(book["submitted_source"]) == {"gradescope"}


def test_two_gradescope_submissions_for_one_student_stop_nobody(tmp_path: Path,
                                                                toy_engine: Any) -> None:
    """A Gradescope export where two submissions name the same submitter: every submission is
    graded, both claims are flagged with what to decide, the rest of the class as alone."""
    subs = tmp_path / "gs"
    for sub, module in (("submission_1", TOY), ("submission_2", TOY.replace("a + b", "a - b")),
                        ("submission_3", TOY)):
        _write(subs / sub, {"toy.py": module, "other.py": OTHER})
    (subs / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - :name: Ada\n    :sid: '7'\n"
        "submission_2:\n  :submitters:\n  - :name: Ada\n    :sid: '7'\n"
        "submission_3:\n  :submitters:\n  - :name: Bob\n    :sid: '8'\n")
    book = _graded_book(subs, tmp_path / "out", toy_engine)
    assert set(book.index) == {"ada_7", "ada_7#2", "bob_8"}
    assert (book["status"] == "graded").all()
    assert book.loc["bob_8", "percent"] == 100.0 and not book.loc["bob_8", "flag_duplicate"]
    assert book.loc["ada_7", "flag_duplicate"] and book.loc["ada_7#2", "flag_duplicate"]
    assert "submissions claim student 'ada_7'" in book.loc["ada_7#2", "duplicate"]


def test_no_clash_of_ids_or_folders_refuses_the_class(tmp_path: Path) -> None:
    """Every way two entries can meet (one student claimed twice in a Canvas download, a plain
    folder and an LMS download naming one student, two roster rows sharing a submission, an id
    spelled like another's output folder) grades them all, each in a folder of its own."""
    from grader.classroom.layout import folder_name
    from grader.classroom.roster import Student

    subs = tmp_path / "subs"
    _write(subs, {"perfectada_1_100_toy.py": TOY, "perfectada_2_101_toy.py": TOY})
    _write(subs / "pair", {"toy.py": TOY})
    _write(subs / "odd id", {"toy.py": TOY})
    _write(subs / folder_name("odd id"), {"toy.py": TOY})
    roster = {"ada": Student("ada", name="Ada Perfect"),
              "p1": Student("p1", submission="pair"), "p2": Student("p2", submission="pair")}
    entries, _ = discover(subs, roster, tmp_path / "u")
    by = {e.student: e for e in entries}
    assert set(by) == {"ada", "ada#2", "p1", "p2", "odd id", folder_name("odd id")}
    assert all(e.path is not None for e in entries)
    assert by["ada"].duplicate and by["ada"].duplicate == by["ada#2"].duplicate
    assert by["p1"].path == by["p2"].path == subs / "pair" and not by["p1"].duplicate
    assert len({e.folder for e in entries}) == len(entries)
