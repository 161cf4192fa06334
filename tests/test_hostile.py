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

import pytest

from grader.grading.engine import Options

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
    time.sleep(0.5)
    assert_nothing_left_below(toy_engine.zygote.proc.pid)


def assert_nothing_left_below(pid: int) -> None:
    left = descendants(pid)
    for _ in range(20):  # the kernel tears a namespace down asynchronously
        if not left:
            break
        time.sleep(0.25)
        left = descendants(pid)
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
        "def scale(x, c):", "def scale(x, c):\n    import ctypes\n    ctypes.string_at(0)"))
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
    time.sleep(0.2)
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
    spec = WorkerSpec(module_name="toy", module_path=str(tmp_path / "toy.py"),
                      student_dir=str(tmp_path), sandbox=True,
                      read_paths=toy_engine.read_paths)
    session = StudentModule(toy_engine.zygote, spec,
                            launched=Worker(toy_engine.zygote, spec, 1, None))
    time.sleep(0.5)  # it is running its endless top level by now
    assert descendants(toy_engine.zygote.proc.pid)
    session.close()
    assert_nothing_left_below(toy_engine.zygote.proc.pid)
