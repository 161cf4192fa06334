"""``grader batch`` end to end on a small class of the test course: the gradebook against each
student's results, error rows, zip input, roster and late policy, resume after a real SIGKILL."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from grader.classroom import gradebook
from grader.classroom.batch import Batch
from grader.classroom.discover import discover
from grader.classroom.layout import BatchError, folder_name
from grader.classroom.progress import Progress
from grader.classroom.roster import read_roster
from grader.classroom.state import content_hash
from grader.course import Course
from grader.results.gradescope import results_json
from grader.results.visibility import GATED, student_view
from grader.results.model import load_result
from shared_engine import SharedEngine
from test_host import running_in_group

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIXTURE / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIXTURE / "reference" / "other" / "solution.py").read_text()
SCALE_WRONG = TOY.replace("return c * x", "return c * x + 1")
LOOPING_ADD = TOY + "\n\ndef add(a, b):\n    while True:\n        pass\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def zip_of(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def small_class(dest: Path) -> Path:
    """good (folder), partial (.zip, one mistake, a topic missing), broken (syntax error),
    malformed (.zip that is not one), zz_loop (an infinite loop: times out)."""
    subs = dest / "subs"
    write(subs / "good", {"toy.py": TOY, "other.py": OTHER})
    subs.mkdir(exist_ok=True)
    zip_of(subs / "partial.zip", {"toy.py": SCALE_WRONG})
    write(subs / "broken", {"toy.py": "def add(a, b)\n    return a + b\n", "other.py": OTHER})
    (subs / "malformed.zip").write_bytes(b"this is not a zip archive")
    write(subs / "zz_loop", {"toy.py": LOOPING_ADD, "other.py": OTHER})
    (subs / "notes.txt").write_text("not a submission")
    return subs


def run_batch(subs: Path, out: Path, engine: Any, **kw: Any) -> tuple[Any, str]:
    said = io.StringIO()
    batch = Batch(course=Course(FIXTURE), submissions=subs, out=out, jobs=kw.pop("jobs", 2),
                  echo=lambda s: said.write(s + "\n"), progress_stream=said, tty=False,
                  engine_factory=kw.pop("engine_factory", lambda *a, **k: SharedEngine(engine)),
                  **kw)
    return batch.run(), said.getvalue()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, toy_engine: Any) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("class")
    subs = small_class(base)
    summary, said = run_batch(subs, base / "out", toy_engine)
    return {"subs": subs, "out": base / "out", "summary": summary, "said": said}


def book(out: Path) -> Any:
    return gradebook.read_gradebook(out / "gradebook.csv").set_index("student")


# ------------------------------------------------------------------------------ the class run


def test_gradebook_equals_each_students_results(graded: dict[str, Any]) -> None:
    out = graded["out"]
    table = book(out)
    assert sorted(table.index) == ["broken", "good", "malformed", "partial", "zz_loop"]
    for student in ["good", "partial", "broken", "zz_loop"]:
        result = load_result(out / "students" / student / "result.json")
        row = table.loc[student]
        assert row["score"] == pytest.approx(result.score)
        assert row["max_score"] == pytest.approx(result.max_score)
        for t in result.topics:
            assert row[t.topic] == pytest.approx(t.score), (student, t.topic)
        # results.json is the Gradescope document of the same result
        gs = json.loads((out / "students" / student / "results.json").read_text())
        assert gs == json.loads(json.dumps(results_json(student_view(result, GATED))))
        assert (out / "students" / student / "report.html").is_file()
    assert table.loc["good", "percent"] == 100.0
    assert table.loc["partial", "toy"] == 5.0  # add (2), the cache round trip, safe_exp, public
    assert table.loc["partial", "missing_topics"] == "other"


def test_long_table_has_one_row_per_student_and_test(graded: dict[str, Any]) -> None:
    out = graded["out"]
    tests = gradebook.read_gradebook(out / "tests.csv")
    for student in ["good", "partial", "broken", "zz_loop"]:
        result = load_result(out / "students" / student / "result.json")
        mine = tests[tests.student == student]
        assert len(mine) == len(result.tests)
        assert mine.score.sum() == pytest.approx(result.score)


def test_every_failure_is_a_row_and_the_batch_finishes(graded: dict[str, Any]) -> None:
    table = book(graded["out"])
    assert table.loc["malformed", "status"] == "error"
    assert "malformed.zip is not a readable zip archive" in table.loc["malformed", "error"]
    assert table.loc["broken", "toy"] == 0.0 and table.loc["broken", "other"] == 2.0
    assert table.loc["zz_loop", "flag_timeout"] and table.loc["zz_loop", "other"] == 2.0
    assert not table.loc["good", "flag_timeout"]
    canvas = gradebook.read_gradebook(graded["out"] / "canvas.csv").set_index("Student")
    assert canvas.loc["malformed"].iloc[-1] == ""  # a broken grade is not posted
    assert float(canvas.loc["good"].iloc[-1]) == table.loc["good", "final"]


def test_summary_and_progress_report_the_run(graded: dict[str, Any]) -> None:
    summary, said = graded["summary"], graded["said"]
    assert (summary.students, summary.graded_now, summary.resumed) == (5, 5, 0)
    text = "\n".join(summary.lines())
    assert "5 students: 5 graded now" in text and "median" in text
    assert "error — malformed" in text and "1 with a timeout" in text
    assert "ignored (neither a folder nor an archive): notes.txt" in said
    assert said.count(" · ETA ") == 5  # one progress line per submission (not a terminal)
    assert "[5/5]" in said
    overview = (graded["out"] / "index.html").read_text()
    assert 'href="students/good/report.html"' in overview


def test_the_engine_is_told_only_the_topics_the_class_hands_in(
        toy_engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A class handing in one assignment starts only the zygotes of its topic (those of a topic
    no one hands in cost memory for nothing); every topic is graded all the same."""
    import grader.grading.engine

    told: list[tuple[str, ...]] = []
    chosen: list[Any] = []

    def engine(course: Any, **kw: Any) -> Any:
        told.append(kw["topics"])
        chosen.append(kw["chosen"])
        return SharedEngine(toy_engine)

    monkeypatch.setattr(grader.grading.engine, "Engine", engine)
    subs = tmp_path / "subs"
    write(subs / "alice", {"toy.py": TOY})
    zip_of(subs / "bob.zip", {"bob/assignments/toy/toy (1).py": TOY})
    said = io.StringIO()
    Batch(course=Course(FIXTURE), submissions=subs, out=tmp_path / "out", jobs=2,
          echo=lambda s: said.write(s + "\n"), progress_stream=said, tty=False).run()
    assert told == [("toy",)]
    graded = book(tmp_path / "out")
    assert graded.loc["alice", "toy"] == graded.loc["bob", "toy"] > 0
    assert load_result(tmp_path / "out" / "students" / "alice" / "result.json") \
        .topic("other").note == "not submitted"
    zip_of(subs / "carol.zip", {"other.py": OTHER})
    Batch(course=Course(FIXTURE), submissions=subs, out=tmp_path / "out2", jobs=2,
          echo=lambda s: said.write(s + "\n"), progress_stream=said, tty=False).run()
    assert told[1] == tuple(Course(FIXTURE).topics())  # both handed in, in the course's order
    # What each result lists: every topic, or those chosen (the others' tests are never listed).
    Batch(course=Course(FIXTURE), submissions=subs, out=tmp_path / "out3", jobs=2, topics=["toy"],
          echo=lambda s: said.write(s + "\n"), progress_stream=said, tty=False).run()
    assert chosen == [None, None, ("toy",)] and told[2] == ("toy",)


def test_resume_with_nothing_changed_grades_nothing(graded: dict[str, Any], toy_engine: Any,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(graded["out"], out)
    before = (out / "students" / "good" / "result.json").read_bytes()

    def no_engine(*a: Any, **k: Any) -> Any:
        raise AssertionError("nothing to grade: the engine should not start")

    summary, _ = run_batch(graded["subs"], out, toy_engine, resume=True,
                           engine_factory=no_engine)
    assert (summary.graded_now, summary.resumed) == (0, 5)
    assert (out / "students" / "good" / "result.json").read_bytes() == before
    assert len(book(out)) == 5


def test_resume_regrades_a_changed_submission_only(graded: dict[str, Any], toy_engine: Any,
                                                   tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(graded["subs"], subs)
    shutil.copytree(graded["out"], out)
    (subs / "broken" / "toy.py").write_text(TOY)  # fixed the syntax error
    summary, said = run_batch(subs, out, toy_engine, resume=True)
    assert (summary.graded_now, summary.resumed) == (1, 4)
    assert "resuming: 4 already graded and unchanged, 1 to grade" in said
    assert book(out).loc["broken", "percent"] == 100.0


def test_only_regrades_one_student_and_updates_the_gradebook(graded: dict[str, Any],
                                                             toy_engine: Any,
                                                             tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(graded["subs"], subs)
    shutil.copytree(graded["out"], out)
    (subs / "partial.zip").unlink()
    zip_of(subs / "partial.zip", {"toy.py": TOY, "other.py": OTHER})
    good_before = (out / "students" / "good" / "result.json").read_bytes()
    summary, _ = run_batch(subs, out, toy_engine, only=("partial",))
    assert summary.graded_now == 1
    assert book(out).loc["partial", "percent"] == 100.0
    assert (out / "students" / "good" / "result.json").read_bytes() == good_before
    with pytest.raises(BatchError, match="--only nobody: no such student"):
        run_batch(subs, out, toy_engine, only=("nobody",))


# --------------------------------------------------------------------------- inputs and policy


def test_a_class_archive_is_graded_like_the_folder(tmp_path: Path, toy_engine: Any) -> None:
    subs = tmp_path / "subs"
    write(subs / "good", {"toy.py": TOY, "other.py": OTHER})
    zip_of(subs / "partial.zip", {"toy.py": SCALE_WRONG})
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as zf:  # an LMS export: everything inside one folder
        zf.writestr("hw1-export/good/toy.py", TOY)
        zf.writestr("hw1-export/good/other.py", OTHER)
        zf.write(subs / "partial.zip", "hw1-export/partial.zip")
    run_batch(export, tmp_path / "out", toy_engine, seed=5)
    table = book(tmp_path / "out")
    assert sorted(table.index) == ["good", "partial"]
    assert (table.loc["good", "percent"], table.loc["partial", "toy"]) == (100.0, 5.0)
    # the archive's own timestamps are no submission times
    assert set(table["submitted_source"]) == {""}


def test_roster_names_students_and_the_late_policy_sets_final_scores(tmp_path: Path,
                                                                    toy_engine: Any) -> None:
    subs = tmp_path / "subs"
    write(subs / "sub-1234", {"toy.py": TOY, "other.py": OTHER})
    write(subs / "bo", {"toy.py": TOY, "other.py": OTHER})
    write(subs / "cat", {"toy.py": TOY, "other.py": OTHER})
    (subs / "roster.csv").write_text(
        "student,submission,name,canvas_id,sis_id,login,section,submitted,deadline\n"
        "al,sub-1234.zip,Al A,101,S1,al@x,A,2026-03-02T10:00:00+00:00,\n"  # 10 h late
        "bo,,Bo B,102,S2,bo@x,B,2026-03-04T00:05:00+00:00,2026-03-04T00:00:00+00:00\n"
        "cat,,Cat C,103,S3,cat@x,A,2026-03-01T23:00:00+00:00,\n"
        "dee,,Dee D,104,S4,dee@x,B,,\n")
    (subs / "batch.toml").write_text('[late]\nper_day = 25\ncap = 40\ngrace_minutes = 10\n'
                                     '[canvas]\nassignment = "HW 1 (123)"\n')
    _, said = run_batch(subs, tmp_path / "out", toy_engine, deadline="2026-03-02T00:00:00+00:00")
    assert "late policy: deadline 2026-03-02T00:00:00+00:00, 25 % of the score per day " \
           "started, at most 40 %, 10 min grace" in said
    table = book(tmp_path / "out")
    assert sorted(table.index) == ["al", "bo", "cat", "dee"]
    assert (table.loc["al", "name"], table.loc["al", "late_penalty_percent"],
            table.loc["al", "final"]) == ("Al A", 25.0, 6.0)
    # bo has an extension to the 4th and is inside its grace period
    assert (table.loc["bo", "late_penalty_percent"], table.loc["bo", "final"]) == (0.0, 8.0)
    assert not table.loc["cat", "flag_late"] and table.loc["cat", "final"] == 8.0
    assert table.loc["dee", "status"] == "not_submitted" and table.loc["dee", "final"] == 0.0
    # the student's own report shows the raw score, the penalty and the final score
    al_report = (tmp_path / "out" / "students" / "al" / "report.html").read_text()
    assert "a penalty of 25 % applies" in al_report and "Raw score 8 / 8" in al_report
    assert "final score <strong>6 / 8</strong>" in al_report
    assert "penalty" not in (tmp_path / "out" / "students" / "cat" / "report.html").read_text()
    canvas = (tmp_path / "out" / "canvas.csv").read_text().splitlines()
    assert canvas[0] == "Student,ID,SIS User ID,SIS Login ID,Section,HW 1 (123)"
    assert "Al A,101,S1,al@x,A,6" in canvas


def test_a_grader_bug_becomes_an_error_row(tmp_path: Path, toy_engine: Any) -> None:
    subs = tmp_path / "subs"
    for sid in ("ok", "start_bug", "poll_bug"):
        write(subs / sid, {"toy.py": TOY, "other.py": OTHER})

    class Buggy(SharedEngine):
        def start(self, submission: Path, out: Path, options: Any, *, name: str,
                  finish: Any = None) -> Any:
            if name == "start_bug":
                raise RuntimeError("boom at start")
            job = self._engine.start(submission, out, options, name=name, finish=finish)
            if name == "poll_bug":
                def poll() -> None:
                    raise KeyError("boom at poll")
                job.poll = poll
            return job

    summary, _ = run_batch(subs, tmp_path / "out", toy_engine,
                           engine_factory=lambda *a, **k: Buggy(toy_engine))
    table = book(tmp_path / "out")
    assert table.loc["ok", "status"] == "graded" and table.loc["ok", "percent"] == 100.0
    assert "RuntimeError: boom at start" in table.loc["start_bug", "error"]
    assert "KeyError: 'boom at poll'" in table.loc["poll_bug", "error"]
    assert set(summary.errors) == {"start_bug", "poll_bug"}
    log = (tmp_path / "out" / "batch.log").read_text()
    assert "boom at start" in log and "Traceback" in log


def test_discovery_names_folders_safely_and_refuses_duplicates(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    write(subs / "<i onclick=x>bo'b", {"toy.py": TOY})
    write(subs / "plain", {"toy.py": TOY})
    (subs / ".hidden").mkdir()
    entries, _ = discover(subs, {}, tmp_path / "unpacked")
    assert [e.student for e in entries] == ["<i onclick=x>bo'b", "plain"]
    assert entries[1].folder == "plain"
    assert entries[0].folder.startswith("i_onclick_x_bo_b-")
    assert folder_name("students") != "students"
    zip_of(subs / "plain.zip", {"toy.py": TOY})
    entries, _ = discover(subs, {}, tmp_path / "unpacked")  # both kept, both marked
    claims = {e.student: e for e in entries if e.student.startswith("plain")}
    assert set(claims) == {"plain", "plain#2"}
    assert {e.path.name for e in claims.values() if e.path} == {"plain", "plain.zip"}
    assert all("2 submissions claim student 'plain'" in e.duplicate for e in claims.values())
    assert not entries[0].duplicate


def test_submissions_claiming_one_student_are_all_graded_and_marked(
        tmp_path: Path, toy_engine: Any) -> None:
    """Two submissions for one student (a folder and an archive of the same name, or two LMS
    entries matched to one roster student) stop nobody: every submission is graded, both claims
    carry the duplicate flag with what to decide, and neither posts a grade to the LMS files."""
    subs = tmp_path / "subs"
    write(subs / "ada", {"toy.py": TOY, "other.py": OTHER})
    zip_of(subs / "ada.zip", {"toy.py": SCALE_WRONG})
    write(subs / "bob", {"toy.py": TOY, "other.py": OTHER})
    summary, said = run_batch(subs, tmp_path / "out", toy_engine)
    table = book(tmp_path / "out")
    assert set(table.index) == {"ada", "ada#2", "bob"}
    assert (table["status"] == "graded").all()
    assert table.loc["bob", "percent"] == 100.0 and not table.loc["bob", "flag_duplicate"]
    for sid in ("ada", "ada#2"):
        assert table.loc[sid, "flag_duplicate"]
        assert "2 submissions claim student 'ada' (ada, ada#2)" in table.loc[sid, "duplicate"]
    canvas = (tmp_path / "out" / "canvas.csv").read_text().splitlines()
    assert not any(line.startswith("ada") and line.rstrip(",").count(",") >= 5 and
                   not line.endswith(",") for line in canvas), canvas
    overview = (tmp_path / "out" / "index.html").read_text()
    assert "claims a student twice" in overview and "decide which one counts" in overview
    assert summary.stats.counts["duplicate"] == 2


def test_roster_errors_say_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "roster.csv"
    bad.write_text("name,email\nAl,al@x\n")
    with pytest.raises(BatchError, match="no 'student' column"):
        read_roster(bad)
    bad.write_text("student,submitted\nal,yesterday\n")
    with pytest.raises(BatchError, match="roster.csv:2: submitted of al 'yesterday' is not an ISO"):
        read_roster(bad)
    bad.write_bytes("student,name\nzoe,Zo\xe9\n".encode("latin-1"))
    with pytest.raises(BatchError, match="is not UTF-8 text"):
        read_roster(bad)
    bad.write_text("student,name\nal,Al\nal,Al again\n")
    with pytest.raises(BatchError, match="roster.csv:3: student 'al' appears twice"):
        read_roster(bad)


def test_content_hash_follows_content_not_timestamps(tmp_path: Path) -> None:
    a = write(tmp_path / "a", {"toy.py": TOY})
    h = content_hash(a)
    os.utime(a / "toy.py", (0, 0))
    assert content_hash(a) == h
    (a / "toy.py").write_text(TOY + "\n")
    assert content_hash(a) != h


def test_progress_bar_on_a_terminal_counts_and_estimates() -> None:
    stream = io.StringIO()
    p = Progress(4, stream, tty=True)
    from grader.results.model import SubmissionResult

    ok = SubmissionResult("a", (), (), 1, (), "", 1.0)
    p.update("a", ok)
    p.update("b", SubmissionResult("b", (), (), 1, (), "", 1.0, error="broke"))
    text = stream.getvalue()
    assert text.startswith("\r") and "2/4 graded · 1 failed · 0 timed out" in text
    assert "ETA" in text and "\n" not in text


# ------------------------------------------------------------------------ kill -9 and resume


def test_sigkill_mid_batch_then_resume_completes_the_class(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    for sid in ("a1", "a2"):
        write(subs / sid, {"toy.py": TOY, "other.py": OTHER})
    write(subs / "zz_loop", {"toy.py": LOOPING_ADD, "other.py": OTHER})  # slow: times out
    out = tmp_path / "out"
    proc, cmd = start_batch(subs, out)
    wait_for_a_result(proc, out)
    os.killpg(proc.pid, signal.SIGKILL)  # the batch and its grading children, at once
    proc.communicate()
    killed_with = set(json.loads((out / "batch.json").read_text())["students"])
    assert killed_with and "zz_loop" not in killed_with, "the batch was not killed mid-run"
    seeds = {s: load_result(out / "students" / s / "result.json").seed for s in killed_with}

    rerun = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"resuming: {len(killed_with)} already graded" in rerun.stdout
    table = gradebook.read_gradebook(out / "gradebook.csv")
    assert sorted(table.student) == ["a1", "a2", "zz_loop"]  # no duplicate, none missing
    assert set(table.status) == {"graded"}
    for s, seed in seeds.items():  # graded before the kill: kept, not regraded
        assert load_result(out / "students" / s / "result.json").seed == seed
    assert table.set_index("student").loc["zz_loop", "flag_timeout"]


def test_a_batch_killed_alone_leaves_no_grading_behind(tmp_path: Path) -> None:
    # The batch process alone is killed (the OOM killer's way) while a student's code runs:
    # its grading child ends with it, writes nothing for that student, and the run's
    # temporary folder goes. Left running, the child graded on against workers the zygote had
    # ended, and wrote an error as the student's result, into the folder a rerun writes.
    subs, out, tmp = tmp_path / "subs", tmp_path / "out", tmp_path / "tmp"
    write(subs / "a1", {"toy.py": TOY.replace("def scale(x, c):",
                                              "def scale(x, c):\n    import time\n"
                                              "    time.sleep(60)", 1),
                        "other.py": OTHER})
    tmp.mkdir()
    proc, _ = start_batch(subs, out, env={"TMPDIR": str(tmp)})
    deadline = time.monotonic() + 180
    log = out / "students" / "a1" / "grading.log"  # the grading child has started
    while not (log.exists() and any("grader-worker-" in p for p in _walk(tmp))):
        assert proc.poll() is None and time.monotonic() < deadline, "no worker started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    deadline = time.monotonic() + 60
    # The batch's process group: the batch and the children it forked.
    while running := running_in_group(proc.pid):
        assert time.monotonic() < deadline, ("the batch's grading child runs on", running)
        time.sleep(0.05)
    assert not (out / "students" / "a1" / "result.json").exists()
    deadline = time.monotonic() + 60
    while list(tmp.iterdir()):
        assert time.monotonic() < deadline, _walk(tmp)
        time.sleep(0.05)


def _walk(folder: Path) -> list[str]:
    """Every path under ``folder`` now; one removed while it is listed is left out."""
    return [os.path.join(top, name) for top, dirs, files in os.walk(folder)
            for name in dirs + files]


def start_batch(subs: Path, out: Path, *extra: str, env: dict[str, str] | None = None
                ) -> tuple[subprocess.Popen[str], list[str]]:
    cmd = [sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out),
           "--course", str(FIXTURE), "--jobs", "1", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True, start_new_session=True), cmd


def wait_for_a_result(proc: subprocess.Popen[str], out: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = json.loads((out / "batch.json").read_text()).get("students", {})
        except (FileNotFoundError, json.JSONDecodeError):
            done = {}
        if done:
            return done
        time.sleep(0.05)
    raise AssertionError("no result was written before the deadline")


def test_sigterm_stops_cleanly_and_writes_what_is_done(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "a1", {"toy.py": TOY, "other.py": OTHER})
    write(subs / "zz_loop", {"toy.py": LOOPING_ADD, "other.py": OTHER})
    proc, _ = start_batch(subs, out)
    wait_for_a_result(proc, out)
    proc.send_signal(signal.SIGTERM)  # the batch process only, as CI cancelling a job does
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, output
    assert "interrupted after grading 1 of 2; run the same command with --resume" in output
    table = book(out)
    assert table.loc["a1", "status"] == "graded"
    assert table.loc["zz_loop", "status"] == "not_graded"
    assert "rerun the batch with --resume" in table.loc["zz_loop", "error"]


def test_grade_into_a_batch_folder_updates_its_gradebook(graded: dict[str, Any],
                                                         tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(graded["out"], out)
    fixed = write(tmp_path / "fixed", {"toy.py": TOY, "other.py": OTHER})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "grader", "grade", str(fixed), "--out",
                          str(out / "students" / "broken"), "--course", str(FIXTURE)],
                         capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "updated the gradebook and overview" in run.stdout
    assert book(out).loc["broken", "percent"] == 100.0
    assert len(book(out)) == 5


def test_files_a_grading_process_could_not_write_are_written_by_the_batch(
        tmp_path: Path, toy_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each grading process writes its submission's files; where that fails, the batch's own
    process writes them from the result it collected: nothing is lost."""
    from grader.classroom import batch as batch_module
    from grader.results.files import write_outputs

    me = os.getpid()
    writers: list[int] = []

    def only_here(result: Any, folder: Path, *args: Any, **kwargs: Any) -> None:
        if os.getpid() != me:
            raise OSError("no space left on device")
        writers.append(os.getpid())
        write_outputs(result, folder, *args, **kwargs)

    monkeypatch.setattr(batch_module, "write_outputs", only_here)
    subs = tmp_path / "subs"
    write(subs / "good", {"toy.py": TOY, "other.py": OTHER})
    write(subs / "partial", {"toy.py": SCALE_WRONG})
    run_batch(subs, tmp_path / "out", toy_engine)
    assert writers == [me, me]
    table = book(tmp_path / "out")
    for student in ("good", "partial"):
        result = load_result(tmp_path / "out" / "students" / student / "result.json")
        assert table.loc[student, "score"] == pytest.approx(result.score)
    assert table.loc["good", "percent"] == 100.0


def test_a_batchs_files_are_written_by_the_grading_processes(graded: dict[str, Any]) -> None:
    """In the class run above, every submission that was graded has its files from its own
    grading process (the log of each says nothing went wrong writing them)."""
    out = graded["out"]
    for student in ["good", "partial", "broken", "zz_loop"]:
        log = (out / "students" / student / "grading.log").read_text()
        assert "Traceback" not in log, log[-2000:]
        assert (out / "students" / student / "report.html").is_file()


def test_an_untouched_stub_is_flagged_not_started(tmp_path: Path, toy_engine: Any) -> None:
    subs = tmp_path / "subs"
    stub = (FIXTURE / "assignments" / "toy" / "toy.py").read_text()
    write(subs / "kim", {"toy.py": stub.replace("\n", "\r\n") + "\n\n", "other.py": OTHER})
    write(subs / "ola", {"toy.py": stub.replace("raise NotImplementedError", "return 0  # ", 1)
                         if "raise NotImplementedError" in stub else stub + "\nx = 1\n",
                         "other.py": OTHER})
    run_batch(subs, tmp_path / "out", toy_engine)
    table = book(tmp_path / "out")
    assert table.loc["kim", "flag_stub"] and table.loc["kim", "stub_topics"] == "toy"
    assert table.loc["kim", "toy"] == 0.0
    assert not table.loc["ola", "flag_stub"]  # started, even if it still scores 0
    index = (tmp_path / "out" / "index.html").read_text()
    assert "not started" in index and "the stub as released: toy" in index
    report = (tmp_path / "out" / "students" / "kim" / "report.html").read_text()
    assert "toy.py is the stub as it was handed out: not started" in report


def test_a_new_output_format_is_one_writer_in_the_one_list(
        tmp_path: Path, toy_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every class file comes from grader.classroom.writers.WRITERS: a writer added there is
    written by the batch, with its note, and named in the summary's list of files."""
    from dataclasses import dataclass

    from grader.classroom import writers
    from grader.classroom.writers.table import Context, Table

    @dataclass(frozen=True)
    class Blackboard:
        name: str = "blackboard.csv"

        def table(self, context: Context) -> Table:
            return Table(self.name, ["Username", context.assignment],
                         [[r["student"], r["final"]] for r in context.rows],
                         notes=["blackboard.csv: check the column's name before importing"])

    monkeypatch.setattr(writers, "WRITERS", (*writers.WRITERS, Blackboard()))
    subs = tmp_path / "subs"
    write(subs / "=ada", {"toy.py": TOY, "other.py": OTHER})
    summary, _ = run_batch(subs, tmp_path / "out", toy_engine)
    rows = list(csv.reader((tmp_path / "out" / "blackboard.csv").open()))
    assert rows[1][0] == "'=ada" and float(rows[1][1]) == 8.0  # the one writer's guard too
    assert "blackboard.csv: check the column's name before importing" in summary.notes
    assert any(line.startswith("wrote ") and "moodle.csv, blackboard.csv, similarity.csv" in line
               for line in summary.lines())


def test_a_class_of_tars_is_discovered_and_graded_as_zips_are(
        tmp_path: Path, toy_engine: Any) -> None:
    """A student's .tar.gz (or .tgz, .tar) is their submission, by the name before its suffix;
    a class handed in as one tar is unpacked as a class .zip is."""
    import tarfile

    src = tmp_path / "src"
    write(src / "ada", {"toy.py": TOY})
    write(src / "ben", {"toy.py": TOY})
    subs = tmp_path / "subs"
    subs.mkdir()
    with tarfile.open(subs / "ada.tar.gz", "w:gz") as tf:
        tf.add(src / "ada", arcname="ada")
    with tarfile.open(subs / "ben.tgz", "w:gz") as tf:
        tf.add(src / "ben" / "toy.py", arcname="toy.py")
    entries, _ = discover(subs, {}, tmp_path / "unpacked")
    assert [(e.student, e.path.name) for e in entries if e.path] == [
        ("ada", "ada.tar.gz"), ("ben", "ben.tgz")]
    whole = tmp_path / "class.tar"
    with tarfile.open(whole, "w") as tf:
        tf.add(subs, arcname="export")
    entries, _ = discover(whole, {}, tmp_path / "unpacked2")
    assert [e.student for e in entries] == ["ada", "ben"]
    summary, _ = run_batch(subs, tmp_path / "out", toy_engine)
    table = book(tmp_path / "out")
    assert list(table.index) == ["ada", "ben"] and list(table["status"]) == ["graded"] * 2, \
        (summary, table)
