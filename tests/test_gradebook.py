"""The class tables and the overview page, from hand-made results (no grading here)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from grader.classroom import gradebook, overview, writers
from grader.classroom.gradebook import ClassEntry
from grader.classroom.writers.canvas import canvas_rows
from grader.classroom.late import LatePolicy, parse_time
from grader.results.model import SubmissionResult, TestResult
from grader.results.scoring import topic_results

TOPICS = ["alpha", "beta"]
DEADLINE = parse_time("2026-03-01T23:59:00+00:00")
HOSTILE = "<script>window.pwned = true</script><img src=x onerror=alert(1)>"


def test(topic: str, name: str, outcome: str = "passed", points: float = 1.0,
         message: str = "", flags: tuple[str, ...] = ()) -> TestResult:
    return TestResult(topic=topic, name=name, nodeid=f"{topic}/hidden::{name}", kind="hidden",
                      outcome=outcome, score=points if outcome == "passed" else 0.0,
                      max_score=0.0 if outcome == "not_graded" else points, message=message,
                      flags=flags)


test.__test__ = False  # type: ignore[attr-defined]


def result(student: str, tests: list[TestResult], *, missing: tuple[str, ...] = (),
           error: str = "") -> SubmissionResult:
    submitted = {t: t not in missing for t in TOPICS}
    notes = {t: "not submitted" for t in missing}
    return SubmissionResult(submission=student, topics=topic_results(tests, TOPICS, notes, submitted),
                            tests=tuple(tests), seed=7, sandbox=("landlock",),
                            started="2026-03-01T00:00:00+00:00", duration=1.0, error=error)


def full_marks(student: str) -> SubmissionResult:
    return result(student, [test("alpha", "a1", points=2), test("alpha", "a2"),
                            test("beta", "b1", points=3)])


def entries() -> list[ClassEntry]:
    on_time = DEADLINE - dt.timedelta(hours=1)
    return [
        ClassEntry("ada", "graded", full_marks("ada"), {"name": "Ada", "canvas_id": "11",
                                                          "sis_id": "S1", "login": "ada@x",
                                                          "section": "A"},
                   "students/ada/report.html", on_time, "roster", DEADLINE),
        ClassEntry("ben", "graded", result("ben", [
            test("alpha", "a1", "failed", 2, "fit_linear → w: 3 of 4 values differ by 0.25"),
            test("alpha", "a2", "timeout", message="a2 did not finish within 3 s",
                 flags=("timeout",)),
            test("beta", "b1", "failed", 3, "beta.py was not submitted",
                 flags=("not_submitted",)),
        ], missing=("beta",)), {}, "students/ben/report.html",
            DEADLINE + dt.timedelta(hours=30), "file time", DEADLINE),
        ClassEntry("cy", "graded", result("cy", [
            test("alpha", "a1", "failed", 2, "fit_linear → w: 1 of 4 values differ by 0.5"),
            test("alpha", "a2", "error", message="a2 crashed the worker", flags=("crash",)),
            test("beta", "b1", "failed", 3, "uses numpy.polyfit",
                 flags=("banned", "dynamic_access")),
        ]), {}, "students/cy/report.html", on_time, "roster", DEADLINE),
        ClassEntry("007", "error", result("007", [], error="007.zip is not a readable zip"),
                   {}, "students/007/report.html", on_time, "roster", DEADLINE),
        ClassEntry("dee", "not_submitted", None, {"name": "Dee"}, "", None, "", DEADLINE),
    ]


@pytest.fixture
def rows() -> list[dict]:
    return gradebook.student_rows(entries(), TOPICS, LatePolicy(per_day=10, cap=50))


def by_student(rows: list[dict]) -> dict[str, dict]:
    return {r["student"]: r for r in rows}


def test_row_holds_topic_scores_total_maximum_and_percentage(rows: list[dict]) -> None:
    ada = by_student(rows)["ada"]
    assert (ada["alpha"], ada["beta"], ada["score"], ada["max_score"], ada["percent"]) == \
        (3.0, 3.0, 6.0, 6.0, 100.0)
    assert (ada["name"], ada["canvas_id"], ada["section"]) == ("Ada", "11", "A")
    assert ada["final"] == 6.0 and not ada["flag_late"]
    assert not any(ada[f"flag_{f}"] for f in gradebook.FLAGS)


def test_flags_come_from_the_tests(rows: list[dict]) -> None:
    ben, cy = by_student(rows)["ben"], by_student(rows)["cy"]
    assert ben["flag_timeout"] and ben["flag_not_submitted"] and ben["missing_topics"] == "beta"
    assert not ben["flag_crash"] and not ben["flag_banned"]
    assert cy["flag_crash"] and cy["flag_banned"] and not cy["flag_timeout"]
    assert not cy["flag_not_submitted"]
    assert cy["flag_dynamic_access"] and not ben["flag_dynamic_access"]


def test_late_penalty_is_applied_to_the_final_score() -> None:
    e = entries()[0]
    late = ClassEntry(e.student, e.status, e.result, e.roster, e.report,
                      DEADLINE + dt.timedelta(hours=30), "roster", DEADLINE)
    row = gradebook.student_rows([late], TOPICS, LatePolicy(per_day=10, cap=50))[0]
    assert row["late_days"] == pytest.approx(1.25)
    assert (row["late_penalty_percent"], row["final"], row["final_percent"]) == (20.0, 4.8, 80.0)
    assert row["score"] == 6.0 and row["flag_late"]
    assert row["submitted_source"] == "roster"


def test_error_and_absent_students_are_scored_out_of_the_usual_maximum(rows: list[dict]) -> None:
    err, absent = by_student(rows)["007"], by_student(rows)["dee"]
    assert err["status"] == "error" and err["flag_error"] and "not a readable zip" in err["error"]
    assert err["max_score"] == 6.0 and err["score"] == 0.0
    assert absent["status"] == "not_submitted" and absent["flag_not_submitted"]
    assert absent["missing_topics"] == "alpha;beta" and absent["max_score"] == 6.0
    assert absent["submitted_at"] == "" and absent["final"] == 0.0


def write_tables(out: Path, rows: list[dict], tests: list[dict], assignment: str) -> list[Path]:
    return writers.write_all(out, writers.Context(rows, tests, assignment, TOPICS))[0]


def test_canvas_rows_use_roster_ids_and_leave_broken_grades_blank(rows: list[dict]) -> None:
    canvas = {r["Student"]: r for r in canvas_rows(rows, "HW 1")}
    assert canvas["Ada"] == {"Student": "Ada", "ID": "11", "SIS User ID": "S1",
                             "SIS Login ID": "ada@x", "Section": "A", "HW 1": 6.0}
    assert canvas["007"]["HW 1"] == ""  # grading broke: not posted
    assert canvas["Dee"]["HW 1"] == 0.0  # nothing submitted: zero


def test_tables_are_written_and_read_back(tmp_path: Path, rows: list[dict]) -> None:
    tests = gradebook.rows_per_test(entries())
    paths = write_tables(tmp_path, rows, tests, "HW 1")
    assert [p.name for p in paths] == ["gradebook.csv", "tests.csv", "canvas.csv", "moodle.csv"]
    book = gradebook.read_gradebook(tmp_path / "gradebook.csv")
    assert list(book["student"]) == ["ada", "ben", "cy", "007", "dee"]  # 007 stays text
    assert list(book.columns[:9]) == ["student", "name", "canvas_id", "sis_id", "login",
                                      "section", "status", "alpha", "beta"]
    assert book.loc[book.student == "ada", "score"].item() == 6.0
    long = list(csv.DictReader(io.StringIO((tmp_path / "tests.csv").read_text())))
    assert len(long) == 9  # 3 tests for each of the 3 students with tests
    assert {r["outcome"] for r in long if r["student"] == "ben"} == {"failed", "timeout"}
    header = (tmp_path / "canvas.csv").read_text().splitlines()[0]
    assert header == "Student,ID,SIS User ID,SIS Login ID,Section,HW 1"


def test_moodle_import_has_an_identifier_and_one_grade_column(tmp_path: Path,
                                                              rows: list[dict]) -> None:
    write_tables(tmp_path, rows, [], "HW 1")
    moodle = list(csv.DictReader(io.StringIO((tmp_path / "moodle.csv").read_text())))
    assert list(moodle[0]) == ["Full name", "ID number", "Email address", "HW 1"]
    by_id = {r["ID number"]: r for r in moodle}
    ada = next(r for r in rows if r["student"] == "ada")
    assert float(by_id[ada["sis_id"]]["HW 1"]) == ada["final"]
    # Moodle stops the whole import at a row it cannot match, and an empty grade clears the
    # one it has: rows without an identifier or without a grade are left out, never blank.
    assert all(r["ID number"] or r["Email address"] for r in moodle)
    assert all(r["HW 1"] != "" for r in moodle)
    kept = {r["Full name"] for r in moodle}
    for r in rows:
        has_id = bool(r["sis_id"]) or "@" in r["login"]
        graded = r["status"] not in ("error", "not_graded")
        assert ((r["name"] or r["student"]) in kept) == (has_id and graded), r["student"]


def test_class_stats_count_graded_students_only(rows: list[dict]) -> None:
    stats = gradebook.class_stats(rows)
    assert (stats.students, stats.graded) == (5, 3)
    assert stats.mean == pytest.approx(100 / 3) and stats.median == 0.0
    assert stats.counts["error"] == 1 and stats.counts["not_submitted"] == 2


def test_not_graded_tests_count_towards_neither_score_nor_maximum() -> None:
    r = result("gpu", [test("alpha", "a1", points=2), test("alpha", "g", "not_graded"),
                       test("beta", "b1", points=3)])
    row = gradebook.student_rows([ClassEntry("gpu", "graded", r)], TOPICS, LatePolicy())[0]
    assert (row["score"], row["max_score"], row["percent"]) == (5.0, 5.0, 100.0)


# ------------------------------------------------------------------------------- the overview


def test_histogram_puts_a_perfect_score_in_the_last_bin() -> None:
    hist = overview.histogram([0.0, 9.9, 10.0, 55.0, 100.0, 100.0])
    assert [b["count"] for b in hist["bars"]] == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    tallest = max(hist["bars"], key=lambda b: b["h"])
    assert tallest["h"] == pytest.approx(hist["axis_y"] - 30)  # the largest bin fills the plot


def test_tests_are_sorted_hardest_first_with_grouped_failures() -> None:
    def graded(sid: str, a1: str, a2: str) -> ClassEntry:
        tests = [test("alpha", "a1", "failed" if a1 else "passed", 2, a1),
                 test("alpha", "a2", "failed" if a2 else "passed", 1, a2), test("beta", "b1")]
        return ClassEntry(sid, "graded", result(sid, tests))

    table = overview.table_per_test([
        graded("s1", "fit_linear → w: 3 of 4 values differ by 0.25", ""),
        graded("s2", "fit_linear → w: 1 of 4 values differ by 0.5", "a2 is wrong"),
        graded("s3", "", ""),
    ])
    assert [(t["name"], t["rate"]) for t in table] == [("a1", 33.33), ("a2", 66.67), ("b1", 100.0)]
    # Messages that differ only in their numbers are one mistake, shown by its first example.
    assert table[0]["failures"] == [{"count": 2, "message":
                                     "fit_linear → w: 3 of 4 values differ by 0.25"}]
    assert table[2]["failures"] == []


def test_overview_escapes_student_text_and_links_reports(rows: list[dict]) -> None:
    hostile = entries()
    hostile[1] = ClassEntry(HOSTILE, "graded", result(HOSTILE, [
        test("alpha", "a1", "failed", 2, HOSTILE)]), {}, "students/x/report.html")
    rows = gradebook.student_rows(hostile, TOPICS, LatePolicy())
    html = overview.render_overview(rows, hostile, TOPICS, gradebook.class_stats(rows))
    assert "<script>window" not in html and "<img" not in html
    # Long text may wrap after some punctuation (a <wbr> there), and stays escaped.
    assert "&lt;script&gt;window.pwned = true&lt;/script&gt;" in html.replace("<wbr>", "")
    assert 'href="students/ada/report.html"' in html
    assert html.count("<svg") >= 1 + len(TOPICS) + 3  # histogram, topic bars, test bars


def test_every_flag_says_what_raised_it() -> None:
    syntax = test("alpha", "a1", "failed", 2, "alpha.py has a syntax error\n  line 3",
                  flags=("import_error", "import_failed", "syntax_error"))
    missing = test("beta", "b1", "failed", 3, "beta.py imports sklearn, which the grading "
                   "environment does not have", flags=("import_error", "import_failed",
                                                      "missing_package"))
    rows = gradebook.student_rows([
        *entries(), ClassEntry("fin", "graded", result("fin", [syntax, missing]))],
        TOPICS, LatePolicy(per_day=10, cap=50))
    fin, ben, cy = (by_student(rows)[s] for s in ("fin", "ben", "cy"))
    # A syntax error is its own flag; the missing package stays an import error.
    assert fin["flag_syntax_error"] and fin["syntax_errors"] == "alpha: alpha.py has a syntax error"
    assert fin["flag_import_error"] and fin["import_errors"].startswith("beta: beta.py imports sklearn")
    assert not ben["flag_syntax_error"] and not ben["flag_import_error"]
    groups = {g["flag"]: g for g in overview.flag_groups(rows)}
    details = {(flag, s["student"]): s["detail"] for flag, g in groups.items() for s in g["students"]}
    assert details[("timeout", "ben")] == "alpha: a2 did not finish within 3 s"
    assert details[("crash", "cy")] == "alpha: a2 crashed the worker"
    assert details[("banned", "cy")] == "beta: uses numpy.polyfit"
    assert details[("syntax_error", "fin")].startswith("alpha: alpha.py has a syntax error")
    assert details[("not_submitted", "dee")] == "nothing submitted"
    assert details[("late", "ben")] == "1.25 days late, −20 %"
    assert all(s["href"] for s in groups["crash"]["students"])
    # The flags come before the students on the page, the students before the tests.
    html = overview.render_overview(rows, entries(), TOPICS, gradebook.class_stats(rows))
    assert html.index('id="flags"') < html.index('id="students"') < html.index('id="tests"')
    assert "a2 crashed the worker" in html


def test_a_dynamic_access_flag_in_a_row_is_shown_with_its_detail(rows: list[dict]) -> None:
    rows[0]["flag_dynamic_access"] = True
    rows[0]["dynamic_access"] = "alpha: getattr(np, name)"
    groups = {g["flag"]: g for g in overview.flag_groups(rows)}
    assert groups["dynamic_access"]["students"][0]["detail"] == "alpha: getattr(np, name)"
    assert overview.student_table(rows)[0]["flags"] == [{"text": "dynamic access",
                                                         "css": "dynamic-access"}]


def test_numbers_have_one_format_in_every_table(tmp_path: Path) -> None:
    from grader.results.numbers import number

    assert [number(x) for x in (447.6245, 36.0, 0.5, -0.001, 2.999)] == \
        ["447.62", "36", "0.5", "0", "3"]
    tests = [test("alpha", "a1", points=447.6245), test("alpha", "a2", "failed", 36.0),
             test("beta", "b1", points=1 / 3)]
    e = [ClassEntry("ada", "graded", result("ada", tests), {"name": "Ada", "sis_id": "S1"})]
    rows = gradebook.student_rows(e, TOPICS, LatePolicy())
    write_tables(tmp_path, rows, gradebook.rows_per_test(e), "A1")
    book = next(csv.DictReader(io.StringIO((tmp_path / "gradebook.csv").read_text())))
    assert (book["alpha"], book["beta"], book["score"], book["max_score"]) == \
        ("447.62", "0.33", "447.96", "483.96")
    long = list(csv.DictReader(io.StringIO((tmp_path / "tests.csv").read_text())))
    assert [r["max_score"] for r in long] == ["447.62", "36", "0.33"]
    for name in ("canvas.csv", "moodle.csv"):
        assert next(csv.DictReader(io.StringIO((tmp_path / name).read_text())))["A1"] == "447.96"
    html = overview.render_overview(rows, e, TOPICS, gradebook.class_stats(rows))
    assert "447.96 / 483.96" in html and "447.9578" not in html


def test_variants_fold_and_stubs_do_not_make_a_test_hard() -> None:
    def graded(sid: str, outcomes: list[str], flags: tuple[str, ...] = ()) -> ClassEntry:
        tests = [test("alpha", f"t_fit[{i}]", o, 1, "" if o == "passed" else "wrong by 0.5",
                      flags if o != "passed" else ()) for i, o in enumerate(outcomes)]
        tests += [test("alpha", "t_easy", "failed", 1, "t_easy: not implemented",
                       ("not_implemented",)) if flags else test("alpha", "t_easy")]
        return ClassEntry(sid, "graded", result(sid, tests + [test("beta", "b1")]))

    table = overview.table_per_test([
        graded("s1", ["failed", "failed", "passed"]),  # fails two variants: counts once
        graded("s2", ["passed", "passed", "passed"]),
        graded("s3", ["failed"] * 3, ("not_implemented",)),  # a stub: counted apart
    ])
    fit = next(t for t in table if t["name"] == "t_fit")
    assert (fit["variants"], fit["passed"], fit["failed"], fit["not_attempted"]) == (3, 1, 1, 1)
    assert fit["failures"] == [{"count": 1, "message": "wrong by 0.5"}]
    easy = next(t for t in table if t["name"] == "t_easy")
    assert (easy["rate"], easy["not_attempted"]) == (100.0, 1)
    assert table[0]["name"] == "t_fit"


def test_only_the_hardest_tests_of_a_topic_are_shown_before_the_toggle() -> None:
    tests = [test("alpha", f"t{i:02d}", "failed" if i % 2 else "passed") for i in range(30)]
    e = [ClassEntry("ada", "graded", result("ada", tests))]
    (alpha,) = overview.tests_by_topic(e, TOPICS)
    assert len(alpha["hardest"]) == overview.HARDEST_SHOWN and len(alpha["rest"]) == 10
    assert all(t["rate"] == 0 for t in alpha["hardest"][:15])
    rows = gradebook.student_rows(e, TOPICS, LatePolicy())
    html = overview.render_overview(rows, e, TOPICS, gradebook.class_stats(rows))
    assert "<summary>The other 10 tests of alpha</summary>" in html


def _alpha_only(student: str) -> ClassEntry:
    """A student who handed in alpha and not (yet) beta."""
    return ClassEntry(student, "graded", result(student, [
        test("alpha", "a1", points=2), test("alpha", "a2"),
        test("beta", "b1", "failed", 3, "beta.py was not submitted", flags=("not_submitted",)),
    ], missing=("beta",)), {}, f"students/{student}/report.html")


def test_a_class_handing_in_topic_by_topic_is_flagged_only_for_what_needs_the_instructor(
        ) -> None:
    """Three students handed in alpha and none beta yet (a class uploading one topic at a time),
    one handed in nothing: only the one with nothing is flagged; the overview says how many
    handed in what. Once most have handed beta in, the one without it is flagged."""
    nothing = ClassEntry("dee", "not_submitted", None, {"name": "Dee"})
    rows = gradebook.student_rows([*(_alpha_only(s) for s in ("al", "bo", "cy")), nothing],
                                  TOPICS, LatePolicy())
    groups = {g["flag"]: [s["student"] for s in g["students"]]
              for g in overview.flag_groups(rows)}
    assert groups == {"not_submitted": ["dee"]}
    table = {r["student"]: r for r in overview.student_table(rows)}
    assert table["al"]["flags"] == [] and "missing: beta" in table["al"]["notes"]
    html = overview.render_overview(rows, [], TOPICS, gradebook.class_stats(rows))
    assert "<b>1</b>flagged" in html
    assert ('<strong>Handed in</strong>, of 4 students: <span class="nowrap">alpha 3</span> · '
            '<span class="nowrap">beta 0</span> · <span class="nowrap">nothing yet: 1</span>'
            ) in html
    # Most of the graded students have beta now: cy, without it, needs the instructor.
    rows = gradebook.student_rows([*entries()[:1], ClassEntry("bo", "graded", full_marks("bo")),
                                   _alpha_only("cy"), nothing], TOPICS, LatePolicy())
    groups = {g["flag"]: {s["student"]: s["detail"] for s in g["students"]}
              for g in overview.flag_groups(rows)}
    assert groups["not_submitted"] == {"cy": "missing: beta", "dee": "nothing submitted"}
