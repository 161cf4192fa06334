"""The engine end to end on a tiny course: scoring, messages, timeouts, crashes, warnings, handles,
banned calls, seeds, and results that survive a crash of the grading process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from grader.results.gradescope import results_json
from grader.results.files import write_outputs
from grader.results.visibility import GATED, student_view
from grader.results.model import SubmissionResult, load_result
from grader.grading.engine import Options, assemble

FIX = Path(__file__).resolve().parent / "fixtures" / "course"
ROOT = Path(__file__).resolve().parents[1]
REFERENCE = (FIX / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIX / "reference" / "other" / "solution.py").read_text()


def grade(engine, tmp_path: Path, toy: str | None, other: str | None = OTHER, **opts):
    sub = tmp_path / "sub"
    sub.mkdir(parents=True, exist_ok=True)
    if toy is not None:
        (sub / "toy.py").write_text(textwrap.dedent(toy))
    if other is not None:
        (sub / "other.py").write_text(other)
    return engine.grade(sub, tmp_path / "out", Options(**opts))


def by_name(result: SubmissionResult) -> dict:
    return {t.name: t for t in result.tests}


def with_function(name: str, body: str) -> str:
    """The reference toy module with one function replaced."""
    lines, out, skip = REFERENCE.splitlines(), [], False
    for line in lines:
        if line.startswith(f"def {name}("):
            skip = True
            out.append(textwrap.dedent(body).strip("\n"))
            continue
        if skip and (line.startswith("def ") or line.startswith("class ")):
            skip = False
        if not skip:
            out.append(line)
    return "\n".join(out) + "\n"


def test_reference_full_marks_and_stub_zero(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path / "ref", REFERENCE)
    assert result.score == result.max_score == 8
    assert result.topic("toy").score == 6 and not result.error
    assert "landlock" in result.sandbox and "network" in result.sandbox
    stub = grade(toy_engine, tmp_path / "stub", (FIX / "assignments/toy/toy.py").read_text())
    assert stub.topic("toy").score == 0
    assert all("not implemented" in t.message for t in stub.tests if t.topic == "toy")


def test_wrong_value_names_function_and_mismatch(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, with_function("scale", "def scale(x, c):\n    return 2 * c * x\n"))
    t = by_name(result)["test_scale"]
    assert t.outcome == "failed" and t.score == 0
    assert "scale" in t.message and "factor of 2" in t.message
    assert by_name(result)["test_add"].outcome == "passed"


def test_student_exception_shows_only_student_frames(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, with_function("add", """
        def add(a, b):
            return helper(a) + b

        def helper(a):
            return {}[a]
        """))
    t = by_name(result)["test_add"]
    assert t.outcome == "failed"
    assert "add raised KeyError" in t.message and "helper" in t.message and "toy.py" in t.message
    assert "grader/isolation/worker.py" not in t.message and "test_hidden" not in t.message


def test_timeout_kills_worker_and_fresh_worker_serves_the_rest(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, with_function("add", """
        def add(a, b):
            import signal
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
            while True:
                pass
        """))
    tests = by_name(result)
    assert tests["test_add"].outcome == "timeout" and "add did not finish" in tests["test_add"].message
    assert tests["test_add_small"].outcome == "timeout"
    for name in ("test_scale", "test_cache_roundtrip", "test_safe_exp_no_warnings"):
        assert tests[name].outcome == "passed", tests[name].message
    assert "timeout" in result.topic("toy").flags


def test_crash_is_an_error_and_the_next_test_gets_a_new_worker(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, with_function("scale", """
        def scale(x, c):
            import os
            os._exit(3)
        """))
    tests = by_name(result)
    assert tests["test_scale"].outcome == "error"
    assert "crashed" in tests["test_scale"].message and "exit code 3" in tests["test_scale"].message
    assert tests["test_cache_roundtrip"].outcome == "passed"


def test_warnings_travel_back(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, with_function("safe_exp", """
        def safe_exp(z):
            return np.minimum(np.exp(z), np.exp(700.0))
        """))
    t = by_name(result)["test_safe_exp_no_warnings"]
    assert t.outcome == "failed" and "RuntimeWarning" in t.message and "overflow" in t.message


def test_caches_stay_in_the_worker_as_handles(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, with_function("make_cache", """
        class Box:
            def __init__(self, x):
                self.x = x

        def make_cache(x):
            return 2 * x, Box(x.copy())
        """).replace('return cache["x"]', "return cache.x"))
    assert by_name(result)["test_cache_roundtrip"].outcome == "passed"


def test_banned_call_zeroes_only_tests_of_that_function(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, with_function("scale", """
        def scale(x, c):
            np.polyfit([0, 1], [0, 1], 1)
            return c * x
        """))
    tests = by_name(result)
    assert tests["test_scale"].outcome == "failed" and "numpy.polyfit" in tests["test_scale"].message
    assert "banned" in tests["test_scale"].flags
    assert tests["test_add"].outcome == "passed"


def test_missing_module_and_syntax_error_do_not_touch_other_topics(toy_engine, tmp_path: Path) -> None:
    missing = grade(toy_engine, tmp_path / "m", None)
    assert missing.topic("toy").score == 0 and missing.topic("toy").note == "not submitted"
    assert missing.topic("other").score == missing.topic("other").max_score
    broken = grade(toy_engine, tmp_path / "s", "def add(a, b)\n    return a + b\n")
    t = broken.topic("toy")
    assert t.score == 0 and "syntax error" in t.note
    assert broken.topic("other").score == broken.topic("other").max_score
    assert any("line 1" in x.message for x in broken.tests if x.topic == "toy")
    # Flagged as a syntax error, apart from modules that raise while being imported.
    assert all("syntax_error" in x.flags for x in broken.tests if x.topic == "toy")
    raising = grade(toy_engine, tmp_path / "r", "raise RuntimeError('at import')\n")
    assert not any("syntax_error" in x.flags for x in raising.tests)
    assert any("import_error" in x.flags for x in raising.tests if x.topic == "toy")


def test_missing_function_is_named(toy_engine, tmp_path: Path) -> None:
    source = with_function("scale", "")
    result = grade(toy_engine, tmp_path, source)
    assert "there is no function scale at the top level" in by_name(result)["test_scale"].message


def test_seed_is_recorded_and_a_regrade_reproduces_it(toy_engine, tmp_path: Path) -> None:
    first = grade(toy_engine, tmp_path / "1", REFERENCE, seed=99)
    again = grade(toy_engine, tmp_path / "2", REFERENCE, seed=99)
    other = grade(toy_engine, tmp_path / "3", REFERENCE, seed=100)
    assert first.seed == 99
    seeds = [t.seed for t in first.tests if t.seed is not None]
    assert seeds and seeds == [t.seed for t in again.tests if t.seed is not None]
    assert seeds != [t.seed for t in other.tests if t.seed is not None]


def test_outputs_round_trip_and_follow_the_gradescope_format(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, with_function("add", """
        def add(a, b):
            print("<script>alert(1)</script>")
            return a + b + 1
        """))
    write_outputs(result, tmp_path / "files")
    assert load_result(tmp_path / "files" / "result.json") == result
    doc = json.loads((tmp_path / "files" / "results.json").read_text())
    assert doc == results_json(student_view(result, GATED))
    assert set(doc) >= {"score", "execution_time", "output", "tests", "extra_data"}
    for t in doc["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "output", "tags", "visibility"}
        assert t["status"] in ("passed", "failed") and t["tags"][0] in ("toy", "other")
    assert doc["extra_data"]["topics"]["toy"] == {"score": 3.0, "max_score": 6.0}
    html = (tmp_path / "files" / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html


def test_an_engine_grading_many_prepares_the_classic_mistakes_of_each_topic_handed_in_once(
        engine, course, tmp_path: Path) -> None:
    """A batch and the service (``prepare_children``) load a topic's mutants and compare them
    with its reference in the engine, before the first grading of that topic is forked, so that
    no grading child does it again; the messages are the same as a lone grading's."""
    from grader.checks import hints

    mutant = course.reference / "metrics" / "mutants" / "confusion_transposed.py"
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "metrics.py").write_text(mutant.read_text())
    options = Options(topics=("metrics", "linear_regression"), seed=1)
    alone = engine.grade(sub, tmp_path / "alone", options)
    assert "metrics" not in engine.mistakes_prepared  # one grading: its child does it
    engine.prepare_children()
    try:
        graded = [engine.grade(sub, tmp_path / f"many{i}", options) for i in range(2)]
        # the topic handed in, not the other one
        assert engine.mistakes_prepared == {"metrics"}
        assert any(k.endswith("confusion_transposed.py") for k in hints._MUTANTS)
    finally:
        engine.grades_many = False
        engine.mistakes_prepared.clear()
    said = "your result matches a classic mistake: " + hints.mistake_of(mutant)
    assert any(said in t.message for t in alone.tests), [t.message for t in alone.tests]
    for result in graded:
        assert [(t.name, t.score, t.message) for t in result.tests] == \
            [(t.name, t.score, t.message) for t in alone.tests]


def test_classic_mistakes_that_cannot_be_prepared_leave_the_grading_as_it_was(
        toy_engine, tmp_path: Path, monkeypatch) -> None:
    """A mutant that fails in the engine (course code) costs the batch nothing: the grading
    goes on, and each child tries it again as an unprepared engine's would."""
    from grader.checks import hints

    def broken(reference):
        raise RuntimeError("a mutant that cannot load")

    alone = grade(toy_engine, tmp_path / "alone", REFERENCE)
    monkeypatch.setattr(hints, "prepare", broken)
    toy_engine.prepare_children()
    try:
        again = grade(toy_engine, tmp_path / "again", REFERENCE)
        assert toy_engine.mistakes_prepared == {"toy", "other"}
    finally:
        toy_engine.grades_many = False
        toy_engine.mistakes_prepared.clear()
    assert not again.error and again.score == alone.score == alone.max_score


def test_a_crashed_grading_process_keeps_finished_results() -> None:
    collected = {"type": "collected", "hidden_counts": {}, "tests": [
        {"topic": "toy", "kind": "hidden", "name": n, "nodeid": f"toy/hidden::{n}", "points": 1.0}
        for n in ("a", "b", "c")]}
    done = {"type": "test", "topic": "toy", "name": "a", "nodeid": "toy/hidden::a", "kind": "hidden",
            "outcome": "passed", "score": 1.0, "max_score": 1.0}
    from grader.course import TopicConfig
    from grader.grading.plugin import TopicRun

    runs = {"toy": TopicRun(module_path="x", config=TopicConfig(), solution=None)}
    result = assemble("s", [collected, done], ["toy"], runs, 1, (), "now", 1.0, -9)
    assert [t.outcome for t in result.tests] == ["passed", "error", "error"]
    assert result.topic("toy").score == 1 and result.topic("toy").max_score == 3
    assert "ended early" in result.error


def test_malformed_archive_is_a_result_with_an_error(toy_engine, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04garbage")
    result = toy_engine.grade(bad, tmp_path / "out")
    assert result.error and result.score == 0


def test_without_fork_workers_are_fresh_interpreters(toy_course, tmp_path: Path) -> None:
    # The path `grader check` takes on Windows: spawned workers, grading in this process.
    from grader.grading.engine import Engine

    with Engine(toy_course, sandboxed=False, spawn=True) as engine:
        good = grade(engine, tmp_path / "good", REFERENCE)
        looping = grade(engine, tmp_path / "loop", with_function("scale", """
            def scale(x, c):
                while True:
                    pass
            """))
    assert good.score == good.max_score and good.sandbox == ()
    tests = by_name(looping)
    assert tests["test_scale"].outcome == "timeout" and tests["test_add"].outcome == "passed"


def test_a_missing_sandbox_layer_is_named_and_refused(toy_course, monkeypatch) -> None:
    from grader.isolation import sandbox
    from grader.grading.engine import Engine, SandboxUnavailable

    real = sandbox.probe()
    fake = [s if s.name != "landlock" else sandbox.LayerStatus("landlock", False, "kernel has no Landlock")
            for s in real]
    monkeypatch.setattr(sandbox, "probe", lambda: fake)
    with pytest.raises(SandboxUnavailable, match="landlock: kernel has no Landlock.*--unsafe-no-sandbox"):
        Engine(toy_course)
    with Engine(toy_course, allow_unsandboxed=True) as engine:
        assert "landlock" not in engine.layers and "network" in engine.layers


# ------------------------------------------------------------------ work a grading child skips

PROBE_TESTS = '''

import os as _os
from pathlib import Path as _Path

_LOG = _Path({log!r})
with _LOG.open("a") as _f:  # one line each time this module is imported
    _f.write("import\\n")


def test_probe_runs(student):
    with _LOG.open("a") as f:
        f.write("ran\\n")
    assert student.add(1.0, 2.0) == 3.0


def test_probe_without_student():
    assert sum([1, 2]) == 3  # uses nothing of the student's


@pytest.mark.skip(reason="a skip stays a skip when the topic is missing")
def test_probe_skipped(student):
    student.add(1.0, 2.0)
'''


@pytest.fixture
def probe_engine(tmp_path: Path):
    """An engine on a copy of the tiny course whose toy tests log their imports and runs."""
    import shutil

    from grader.course import Course
    from grader.grading.engine import Engine

    root = tmp_path / "course"
    shutil.copytree(FIX, root)
    log = tmp_path / "probe.log"
    hidden = root / "reference" / "toy" / "test_hidden.py"
    hidden.write_text(hidden.read_text() + PROBE_TESTS.format(log=str(log)))
    with Engine(Course(root)) as e:
        yield e, log


def test_tests_of_a_topic_not_submitted_fail_without_running(probe_engine, tmp_path: Path) -> None:
    engine, log = probe_engine
    result = grade(engine, tmp_path / "m", None)
    tests = by_name(result)
    probe = tests["test_probe_runs"]
    assert probe.outcome == "failed" and probe.message == "toy.py was not submitted"
    assert set(probe.flags) == {"not_submitted", "import_failed"} and probe.score == 0
    assert all(t.outcome == "failed" for t in result.tests
               if t.topic == "toy" and t.name.startswith("test_") and "probe" not in t.name)
    # Not run at all: the test body never wrote its line.
    assert "ran" not in log.read_text()
    # A test that does not use the student's code still runs, and a skip is still a skip.
    assert tests["test_probe_without_student"].outcome == "passed"
    assert tests["test_probe_skipped"].outcome == "skipped"
    assert result.topic("toy").note == "not submitted"
    assert result.topic("other").score == result.topic("other").max_score


def test_test_modules_are_imported_once_per_engine(probe_engine, tmp_path: Path) -> None:
    engine, log = probe_engine
    for i in range(3):
        result = grade(engine, tmp_path / str(i), REFERENCE)
        assert by_name(result)["test_probe_runs"].outcome == "passed"
    # Imported by the engine before any submission; each grading child reuses it.
    assert log.read_text().splitlines() == ["import", "ran", "ran", "ran"]


def test_a_test_module_that_fails_to_import_is_left_for_the_session(tmp_path: Path) -> None:
    import shutil
    import sys
    from types import SimpleNamespace

    from grader.course import Course
    from grader.grading.engine import Engine

    root = tmp_path / "course"
    shutil.copytree(FIX, root)
    (root / "reference" / "toy" / "test_hidden.py").write_text(
        "import helper_for_probe_that_does_not_exist\n")
    before = set(sys.modules)
    engine = SimpleNamespace(course=Course(root), unloaded_tests=set())
    modules = Engine._preload_tests(engine, engine.course.topics())  # type: ignore[arg-type]
    assert "reference.toy.test_hidden" not in modules
    # Nor will the session find another course's module of that name in its place.
    assert engine.unloaded_tests == {"reference.toy.test_hidden"}
    assert "helper_for_probe_that_does_not_exist" not in sys.modules
    assert not {m for m in set(sys.modules) - before if m.endswith("toy.test_hidden")}
    assert Path(modules["reference.other.test_hidden"].__file__).parent.parent.parent == root


def rows(result: SubmissionResult) -> list[tuple]:
    return [(t.nodeid, t.outcome, t.score, t.max_score, t.message, t.flags, t.seed, t.functions)
            for t in result.tests]


@pytest.mark.parametrize("topics", [None, ("other", "toy")], ids=["course_order", "reversed"])
@pytest.mark.parametrize("toy", [None, REFERENCE, "def add(a, b):\n    return a - b\n"],
                         ids=["toy_missing", "reference", "mistakes"])
def test_the_prepared_session_grades_as_a_session_of_its_own(
        toy_engine, tmp_path: Path, topics, toy) -> None:
    from grader.grading.session import PreparedSession

    prepared = grade(toy_engine, tmp_path / "a", toy, seed=11, topics=topics)
    assert isinstance(toy_engine.prepared, PreparedSession)  # configured and collected once
    saved, toy_engine.prepared = toy_engine.prepared, None
    try:  # each grading child configures and collects a pytest session of its own
        own = grade(toy_engine, tmp_path / "b", toy, seed=11, topics=topics)
    finally:
        toy_engine.prepared = saved
    assert rows(prepared) == rows(own) and rows(prepared)
    assert prepared.topics == own.topics and prepared.notes == own.notes
    assert prepared.hidden_tests == own.hidden_tests and not prepared.error
    # Tests come in the order of the topics asked for, then hidden before public.
    order = [t.topic for t in prepared.tests]
    assert order == sorted(order, key=list(topics or toy_engine.course.topics()).index)


def test_a_submission_with_more_files_than_the_prepared_session_gets_its_own(
        toy_course, tmp_path: Path) -> None:
    from grader.grading.engine import Engine
    from grader.grading.session import PreparedSession

    with Engine(toy_course) as engine:
        first = grade(engine, tmp_path / "a", REFERENCE, seed=5, topics=("toy",))
        assert isinstance(engine.prepared, PreparedSession)
        assert {Path(f).parent.name for f in engine.prepared.files} == {"toy"}
        whole = grade(engine, tmp_path / "b", REFERENCE, seed=5)
        assert {t.topic for t in first.tests} == {"toy"}
        assert {t.topic for t in whole.tests} == {"toy", "other"}
        assert whole.score == whole.max_score and not whole.error
        assert rows(first) == [r for r in rows(whole) if r[0].startswith("toy/")]


def test_a_test_not_run_is_recorded_as_its_result_reads(toy_engine, tmp_path: Path) -> None:
    from grader.grading.plugin import _not_submitted_json, not_submitted
    from grader.grading.session import PreparedSession

    grade(toy_engine, tmp_path, None)
    assert isinstance(toy_engine.prepared, PreparedSession)
    items = toy_engine.prepared.session.items
    assert any("seed" in i.fixturenames for i in items)
    for seed in (0, 11, 2**31 - 1):
        for item in items:
            expected = {"type": "test", **not_submitted(item, seed).to_dict()}
            assert json.loads(_not_submitted_json(item, seed)) == json.loads(json.dumps(expected))


def test_public_tests_only_count_the_hidden_ones_in_a_prepared_session(
        toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, REFERENCE, kinds=("public",), count_hidden=True)
    assert {t.kind for t in result.tests} == {"public"} and not result.error
    assert result.hidden_tests["toy"] > 0


def test_a_test_file_that_does_not_collect_leaves_each_child_its_own_session(
        tmp_path: Path) -> None:
    import shutil

    from grader.course import Course
    from grader.grading.engine import Engine

    root = tmp_path / "course"
    shutil.copytree(FIX, root)
    (root / "reference" / "other" / "test_hidden.py").write_text(
        "import helper_for_probe_that_does_not_exist\n")
    with Engine(Course(root)) as engine:
        result = grade(engine, tmp_path / "g", REFERENCE)
        assert engine.prepared is None and engine.prepare_tried
    # The collection error is the child's to report, as before any session was prepared.
    assert result.error and all(t.score == 0 for t in result.tests)
    log = (tmp_path / "g" / "out" / "grading.log").read_text()
    assert "error during collection" in log and "other/test_hidden.py" in log


def test_a_prepared_session_leaves_the_engine_quiet(toy_engine, tmp_path: Path, capfd) -> None:
    import re

    from grader.grading.session import PreparedSession

    if isinstance(toy_engine.prepared, PreparedSession):
        toy_engine.prepared.close()
    toy_engine.prepared, toy_engine.prepare_tried = None, False  # prepared again, in this test
    grade(toy_engine, tmp_path, REFERENCE)
    assert isinstance(toy_engine.prepared, PreparedSession)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # pytest's terminal output goes to the child's log only
    log = (tmp_path / "out" / "grading.log").read_text()
    took = re.search(r"(\d+) passed in ([\d.]+)s", log)
    assert took and int(took[1]) > 0


def test_a_prepared_sessions_clock_restarts_in_each_child() -> None:
    """The log's "in N s" counts from the grading child's start, not the session's preparation."""
    import time
    from types import SimpleNamespace

    from grader.grading.session import _restart_clock

    class Stamp:
        def __init__(self, at: float | None = None) -> None:
            self.at = time.monotonic() if at is None else at

    reporter = SimpleNamespace(_session_start=Stamp(0.0))
    manager = SimpleNamespace(get_plugin=lambda name: reporter if name == "terminalreporter" else None)
    before = time.monotonic()
    _restart_clock(SimpleNamespace(pluginmanager=manager))
    assert reporter._session_start.at >= before


def test_report_says_once_that_a_topic_was_not_submitted(toy_engine, tmp_path: Path) -> None:
    result = grade(toy_engine, tmp_path, None)
    write_outputs(result, tmp_path / "files")
    html = (tmp_path / "files" / "report.html").read_text()
    n = sum(1 for t in result.tests if t.topic == "toy")
    assert f"toy.py was not submitted: its {n} test(s) score 0." in html
    assert html.count("toy.py was not submitted") == 1  # not once per test
    assert 'id="tests-toy"' in html  # the topic table's link still lands
    # The submitted topic still lists its tests one by one.
    shown = html.replace("<wbr>", "")  # long names may wrap after an underscore
    assert all(f"<strong>{t.name}</strong>" in shown for t in result.tests if t.topic == "other")


def _zygotes() -> set[int]:
    """This process's zygote children that are still running."""
    import os

    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"grader.isolation.zygote" in cmd:
            found.add(int(entry))
    return found


def test_an_engine_that_fails_to_start_leaves_no_zygote(tmp_path: Path) -> None:
    import shutil

    from grader.course import Course
    from grader.grading.engine import Engine

    root = tmp_path / "course"
    shutil.copytree(FIX, root)
    (root / "reference" / "toy" / "solution.py").write_text("raise RuntimeError('broken')\n")
    before = _zygotes()
    with pytest.raises(RuntimeError, match="broken"):
        Engine(Course(root))  # the zygote was already starting while the references loaded
    assert _zygotes() <= before


def test_the_zygote_is_started_before_this_process_imports_torch() -> None:
    """The zygote imports torch while the trusted side preloads its own: what the engine tells
    it about the course's bans (the modules a banned call names included) is worked out without
    importing torch or what a banned call names, which would hold the zygote's start back."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from grader.course import Course\n"
        "from grader.grading.engine import Engine\n"
        "engine = Engine.__new__(Engine)\n"
        "engine.course = Course(Path(sys.argv[1]))\n"
        "bans = engine._zygote_bans()\n"
        "assert 'torch._decomp' in bans['calls'] and 'numpy.polyfit' in bans['calls'], bans\n"
        "print(sorted(m for m in ('torch', 'scipy', 'sklearn') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parents[1])],
                         capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_the_zygotes_plan_every_kind_of_worker_the_course_asks_for() -> None:
    """What the engine announces to the zygotes names, for each topic, the worker it will ask
    for (its profile and banned calls, as the worker's own config gives them), planned in a
    zygote the worker is forked from: none is left to plan at a first request, which would copy
    the pages its sweep touches in a zygote that shares them."""
    from grader.course import Course
    from grader.grading.engine import Engine
    from grader.grading.plugin import TopicRun, worker_spec
    from grader.isolation import profiles

    course = Course(Path(__file__).resolve().parents[1])
    engine = Engine.__new__(Engine)
    engine.course = course
    bans = engine._zygote_bans()
    for topic in course.topics():
        spec = worker_spec(topic, TopicRun(module_path="/x.py", config=course.config(topic),
                                           solution=None), "/x", True, ())
        assert (spec.profile, *spec.banned) in bans["plans"], topic
        assert profiles.PLANNED_IN[spec.profile] in profiles.lineage(spec.profile)
        assert spec.profile in bans["profiles"]


def test_each_process_of_the_zygotes_tree_says_what_it_is(engine: Any, tmp_path: Path) -> None:
    """In ps, top and /proc/PID/comm the zygotes, a worker's launcher and the worker itself are
    called what they are (an instructor looking at a busy machine, the batch benchmark telling
    the memory of each apart), in every ban profile."""
    import time

    from grader.course import Course
    from grader.grading.plugin import TopicRun, worker_spec
    from grader.grading.remote import StudentModule, StudentProxy
    from grader.isolation import profiles
    from grader.isolation.zygote import LAUNCHER, WORKER, ZYGOTE

    def comm(pid: int) -> str:
        return Path(f"/proc/{pid}/comm").read_text().strip()

    def parent(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    course = Course(ROOT)
    zygotes = [engine.zygote.proc.pid, *engine.zygote.profile_pids]
    assert [comm(p) for p in zygotes] == [ZYGOTE] * len(profiles.ALL)
    seen = set()
    for topic in ("metrics", "activations", "backprop"):  # one per profile
        folder = tmp_path / topic
        folder.mkdir()
        (folder / f"{topic}.py").write_text("def nothing():\n    return 0\n")
        spec = worker_spec(topic, TopicRun(module_path=str(folder / f"{topic}.py"),
                                           config=course.config(topic), solution=None),
                           str(folder), engine.sandboxed, engine.read_paths)
        session = StudentModule(engine.zygote, spec)
        try:
            StudentProxy(session, time.monotonic() + 60).call("nothing")
            assert session.worker is not None
            worker = session.worker.pid
            assert comm(worker) == WORKER, topic
            assert comm(parent(worker)) == LAUNCHER, topic
            assert parent(parent(worker)) in zygotes, topic
            seen.add(spec.profile)
        finally:
            session.close()
    assert seen == set(profiles.ALL)


def test_a_banned_calls_module_that_loads_a_banned_library_is_a_course_error() -> None:
    """A zygote loads the modules named by banned calls before any worker; one whose import
    loads a library that a topic bans altogether is an error of the course, naming both. What
    was loaded before that import (as NumPy is, in every zygote) is not its doing."""
    script = textwrap.dedent("""
        import sys, types
        from grader.isolation import profiles
        sys.modules["loaded_before"] = types.ModuleType("loaded_before")
        profiles.preload_modules(["scipy.special"], ["loaded_before", "sklearn"])
        try:
            profiles.preload_modules(["scipy.spatial.distance"], ["scipy.sparse"])
        except RuntimeError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "loading scipy.spatial.distance" in out.stdout and "scipy.sparse" in out.stdout, \
        out.stdout


def test_closing_ends_the_zygotes_in_order_with_a_forked_trusted_child_alive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing ends every zygote in order, the profiles' zygotes before the root: none is left
    as an orphan for the machine's init to reap (which may take seconds, or never happen in a
    container), and a grading child forked from the trusted side, still running, does not hold
    the root open (it let go of it: ``Zygote.leave``)."""
    import os

    from grader.grading import remote
    from grader.grading.remote import Zygote
    from grader.isolation import profiles

    monkeypatch.setattr(Zygote, "CLOSE_WAIT_S", 120.0)  # in order, however loaded the machine
    zygote = Zygote(profiles=profiles.ALL, sandboxed=False)
    below = zygote.profile_pids
    assert len(below) == 2
    hold_r, hold_w = os.pipe()
    child = os.fork()
    if child == 0:  # a trusted grading child: lets go of the root, then runs on
        try:
            os.close(hold_w)
            zygote.leave()
            os.read(hold_r, 1)
        finally:
            os._exit(0)
    os.close(hold_r)
    left: list[int] = []
    sweep = remote.cgroup.sweep

    def sweep_once_ended(pid: int, *args: object) -> list[str]:  # called once the root has ended
        left.extend(p for p in below if os.path.exists(f"/proc/{p}"))  # a zombie included
        return sweep(pid, *args)

    monkeypatch.setattr(remote.cgroup, "sweep", sweep_once_ended)
    try:
        zygote.close()
        assert zygote.proc.returncode == 0  # it ended on its own, not killed
        assert left == []
    finally:
        os.close(hold_w)
        os.waitpid(child, 0)


def test_a_grading_child_imports_only_the_tests_it_runs(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Grading every topic's reference imports nothing in the grading child that the engine
    could have imported once before forking it (a module a test or NumPy reaches lazily, sympy
    through torch's symbolic shapes): each child would pay its time and its memory again."""
    import os

    from grader.course import Course
    from grader.grading import engine as engine_module

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import make_class
    finally:
        sys.path.remove(str(ROOT / "examples"))
    course = Course(ROOT)
    modules = make_class.mixed(make_class.Sources(course), "lazy", {"solution": 1})
    make_class.write_folder(tmp_path / "sub", make_class.flat(modules))
    record = tmp_path / "new-modules"
    run = engine_module.Engine._pytest

    def recording(self, *args, **kwargs):  # in the grading child
        before = set(sys.modules)
        try:
            return run(self, *args, **kwargs)
        finally:
            record.with_name(f"{record.name}-{os.getpid()}").write_text(
                "\n".join(sorted(set(sys.modules) - before)))

    monkeypatch.setattr(engine_module.Engine, "_pytest", recording)
    with engine_module.Engine(course) as engine:
        result = engine.grade(tmp_path / "sub", tmp_path / "out", Options(seed=1))
        # On a GPU the performance topic's tests start CUDA in the child, which loads its own.
        own = ("reference", "assignments") + (("torch.cuda", "torch.backends")
                                              if engine.device.cuda else ())
    assert not result.error, result.error
    # Every test ran and passed (the GPU's not graded without one); speed points depend on how busy
    # the machine is, not counted.
    failed = [t.nodeid for t in result.tests if "speed" not in t.details and t.outcome != "not_graded"
              and (t.outcome != "passed" or t.score < t.max_score)]
    assert result.tests and failed == []
    [written] = list(tmp_path.glob("new-modules-*"))
    new = [m for m in written.read_text().split() if not m.startswith(own)]
    assert new == []


# ------------------------------------------------------------- finishing in the grading child

def _start_with(engine, tmp_path: Path, finish):
    sub = tmp_path / "sub"
    sub.mkdir(parents=True, exist_ok=True)
    (sub / "toy.py").write_text(REFERENCE)
    (sub / "other.py").write_text(OTHER)
    return engine.start(sub, tmp_path / "out", Options(seed=3), finish=finish)


def test_the_grading_child_finishes_with_the_result_the_caller_gets(toy_engine,
                                                                   tmp_path: Path) -> None:
    """A batch's files are written by each grading process, in parallel: the result they were
    written from is the one the batch records, and the batch's process did not write them."""
    import os

    from grader.results.files import write_outputs
    from grader.results.model import load_result

    out = tmp_path / "out"

    def finish(result: SubmissionResult) -> None:
        write_outputs(result, out)
        (out / "written-by").write_text(str(os.getpid()))

    job = _start_with(toy_engine, tmp_path, finish)
    result = job.wait()
    assert job.finished
    assert int((out / "written-by").read_text()) != os.getpid()
    assert load_result(out / "result.json") == result
    assert result.score == result.max_score > 0
    alone = grade(toy_engine, tmp_path / "alone", REFERENCE, seed=3)
    assert [(t.nodeid, t.outcome, t.score) for t in alone.tests] == \
        [(t.nodeid, t.outcome, t.score) for t in result.tests]


def test_a_finish_that_fails_in_the_child_is_left_to_the_caller(toy_engine,
                                                                tmp_path: Path) -> None:
    def finish(result: SubmissionResult) -> None:
        raise OSError("disk full")

    job = _start_with(toy_engine, tmp_path, finish)
    result = job.wait()
    assert not job.finished
    assert result.score == result.max_score > 0 and not result.error
    assert "disk full" in (tmp_path / "out" / "grading.log").read_text()


# ------------------------------------------------------------------- a worker's request, any size

def test_a_spawn_request_of_any_size_reaches_the_zygote_whole_with_its_socket() -> None:
    # A unix socket hands a large message over in pieces, the worker's socket with the first:
    # a config far above one read (and above the socket's buffer, so that the sender waits for
    # the reader) is read whole, and the request after it on the same connection is intact.
    import socket
    import threading

    from grader.isolation.zygote import recv_request, send_request

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.settimeout(30)  # a reader that stops early fails the test rather than hang it
    big = {"read_paths": [f"/usr/lib/python3/dist-packages/package{i}/module.py"
                          for i in range(60_000)]}
    sockets = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(2)]
    sender = threading.Thread(target=lambda: [send_request(ours, c, s[1].fileno()) for c, s in
                                              zip((big, {"small": True}), sockets)])
    sender.start()
    try:
        got = [recv_request(theirs), recv_request(theirs)]
    finally:
        sender.join()
    assert got[0] is not None and got[0][0] == big and len(json.dumps(big)) > 2 << 20
    assert got[1] is not None and got[1][0] == {"small": True}
    for (_, fd), (mine, _) in zip(got, sockets):  # each request carried its own socket
        with socket.socket(fileno=fd) as received:
            received.sendall(b"x")
        assert mine.recv(1) == b"x"
    ours.close()
    assert recv_request(theirs) is None  # the other side closed: no request
    for pair in sockets:
        for s in pair:
            s.close()
    theirs.close()


def test_a_worker_whose_read_paths_are_many_starts_and_answers(toy_engine, tmp_path: Path) -> None:
    # A topic that bans a library lying deep in a large folder (a system Python's site-packages,
    # where a virtual environment sees it) gives its workers one read path per entry around it:
    # a start-up configuration of hundreds of KB, which reached the zygote cut short.
    import time

    from grader.grading.remote import StudentModule, StudentProxy, WorkerSpec

    # Files of its own, as many as the standard library's on 3.11: how many it holds depends on
    # the Python (3.12's and 3.13's have fewer), and the list has to pass 200 KB.
    deep = tmp_path / "site" / "a-package-whose-folder-name-is-long" / "and-nested-within-it"
    deep.mkdir(parents=True)
    extra = []
    for i in range(3000):
        (deep / f"module_{i:04d}.py").touch()
        extra.append(str(deep / f"module_{i:04d}.py"))
    assert len(json.dumps(extra)) > 200_000
    work = tmp_path / "work"  # the worker's own folder, apart from those files
    work.mkdir()
    (work / "echo.py").write_text("def echo(x):\n    return x\n")
    spec = WorkerSpec(tmp_dir=str(work), module_name="echo",
                      module_path=str(work / "echo.py"), student_dir=str(work),
                      sandbox=toy_engine.sandboxed,
                      read_paths=toy_engine.read_paths + tuple(extra),
                      limits={"memory_mb": 1024})
    session = StudentModule(toy_engine.zygote, spec)
    try:
        assert StudentProxy(session, time.monotonic() + 60).echo(41) == 41
    finally:
        session.close()
