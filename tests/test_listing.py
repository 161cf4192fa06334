"""An engine told the topics it grades never collects the other topics' test files, nor imports
what they import: their "not submitted" results come from a listing made once by a child
process (``grader.grading.listing``), and are those collecting the files gives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from grader.course import Course
from grader.grading.engine import Engine, Options

FIX = Path(__file__).resolve().parent / "fixtures" / "course"
ROOT = Path(__file__).resolve().parents[1]

# The second topic's tests, as a course may write them: one seeded, one for a GPU (not graded
# on a machine that grades on none), and a module-level import that the grading process of the
# first topic should never pay for (it marks the process that ran it).
OTHER_TESTS = '''
import os
import pytest

from grader.checks.compare import expect_same

open(os.environ["OTHER_IMPORTED"] + f"/{os.getpid()}", "w").close()


def test_double(student, reference):
    expect_same(student, reference, "double", 1.5)


@pytest.mark.points(3)
def test_double_seeded(student, reference, seed):
    expect_same(student, reference, "double", float(seed % 7))


@pytest.mark.gpu
def test_double_on_a_gpu(student, reference):
    expect_same(student, reference, "double", 2.0)
'''


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Course:
    root = tmp_path / "course"
    shutil.copytree(FIX, root)
    (root / "reference" / "other" / "test_hidden.py").write_text(OTHER_TESTS)
    (tmp_path / "imported").mkdir()
    monkeypatch.setenv("OTHER_IMPORTED", str(tmp_path / "imported"))
    return Course(root)


def _toy_only(tmp_path: Path) -> Path:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text((FIX / "reference" / "toy" / "solution.py").read_text())
    return sub


def _tests(result: Any) -> list[dict[str, Any]]:
    """Every test's result, but for the time it took."""
    return [{k: v for k, v in t.to_dict().items() if k != "duration"} for t in result.tests]


@pytest.mark.parametrize("options", [Options(seed=5), Options(seed=6, kinds=("public",)),
                                     Options(seed=7, kinds=("public",), count_hidden=True)])
def test_listed_tests_give_what_collecting_them_gives(course: Course, tmp_path: Path,
                                                      options: Options) -> None:
    sub = _toy_only(tmp_path)
    imported = tmp_path / "imported"
    with Engine(course, topics=("toy",)) as told:
        listed = told.grade(sub, tmp_path / "listed", options)
        assert told.listing is not None and set(told.listing.result()) == {"other"}
    # Imported once, by the listing child: neither here nor in the grading child.
    assert len(list(imported.iterdir())) == 1
    with Engine(course) as everything:
        collected = everything.grade(sub, tmp_path / "collected", options)
    assert _tests(listed) == _tests(collected)
    assert [t.name for t in listed.tests if t.topic == "other"] == (
        ["test_double", "test_double_seeded", "test_double_on_a_gpu"]
        if "hidden" in options.kinds else [])
    assert listed.topic("toy").score == listed.topic("toy").max_score > 0


def test_nothing_is_listed_where_every_topic_chosen_is_graded(course: Course,
                                                              tmp_path: Path) -> None:
    """A lone file's grade, or ``--topic``: the other topics are in no result."""
    with Engine(course, topics=("toy",), chosen=("toy",)) as engine:
        assert engine.listing is None
        result = engine.grade(_toy_only(tmp_path), tmp_path / "out", Options(topics=("toy",)))
    assert {t.topic for t in result.tests} == {"toy"}
    assert not list((tmp_path / "imported").iterdir())


def test_a_topic_whose_file_does_not_collect_is_collected_where_it_is_graded(
        course: Course, tmp_path: Path) -> None:
    """The listing fails as a whole: the grading collects every file, as without it, and the
    broken file is reported as the course's."""
    broken = course.root / "reference" / "other" / "test_hidden.py"
    broken.write_text(broken.read_text() + "\nthis is not python\n")
    sub = _toy_only(tmp_path)
    with Engine(course) as everything:
        collected = everything.grade(sub, tmp_path / "collected", Options(seed=3))
    with Engine(course, topics=("toy",)) as told:
        listed = told.grade(sub, tmp_path / "listed", Options(seed=3))
        assert told.listing is not None and told.listing.result() == {}
    assert _tests(listed) == _tests(collected)
    assert listed.error == collected.error


def test_a_topic_that_runs_a_test_when_not_handed_in_is_collected(course: Course,
                                                                   tmp_path: Path) -> None:
    """A test without the student's code runs whether or not its topic is handed in: its file
    is collected, and its result is the one running it gives."""
    path = course.root / "reference" / "other" / "test_hidden.py"
    path.write_text(path.read_text() + textwrap.dedent('''
        def test_the_reference_alone(reference):
            assert reference.double(2.0) == 4.0
    '''))
    sub = _toy_only(tmp_path)
    with Engine(course, topics=("toy",)) as told:
        result = told.grade(sub, tmp_path / "out", Options(seed=2))
        assert told.listing is not None and told.listing.result() == {}
    outcomes = {t.name: t.outcome for t in result.tests if t.topic == "other"}
    assert outcomes["test_the_reference_alone"] == "passed"
    assert outcomes["test_double"] == "failed"


TRUSTED_SIDE = '''
import json, sys
from pathlib import Path
from grader.course import Course
from grader.grading.engine import Engine, Options

with Engine(Course(Path(sys.argv[1])), topics=("conv",)) as engine:
    result = engine.grade(Path(sys.argv[2]), Path(sys.argv[3]), Options(seed=1))
print(json.dumps({"torch": "torch" in sys.modules,
                  "conv": [result.topic("conv").score, result.topic("conv").max_score],
                  "others": sorted({t.message for t in result.tests if t.topic != "conv"})}))
'''


def test_a_class_handing_in_a_numpy_topic_is_graded_without_torch_in_the_grading_process(
        tmp_path: Path) -> None:
    """conv's tests and reference need no torch; the other topics' tests import it, and are
    listed by a child that ends."""
    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copy(ROOT / "reference" / "conv" / "solution.py", sub / "conv.py")
    script = tmp_path / "grade.py"
    script.write_text(TRUSTED_SIDE)
    proc = subprocess.run([sys.executable, str(script), str(ROOT), str(sub), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["torch"] is False
    assert got["conv"][0] == got["conv"][1] > 0
    assert got["others"] and all("was not submitted" in m or "needs a GPU" in m
                                 for m in got["others"]), got["others"]


def _imports(tmp_path: Path) -> int:
    """How many processes have imported the second topic's test file."""
    return len(list((tmp_path / "imported").iterdir()))


def test_a_listing_is_kept_and_taken_while_what_it_read_is_as_it_was(
        course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A later engine of the same course starts no listing child and gives the same results;
    a change to a test file or to a topic's configuration lists them again."""
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))
    sub = _toy_only(tmp_path)

    def grade(name: str) -> Any:
        with Engine(course, topics=("toy",)) as engine:
            return engine.grade(sub, tmp_path / name, Options(seed=4))

    first = grade("first")
    assert _imports(tmp_path) == 1 and len(list((tmp_path / "cache").glob("listing-*.json"))) == 1
    again = grade("again")
    assert _imports(tmp_path) == 1, "a kept listing was listed again"
    assert _tests(again) == _tests(first)

    tests = course.root / "reference" / "other" / "test_hidden.py"
    tests.write_text(tests.read_text() + "\n\ndef test_added(student, reference):\n"
                     "    expect_same(student, reference, 'double', 3.0)\n")
    changed = grade("changed")
    assert _imports(tmp_path) == 2
    assert "test_added" in {t.name for t in changed.tests if t.topic == "other"}

    config = course.root / "reference" / "other" / "grading.toml"
    config.write_text(config.read_text().replace("timeout = 3", "timeout = 4"))
    grade("configured")
    assert _imports(tmp_path) == 3
    grade("configured-again")
    assert _imports(tmp_path) == 3


@pytest.mark.parametrize("where", ["off", "a file", "garbled"])
def test_without_a_listing_kept_the_tests_are_listed_again(
        course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """GRADER_CACHE=off, a cache folder that cannot be made, or a kept listing that does not
    read: each engine lists, and grades as ever."""
    folder = tmp_path / "cache"
    if where == "a file":
        folder.write_text("")
    monkeypatch.setenv("GRADER_CACHE", "off" if where == "off" else str(folder))
    sub = _toy_only(tmp_path)
    results = []
    for i in range(2):
        with Engine(course, topics=("toy",)) as engine:
            results.append(engine.grade(sub, tmp_path / f"out{i}", Options(seed=4)))
        if where == "garbled":
            for kept in folder.glob("listing-*.json"):
                kept.write_text(kept.read_text()[:-20])
    assert _imports(tmp_path) == 2
    assert _tests(results[0]) == _tests(results[1])
    assert {t.name for t in results[1].tests if t.topic == "other"} == {
        "test_double", "test_double_seeded", "test_double_on_a_gpu"}
