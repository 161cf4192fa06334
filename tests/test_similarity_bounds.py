"""The class-wide similarity step: disguised and exec-hidden copies are caught, honest alternatives
are not, the work is linear in what is compared, and the step is bounded and one student's note
at worst: a runaway comparison, a grader bug, an unreadable archive or a SIGTERM never cost the
class its grades, its comparison or a leftover folder."""

from __future__ import annotations

import ast
import base64
import codecs
import io
import itertools
import os
import signal
import subprocess
import sys
import time
import tokenize
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from grader.classroom import fingerprint as fingerprints
from grader.classroom import normalise, payloads, sidebyside, similarity
from grader.course import Course

from test_disguises import disguises  # bench/disguises.py

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT)
THRESHOLD = similarity.DEFAULT_THRESHOLD


def disguise(source: str, names: Sequence[str] = ("input", "sum", "len", "vals", "tmp", "q",
                                                  "acc", "total")) -> str:
    """The classic disguise, done as a student would: every local and argument renamed (some to
    builtins' names), the module's functions and classes in reverse order, a comment above each,
    blank lines added. Layout and everything else kept."""
    tree = ast.parse(source)
    local: set[str] = set()
    for fn in (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))):
        for node in ast.walk(fn):
            if isinstance(node, ast.arg) and node.arg != "self":
                local.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                local.add(node.id)
    pool = itertools.cycle(names)
    rename: dict[str, str] = {}
    for i, name in enumerate(sorted(local) if names else ()):
        plain = next(pool)
        rename[name] = plain if plain not in rename.values() and i % 3 == 0 else f"{plain}_{i}"
    edits, previous = [], ""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string in rename and previous != ".":
            edits.append((tok.start, tok.string, rename[tok.string]))
        previous = tok.string
    renamed = disguises.replace_tokens(source, edits)
    lines = renamed.splitlines(keepends=True)
    body = ast.parse(renamed).body

    def start(n: ast.stmt) -> int:
        decorators = getattr(n, "decorator_list", None)
        return decorators[0].lineno if decorators else n.lineno

    first = start(next(n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))))
    blocks = [f"# {getattr(n, 'name', 'setup')}: see my notes\n\n"
              + "".join(lines[start(n) - 1:n.end_lineno]) for n in body if start(n) >= first]
    return "".join(lines[:first - 1]) + "\n\n\n".join(reversed(blocks)) + "\n"


def _similarity(topic: str, a: str, b: str) -> float:
    stub = similarity.stub_hashes(COURSE.stub(topic).read_text())
    return similarity.similarity(similarity.fingerprint(a, stub), similarity.fingerprint(b, stub))


# ------------------------------------------------------------------------------ what is caught


@pytest.mark.parametrize("topic", ["linear_regression", "metrics", "conv", "autograd",
                                   "transformer"])
def test_the_classic_disguise_is_caught(topic: str) -> None:
    original = COURSE.solution(topic).read_text()
    copy = disguise(original)
    compile(copy, "copy", "exec")  # still a module
    assert copy != original
    assert _similarity(topic, original, copy) >= 0.95
    # each part of the disguise alone changes nothing either
    reordered = disguise(original, names=())  # no names: only reordering and comments
    assert _similarity(topic, original, reordered) >= 0.95


def test_a_local_renamed_to_a_builtins_name_is_still_the_same_code() -> None:
    a = "def f(x, n):\n    total = x * n\n    return total + len(x)\n"
    b = "def f(input, sum):\n    max = input * sum\n    return max + len(input)\n"
    assert [t for u in normalise.normalise(a) for t in u.tokens] == \
        [t for u in normalise.normalise(b) for t in u.tokens]


@pytest.mark.parametrize("topic", COURSE.topics())
def test_honest_alternatives_are_not_flagged(topic: str) -> None:
    reference = COURSE.solution(topic).read_text()
    modules = {"reference": reference,
               **{alt.stem: alt.read_text() for alt in COURSE.alternatives(topic)}}
    pairs = similarity.compare({topic: modules}, {topic: COURSE.stub(topic).read_text()},
                               THRESHOLD)
    assert pairs == [], [(p.student_a, p.student_b, p.similarity) for p in pairs]


def _hidden(kind: str, source: str) -> str:
    data = source.encode()
    if kind == "base64":
        return f"import base64\nexec(base64.b64decode({base64.b64encode(data).decode()!r}))\n"
    if kind == "base64 in a name, split":
        text = base64.b64encode(data).decode()
        half = len(text) // 2
        return (f"import base64 as b\nCODE = {text[:half]!r} + {text[half:]!r}\n"
                "exec(compile(b.b64decode(CODE).decode(), 'm', 'exec'))\n")
    if kind == "hex":
        return f"exec(bytes.fromhex({data.hex()!r}))\n"
    if kind == "zlib and base64":
        packed = base64.b64encode(zlib.compress(data)).decode()
        return f"import base64, zlib\nexec(zlib.decompress(base64.b64decode({packed!r})))\n"
    if kind == "rot13":
        return f"import codecs\nexec(codecs.decode({codecs.encode(source, 'rot13')!r}, 'rot13'))\n"
    if kind == "plain string":
        return f"exec({source!r})\n"
    if kind == "exec inside exec":
        return f"exec({('exec(' + repr(source) + ')')!r})\n"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["base64", "base64 in a name, split", "hex", "zlib and base64",
                                  "rot13", "plain string", "exec inside exec"])
def test_a_copy_hidden_in_an_exec_payload_is_compared_by_the_code_it_runs(
        kind: str, tmp_path: Path) -> None:
    topic = "metrics"
    original = COURSE.solution(topic).read_text()
    hidden = _hidden(kind, disguise(original))
    entries = []
    for student, text in (("ana", original), ("bob", hidden),
                          ("cy", COURSE.alternatives(topic)[0].read_text())):
        (tmp_path / student).mkdir()
        (tmp_path / student / f"{topic}.py").write_text(text)
        entries.append((student, tmp_path / student))
    modules, left_out = similarity.read_modules(entries, [topic])
    assert not left_out
    assert "decoded by the grader" in modules[topic]["bob"]  # the page shows what it runs
    pairs = similarity.compare(modules, {topic: COURSE.stub(topic).read_text()}, THRESHOLD)
    assert [(p.student_a, p.student_b) for p in pairs] == [("ana", "bob")]


def test_payloads_are_decoded_without_running_anything_and_within_bounds() -> None:
    # Anything not made of literals and the known decoders is left alone: nothing is called.
    for source in ("exec(open('x').read())", "exec(make())", "exec(x.y)", "eval(input())",
                   "exec(base64.b64decode(get()))", "exec(bytes.fromhex('zz'))"):
        assert payloads.hidden_code(source) == [], source
    # A zlib bomb stops at the bound instead of filling memory.
    bomb = zlib.compress(b"#" * (50 * payloads.MAX_BYTES))
    code = payloads.hidden_code(f"import zlib\nexec(zlib.decompress({bomb!r}))")
    assert sum(map(len, code)) <= payloads.MAX_BYTES
    # Payloads inside payloads stop at MAX_DEPTH levels.
    deep = "x = 1"
    for _ in range(payloads.MAX_DEPTH + 3):
        deep = f"exec({deep!r})"
    assert len(payloads.hidden_code(deep)) == payloads.MAX_DEPTH


# ------------------------------------------------------------------------------ linear work


class Counting(list):  # type: ignore[type-arg]
    """A list that counts how many of its items are read."""

    reads = 0

    def __getitem__(self, i: Any) -> Any:
        Counting.reads += 1
        return super().__getitem__(i)

    def __iter__(self) -> Any:
        for item in super().__iter__():
            Counting.reads += 1
            yield item


def _repetitive(kilobytes: int) -> str:
    """A module made of one long repetitive tuple, the pathological case."""
    line = "    (1, 2, 3, 4, 5, 6, 7, 8),\n"
    return "def f():\n    return (\n" + line * (kilobytes * 1024 // len(line)) + "    )\n"


@pytest.mark.parametrize("make", [_repetitive,
                                  lambda kb: COURSE.solution("conv").read_text() * max(1, kb // 8)],
                         ids=["repetitive", "ordinary"])
def test_matching_passages_reads_each_run_a_bounded_number_of_times(make: Any) -> None:
    # The side-by-side page's matching of a module and its copy: the work per run does not grow
    # with the module (it did: a 25 KB repetitive module took minutes). Counted, not timed.
    reads = {}
    for kb in (16, 64):
        source = make(kb)
        a, b = sidebyside._Side(source, fingerprints.EMPTY_STUB), \
            sidebyside._Side(source, fingerprints.EMPTY_STUB)
        shared = {h for r in a.runs for h in r}
        for side in (a, b):
            side.runs = [Counting(r) for r in side.runs]
        Counting.reads = 0
        matched = sidebyside._match(a, b, shared)
        total = sum(len(r) for r in a.runs)
        assert len(matched) >= total  # every token of the copy is matched
        reads[kb] = Counting.reads / total
    assert reads[64] <= 1.2 * reads[16] + 1, reads


def test_comparing_a_class_counts_pairs_through_the_index_not_every_pair() -> None:
    # 60 students, each with a module of their own: no pair shares anything, so no pair is
    # looked at; the similar pair is found.
    topic = "metrics"
    original = COURSE.solution(topic).read_text()
    modules = {f"s{i:02d}": "\n".join(f"def f{i}_{k}(a):\n    return a" + " + a" * (i + k % 7)
                                      + f" * {k}\n" for k in range(30)) for i in range(60)}
    modules["ana"], modules["bob"] = original, disguise(original)
    pairs = similarity.compare({topic: modules}, {topic: COURSE.stub(topic).read_text()},
                               THRESHOLD)
    assert [(p.student_a, p.student_b) for p in pairs] == [("ana", "bob")]


# ------------------------------------------------------------------------------ bounded


def _class(tmp_path: Path) -> list[tuple[str, Path, str]]:
    topic = "metrics"
    original = COURSE.solution(topic).read_text()
    entries = []
    for student, text in (("ana", original), ("bob", original)):
        (tmp_path / "subs" / student).mkdir(parents=True)
        (tmp_path / "subs" / student / f"{topic}.py").write_text(text)
        entries.append((student, tmp_path / "subs" / student, student))
    return entries


def _own_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder for this test alone (the comparison's child inherits it): what other
    test processes compare meanwhile cannot appear in it, nor be mistaken for a leftover."""
    import tempfile

    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_a_comparison_that_finishes_writes_its_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outcome = similarity.compare_class(out, COURSE, _class(tmp_path), ["metrics"], THRESHOLD)
    assert outcome.error == "" and not outcome.left_out
    assert [(p.student_a, p.student_b) for p in outcome.pairs] == [("ana", "bob")]
    assert (out / similarity.CSV_NAME).is_file() and outcome.pairs[0].similarity == 1.0


@pytest.mark.parametrize("runaway", ["hangs", "allocates", "raises", "dies"])
def test_a_runaway_comparison_is_stopped_and_becomes_a_note(
        runaway: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / similarity.CSV_NAME).write_text("topic,student_a,student_b,similarity\nx,a,b,1\n")
    (out / similarity.PAGES).mkdir()
    tmp = _own_tmpdir(tmp_path, monkeypatch)

    def broken(out: Path, course: Any, entries: Any, *args: Any) -> None:
        list(entries)
        if runaway == "hangs":
            time.sleep(600)
        elif runaway == "allocates":
            hoard = []
            while True:
                hoard.append(bytearray(64 * 1024 * 1024))
        elif runaway == "raises":
            raise RuntimeError("a bug in the comparison")
        else:
            os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(similarity, "check_class", broken)
    outcome = similarity.compare_class(out, COURSE, _class(tmp_path), ["metrics"], THRESHOLD,
                                       seconds=3, memory_mb=256)
    expected = {"hangs": "time limit (3 s)", "allocates": "more than 256 MB",
                "raises": "RuntimeError: a bug in the comparison", "dies": "signal 9"}[runaway]
    assert expected in outcome.error
    assert outcome.pairs == []
    # Nothing of an earlier comparison passes for this one's, and nothing is left behind.
    assert not (out / similarity.CSV_NAME).exists() and not (out / similarity.PAGES).exists()
    assert list(tmp.iterdir()) == []


class _Stopped(BaseException):
    pass


@pytest.mark.parametrize("when", ["the folder is made", "the pipe is open", "the child exists"])
def test_a_stop_at_any_point_of_the_comparisons_start_leaves_nothing_behind(
        when: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM (turned into an exception, as ``grader batch`` does) sent at each step between
    making the comparison's folder and waiting for its child: the comparison stops, and neither
    the folder nor the child is left. Sent by the process to itself, the signal arrives at once
    wherever it is not held, so each step is tried every time, not by chance."""
    out = tmp_path / "out"
    out.mkdir()
    tmp = _own_tmpdir(tmp_path, monkeypatch)
    children: list[int] = []

    def stop_after(make: Any, step: str) -> Any:
        def made(*args: Any, **kwargs: Any) -> Any:
            got = make(*args, **kwargs)
            if step == "the folder is made" and not str(args[0].name).startswith("grader-simil"):
                return got
            if step == "the child exists" and got == 0:
                return got  # the child: its own handler decides
            if step == "the child exists":
                children.append(got)
            if step == when:
                os.kill(os.getpid(), signal.SIGTERM)
            return got
        return made

    def stop(*args: Any) -> None:
        raise _Stopped()

    monkeypatch.setattr(Path, "mkdir", stop_after(Path.mkdir, "the folder is made"))
    monkeypatch.setattr(os, "pipe", stop_after(os.pipe, "the pipe is open"))
    monkeypatch.setattr(os, "fork", stop_after(os.fork, "the child exists"))
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(_Stopped):
            similarity.compare_class(out, COURSE, _class(tmp_path), ["metrics"], THRESHOLD,
                                     seconds=30)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp.iterdir()) == [], "left behind"
    for pid in children:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped: nothing left running


def _zip_with_undecodable_name(path: Path, module: str) -> Path:
    """A zip whose member names claim UTF-8 (flag bit 11) while one is not valid UTF-8."""
    placeholder = "PLACEHOLDER_NAME.py"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metrics.py", module)
        zf.writestr(placeholder, "x = 1\n")
    data = bytearray(path.read_bytes().replace(
        placeholder.encode(), b"\xff\xfe" + b"A" * (len(placeholder) - 5) + b".py"))
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local, central headers
        start = data.find(signature)
        while start >= 0:
            data[start + at + 1] |= 0x08  # bit 11 of the little-endian flag word
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))
    return path


def test_an_archive_that_cannot_be_read_is_one_students_note(tmp_path: Path) -> None:
    entries = _class(tmp_path)
    original = COURSE.solution("metrics").read_text()
    bad = _zip_with_undecodable_name(tmp_path / "subs" / "cy.zip", original)
    with pytest.raises(Exception):  # the archive really is unreadable to the standard library
        with zipfile.ZipFile(bad) as zf:
            zf.namelist()
    entries.append(("cy", bad, "cy"))
    out = tmp_path / "out"
    out.mkdir()
    outcome = similarity.compare_class(out, COURSE, entries, ["metrics"], THRESHOLD)
    assert outcome.error == ""
    assert [(p.student_a, p.student_b, p.similarity) for p in outcome.pairs] == \
        [("ana", "bob", 1.0)]
    assert list(outcome.left_out) == ["cy"]
    assert similarity.read_notes(out) == outcome.left_out


# ------------------------------------------------------------------------------ in a batch


def test_a_batch_whose_comparison_breaks_still_grades_everyone(
        tmp_path: Path, toy_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_batch import book, run_batch, small_class

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in the comparison")

    monkeypatch.setattr(similarity, "check_class", broken)
    summary, said = run_batch(small_class(tmp_path), tmp_path / "out", toy_engine)
    assert "could not be compared for similarity: RuntimeError: a bug in the comparison" in said
    assert sorted(book(tmp_path / "out").index) == ["broken", "good", "malformed", "partial",
                                                   "zz_loop"]
    # The comparison runs after the gradings: its warning comes after the last grade.
    assert said.index("grading 5 submissions") < said.index("could not be compared")


def test_sigterm_during_the_comparison_leaves_nothing_behind(tmp_path: Path) -> None:
    # A class whose comparison takes a few seconds (large modules), graded by a real `grader
    # batch`; SIGTERM arrives while the comparison's child runs (its folder exists).
    topic = "metrics"
    original = COURSE.solution(topic).read_text()
    padding = "\n".join(f"def pad_{i}(a, b):\n    return (a + b) * {i} - a // (b + {i})\n"
                        for i in range(3000))
    subs = tmp_path / "subs"
    for i in range(6):
        (subs / f"s{i}").mkdir(parents=True)
        (subs / f"s{i}" / f"{topic}.py").write_text(original + "\n" + padding)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(subs), "--out",
                             str(tmp_path / "out"), "--topic", topic, "--jobs", "2"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 300
    while not any(p.startswith("grader-similarity-") for p in os.listdir(tmp)):
        assert proc.poll() is None, f"the batch ended before comparing: {proc.stdout.read()}"
        assert time.monotonic() < deadline, "the comparison never started"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, output
    assert "interrupted while comparing the submissions for similarity" in output
    assert os.listdir(tmp) == [], "left behind: " + ", ".join(os.listdir(tmp))
    # Every grade was written before the comparison started.
    assert (tmp_path / "out" / "gradebook.csv").is_file()


@pytest.mark.parametrize("bad", [
    "X = " + "+".join(["1"] * 20000) + "\n",  # too deep for the parser
    "Y = " + "(" * 150 + "1" + ")" * 150 + "\n",  # deep, but parsed
    "def broken(:\n    pass\n",  # a syntax error
    "".join(f"def pad{i}(a, b):\n    return (a + b) * {i}\n" for i in range(3000)),
])
def test_a_statement_that_cannot_be_read_leaves_the_rest_compared(bad: str) -> None:
    # Whatever stands before or after the original code, the copy is still found: one
    # statement the parser or the normaliser cannot take never costs the module its comparison.
    topic = "metrics"
    original = COURSE.solution(topic).read_text()
    for copy in (bad + "\n" + disguise(original), disguise(original) + "\n" + bad):
        pairs = similarity.compare({topic: {"ana": original, "bob": copy}},
                                   {topic: COURSE.stub(topic).read_text()}, 0.5)
        assert [(p.student_a, p.student_b) for p in pairs] == [("ana", "bob")], bad[:40]


def test_the_two_halves_of_a_comparison_give_what_one_process_gives() -> None:
    items = list(range(7))
    halves = similarity.in_two(lambda part: [x * 2 for x in part], items)
    assert sorted(x for half in halves for x in half) == [x * 2 for x in items]
    # A half that fails in the child process is done again here: nothing is lost.
    parent = os.getpid()

    def work(part: list[int]) -> list[int]:
        if os.getpid() != parent:
            os._exit(3)
        return part

    assert sorted(x for half in similarity.in_two(work, items) for x in half) == items
