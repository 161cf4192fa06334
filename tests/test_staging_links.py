"""Staging never follows a symbolic link, for files or folders, at any depth, in folders and in
archives: a link could hand in somebody else's work (a classmate's folder, the course's own
examples) as the student's. A submission holding links is told which, in one note."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from grader.grading.engine import Options
from grader.grading.submission import stage
from test_submission import make_zip

FIX = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIX / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIX / "reference" / "other" / "solution.py").read_text()
TOPICS = ["metrics", "conv"]


def _classmate(tmp_path: Path) -> Path:
    """Somebody else's work, in every layout a link could point into."""
    mate = tmp_path / "classmate"
    for rel in ("metrics.py", "assignments/metrics/metrics.py", "metrics/metrics.py"):
        (mate / rel).parent.mkdir(parents=True, exist_ok=True)
        (mate / rel).write_text("STOLEN = 1\n")
    return mate


def _link(at: Path, target: Path | str) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, at)


@pytest.mark.parametrize("where,target", [
    ("metrics", "classmate/metrics"),  # a topic folder that is a link
    ("assignments", "classmate/assignments"),  # the assignments folder
    ("assignments/metrics", "classmate/assignments/metrics"),  # one level deeper
    ("metrics.py", "classmate/metrics.py"),  # the module itself
    ("assignments/metrics/metrics.py", "classmate/metrics.py"),  # deep, a file
    ("alice", "classmate"),  # the one top folder of a submission
])
@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_a_link_in_a_folder_is_never_followed(tmp_path: Path, where: str, target: str,
                                             relative: bool) -> None:
    _classmate(tmp_path)
    sub = tmp_path / "student"
    sub.mkdir()
    (sub / "notes.txt").write_text("my own\n")
    absolute = tmp_path / target
    _link(sub / where, os.path.relpath(absolute, (sub / where).parent) if relative else absolute)
    staged = stage(sub, tmp_path / "staged", TOPICS)
    assert staged.module("metrics") is None
    assert not any("STOLEN" in p.read_text() for p in staged.root.glob("*.py"))
    assert any("symbolic links are not followed" in f and where in f for f in staged.files), \
        staged.files


def test_a_link_within_the_submission_is_not_followed_either(tmp_path: Path) -> None:
    """A link to the student's own file would be harmless, but a link is never read: one rule,
    with no path arithmetic that a crafted target could get wrong."""
    sub = tmp_path / "student"
    (sub / "work").mkdir(parents=True)
    (sub / "work" / "mine.py").write_text("X = 1\n")
    _link(sub / "metrics.py", "work/mine.py")
    staged = stage(sub, tmp_path / "staged", TOPICS)
    assert staged.module("metrics") is None
    assert any("metrics.py" in f and "not followed" in f for f in staged.files)


def test_a_helper_module_that_is_a_link_is_not_copied(tmp_path: Path) -> None:
    sub = tmp_path / "student"
    sub.mkdir()
    (sub / "metrics.py").write_text("from helpers import X\n")
    (tmp_path / "elsewhere.py").write_text("X = 'not mine'\n")
    _link(sub / "helpers.py", tmp_path / "elsewhere.py")
    staged = stage(sub, tmp_path / "staged", TOPICS)
    assert staged.module("metrics") is not None
    assert not (staged.root / "helpers.py").exists()
    assert any("helpers.py" in f for f in staged.files)


def test_links_in_an_archive_are_left_out_and_named(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", {"conv.py": b"Y = 2\n"},
                       {"metrics.py": "/etc/passwd", "assignments/metrics": "../../classmate"})
    staged = stage(archive, tmp_path / "staged", TOPICS)
    assert staged.module("metrics") is None
    assert staged.module("conv") is not None  # the rest of the archive is graded
    note = next(f for f in staged.files if "not followed" in f)
    assert "metrics.py" in note and "assignments/metrics" in note


def test_a_linked_topic_is_not_graded_and_an_honest_neighbour_keeps_its_grade(
        toy_engine, tmp_path: Path) -> None:
    honest = tmp_path / "honest"
    honest.mkdir()
    (honest / "toy.py").write_text(TOY)
    (honest / "other.py").write_text(OTHER)
    thief = tmp_path / "thief"
    thief.mkdir()
    (thief / "other.py").write_text(OTHER)
    _link(thief / "toy.py", honest / "toy.py")
    alone = toy_engine.grade(honest, tmp_path / "out-alone", Options(seed=1))
    stolen = toy_engine.grade(thief, tmp_path / "out-thief", Options(seed=1))
    again = toy_engine.grade(honest, tmp_path / "out-honest", Options(seed=1))
    assert again.score == alone.score == alone.max_score
    assert stolen.topic("toy").score == 0 and not stolen.topic("toy").submitted
    assert stolen.topic("other").score == stolen.topic("other").max_score
    assert any("symbolic links are not followed: toy.py" in n for n in
               [*stolen.notes, *(str(x) for x in stolen.to_dict().values())]), stolen.notes


def test_a_class_member_folder_that_is_a_link_is_not_graded_as_its_target(tmp_path: Path) -> None:
    from grader.classroom.discover import discover

    subs = tmp_path / "subs"
    (subs / "ada").mkdir(parents=True)
    (subs / "ada" / "toy.py").write_text(textwrap.dedent(TOY))
    _link(subs / "bob", subs / "ada")
    entries, ignored = discover(subs, {}, tmp_path / "unpacked")
    assert [e.student for e in entries if e.path is not None] == ["ada"]
    assert "bob (a symbolic link, not followed)" in ignored


def _staged_class(subs: Path, tmp_path: Path) -> dict[str, list[str]]:
    """Discover an LMS download and stage every entry: each student's staged file texts and
    notes, keyed by id."""
    from grader.classroom.discover import discover

    entries, _ = discover(subs, {}, tmp_path / "unpacked")
    out: dict[str, list[str]] = {}
    for e in entries:
        assert e.path is not None
        staged = stage(e.path, tmp_path / "staged" / e.folder, TOPICS)
        out[e.student] = [p.read_text() for p in sorted(staged.root.glob("*.py"))] + staged.files
    return out


def _moodle_dir(subs: Path, name: str, pid: int) -> Path:
    return subs / f"{name}_{pid}_assignsubmission_file_"


@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_links_in_a_moodle_download_are_never_followed(tmp_path: Path, relative: bool) -> None:
    mate = _classmate(tmp_path)
    subs = tmp_path / "subs"

    def target(at: Path, t: Path) -> Path | str:
        return os.path.relpath(t, at.parent) if relative else t

    honest = _moodle_dir(subs, "Honest One", 1)
    honest.mkdir(parents=True)
    (honest / "conv.py").write_text("Y = 2\n")
    filed = _moodle_dir(subs, "File Link", 2)  # the module is a link
    filed.mkdir()
    _link(filed / "metrics.py", target(filed / "metrics.py", mate / "metrics.py"))
    deep = _moodle_dir(subs, "Deep Link", 3)  # a folder deeper down is a link
    (deep / "assignments").mkdir(parents=True)
    _link(deep / "assignments" / "metrics",
          target(deep / "assignments" / "metrics", mate / "assignments" / "metrics"))
    zipped = _moodle_dir(subs, "Zip Link", 4)  # its one file, a .zip, is a link to another's
    zipped.mkdir()
    make_zip(tmp_path / "mate.zip", {"metrics.py": b"STOLEN = 1\n"})
    _link(zipped / "work.zip", target(zipped / "work.zip", tmp_path / "mate.zip"))
    _link(_moodle_dir(subs, "Whole Folder", 5),  # the student's folder itself is a link
          target(_moodle_dir(subs, "Whole Folder", 5), honest))
    staged = _staged_class(subs, tmp_path)
    assert not any("STOLEN" in t for texts in staged.values() for t in texts), staged
    assert staged["honest_one_1"] == ["Y = 2\n"]
    for sid, link in (("file_link_2", "metrics.py"), ("deep_link_3", "assignments/metrics"),
                      ("zip_link_4", "work.zip")):
        assert any("symbolic links are not followed" in t and link in t
                   for t in staged[sid]), staged[sid]
    assert not any(sid.startswith("whole_folder") for sid in staged)


def test_links_in_a_canvas_download_are_never_followed(tmp_path: Path) -> None:
    mate = _classmate(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "honestone_11_100_conv.py").write_text("Y = 2\n")
    _link(subs / "thief_12_101_metrics.py", mate / "metrics.py")
    _link(subs / "thief2_13_102_metrics.py", "../classmate/metrics.py")
    staged = _staged_class(subs, tmp_path)
    assert staged == {"honestone_11": ["Y = 2\n"]}


def test_links_in_a_gradescope_export_are_never_followed(tmp_path: Path) -> None:
    mate = _classmate(tmp_path)
    subs = tmp_path / "subs"
    (subs / "submission_1").mkdir(parents=True)
    (subs / "submission_1" / "conv.py").write_text("Y = 2\n")
    _link(subs / "submission_2", mate)  # the submission folder is a link
    (subs / "submission_3").mkdir()
    _link(subs / "submission_3" / "metrics", "../../classmate/metrics")
    (subs / "submission_4").mkdir()
    make_zip(tmp_path / "mate.zip", {"metrics.py": b"STOLEN = 1\n"})
    _link(subs / "submission_4" / "sub.zip", tmp_path / "mate.zip")
    (subs / "submission_metadata.yml").write_text("".join(
        f"submission_{i}:\n  :submitters:\n  - :name: S{i}\n    :sid: '{i}'\n"
        for i in range(1, 5)))
    staged = _staged_class(subs, tmp_path)
    assert not any("STOLEN" in t for texts in staged.values() for t in texts), staged
    assert set(staged) == {"s1_1", "s3_3", "s4_4"}
    assert staged["s1_1"] == ["Y = 2\n"]
    assert any("not followed: metrics" in t for t in staged["s3_3"])
    assert any("not followed: sub.zip" in t for t in staged["s4_4"])


def test_a_class_archive_holding_links_grades_none_of_them(tmp_path: Path) -> None:
    from grader.classroom.discover import discover

    archive = make_zip(tmp_path / "class.zip", {"honest/conv.py": b"Y = 2\n"},
                       {"thief/metrics.py": "../honest/conv.py", "copycat": "honest"})
    entries, ignored = discover(archive, {}, tmp_path / "unpacked")
    assert {"thief/metrics.py (a symbolic link, not followed)",
            "copycat (a symbolic link, not followed)"} <= set(ignored)
    got = {e.student: stage(e.path, tmp_path / "st" / e.folder, TOPICS) for e in entries
           if e.path is not None}
    assert set(got) == {"honest"}  # the links were never unpacked: thief has no file at all
    assert got["honest"].module("conv") is not None


def test_a_batch_names_the_links_in_the_gradebook_and_the_report_and_grades_the_rest(
        toy_engine, tmp_path: Path) -> None:
    """Links into a classmate's folder, the course's examples and the student's own files, in a
    class graded as a batch: the note reaches the gradebook, result.json and report.html, the
    honest student's grade is the grade alone, and a file a link pointed at inside the student's
    own folder is graded as the file it is."""
    import io
    import json

    from grader.classroom import gradebook
    from grader.classroom.batch import Batch
    from grader.course import Course
    from shared_engine import SharedEngine

    subs = tmp_path / "subs"
    (subs / "honest").mkdir(parents=True)
    (subs / "honest" / "toy.py").write_text(TOY)
    (subs / "honest" / "other.py").write_text(OTHER)
    (subs / "linker" / "assignments").mkdir(parents=True)
    (subs / "linker" / "other.py").write_text(OTHER)
    _link(subs / "linker" / "assignments" / "toy", FIX / "reference" / "toy")  # absolute
    (subs / "mine" / "work").mkdir(parents=True)
    (subs / "mine" / "work" / "toy.py").write_text(TOY)
    _link(subs / "mine" / "toy.py", "work/toy.py")  # inside its own folder: refused all the same
    _link(subs / "copycat", "honest")  # the whole folder
    alone = toy_engine.grade(subs / "honest", tmp_path / "alone", Options(seed=1))
    Batch(course=Course(FIX), submissions=subs, out=tmp_path / "out", jobs=1,
          echo=lambda s: None, progress_stream=io.StringIO(), tty=False,
          engine_factory=lambda *a, **k: SharedEngine(toy_engine)).run()
    book = gradebook.read_gradebook(tmp_path / "out" / "gradebook.csv").set_index("student")
    assert set(book.index) == {"honest", "linker", "mine"}
    assert book.loc["honest", "score"] == alone.score == alone.max_score
    # The link is never followed; mine's own work/toy.py, a file in their folder, is graded.
    assert book.loc["linker", "toy"] == 0 and book.loc["mine", "toy"] == book.loc["honest", "toy"]
    for sid, link in (("linker", "assignments/toy"), ("mine", "toy.py")):
        assert f"symbolic links are not followed: {link}" in book.loc[sid, "files"]
        folder = tmp_path / "out" / "students" / sid
        assert f"not followed: {link}" in json.dumps(json.loads(
            (folder / "result.json").read_text()))
        assert f"not followed: {link}" in (folder / "report.html").read_text()


def test_adding_or_removing_a_link_changes_the_submission_for_resume(tmp_path: Path) -> None:
    """A resumed batch regrades a submission whose links changed: its note would be stale."""
    from grader.classroom.state import content_hash

    mate = _classmate(tmp_path)
    sub = tmp_path / "student"
    sub.mkdir()
    (sub / "conv.py").write_text("Y = 2\n")
    before = content_hash(sub)
    _link(sub / "metrics", mate / "metrics")
    linked = content_hash(sub)
    assert linked != before
    (mate / "metrics" / "metrics.py").write_text("CHANGED = 1\n")  # never read through the link
    assert content_hash(sub) == linked
    (sub / "metrics").unlink()
    assert content_hash(sub) == before


def test_a_submission_sent_to_another_machine_stages_as_it_does_here(tmp_path: Path) -> None:
    """A folder travels to a Dask worker zipped: its links as links to nothing, a name's stray
    bytes as \\xNN; the worker's staging grades and notes it as a local one does."""
    from grader.classroom.dask.shared import pack_submission, unpack_submission

    mate = _classmate(tmp_path)
    sub = tmp_path / "student"
    (sub / "work").mkdir(parents=True)
    (sub / "conv.py").write_text("Y = 2\n")
    Path(os.fsdecode(os.fsencode(sub) + b"/work/\xffnotes.txt")).write_text("x")
    _link(sub / "metrics", mate / "metrics")
    _link(sub / "work" / "helper.py", mate / "metrics.py")
    here = stage(sub, tmp_path / "here", TOPICS)
    data, is_folder = pack_submission(sub)
    there = stage(unpack_submission(sub.name, data, is_folder, tmp_path / "worker"),
                  tmp_path / "there", TOPICS)
    assert there.files == here.files
    assert any("not followed: metrics, work/helper.py" in f for f in there.files), there.files
    assert any("\\xffnotes.txt" in f for f in there.files)
    assert there.module("conv") is not None and there.module("metrics") is None
