"""Hostile submissions are contained: the grader finishes, other topics are unaffected, and the
grade reflects only what the code computed.

Most attacks live in the tiny course's ``add``: it returns the right answer only when the attack
FAILED, so "add scored its points" means "contained"; an attack that worked gives a wrong answer.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from grader.grading.engine import Options
from shared_engine import SharedEngine

FIX = Path(__file__).resolve().parent / "fixtures" / "course"
REFERENCE = (FIX / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIX / "reference" / "other" / "solution.py").read_text()
SECRET = FIX / "reference" / "toy" / "solution.py"


def grade(engine, tmp_path: Path, toy: str, extra: dict[str, str] | None = None):
    sub = tmp_path / "sub"
    sub.mkdir(parents=True, exist_ok=True)
    (sub / "toy.py").write_text(toy)
    (sub / "other.py").write_text(OTHER)
    for name, text in (extra or {}).items():
        (sub / name).write_text(text)
    t0 = time.monotonic()
    result = engine.grade(sub, tmp_path / "out", Options(seed=7))
    return result, time.monotonic() - t0


def attack_in_add(attack: str, prelude: str = "") -> str:
    """The reference module whose add() runs ``attack`` (which sets ``contained``) first."""
    body = textwrap.indent(textwrap.dedent(attack).strip("\n"), "    ")
    return REFERENCE.replace("def add(a, b):\n    return float(a + b)\n", (
        f"{textwrap.dedent(prelude)}\n"
        "def add(a, b):\n"
        "    contained = False\n"
        f"{body}\n"
        "    return float(a + b) if contained else float(a + b + 1)\n"))


def assert_contained(result, elapsed: float, limit: float = 60.0) -> None:
    tests = {t.name: t for t in result.tests}
    assert tests["test_add"].outcome == "passed", tests["test_add"].message
    assert tests["test_add_small"].outcome == "passed", tests["test_add_small"].message
    assert_other_topic_unaffected(result)
    assert elapsed < limit


def assert_other_topic_unaffected(result) -> None:
    other = result.topic("other")
    assert other.score == other.max_score > 0, [t.message for t in result.tests if t.topic == "other"]


def test_reading_reference_from_disk_is_blocked(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, attack_in_add(f"""
        import os
        for path in [{str(SECRET)!r}, {str(SECRET.parent)!r}, "/", "/root", "/etc/passwd"]:
            try:
                open(path).read() if os.path.isfile(path) else os.listdir(path)
                return -1.0
            except OSError:
                pass
        contained = True
        """))
    assert_contained(result, took)


def test_reading_the_trusted_processes_memory_is_blocked(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, attack_in_add(f"""
        import os
        for path in ["/proc/{os.getpid()}/mem", "/proc/{os.getpid()}/environ",
                     f"/proc/{{os.getppid()}}/mem", "/proc/1/environ", "/proc/self/../1/cmdline"]:
            try:
                with open(path, "rb") as f:
                    f.read(16)
                return -1.0
            except (OSError, ValueError):
                pass
        contained = True
        """))
    assert_contained(result, took)


def test_network_is_unreachable(toy_engine, tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    result, took = grade(toy_engine, tmp_path, attack_in_add(f"""
        import socket
        contained = True
        for family, kind, addr in [(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", {port})),
                                   (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", {port}))]:
            try:
                s = socket.socket(family, kind)
                s.settimeout(1)
                s.connect(addr)
                s.send(b"hello")
                contained = False
            except OSError:
                pass
        """))
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()
    assert_contained(result, took)


def test_writing_outside_the_sandbox_and_tampering_with_the_grader_fail(toy_engine,
                                                                        tmp_path: Path) -> None:
    target = tmp_path / "planted.txt"
    plugin = Path(__file__).resolve().parent.parent / "grader" / "grading" / "plugin.py"
    before = plugin.read_bytes()
    result, took = grade(toy_engine, tmp_path, attack_in_add(f"""
        import os
        contained = True
        for path in [{str(target)!r}, {str(plugin)!r}, {str(tmp_path / 'out' / 'results.json')!r}]:
            try:
                with open(path, "a") as f:
                    f.write("planted")
                contained = False
            except OSError:
                pass
        """))
    assert not target.exists() and plugin.read_bytes() == before
    assert_contained(result, took)


# What the sandbox refuses, which the OS reports only as "[Errno 13] Permission denied": each
# message says what the sandbox allows instead. In a call, and while the module is imported.
REFUSED_BY_THE_SANDBOX = {
    "a process pool": "__import__('multiprocessing').Pool(2)",
    "a lock of multiprocessing": "__import__('multiprocessing').Lock()",
    "a file outside the working folder": "open('/etc/hostname').read()",
    "a program": "__import__('subprocess').run(['/bin/true'])",
}


@pytest.mark.parametrize("what", sorted(REFUSED_BY_THE_SANDBOX))
def test_what_the_sandbox_refuses_is_explained(toy_engine, tmp_path: Path, what: str) -> None:
    code = REFUSED_BY_THE_SANDBOX[what]
    in_a_call = REFERENCE.replace("def add(a, b):\n", f"def add(a, b):\n    {code}\n")
    result, _ = grade(toy_engine, tmp_path / "call", in_a_call)
    tests = {t.name: t for t in result.tests}
    message = tests["test_add"].message or ""
    assert tests["test_add"].outcome == "failed" and "PermissionError" in message, message
    assert "runs in a sandbox" in message and "working folder" in message, message
    assert_other_topic_unaffected(result)
    at_import, _ = grade(toy_engine, tmp_path / "import", REFERENCE + f"\n{code}\n")
    message = {t.name: t for t in at_import.tests}["test_add"].message or ""
    assert "while being imported" in message and "runs in a sandbox" in message, message


def test_a_permission_error_is_the_students_own_where_nothing_is_sandboxed() -> None:
    from grader.grading.plugin import explain
    from grader.grading.remote import StudentError

    exc = StudentError("add", "PermissionError", "[Errno 13] Permission denied: 'x'", "",
                       ("PermissionError", "OSError", "Exception"))
    assert "sandbox" not in explain(exc, "add", None, sandboxed=False)[1]
    assert "runs in a sandbox" in explain(exc, "add", None, sandboxed=True)[1]


def test_memory_bombs_fail_inside_the_worker(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, attack_in_add("""
        import numpy as np
        try:
            np.ones(2**33)  # 64 GB at once
        except MemoryError:
            chunks = []
            try:
                while True:  # then gradually, touching every page
                    chunks.append(np.ones(2**22))
            except MemoryError:
                contained = len(chunks) < 100  # bounded by the topic's 400 MB
            chunks = None
        """))
    assert_contained(result, took)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (read from /proc, as seen from outside any namespace)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def test_fork_bomb_is_bounded_and_cleaned_up(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, attack_in_add("""
        import os, time
        made = 0
        for _ in range(5000):
            try:
                if os.fork() == 0:
                    time.sleep(600)
                    os._exit(0)
                made += 1
            except OSError:
                break
        contained = made < 100
        """))
    assert_contained(result, took)
    assert_nothing_left_below(toy_engine.zygote)


def _settles(condition, limit_s: float = 30.0) -> bool:
    """Whether ``condition()`` comes true within ``limit_s`` (checked every 10 ms)."""
    end = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def workers_below(zygote) -> set[int]:
    """The processes below ``zygote`` but the zygotes of its other ban profiles (which live as
    long as it does): its workers and their launchers."""
    return descendants(zygote.proc.pid) - set(zygote.profile_pids)


def assert_nothing_left_below(zygote) -> None:
    # The kernel tears a namespace down asynchronously: wait for it, up to a generous limit.
    if not _settles(lambda: not workers_below(zygote)):
        left = workers_below(zygote)
        assert left == set(), [Path(f"/proc/{p}/stat").read_text()[:80] for p in sorted(left)[:5]]


def test_signals_cannot_reach_the_grader(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, attack_in_add(f"""
        import os, signal
        contained = True
        for pid in [{os.getpid()}, os.getppid(), 1]:
            try:
                if pid > 1:
                    os.kill(pid, signal.SIGKILL)
                    contained = False
            except OSError:
                pass
        """))
    assert_contained(result, took)


def test_killing_everything_it_can_see_only_ends_its_own_worker(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, REFERENCE.replace(
        "def scale(x, c):", "def scale(x, c):\n    import os, signal\n    os.kill(-1, signal.SIGKILL)"))
    tests = {t.name: t for t in result.tests}
    # Inside its PID namespace the worker sees no other process: the kill reaches nobody.
    assert tests["test_scale"].outcome in ("failed", "error")
    assert tests["test_add"].outcome == "passed"
    assert_other_topic_unaffected(result)


def test_exit_at_import_and_infinite_loop_at_import(toy_engine, tmp_path: Path) -> None:
    for i, source in enumerate(["import os\nos._exit(0)\n", "while True:\n    pass\n"]):
        result, took = grade(toy_engine, tmp_path / str(i), source + REFERENCE)
        toy = result.topic("toy")
        assert toy.score == 0 and toy.note, toy
        assert_other_topic_unaffected(result)
        assert took < 30


def test_segfault_is_an_error_for_one_test_only(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, REFERENCE.replace(
        "def scale(x, c):", "def scale(x, c):\n    import ctypes\n    ctypes.cast(8, ctypes.POINTER(ctypes.c_int))[0]"))
    tests = {t.name: t for t in result.tests}
    assert tests["test_scale"].outcome == "error" and "SIGSEGV" in tests["test_scale"].message
    assert tests["test_cache_roundtrip"].outcome == "passed"
    assert_other_topic_unaffected(result)


def test_monkeypatching_comparisons_changes_nothing(toy_engine, tmp_path: Path) -> None:
    prelude = """
    import numpy, numpy.testing, torch, torch.testing
    numpy.testing.assert_allclose = lambda *a, **k: None
    numpy.allclose = lambda *a, **k: True
    numpy.isclose = lambda *a, **k: True
    numpy.array_equal = lambda *a, **k: True
    torch.testing.assert_close = lambda *a, **k: None
    import builtins
    builtins.AssertionError = type("Never", (Exception,), {})
    """
    source = textwrap.dedent(prelude) + REFERENCE.replace("return float(a + b)", "return float(a + b + 1)")
    result, _ = grade(toy_engine, tmp_path, source)
    tests = {t.name: t for t in result.tests}
    assert tests["test_add"].outcome == "failed" and "expected" in tests["test_add"].message
    assert_other_topic_unaffected(result)


def test_a_shipped_conftest_and_fake_results_change_nothing(toy_engine, tmp_path: Path) -> None:
    conftest = textwrap.dedent("""
        import pytest
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            outcome.get_result().outcome = "passed"
        """)
    fake = json.dumps({"score": 1000, "tests": []})
    source = textwrap.dedent(f"""
        import atexit, os, sys
        print({fake!r})
        sys.stdout.flush()
        for path in ["results.json", "../results.json", {str(tmp_path / 'out' / 'results.json')!r}]:
            try:
                open(path, "w").write({fake!r})
            except OSError:
                pass
        atexit.register(lambda: open({str(tmp_path / 'out' / 'results.json')!r}, "w").write({fake!r}))
        """) + REFERENCE.replace("return float(a + b)", "return float(a + b + 1)")
    result, _ = grade(toy_engine, tmp_path, source, {"conftest.py": conftest})
    tests = {t.name: t for t in result.tests}
    assert tests["test_add"].outcome == "failed"
    assert result.score < result.max_score
    from grader.results.files import write_outputs

    write_outputs(result, tmp_path / "out")
    assert_nothing_left_below(toy_engine.zygote)  # no worker left to write late
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["score"] == result.score < 1000


def test_a_thread_left_running_does_not_hold_up_grading(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, attack_in_add("""
        import threading
        def spin():
            while True:
                pass
        threading.Thread(target=spin, daemon=False).start()
        contained = True
        """))
    assert_contained(result, took, limit=30)


def test_filling_the_disk_is_contained(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, attack_in_add("""
        import os
        written = 0
        block = b"x" * (1 << 20)
        try:
            for i in range(2000):  # 2 GB in files each under the size limit
                with open(f"fill{i}.bin", "wb", buffering=0) as f:
                    written += f.write(block)
        except OSError:
            pass
        contained = written <= 512 << 20
        """))
    assert_contained(result, took)


def test_hundreds_of_megabytes_of_output_are_capped(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, attack_in_add("""
        import sys
        line = "x" * 1_000_000 + "\\n"
        try:
            for _ in range(300):
                sys.stdout.write(line)
            sys.stdout.flush()
        except OSError:
            pass
        contained = True
        """))
    tests = {t.name: t for t in result.tests}
    assert len(tests["test_add"].output) < 100_000
    assert_other_topic_unaffected(result)
    assert took < 60


@pytest.mark.parametrize(("ending", "outcome"), [("os._exit(3)", "error"),
                                              ("while True:\n    pass", "timeout")],
                         ids=["exit", "loop"])
def test_what_a_call_printed_before_dying_is_kept(toy_engine, tmp_path: Path, ending: str,
                                                  outcome: str) -> None:
    toy = REFERENCE.replace("def add(a, b):\n    return float(a + b)\n", (
        "def add(a, b):\n"
        "    import os, sys\n"
        "    print('adding', a, 'and', b)\n"
        "    sys.stdout.flush()\n"
        f"{textwrap.indent(ending, '    ')}\n"))
    result, took = grade(toy_engine, tmp_path, toy)
    test = {t.name: t for t in result.tests}["test_add"]
    assert test.outcome == outcome, test.message
    assert "adding" in test.output, (test.outcome, test.output)
    assert_other_topic_unaffected(result)


@pytest.mark.parametrize(("returned", "expect"), [
    ("Evil()", "opaque|object"),
    ("nested(5000)", "cannot be sent|nested"),
    ("np.array([object(), 1])", "object"),
    ("np.zeros(2**31, dtype=np.uint8)", "MemoryError|MB|memory"),
])
def test_hostile_return_values_are_refused_with_a_message(toy_engine, tmp_path: Path, returned: str,
                                                           expect: str) -> None:
    prelude = """
    class Evil:
        def __array__(self, *a, **k):
            raise SystemExit("pwned")
        def __reduce__(self):
            return (print, ("pwned",))
        def __eq__(self, other):
            return True

    def nested(n):
        x = []
        for _ in range(n):
            x = [x]
        return x
    """
    source = textwrap.dedent(prelude) + REFERENCE.replace(
        "    return c * x  # (n,)", f"    return {returned}")
    result, _ = grade(toy_engine, tmp_path, source)
    t = {t.name: t for t in result.tests}["test_scale"]
    assert t.outcome in ("failed", "error") and t.score == 0
    import re

    assert re.search(expect, t.message), t.message
    assert_other_topic_unaffected(result)


def test_cli_refuses_a_zip_slip_archive_in_one_line(tmp_path: Path) -> None:
    import zipfile

    bad = tmp_path / "slip.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../../escaped.py", "x = 1")
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(bad), "--out",
                           str(tmp_path / "out"), "--course", str(FIX)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "outside the archive" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path.parent / "escaped.py").exists()



def test_links_planted_in_the_work_dir_lead_nowhere(toy_engine, tmp_path: Path) -> None:
    marker = "SECRET-REFERENCE-TEXT"
    secret = tmp_path / "secret.py"
    secret.write_text(marker)
    target = tmp_path / "overwritten.txt"
    target.write_text("intact")
    result, took = grade(toy_engine, tmp_path, attack_in_add(f"""
        import os
        for name in [".output", "output", ".exit", "exit", "results.json"]:
            for dest in [{str(secret)!r}, {str(target)!r}]:
                try:
                    os.symlink(dest, name + str(len(dest)))
                    os.symlink(dest, name)
                except OSError:
                    pass
        print("printed")
        contained = True
        """))
    assert_contained(result, took)
    assert marker not in json.dumps(result.to_dict())
    assert target.read_text() == "intact"


def test_a_worker_launched_ahead_and_never_used_is_killed(toy_engine, tmp_path: Path) -> None:
    """A worker started before its first test (while the grading session sets up) that is never
    called, here stuck in its module's top level, does not outlive the session."""
    from grader.grading.remote import StudentModule, Worker, WorkerSpec

    (tmp_path / "toy.py").write_text("while True:\n    pass\n")
    spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="toy", module_path=str(tmp_path / "toy.py"),
                      student_dir=str(tmp_path), sandbox=True,
                      read_paths=toy_engine.read_paths)
    session = StudentModule(toy_engine.zygote, spec,
                            launched=Worker(toy_engine.zygote, spec, 1, None))
    assert _settles(lambda: bool(workers_below(toy_engine.zygote)))  # it has started
    session.close()
    assert_nothing_left_below(toy_engine.zygote)


STOP_READING = textwrap.dedent("""
    import sys, time

    def add(a, b):
        # After this reply the worker never reads its socket again.
        sys.modules["grader.isolation.wire"].FrameReader.read_exact = \
            lambda self, n, wait=None: time.sleep(10**6)
        return float(a + b)

    def scale(x, c):
        return c * x
    """)


def _stopped_reader(toy_engine, tmp_path: Path, limit: float):
    """A session whose worker has stopped reading, and a call that sends it 16 MB."""
    import numpy as np

    from grader.grading.remote import StudentModule, StudentProxy, WorkerSpec

    (tmp_path / "toy.py").write_text(STOP_READING)
    spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="toy", module_path=str(tmp_path / "toy.py"),
                      student_dir=str(tmp_path), sandbox=True, read_paths=toy_engine.read_paths)
    session = StudentModule(toy_engine.zygote, spec)
    proxy = StudentProxy(session, time.monotonic() + limit)
    assert proxy.add(1.0, 2.0) == 3.0
    return session, lambda: proxy.scale(np.zeros(2_000_000), 3.0)


def test_a_worker_that_stops_reading_times_out_at_the_tests_deadline(toy_engine,
                                                                     tmp_path: Path) -> None:
    from grader.grading.remote import WorkerTimeout

    session, big_call = _stopped_reader(toy_engine, tmp_path, limit=3.0)
    t0 = time.monotonic()
    with pytest.raises(WorkerTimeout):
        big_call()
    assert time.monotonic() - t0 < 5
    session.close()
    assert_nothing_left_below(toy_engine.zygote)


def test_control_a_blocking_send_waits_for_the_stopped_reader_past_the_deadline(
        toy_engine, tmp_path: Path, monkeypatch) -> None:
    import threading

    from grader.grading import remote

    # Without the deadline on sends, the same call blocks for as long as the worker lives.
    monkeypatch.setattr(remote.Worker, "_send_within",
                        lambda self, data, deadline, doing: self.sock.sendall(data))
    session, big_call = _stopped_reader(toy_engine, tmp_path, limit=1.0)
    errors: list[BaseException] = []
    caller = threading.Thread(target=lambda: errors.append(pytest.raises(Exception, big_call)))
    caller.start()
    caller.join(4.0)
    blocked = caller.is_alive()
    session.worker.kill()  # unblocks the send
    caller.join(10)
    session.close()
    assert blocked


DEEP_SUM = "UNUSED = " + "+".join(["1"] * 1200) + "\n"
BANNED_ADD = REFERENCE.replace("def add(a, b):\n    return float(a + b)\n",
                               "def add(a, b):\n    numpy.polyfit\n    return float(a + b)\n")


def test_a_deeply_nested_expression_neither_stops_grading_nor_hides_a_banned_call(
        toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, "import numpy\n" + DEEP_SUM + BANNED_ADD)
    assert not result.error, result.error
    tests = {t.name: t for t in result.tests}
    assert tests["test_add"].outcome == "failed" and "banned" in tests["test_add"].flags
    assert tests["test_scale"].outcome == "passed", tests["test_scale"].message
    assert_other_topic_unaffected(result)


def test_a_scan_that_cannot_read_the_file_is_a_note_and_the_tests_still_run(
        toy_engine, tmp_path: Path, monkeypatch) -> None:
    from grader.grading import guarded

    monkeypatch.setattr(guarded, "deep", lambda fn, *args: fn(*args))  # no deeper stack
    result, _ = grade(toy_engine, tmp_path, DEEP_SUM + REFERENCE)
    assert not result.error, result.error
    note = result.topic("toy").note
    assert "scan could not read toy.py" in note and "by hand" in note, note
    assert any("scan could not read" in n for n in result.notes)
    assert result.topic("toy").score == result.topic("toy").max_score > 0
    assert_other_topic_unaffected(result)


def test_control_a_scan_that_raises_ends_the_grading_session(toy_engine, tmp_path: Path,
                                                             monkeypatch) -> None:
    from grader.grading import guarded
    from grader.grading import engine as runner

    monkeypatch.setattr(runner, "scan_findings", lambda m, p: (guarded._findings(m, p), ""))
    result, _ = grade(toy_engine, tmp_path, DEEP_SUM + REFERENCE)
    assert "could not start" in result.error and not result.tests
    # "see grading.log": the grading child wrote there what ended it, with the traceback.
    log = (tmp_path / "out" / "grading.log").read_text()
    assert "Traceback" in log and "RecursionError" in log, log[-2000:]


def test_a_report_that_cannot_be_rendered_is_a_note(tmp_path: Path, monkeypatch) -> None:
    from grader.results import files as outputs
    from grader.results.model import SubmissionResult
    from grader.results.scoring import topic_results

    def broken(result):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(outputs, "render_report", broken)
    result = SubmissionResult(submission="s", topics=topic_results([], ["toy"]), tests=(),
                              seed=1, sandbox=(), started="2026-01-01T00:00:00", duration=0.0)
    outputs.write_outputs(result, tmp_path)
    full = json.loads((tmp_path / "result.json").read_text())
    assert any("could not be rendered" in n for n in full["notes"])
    assert "could not be rendered" in (tmp_path / "report.html").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["score"] == 0


CLAIM_GRADER_FAULT = textwrap.dedent("""
    import sys

    def _claim():
        # The worker's socket is a local of the serving loop, some frames up.
        frame = sys._getframe()
        while frame is not None and "sock" not in frame.f_locals:
            frame = frame.f_back
        wire = sys.modules["grader.isolation.wire"]
        message = {"op": "spawn_failed", "message": "please regrade by hand"}
        frame.f_locals["sock"].sendall(wire.frame(wire.encode_message(message)))

    _claim()
    """) + REFERENCE


def test_a_worker_cannot_claim_a_grader_fault(toy_engine, tmp_path: Path) -> None:
    result, took = grade(toy_engine, tmp_path, CLAIM_GRADER_FAULT)
    toy = [t for t in result.tests if t.topic == "toy"]
    assert toy and all("grader_error" not in t.flags for t in toy), [t.flags for t in toy]
    assert all(t.outcome == "failed" and t.score == 0 for t in toy)
    assert "must not write to the grader's connection" in result.topic("toy").note
    assert not result.error
    assert_other_topic_unaffected(result)
    assert took < 60


def test_control_a_believed_message_makes_every_test_a_grader_error(toy_engine, tmp_path: Path,
                                                                    monkeypatch) -> None:
    from grader.grading import remote

    # Taking the worker's word for it, as when a message on its socket counted as the launcher's.
    monkeypatch.setattr(remote.Worker, "fault", lambda self: "please regrade by hand")
    result, _ = grade(toy_engine, tmp_path, CLAIM_GRADER_FAULT)
    toy = [t for t in result.tests if t.topic == "toy"]
    assert toy and all("grader_error" in t.flags for t in toy)


PAINTED = "\x1b[1A\x1b[2K\x1b[G  toy: 36 / 36\x1b]0;title\x07\x08"


@pytest.mark.parametrize("defended", [True, False], ids=["inert", "control"])
def test_escape_sequences_in_an_import_error_do_not_reach_the_terminal(
        tmp_path: Path, monkeypatch, defended: bool) -> None:
    from click.testing import CliRunner

    from grader.commands import main as cli

    if not defended:
        monkeypatch.setattr(cli, "terminal", lambda text, newlines=False: str(text))
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text(f"raise ValueError({PAINTED!r})\n")
    (sub / "other.py").write_text(OTHER)
    got = CliRunner().invoke(cli.main, ["grade", str(sub), "--out", str(tmp_path / "out"),
                                        "--course", str(FIX), "--topic", "toy"],
                              color=True)  # as on a terminal, where click keeps escapes
    assert "raised ValueError" in got.output, got.output
    if defended:
        assert not any(c in got.output for c in "\x1b\x07\x08\r"), repr(got.output)
        assert "toy: 36 / 36" in got.output  # shown, as text
    else:
        assert "\x1b[1A" in got.output


HYPERLINK = '=HYPERLINK("evil.example?id=1","open")'
ESCAPED_ID = "eve\x1b[2K\r[1/2] mallory: 36 / 36"


@pytest.mark.parametrize("defended", [True, False], ids=["inert", "control"])
def test_student_ids_are_inert_in_batch_progress_and_every_csv(
        toy_engine, tmp_path: Path, monkeypatch, defended: bool) -> None:
    import csv
    import io

    from grader.classroom import batch, progress
    from grader.classroom.batch import Batch
    from grader.course import Course
    from grader.results import model

    if not defended:
        for printer in (batch, progress):
            monkeypatch.setattr(printer, "terminal", lambda text, newlines=False: str(text))
        monkeypatch.setattr(model, "csv_cell", lambda value: value)
    subs = tmp_path / "subs"
    for sid in (HYPERLINK, ESCAPED_ID):
        (subs / sid).mkdir(parents=True)
        (subs / sid / "toy.py").write_text(REFERENCE)

    said = io.StringIO()
    Batch(course=Course(FIX), submissions=subs, out=tmp_path / "out", jobs=1, topics=("toy",),
          echo=lambda s: said.write(s + "\n"), progress_stream=said, tty=False,
          engine_factory=lambda *a, **k: SharedEngine(toy_engine)).run()
    written = sorted(p.name for p in (tmp_path / "out").glob("*.csv"))
    assert written == ["canvas.csv", "gradebook.csv", "moodle.csv", "similarity.csv", "tests.csv"]
    cells = [cell for name in written
             for row in csv.reader(io.StringIO((tmp_path / "out" / name).read_text()))
             for cell in row]
    live = [c for c in cells if c.startswith(("=", "@", "+", "\t", "\r"))
            or (c.startswith("-") and not c.lstrip("-").replace(".", "").isdigit())]
    if defended:
        assert "\x1b" not in said.getvalue() and "\r" not in said.getvalue()
        assert live == []
        assert "'" + HYPERLINK in cells
    else:
        assert "\x1b" in said.getvalue()
        assert HYPERLINK in live


# ------------------------------------------------------------------ banned calls reached by name
# Each variant reaches numpy.polyfit (banned in the toy topic) in scale(), which still returns
# the right answer: only the ban can fail test_scale.
SCALE_CALL = "[0.0, 1.0], [0.0, 1.0], 1"
BANNED_BY_NAME = {
    "built-name-getattr": ("", f'getattr(np, "poly" + "fit")({SCALE_CALL})'),
    "dunder-import": ("", f'__import__("num" + "py").polyfit({SCALE_CALL})'),
    "importlib": ("import importlib\n",
                  f'importlib.import_module("num" + "py").polyfit({SCALE_CALL})'),
    "exec-string": ("", f'exec("import numpy; numpy.polyfit({SCALE_CALL})")'),
    "eval-string": ("", f'eval("__import__(\'numpy\').poly" + "fit")({SCALE_CALL})'),
    "sys-modules": ("import sys\n", f'sys.modules["numpy"].polyfit({SCALE_CALL})'),
    "module-dict": ("", f'np.__dict__["poly" + "fit"]({SCALE_CALL})'),
    "vars-of-module": ("", f'vars(np)["polyfit"]({SCALE_CALL})'),
    "star-import": ("from numpy import *\n", f"polyfit({SCALE_CALL})"),
    "alias-under-another-path": ("import numpy.lib._polynomial_impl as impl\n",
                                 f"impl.polyfit({SCALE_CALL})"),
    "functools-partial": ("import functools\n",
                          "functools.partial(getattr(np, 'polyfit'), deg=1)([0.0, 1.0], [0.0, 1.0])"),
    "lambda-default-arg": ("FIT = (lambda f=getattr(np, 'poly' + 'fit'): f)()\n",
                           f"FIT({SCALE_CALL})"),
    "class-attribute": ("class Fit:\n    run = staticmethod(getattr(np, 'polyfit'))\n",
                        f"Fit.run({SCALE_CALL})"),
    "caught-exception": ("", f"try:\n    getattr(np, 'polyfit')({SCALE_CALL})\n"
                         "except BaseException:\n    pass"),
    "map-builtin": ("", "list(map(getattr(np, 'polyfit'), [[0.0, 1.0]], [[0.0, 1.0]], [1]))"),
    # handed to library frames and to threads the student starts
    "apply-along-axis": ("", "np.apply_along_axis(getattr(np, 'polyfit'), 1, np.array([[0.0, 1.0]]),"
                             " [0.0, 1.0], 1)"),
    "vectorize": ("", "np.vectorize(lambda d: 0)(1)\n"
                      "np.vectorize(getattr(np, 'polyfit'), excluded={0, 1})([0.0, 1.0], [0.0, 1.0], 1)"),
    "functools-reduce": ("import functools\n",
                         "functools.reduce(functools.partial(getattr(np, 'polyfit'), deg=1),"
                         " [[0.0, 1.0], [0.0, 1.0]])"),
    "sorted-key": ("import functools\n",
                   "sorted([[0.0, 1.0], [1.0, 0.0]], key=functools.partial(getattr(np, 'polyfit'),"
                   " [0.0, 1.0], deg=1))"),
    "thread-pool": ("from concurrent.futures import ThreadPoolExecutor\n",
                    "with ThreadPoolExecutor(2) as pool:\n"
                    f"    pool.submit(getattr(np, 'polyfit'), {SCALE_CALL}).result()"),
    "thread-pool-caught": ("from concurrent.futures import ThreadPoolExecutor\n",
                           "with ThreadPoolExecutor(2) as pool:\n"
                           f"    pool.submit(getattr(np, 'polyfit'), {SCALE_CALL}).exception()"),
    "thread": ("import threading\n",
               f"t = threading.Thread(target=getattr(np, 'polyfit'), args=({SCALE_CALL},))\n"
               "t.start()\nt.join()"),
    "class-call-handed": ("class Fit:\n    def __call__(self, f):\n"
                          f"        return f({SCALE_CALL})\n",
                          "np.apply_along_axis(lambda r: Fit()(getattr(np, 'polyfit')), 0, np.ones(1))"),
}
# Variants whose getattr names the function in a constant: the static scan sees those.
STATICALLY_SEEN = {"functools-partial", "class-attribute", "caught-exception", "map-builtin",
                   "lambda-default-arg", "apply-along-axis", "vectorize", "functools-reduce",
                   "sorted-key", "thread-pool", "thread-pool-caught", "thread", "class-call-handed"}


def scale_variant(prelude: str, call: str) -> str:
    body = textwrap.indent(call, "    ")
    return "import numpy as np\n" + prelude + REFERENCE.replace(
        "def scale(x, c):\n", f"def scale(x, c):\n{body}\n", 1)


@pytest.mark.parametrize("variant", sorted(BANNED_BY_NAME))
def test_a_banned_call_reached_by_name_loses_the_tests_of_its_function(
        toy_engine, tmp_path: Path, variant: str) -> None:
    from grader.grading.guarded import scan_findings

    source = scale_variant(*BANNED_BY_NAME[variant])
    module = tmp_path / "static" / "toy.py"
    module.parent.mkdir()
    module.write_text(source)
    static, _ = scan_findings(module, ("numpy.polyfit",))
    result, _ = grade(toy_engine, tmp_path, source)
    tests = {t.name: t for t in result.tests}
    scale = tests["test_scale"]
    assert scale.outcome == "failed" and "banned" in scale.flags, (variant, scale.message)
    assert "polyfit is not allowed" in scale.message and "toy.py, line" in scale.message
    assert tests["test_add"].outcome == "passed", tests["test_add"].message
    assert_other_topic_unaffected(result)
    if variant not in STATICALLY_SEEN:
        # Control: the static scan of names alone does not see these.
        assert not [f for f in static if f.function == "scale"], variant


@pytest.mark.parametrize("route", ["w._tw_target", "w.__wrapped__", "w.__self__",
                                   "w._tw_call.__closure__[0].cell_contents.__self__._keep[0]"])
def test_a_wire_cannot_be_unwrapped_to_reach_the_original(toy_engine, tmp_path: Path,
                                                         route: str) -> None:
    """scale() passes its tests only if the route reached an unguarded polyfit."""
    source = scale_variant("", f"w = getattr(np, 'polyfit')\nfit = {route}\n"
                               "if fit is w or getattr(fit, '__name__', '') != 'polyfit':\n"
                               "    raise AttributeError('no original here')\n"
                               f"fit({SCALE_CALL})")
    result, _ = grade(toy_engine, tmp_path, source)
    tests = {t.name: t for t in result.tests}
    assert tests["test_scale"].outcome != "passed", (route, tests["test_scale"].message)
    assert tests["test_add"].outcome == "passed", tests["test_add"].message
    assert_other_topic_unaffected(result)


def test_a_banned_call_in_a_second_submitted_file_is_found(toy_engine, tmp_path: Path) -> None:
    helper = "import numpy\n\ndef fit(x, y):\n    return numpy.polyfit(x, y, 1)\n"
    source = "import helper\n" + REFERENCE.replace(
        "def scale(x, c):\n", f"def scale(x, c):\n    helper.fit({SCALE_CALL.rsplit(',', 1)[0]})\n", 1)
    result, _ = grade(toy_engine, tmp_path, source, {"helper.py": helper})
    tests = {t.name: t for t in result.tests}
    assert tests["test_scale"].outcome == "failed" and "banned" in tests["test_scale"].flags
    assert "helper.py" in tests["test_scale"].message, tests["test_scale"].message
    assert tests["test_add"].outcome == "passed"


def test_dynamic_access_is_flagged_for_review_without_costing_points(
        toy_engine, tmp_path: Path) -> None:
    source = REFERENCE.replace("def add(a, b):\n    return float(a + b)\n",
                               "def add(a, b):\n    return float(getattr(a, '__add__')(b))\n"
                               "\ndef twice(v):\n    return getattr(v, '__' + 'add__')(v)\n")
    result, _ = grade(toy_engine, tmp_path, source)
    toy = result.topic("toy")
    assert toy.score == toy.max_score
    said = "getattr() with a computed name (toy.py, line"
    assert "dynamic_access" in toy.flags and said in toy.note
    # carried as a field, so the gradebook never has to parse the note
    assert any(d.startswith(said) for d in toy.dynamic), toy.dynamic
    from grader.classroom.gradebook import ClassEntry, student_row
    from grader.classroom.late import LatePolicy

    row = student_row(ClassEntry("s", "graded", result), ["toy"], LatePolicy(), {})
    assert said in row["dynamic_access"]
    from grader.results.report import render_report
    from grader.results.visibility import student_view

    assert 'class="alert dynamic"' in render_report(student_view(result))
    plain, _ = grade(toy_engine, tmp_path / "plain", REFERENCE)
    assert "dynamic_access" not in plain.topic("toy").flags and not plain.topic("toy").note


def _course_topic(engine, tmp_path: Path, topic: str, source: str):
    sub = tmp_path / "sub"
    sub.mkdir(parents=True, exist_ok=True)
    (sub / f"{topic}.py").write_text(source)
    return engine.grade(sub, tmp_path / "out", Options(seed=7, topics=(topic,)))


RNN = Path(__file__).resolve().parents[1] / "reference" / "rnn" / "solution.py"
LSTM_BODY = "    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (B, 4H)\n"
RNN_VARIANTS = {  # an LSTM cell from torch, reached without its name in the source
    "module-path-of-the-class": (
        "    cell = getattr(torch.nn.modules.rnn, 'LSTM' + 'Cell')(x.shape[1], h.shape[1],"
        " dtype=x.dtype)\n"),
    "torch-ops-aten": (
        "    return tuple(getattr(torch.ops.aten, 'lstm' + '_cell')(x, (h, c), W_ih, W_hh,"
        " b_ih, b_hh))\n"),
    "torch-vf": (
        "    return tuple(getattr(torch, '_V' + 'F').lstm_cell(x, (h, c), W_ih, W_hh, b_ih,"
        " b_hh))\n"),
    "torch-vf-in-a-thread-pool": (
        "    from concurrent.futures import ThreadPoolExecutor\n"
        "    with ThreadPoolExecutor(2) as pool:\n"
        "        return tuple(pool.submit(getattr(torch, '_V' + 'F').lstm_cell, x, (h, c), W_ih,"
        " W_hh, b_ih, b_hh).result())\n"),
}


@pytest.mark.parametrize("variant", sorted(RNN_VARIANTS))
def test_a_torch_lstm_cell_reached_by_name_scores_nothing(engine, tmp_path: Path,
                                                          variant: str) -> None:
    source = RNN.read_text().replace(LSTM_BODY, RNN_VARIANTS[variant] + LSTM_BODY, 1)
    result = _course_topic(engine, tmp_path, "rnn", source)
    lstm = [t for t in result.tests if t.name.startswith("test_lstm_cell")]
    assert lstm and all(t.outcome == "failed" and "banned" in t.flags for t in lstm), \
        [(t.name, t.message) for t in lstm]
    assert all("is not allowed here (rnn.py, line" in t.message for t in lstm)
    others = [t for t in result.tests if "lstm" not in t.name and "banned" not in t.flags]
    assert others and all(t.outcome == "passed" for t in others if t.name.startswith(
        ("test_rnn_cell", "test_gru_cell")))


def test_numpy_polynomial_polyfit_is_banned_with_numpy_polyfit(engine, tmp_path: Path) -> None:
    source = (Path(__file__).resolve().parents[1] / "reference" / "linear_regression" /
              "solution.py").read_text().replace(
        "    x = np.asarray(x, dtype=np.float64)  # (n,)\n",
        "    import numpy.polynomial.polynomial as P\n"
        "    getattr(P, 'poly' + 'fit')(x, y, 1)\n"
        "    x = np.asarray(x, dtype=np.float64)  # (n,)\n", 1)
    result = _course_topic(engine, tmp_path, "linear_regression", source)
    uni = [t for t in result.tests if t.name.startswith("test_fit_univariate")]
    assert uni and all(t.outcome == "failed" and "banned" in t.flags for t in uni)
    assert "numpy.polynomial" in uni[0].message
    assert any(t.outcome == "passed" for t in result.tests if t.name.startswith("test_mse"))


# ------------------------------------------------------------------ the worker's whole process tree

CHUNK_MB = 100
FAN_OUT = 8


def fan_out(chunk_mb: int = CHUNK_MB, children: int = FAN_OUT, wait_s: float = 2.5) -> str:
    """Children that each allocate and touch ``chunk_mb`` and hold it until told to exit; sets
    ``held``: how many held theirs together to the end (those killed on the way do not count)."""
    return textwrap.dedent(f"""
        import os, select, time
        ready_r, ready_w = os.pipe()
        hold_r, hold_w = os.pipe()
        kids = []
        for _ in range({children}):
            pid = os.fork()
            if pid == 0:
                os.close(ready_r)
                os.close(hold_w)
                try:
                    data = b"\\x01" * ({chunk_mb} << 20)
                    os.write(ready_w, b"x")
                except MemoryError:
                    os._exit(1)
                os.read(hold_r, 1)
                os._exit(0)
            kids.append(pid)
        os.close(ready_w)
        os.close(hold_r)
        ready, end = 0, time.monotonic() + {wait_s}
        while ready < {children} and end > time.monotonic():
            if not select.select([ready_r], [], [], end - time.monotonic())[0]:
                break
            got = os.read(ready_r, 64)
            if not got:
                break
            ready += len(got)
        os.close(hold_w)
        os.close(ready_r)
        held = sum(os.waitpid(pid, 0)[1] == 0 for pid in kids)
        """)


def test_memory_fanned_out_to_children_is_bounded_for_the_whole_tree(toy_engine,
                                                                     tmp_path: Path) -> None:
    # Eight children of 100 MB each under the topic's 400 MB: the whole worker ends once they
    # hold more than 400 MB together, and the student is told why.
    result, took = grade(toy_engine, tmp_path, attack_in_add(
        fan_out() + f"contained = held * {CHUNK_MB} <= 400\n"))
    tests = {t.name: t for t in result.tests}
    assert tests["test_add"].outcome == "error", tests["test_add"].message
    assert "used more than 400 MB in all its processes together" in tests["test_add"].message
    assert_other_topic_unaffected(result)
    assert took < 60
    bound = [layer for layer in result.sandbox if layer.startswith("memory: ")]
    assert bound in (["memory: cgroup v1 (whole tree)"], ["memory: cgroup v2 (whole tree)"],
                     ["memory: watched by the launcher (whole tree, no cgroup)"]), result.sandbox


def test_control_per_process_limits_let_children_fan_memory_out() -> None:
    # The same children under a per-process limit only (the worker's former memory bound: its
    # data plus what the limit leaves): all of them hold their 100 MB, twice the topic's 400 MB.
    # They are waited for as long as they take (a busy machine takes seconds to hand out 800 MB):
    # the wait ends as soon as the last one is ready.
    import resource

    body = fan_out(wait_s=240.0).replace("\n", "\n    ")
    script = (f"import resource, sys\n"
              f"def run():\n    {body}\n    return held\n"
              f"vmdata = [int(l.split()[1]) * 1024 for l in open('/proc/self/status')"
              f" if l.startswith('VmData:')][0]\n"
              f"resource.setrlimit(resource.RLIMIT_DATA, (vmdata + (200 << 20),) * 2)\n"
              f"print(run())\n")
    assert resource  # the limit is set in the child interpreter above
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) * CHUNK_MB >= 2 * 400


def _needs_a_memory_cgroup() -> None:
    from grader.isolation import sandbox

    bound = sandbox.memory_bound()
    if not bound.available:
        pytest.skip(f"no memory cgroup on this machine ({bound.detail}): the per-process "
                    "shares apply, and no process is killed for the tree's memory")


def test_a_tree_killed_for_its_memory_is_told_so(toy_engine, tmp_path: Path) -> None:
    _needs_a_memory_cgroup()
    # The worker touches 350 MB of shared memory (outside RLIMIT_DATA), a child 100 MB more:
    # over the topic's 400 MB together, and the worker, the larger, is the one killed.
    result, took = grade(toy_engine, tmp_path, REFERENCE.replace("def scale(x, c):", (
        "def scale(x, c):\n"
        "    import mmap, os\n"
        "    shared = mmap.mmap(-1, 350 << 20)\n"
        "    for i in range(0, len(shared), 4096):\n"
        "        shared[i] = 1\n"
        "    if os.fork() == 0:\n"
        "        data = b'\\x01' * (100 << 20)\n"
        "        os._exit(0)\n"
        "    os.wait()\n")))
    tests = {t.name: t for t in result.tests}
    assert tests["test_scale"].outcome == "error", tests["test_scale"].message
    assert "your code used more than 400 MB in all its processes together" in \
        tests["test_scale"].message
    assert tests["test_add"].outcome == "passed"
    assert_other_topic_unaffected(result)


def test_no_worker_cgroup_is_left_behind(toy_course, tmp_path: Path) -> None:
    _needs_a_memory_cgroup()
    from grader.grading.engine import Engine
    from grader.grading.remote import Worker, WorkerSpec
    from grader.isolation import cgroup

    with Engine(toy_course) as engine:
        zygote_pid = engine.zygote.proc.pid
        # Ended normally, by a timeout, by a fork bomb and by the memory limit: each worker's
        # launcher removes its group.
        grade(engine, tmp_path / "a", attack_in_add(fan_out() + "contained = True\n"))
        grade(engine, tmp_path / "b", "while True:\n    pass\n" + REFERENCE)
        # A launcher removes its group once its worker's processes are gone, on its own time.
        assert _settles(lambda: cgroup.leftovers(zygote_pid) == [])
        # Workers still running when the zygote is closed: their groups go with it.
        (tmp_path / "toy.py").write_text("while True:\n    pass\n")
        spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="toy", module_path=str(tmp_path / "toy.py"),
                          student_dir=str(tmp_path), sandbox=True, read_paths=engine.read_paths)
        workers = [Worker(engine.zygote, spec, 1, time.monotonic() + 30) for _ in range(2)]
        assert len(cgroup.leftovers(zygote_pid)) == 2 * len({cgroup.find_base()[0].memory,
                                                             cgroup.find_base()[0].cpu})
    for w in workers:
        w.forget()
    assert cgroup.leftovers(zygote_pid) == []



def _spinning_workers(course: Any, tmp_path: Path, n: int) -> tuple[Any, list[Any]]:
    """A zygote of its own, and ``n`` sandboxed workers of its torch zygote, each in its cgroup,
    whose module never ends."""
    from grader.grading.engine import Engine
    from grader.grading.remote import Worker, WorkerSpec, Zygote

    with Engine(course) as engine:
        read_paths = engine.read_paths
    zygote = Zygote()
    (tmp_path / "toy.py").write_text("while True:\n    pass\n")
    spec = WorkerSpec(tmp_dir=str(tmp_path), module_name="toy", module_path=str(tmp_path / "toy.py"),
                      student_dir=str(tmp_path), sandbox=True, read_paths=read_paths)
    return zygote, [Worker(zygote, spec, 1, time.monotonic() + 30) for _ in range(n)]


def test_a_trusted_side_gone_away_leaves_no_worker_cgroup(toy_course, tmp_path: Path) -> None:
    """Killed, the trusted side removes nothing: the root zygote, told by the end of its stdin,
    removes the groups of every zygote's workers (here the torch zygote's), once every launcher
    is gone, before it exits."""
    _needs_a_memory_cgroup()
    from grader.isolation import cgroup

    zygote, workers = _spinning_workers(toy_course, tmp_path, 2)
    try:
        assert len(cgroup.leftovers(zygote.proc.pid)) == 2 * len(
            {cgroup.find_base()[0].memory, cgroup.find_base()[0].cpu})
        assert zygote.proc.stdin is not None
        zygote.proc.stdin.close()  # as the trusted side's end closes it
        zygote.proc.wait(timeout=60)
        assert cgroup.leftovers(zygote.proc.pid) == []
    finally:
        zygote.close()
        for w in workers:
            w.forget()


def test_control_a_killed_zygote_leaves_groups_that_only_the_sweep_removes(
        toy_course, tmp_path: Path) -> None:
    _needs_a_memory_cgroup()
    import signal

    from grader.isolation import cgroup

    zygote, [worker] = _spinning_workers(toy_course, tmp_path, 1)
    os.killpg(zygote.proc.pid, signal.SIGKILL)  # the launchers die before they can clean up
    zygote.proc.wait()
    assert _settles(lambda: bool(cgroup.leftovers(zygote.proc.pid)))
    zygote.close()  # sweeps
    worker.forget()
    assert cgroup.leftovers(zygote.proc.pid) == []


# ------------------------------------------------------------------ speed: work in grandchildren

SPIN_HIDDEN = '''
from pathlib import Path

import pytest

from grader.checks import timing
from grader.course import load_topic_config

CONFIG = load_topic_config(Path(__file__).with_name("grading.toml"))


def _verify(args, got):
    assert got == sum(range(args[0])), f"spin({args[0]}) should be {sum(range(args[0]))}"


@pytest.mark.points(4)
@pytest.mark.timeout(60)
def test_spin_speed(student, baseline, record_property):
    timing.grade_speed(student, baseline, "spin", lambda i: (2_000_000 + i,), verify=_verify,
                       thresholds=timing.thresholds_for(CONFIG.extra, "spin", "cpu"),
                       device="cpu", record=record_property, settings=timing.Settings(samples=9))
'''

SPIN_BASELINE = '''
def spin(n):
    total = 0
    for i in range(n):
        total += i
    return total
'''

# The sum of range(lo, hi), as the baseline computes it, in a child process at the end of a
# chain of ``chain`` forks whose links exit at once; its pid and the sum, read from a pipe.
IN_A_CHILD = SPIN_BASELINE + '''
import os, signal


def _sum(lo, hi):
    total = 0
    for i in range(lo, hi):
        total += i
    return total


def _in_child(lo, hi, chain):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        for _ in range(chain):
            if os.fork():
                os._exit(0)
        os.write(w, str(_sum(lo, hi)).encode())
        os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 64):
        out += chunk
    os.close(r)
    return pid, int(out)
'''

# The whole loop in a great-grandchild, with SIGCHLD ignored so that the kernel reaps every
# link of the chain: no process the worker could be charged through is left when its time is
# read.
IN_GRANDCHILDREN = IN_A_CHILD + '''

def spin(n):
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    return _in_child(0, n, 3)[1]
'''

# A tenth of the loop in a child the worker reaps itself (its CPU time shows in the worker's
# process tree), then the rest in a great-grandchild the kernel reaps (it shows nowhere): the
# tree sees a small part of the work, and charging it alone would make the copy several times
# as fast as the baseline.
PARTLY_IN_GRANDCHILDREN = IN_A_CHILD + '''

def spin(n):
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid, first = _in_child(0, n // 10, 0)
    os.waitpid(pid, 0)  # reaped here: its CPU time is the worker's children's
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    _, second = _in_child(n // 10, n, 3)  # reaped by the kernel: seen nowhere
    return first + second
'''


@pytest.fixture(scope="module")
def spin_engine(tmp_path_factory):
    from grader.course import Course
    from grader.grading.engine import Engine

    root = tmp_path_factory.mktemp("spin")
    (root / "assignments" / "spin").mkdir(parents=True)
    (root / "reference" / "spin").mkdir(parents=True)
    (root / "assignments" / "spin" / "spin.py").write_text("def spin(n):\n    return 0\n")
    (root / "assignments" / "spin" / "baseline.py").write_text(SPIN_BASELINE)
    (root / "reference" / "spin" / "solution.py").write_text(SPIN_BASELINE)
    (root / "reference" / "spin" / "test_hidden.py").write_text(SPIN_HIDDEN)
    (root / "reference" / "spin" / "grading.toml").write_text(
        "[grading]\ntimeout = 10\n\n[speed.spin]\ncpu = { zero = 1.5, full = 12.0 }\n")
    with Engine(Course(root)) as engine:
        yield engine


def test_a_speed_graded_worker_cannot_start_processes(spin_engine, tmp_path: Path) -> None:
    # Speed-graded topics: threads yes, processes no, on every host, so that no work can hide
    # where the grader's clock does not look.
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "spin.py").write_text(IN_GRANDCHILDREN)
    result = spin_engine.grade(sub, tmp_path / "out", Options(seed=1))
    t = {t.name: t for t in result.tests}["test_spin_speed"]
    assert t.score == 0 and t.outcome == "failed", t
    assert "spin raised PermissionError" in t.message, t.message


@pytest.mark.parametrize("clock", ["cgroup", "wall_floor", "wall_floor_partly", "control"])
def test_work_in_grandchildren_reaped_by_the_kernel_is_charged(spin_engine, tmp_path: Path,
                                                               monkeypatch, clock: str) -> None:
    # Where a worker may start processes after all, the clock still sees their work.
    from dataclasses import replace

    from grader.checks import timing
    from grader.grading import engine, plugin

    def processes_allowed(*args, **kwargs):
        spec = worker_spec(*args, **kwargs)
        return replace(spec, limits={**spec.limits, "new_processes": True})

    worker_spec = plugin.worker_spec
    for module in (plugin, engine):  # the engine launches the first worker itself
        monkeypatch.setattr(module, "worker_spec", processes_allowed)
    if clock == "cgroup":
        _needs_a_memory_cgroup()
    else:  # the grading child is forked from this process, so it sees these
        monkeypatch.setattr(timing.cgroup, "group_of", lambda pid: None)
    if clock == "control":  # the clock before: live threads, else the process tree over /proc
        monkeypatch.setattr(timing, "WALL_FLOOR", False)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "spin.py").write_text(PARTLY_IN_GRANDCHILDREN if clock == "wall_floor_partly"
                                 else IN_GRANDCHILDREN)
    result = spin_engine.grade(sub, tmp_path / "out", Options(seed=1))
    t = {t.name: t for t in result.tests}["test_spin_speed"]
    speed = t.details["speed"]
    if clock == "wall_floor_partly":  # the tree's CPU time is charged, floored by the wall's
        assert t.score == 0 and speed["ratio"] < 1.5, speed
        assert speed["clock"] == "cpu_tree_or_wall", speed
        return
    if clock == "control":
        # Fooled: the loop's CPU time is nowhere it looks, so the copy seems several times faster.
        assert speed["ratio"] > 2 and t.score > 0, speed
        return
    # The copy of the baseline, and the forks on top: no faster than the baseline.
    assert t.score == 0 and speed["ratio"] < 1.5, speed
    # Without a cgroup: floored by the wall clock, whether the tree showed part of the work
    # (``cpu_tree_or_wall``, as on a loaded machine) or none of it.
    if clock == "cgroup":
        assert speed["clock"] == "cpu", speed
    else:
        assert speed["clock"] in ("cpu_or_wall", "cpu_tree_or_wall"), speed


# ------------------------------------------------------------------ a batch with hostile students

FORK_BOMB = attack_in_add("""
    import os, time
    for _ in range(5000):
        try:
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
        except OSError:
            break
    contained = True
    """)


def test_hostile_students_change_nothing_for_an_honest_one_in_a_batch(toy_engine,
                                                                     tmp_path: Path) -> None:
    from grader.classroom import gradebook
    from grader.classroom.batch import Batch
    from grader.course import Course

    students = {
        "a_fork_bomb": FORK_BOMB,
        "b_memory_fan_out": attack_in_add(fan_out() + "contained = True\n"),
        "c_infinite_loop": REFERENCE.replace("def add(a, b):\n",
                                             "def add(a, b):\n    while True:\n        pass\n"),
        "d_exit_at_import": "import os\nos._exit(0)\n" + REFERENCE,
        "e_stopped_reader": STOP_READING,
        "honest": REFERENCE,
    }
    subs = tmp_path / "subs"
    for sid, toy in students.items():
        (subs / sid).mkdir(parents=True)
        (subs / sid / "toy.py").write_text(toy)
        (subs / sid / "other.py").write_text(OTHER)
    alone, alone_s = grade(toy_engine, tmp_path / "alone", REFERENCE)

    t0 = time.monotonic()
    Batch(course=Course(FIX), submissions=subs, out=tmp_path / "out", jobs=2,
          echo=lambda s: None, progress_stream=open(os.devnull, "w"), tty=False,
          engine_factory=lambda *a, **k: SharedEngine(toy_engine)).run()
    took = time.monotonic() - t0
    table = gradebook.read_gradebook(tmp_path / "out" / "gradebook.csv").set_index("student")
    row = table.loc["honest"]
    assert row["score"] == pytest.approx(alone.score) and alone.score == alone.max_score
    for topic in alone.topics:
        assert row[topic.topic] == pytest.approx(topic.score), topic.topic
    assert sorted(table.index) == sorted(students)
    for sid in students:  # every hostile student is graded too, within its own limits
        assert table.loc[sid, "max_score"] == pytest.approx(alone.max_score), sid
    # Each submission on its own finishes well within a minute (5 s a test at most); two at a
    # time, the six cannot add up to more than their own limits.
    assert took < 6 * 60 / 2, took


# ------------------------------------------------ how a worker ended, said however busy the machine

def _worker_of(private: Path, pid: int) -> Any:
    from grader.grading.remote import Worker, Zygote

    w = object.__new__(Worker)  # only what reading the launcher's status file needs
    w.private, w.pid, w.launcher = str(private), pid, object.__new__(Zygote)
    return w


def test_a_crashs_exit_code_is_said_when_the_launcher_writes_it_late(tmp_path: Path) -> None:
    """The worker has ended (a zombie its launcher has not reaped yet) and the launcher, slowed by
    a busy machine, writes how it ended a second later: the message still says the exit code."""
    import threading

    ended = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    deadline = time.monotonic() + 60
    while not Path(f"/proc/{ended.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
        assert time.monotonic() < deadline, "the child never ended"
        time.sleep(0.01)  # not reaped: a zombie, as B is until its launcher waits for it
    late = threading.Timer(1.0, lambda: (tmp_path / "exit").write_text(str(3 << 8)))
    late.start()
    try:
        assert _worker_of(tmp_path, ended.pid)._exit_status() == " (exit code 3)"
    finally:
        late.join()
        ended.wait()


def test_a_worker_still_running_is_not_waited_for(tmp_path: Path) -> None:
    """A worker that closed its socket but runs on writes no status: the grader looks for one
    briefly, then kills it, without the longer wait for a launcher that is late."""
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        w = _worker_of(tmp_path, running.pid)
        assert not w._ended()
        assert w._exit_status() == ""
    finally:
        running.kill()
        running.wait()
    assert _worker_of(tmp_path, running.pid)._ended()  # reaped: gone
