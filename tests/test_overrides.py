"""Manual adjustments: applied to the gradebook, canvas.csv, moodle.csv and the student's report,
kept within each topic's limits, kept across --resume and --only, and refused with one clear
line when they name someone or something the batch does not have."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.classroom import gradebook
from grader.classroom import overrides
from grader.classroom.batch import Batch, BatchError
from grader.course import Course
from grader.results.model import TestResult, TopicResult, SubmissionResult
from shared_engine import SharedEngine

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIXTURE / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIXTURE / "reference" / "other" / "solution.py").read_text()
SCALE_WRONG = TOY.replace("return c * x", "return c * x + 1")
TESTS = {"toy": {"test_add", "test_scale", "test_add_small"}, "other": {"test_double"}}


def run(subs: Path, out: Path, engine: Any, **kw: Any) -> str:
    said = io.StringIO()
    Batch(course=Course(FIXTURE), submissions=subs, out=out, jobs=2,
          echo=lambda s: said.write(s + "\n"), progress_stream=said, tty=False,
          engine_factory=lambda *a, **k: SharedEngine(engine), **kw).run()
    return said.getvalue()


def write_csv(path: Path, text: str) -> Path:
    path.write_text("student,topic,points,reason\n" + text)
    return path


def rows_of(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {r.get("student") or r.get("Full name") or r["Student"]: r
                for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def adjusted(tmp_path_factory: pytest.TempPathFactory, toy_engine: Any) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("overrides")
    subs = base / "subs"
    for student, files in {"good": {"toy.py": TOY, "other.py": OTHER},
                           "partial": {"toy.py": SCALE_WRONG}}.items():
        (subs / student).mkdir(parents=True)
        for name, text in files.items():
            (subs / student / name).write_text(text)
    (subs / "roster.csv").write_text("student,name,sis_id,login\n"
                                     "good,Good G,S1,good@x.edu\npartial,Part P,S2,part@x.edu\n")
    fixes = write_csv(base / "overrides.csv",
                      "partial,toy,3,the statement's scale convention was ambiguous\n"
                      "partial,other,-1,no other.py\n"
                      "good,toy::test_add,-1,hard-coded the expected sums\n")
    said = run(subs, base / "out", toy_engine, overrides=fixes)
    assert "overrides: 3 adjustment(s)" in said
    return {"subs": subs, "out": base / "out"}


def test_adjustments_reach_the_gradebook_within_each_topics_limits(adjusted: dict[str, Path]
                                                                   ) -> None:
    book = gradebook.read_gradebook(adjusted["out"] / "gradebook.csv").set_index("student")
    # partial: toy 5 of 6, +3 asked -> capped at 6; other 0, -1 asked -> stays 0
    assert (book.loc["partial", "toy"], book.loc["partial", "other"]) == (6.0, 0.0)
    assert book.loc["partial", "score"] == 6.0
    assert "toy +1 (asked +3): the statement's scale convention" in \
        book.loc["partial", "adjustments"]
    # good: a test's points taken back
    assert (book.loc["good", "toy"], book.loc["good", "score"]) == (5.0, 7.0)
    assert "toy::test_add -1: hard-coded" in book.loc["good", "adjustments"]
    canvas = rows_of(adjusted["out"] / "canvas.csv")
    assert float(canvas["Good G"]["Deep learning exercises"]) == 7.0
    moodle = rows_of(adjusted["out"] / "moodle.csv")
    assert float(moodle["Part P"]["Deep learning exercises"]) == 6.0


def test_the_report_shows_each_adjustment_with_its_reason(adjusted: dict[str, Path]) -> None:
    html = (adjusted["out"] / "students" / "partial" / "report.html").read_text()
    assert 'id="adjustments"' in html
    assert "the statement&#39;s scale convention was ambiguous" in html
    assert "asked +3" in html and "Score: 6 / 8" in html
    # The result on disk stays as graded: the adjustment is applied on top of it.
    raw = (adjusted["out"] / "students" / "partial" / "result.json").read_text()
    assert '"score": 5.0' in raw


def test_adjustments_survive_resume_and_only(adjusted: dict[str, Path], toy_engine: Any,
                                             tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(adjusted["subs"], subs)
    shutil.copytree(adjusted["out"], out)
    (subs / "good" / "other.py").write_text(OTHER + "\n# changed\n")  # regraded on resume
    said = run(subs, out, toy_engine, resume=True)
    assert "1 to grade" in said
    book = gradebook.read_gradebook(out / "gradebook.csv").set_index("student")
    assert (book.loc["good", "toy"], book.loc["partial", "toy"]) == (5.0, 6.0)
    assert 'id="adjustments"' in (out / "students" / "good" / "report.html").read_text()
    run(subs, out, toy_engine, only=("partial",))
    book = gradebook.read_gradebook(out / "gradebook.csv").set_index("student")
    assert (book.loc["good", "toy"], book.loc["partial", "toy"]) == (5.0, 6.0)
    assert 'id="adjustments"' in (out / "students" / "partial" / "report.html").read_text()
    # A new file replaces the old adjustments; a report that had some loses them.
    run(subs, out, toy_engine, resume=True,
        overrides=write_csv(tmp_path / "fewer.csv", "good,other,-0.5,late fix\n"))
    book = gradebook.read_gradebook(out / "gradebook.csv").set_index("student")
    assert (book.loc["partial", "toy"], book.loc["good", "other"]) == (5.0, 1.5)
    assert 'id="adjustments"' not in (out / "students" / "partial" / "report.html").read_text()


def _result() -> SubmissionResult:
    tests = (TestResult("toy", "test_add", "t::test_add", "hidden", "passed", 2, 2),
             TestResult("toy", "test_scale[a]", "t::test_scale[a]", "hidden", "failed", 0, 1),
             TestResult("toy", "test_scale[b]", "t::test_scale[b]", "hidden", "failed", 0, 1))
    return SubmissionResult("s", (TopicResult("toy", 2, 4, True),), tests, 1, (), "", 0.0)


def test_a_test_moves_only_within_its_own_points() -> None:
    add = overrides.Override("s", "toy", "test_add", 5, "")
    scale_a = overrides.Override("s", "toy", "test_scale[a]", 5, "")
    scale = overrides.Override("s", "toy", "test_scale", 5, "")  # the whole parametrised family
    for fix, score in ((add, 2), (scale_a, 3), (scale, 4),
                       (overrides.Override("s", "toy", "test_add", -5, ""), 0),
                       (overrides.Override("s", "toy", "", -5, ""), 0),
                       (overrides.Override("s", "toy", "", 9, ""), 4)):
        result, applied = overrides.apply(_result(), [fix])
        assert result.topic("toy").score == score, fix
        assert applied[0].counted == score - 2


@pytest.mark.parametrize("line, message", [
    ("nobody,toy,1,x", r"overrides.csv:2: no student 'nobody' in this class"),
    ("good,tyo,1,x", r"overrides.csv:2: 'tyo' is neither a topic of this batch"),
    ("good,test_nothing,1,x", r"'test_nothing' is neither a topic"),
    ("good,toy,lots,x", r"points must be a number such as 2 or -1.5, not 'lots'"),
])
def test_a_bad_line_is_one_clear_error(tmp_path: Path, line: str, message: str) -> None:
    path = write_csv(tmp_path / "overrides.csv", line + "\n")
    with pytest.raises(overrides.OverrideError, match=message):
        overrides.read_overrides(path, ["good"], TESTS)
    assert overrides.read_overrides(write_csv(tmp_path / "ok.csv", "good,test_scale[x],1,\n"),
                                    ["good"], TESTS)[0].topic == "toy"


def test_the_command_line_says_it_in_one_line_and_exits_2(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    (subs / "good").mkdir(parents=True)
    (subs / "good" / "toy.py").write_text(TOY)
    fixes = write_csv(tmp_path / "overrides.csv", "good,toy,1,ok\nghost,toy,1,who?\n")
    done = subprocess.run([sys.executable, "-m", "grader", "batch", str(subs), "--out",
                           str(tmp_path / "out"), "--overrides", str(fixes), "--course",
                           str(FIXTURE)], cwd=ROOT, text=True, capture_output=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {fixes}:3: no student 'ghost' in this class; use the id of the gradebook's "
        "student column"]
    assert "Traceback" not in done.stdout + done.stderr


def test_batch_refuses_unknown_names_before_grading(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    (subs / "good").mkdir(parents=True)
    (subs / "good" / "toy.py").write_text(TOY)

    def no_engine(*a: Any, **k: Any) -> Any:
        raise AssertionError("the overrides are checked before any grading")

    with pytest.raises(BatchError, match="'toy::test_nope' is neither"):
        Batch(course=Course(FIXTURE), submissions=subs, out=tmp_path / "out",
              echo=lambda s: None, engine_factory=no_engine,
              overrides=write_csv(tmp_path / "o.csv", "good,toy::test_nope,1,x\n")).run()


def test_one_grade_reaches_every_page_and_table_and_each_page_is_written_once(
        tmp_path: Path, toy_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from grader.results import files

    # Pages may be rendered in the grading process: count them in a file every process appends to.
    log = tmp_path / "rendered.log"
    real = files.render_report

    def counting(result: Any, *a: Any, **k: Any) -> str:
        shown = result if k.get("instructor") else result.result  # the student's: their view
        with log.open("a") as f:
            f.write(shown.submission + (" instructor" if k.get("instructor") else "") + "\n")
        return real(result, *a, **k)

    def rendered() -> list[str]:
        return sorted(log.read_text().splitlines()) if log.exists() else []

    monkeypatch.setattr(files, "render_report", counting)
    subs = tmp_path / "subs"
    (subs / "late").mkdir(parents=True)
    (subs / "late" / "toy.py").write_text(SCALE_WRONG)
    (subs / "late" / "other.py").write_text(OTHER)
    (subs / "roster.csv").write_text("student,submitted\nlate,2026-03-02T10:00:00+00:00\n")
    (subs / "batch.toml").write_text('[late]\ndeadline = "2026-03-01T23:59:00+00:00"\n'
                                     "per_day = 25\n")
    fixes = write_csv(tmp_path / "overrides.csv", "late,toy,1,the scale convention\n")
    run(subs, tmp_path / "out", toy_engine, overrides=fixes)
    assert rendered() == ["late", "late instructor"]  # each page once
    # raw 7 of 8, +1 by hand = 8, one day late at 25 % of the score: 6
    row = gradebook.read_gradebook(tmp_path / "out" / "gradebook.csv").set_index("student") \
        .loc["late"]
    assert (row["raw_score"], row["adjustment_points"], row["score"],
            row["late_penalty_percent"], row["final"]) == (7.0, 1.0, 8.0, 25.0, 6.0)
    folder = tmp_path / "out" / "students" / "late"
    for page in ("report.html", "instructor.html"):
        html = (folder / page).read_text()
        assert "Raw score 7 / 8, adjustments +1, late penalty 25 %, final score " \
               "<strong>6 / 8</strong>" in html, page
        assert "Score: 6 / 8" in html and 'id="adjustments"' in html, page
    gs = json.loads((folder / "results.json").read_text())
    assert gs["score"] == 6.0 and gs["extra_data"]["grade"]["raw"] == 7.0
    # Tables rebuilt with nothing changed write no page again.
    from grader.classroom.tables import refresh

    log.unlink()
    refresh(tmp_path / "out")
    assert rendered() == []
    # A regrade into the batch's folder (grader grade --out DIR/students/late) writes pages
    # without the grade; rebuilding the tables writes them again, with it.
    from grader.results.model import load_result

    files.write_outputs(load_result(folder / "result.json"), folder)
    assert "late penalty" not in (folder / "instructor.html").read_text()
    refresh(tmp_path / "out")
    assert "late penalty 25 %" in (folder / "instructor.html").read_text()
