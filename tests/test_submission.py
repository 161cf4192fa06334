"""Submissions are found in every accepted layout, and archives are unpacked safely."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from grader.grading.submission import SubmissionError, stage, submitted_topics


def make_zip(path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


@pytest.mark.parametrize("layout", ["flat", "assignments", "top_folder", "top_folder_assignments"])
def test_layouts_are_found_in_folders_and_zips(tmp_path: Path, layout: str) -> None:
    rel = {"flat": "metrics.py", "assignments": "assignments/metrics/metrics.py",
           "top_folder": "alice/metrics.py",
           "top_folder_assignments": "alice-main/assignments/metrics/metrics.py"}[layout]
    src = tmp_path / "src"
    (src / rel).parent.mkdir(parents=True)
    (src / rel).write_text("X = 1\n")
    (src / rel).with_name("helpers.py").write_text("Y = 2\n")
    (src / rel).with_name("conftest.py").write_text("evil\n")
    staged = stage(src, tmp_path / "a", ["metrics", "conv"])
    assert staged.module("metrics").read_text() == "X = 1\n"
    assert staged.module("conv") is None
    assert (staged.root / "helpers.py").exists() and not (staged.root / "conftest.py").exists()
    archive = make_zip(tmp_path / "s.zip", {rel: b"X = 1\n"})
    assert stage(archive, tmp_path / "b", ["metrics"]).module("metrics") is not None


@pytest.mark.parametrize("layout", ["flat", "assignments"])
def test_files_beside_a_module_are_staged_and_folders_beside_it_are_said(
        tmp_path: Path, layout: str) -> None:
    """A helper file beside a module is staged for it to import: nothing to say of it. A folder
    of Python files beside it (a package of helpers) is not staged: said once, by its name."""
    src = tmp_path / "src"
    where = src / ("assignments/metrics" if layout == "assignments" else "")
    (where / "helpers" / "deep").mkdir(parents=True)
    (where / "metrics.py").write_text("X = 1\n")
    (where / "util.py").write_text("Y = 2\n")
    (where / "helpers" / "__init__.py").write_text("")
    (where / "helpers" / "deep" / "core.py").write_text("Z = 3\n")
    (where / "data").mkdir()
    (where / "data" / "notes.txt").write_text("not code\n")
    staged = stage(src, tmp_path / "a", ["metrics", "conv"])
    assert sorted(p.name for p in staged.root.iterdir()) == ["metrics.py", "util.py"]
    assert staged.folders == {"metrics": ("helpers",)}
    prefix = "assignments/metrics/" if layout == "assignments" else ""
    assert staged.files == [
        f"unrecognised file {prefix}data/notes.txt",
        f"{prefix}helpers/ not graded: a folder, and grading takes the Python files beside "
        "metrics.py, not folders"]


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
@pytest.mark.parametrize("entries", [{"../evil.py": b"x"}, {"/tmp/evil.py": b"x"},
                                     {"a/../../evil.py": b"x"}])
def test_unsafe_archives_are_refused(tmp_path: Path, entries, kind: str) -> None:
    make = make_zip if kind == "zip" else make_tar
    archive = make(tmp_path / f"bad.{kind}", entries)
    with pytest.raises(SubmissionError, match="outside the archive"):
        stage(archive, tmp_path / "x", ["metrics"])
    assert not (tmp_path / "evil.py").exists()


def test_zip_bombs_and_overfull_archives_are_refused(tmp_path: Path) -> None:
    bomb = make_zip(tmp_path / "bomb.zip", {"metrics.py": b"\0" * (200 * 2**20)})
    assert bomb.stat().st_size < 2**20
    with pytest.raises(SubmissionError, match="MB|zip bomb"):
        stage(bomb, tmp_path / "x", ["metrics"])
    many = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"" for i in range(2500)})
    with pytest.raises(SubmissionError, match="entries"):
        stage(many, tmp_path / "y", ["metrics"])


def test_garbage_and_missing_inputs_give_one_line_reasons(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SubmissionError):
        stage(junk, tmp_path / "x", ["metrics"])
    with pytest.raises(SubmissionError, match="does not exist"):
        stage(tmp_path / "nope", tmp_path / "y", ["metrics"])
    make_zip(tmp_path / "ok.zip", {"metrics.py": b"A = 1\n" * 1000})
    data = (tmp_path / "ok.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(SubmissionError):
        stage(tmp_path / "cut.zip", tmp_path / "z", ["metrics"])


NOTEBOOK = ('{"cells": [{"id": "c1", "cell_type": "code", "execution_count": null, "metadata": {}, '
            '"outputs": [], "source": ["X = 1\\n"]}], "metadata": {}, "nbformat": 4, '
            '"nbformat_minor": 5}')


@pytest.mark.parametrize("files, handed_in", [
    ({"metrics.py": "X = 1\n", "util.py": "Y = 2\n"}, {"metrics"}),
    ({"assignments/conv/conv.py": "X = 1\n", "notes.txt": "hi\n"}, {"conv"}),
    ({"alice-main/assignments/conv/conv.py": "X = 1\n",
      "alice-main/assignments/rnn/rnn.py": "X = 1\n"}, {"conv", "rnn"}),
    ({"alice/metrics (1).py": "X = 1\n", "alice/conv-2.py": "X = 1\n"}, {"metrics", "conv"}),
    ({"rnn.ipynb": NOTEBOOK, "helpers.py": "Y = 2\n"}, {"rnn"}),
    ({"conftest.py": "evil\n", "readme.md": "metrics.py is elsewhere\n"}, set()),
])
@pytest.mark.parametrize("as_zip", [False, True])
def test_the_topics_handed_in_are_read_from_the_names_and_none_is_missed(
        tmp_path: Path, files: dict[str, str], handed_in: set[str], as_zip: bool) -> None:
    """What an engine is told it will grade (``grader batch``, ``grader grade``): the topics of
    which a submission holds a module or a notebook, in every layout staging accepts, read
    without unpacking it; never fewer than staging finds, whose workers would then start slower."""
    topics = ["metrics", "conv", "rnn", "backprop"]
    src = tmp_path / "src"
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    submission = make_zip(tmp_path / "s.zip", {n: t.encode() for n, t in files.items()}) \
        if as_zip else src
    assert submitted_topics(submission, topics) == handed_in
    staged = stage(submission, tmp_path / "staged", topics)
    assert set(staged.modules) <= handed_in


def test_a_lone_file_hands_in_its_topic_and_what_cannot_be_read_none(tmp_path: Path) -> None:
    topics = ["metrics", "conv"]
    (tmp_path / "conv (3).py").write_text("X = 1\n")
    assert submitted_topics(tmp_path / "conv (3).py", topics) == {"conv"}
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really a zip")
    assert submitted_topics(tmp_path / "bad.zip", topics) == set()
    assert submitted_topics(tmp_path / "missing", topics) == set()


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("rel", ["Archive/sub/hw1/metrics.py", "work/code/metrics.py",
                                 "conv/../conv/x/metrics.py", "a/b/c/d/metrics.py"])
@pytest.mark.parametrize("as_zip", [False, True])
def test_a_module_deeper_than_the_usual_places_is_graded_and_said(
        tmp_path: Path, rel: str, as_zip: bool) -> None:
    """A zip of a folder of a folder, a module in a folder of its own: where no file of the
    topic lies at the usual places, the one nearest the top is graded, with its helpers, and
    the topic's note says which file that was."""
    rel = str(Path(rel)).replace("conv/../", "")
    files = {rel: "X = 1\n", str(Path(rel).with_name("util.py")): "Y = 2\n"}
    submission = make_zip(tmp_path / "s.zip", {n: t.encode() for n, t in files.items()}) \
        if as_zip else _tree(tmp_path / "src", files)
    staged = stage(submission, tmp_path / "staged", ["metrics", "conv"])
    assert staged.module("metrics").read_text() == "X = 1\n"
    assert (staged.root / "util.py").exists()
    assert staged.notes["metrics"][0].startswith(f"graded {rel}, the file of this topic nearest "
                                                 "the top of the submission")
    assert staged.sources["metrics"] == rel
    assert not any("metrics" in f for f in staged.files), staged.files
    assert submitted_topics(submission, ["metrics", "conv"]) >= {"metrics"}


def test_the_nearest_file_wins_and_a_module_comes_before_a_notebook(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"top.txt": "", "a/b/metrics.py": "NEAR = 1\n",
                                   "a/b/c/metrics.py": "FAR = 1\n",
                                   "a/b/metrics (2).py": "COPY = 1\n",
                                   "x/y/conv.ipynb": "{}", "x/y/conv (1).py": "MODULE = 1\n"})
    staged = stage(src, tmp_path / "staged", ["metrics", "conv"])
    assert staged.module("metrics").read_text() == "NEAR = 1\n"
    assert staged.module("conv").read_text() == "MODULE = 1\n" and "conv" not in staged.notebooks


def test_files_in_several_folders_are_none_of_them_graded_and_said(tmp_path: Path) -> None:
    """Two versions at the same depth: neither is graded (which is the student's?), the topic's
    note names both, and no file note claims another was graded instead."""
    src = _tree(tmp_path / "src", {"conv.py": "C = 1\n", "v1/metrics.py": "A = 1\n",
                                   "v2/metrics.py": "B = 1\n"})
    staged = stage(src, tmp_path / "staged", ["metrics", "conv"])
    assert staged.module("metrics") is None and staged.module("conv") is not None
    assert staged.notes["metrics"] == [
        "not graded: none of this topic's files lay where grading looks first (at the top of the "
        "submission, in assignments/metrics/ or in one top folder), and the 2 nearest lie in "
        "different folders (v1/metrics.py, v2/metrics.py): put the one to grade at the top"]
    assert not any("was graded instead" in f for f in staged.files), staged.files


@pytest.mark.parametrize("rel", [
    ".hidden/metrics.py", "venv/lib/python3.11/site-packages/metrics.py",
    "env/lib/metrics.py",  # a virtual environment: env/pyvenv.cfg
    "node_modules/x/metrics.py", "__MACOSX/metrics.py", "a/b/c/d/e/metrics.py",
])
def test_files_that_are_not_the_students_or_too_deep_are_not_looked_at(
        tmp_path: Path, rel: str) -> None:
    src = _tree(tmp_path / "src", {"conv.py": "C = 1\n", rel: "X = 1\n", "env/pyvenv.cfg": ""})
    staged = stage(src, tmp_path / "staged", ["metrics", "conv"])
    assert staged.module("metrics") is None and "metrics" not in staged.notes


def test_a_linked_folder_is_not_looked_in(tmp_path: Path) -> None:
    other = _tree(tmp_path / "other", {"metrics.py": "THEIRS = 1\n"})
    src = _tree(tmp_path / "src", {"conv.py": "C = 1\n"})
    (src / "mate").symlink_to(other, target_is_directory=True)
    assert stage(src, tmp_path / "staged", ["metrics", "conv"]).module("metrics") is None


@pytest.mark.parametrize(("files", "refused"), [
    ({"ada/metrics.py": "", "ben/metrics.py": ""}, True),
    ({"ada/metrics.py": "", "ben.zip": "ZIP", "carl.zip": "ZIP"}, True),
    ({"hw1/metrics.py": "X = 1\n", "old.zip": "ZIP"}, False),  # the same work, packed
    ({"ada/metrics.py": "X = 1\n", "notes/readme.txt": ""}, False),
])
def test_a_class_handed_in_as_one_submission_is_refused_with_what_to_do(
        tmp_path: Path, files: dict[str, str], refused: bool) -> None:
    src = tmp_path / "src"
    for name, text in files.items():
        if text == "ZIP":
            src.mkdir(exist_ok=True)
            make_zip(src / name, {"metrics.py": b"Z = 1\n"})
    _tree(src, {n: t for n, t in files.items() if t != "ZIP"})
    if refused:
        with pytest.raises(SubmissionError) as info:
            stage(src, tmp_path / "staged", ["metrics", "conv"])
        assert "src holds no topic's module where grading looks" in str(info.value)
        assert "Hand in one of them (a class of them is graded with `grader batch`)" in \
            str(info.value)
    else:
        assert stage(src, tmp_path / "staged", ["metrics", "conv"]).module("metrics") \
            .read_text() == "X = 1\n"


def make_tar(path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None,
             hard: dict[str, str] | None = None, fifo: str = "") -> Path:
    """A tar at ``path``, compressed as its name says (.tar.gz, .tgz, .tar.bz2, .tar.xz)."""
    import io
    import tarfile

    mode = {".gz": "w:gz", ".tgz": "w:gz", ".bz2": "w:bz2", ".xz": "w:xz"}.get(path.suffix, "w")
    with tarfile.open(path, mode) as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for kind, items in ((tarfile.SYMTYPE, links or {}), (tarfile.LNKTYPE, hard or {})):
            for name, target in items.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, target
                tf.addfile(info)
        if fifo:
            info = tarfile.TarInfo(fifo)
            info.type = tarfile.FIFOTYPE
            tf.addfile(info)
    return path


@pytest.mark.parametrize("name", ["s.tar", "s.tar.gz", "s.tgz", "s.tar.bz2", "s.tar.xz"])
def test_a_tar_is_staged_as_a_zip_is(tmp_path: Path, name: str) -> None:
    archive = make_tar(tmp_path / name, {"alice/assignments/metrics/metrics.py": b"X = 1\n",
                                         "alice/assignments/metrics/util.py": b"Y = 2\n",
                                         "alice/notes.txt": b"hi\n"},
                       links={"alice/assignments/conv/conv.py": "/etc/passwd"},
                       hard={"alice/assignments/rnn/rnn.py": "alice/notes.txt"},
                       fifo="alice/pipe")
    assert submitted_topics(archive, ["metrics", "conv", "rnn"]) == {"metrics", "conv", "rnn"}
    staged = stage(archive, tmp_path / "x", ["metrics", "conv", "rnn"])
    assert staged.module("metrics").read_text() == "X = 1\n"
    assert (staged.root / "util.py").read_text() == "Y = 2\n"
    # Links are left out and said, as a zip's are; nothing is read through them.
    assert staged.module("conv") is None and staged.module("rnn") is None
    assert any("symbolic links are not followed" in f and "conv.py" in f and "rnn.py" in f
               for f in staged.files), staged.files


def test_tar_bombs_overfull_and_broken_tars_are_refused(tmp_path: Path) -> None:
    bomb = make_tar(tmp_path / "bomb.tar.gz", {"metrics.py": b"\0" * (100 * 2**20)})
    assert bomb.stat().st_size < 2**20
    with pytest.raises(SubmissionError, match="unpacks to more than 64 MB"):
        stage(bomb, tmp_path / "x", ["metrics"])
    many = make_tar(tmp_path / "many.tar", {f"f{i}.txt": b"" for i in range(2500)})
    with pytest.raises(SubmissionError, match="more than 2000 entries"):
        stage(many, tmp_path / "y", ["metrics"])
    assert submitted_topics(many, ["metrics"]) == {"metrics"}  # too many to list: all
    whole = make_tar(tmp_path / "ok.tar.gz", {"metrics.py": bytes(range(256)) * 4000})
    data = whole.read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SubmissionError, match="not a readable tar archive"):
        stage(tmp_path / "cut.tar.gz", tmp_path / "z", ["metrics"])
    # A file named as a tar that is none: told as an archive that cannot be read.
    (tmp_path / "fake.tar.gz").write_bytes(b"not a tar at all")
    with pytest.raises(SubmissionError, match="fake.tar.gz is not a readable tar archive"):
        stage(tmp_path / "fake.tar.gz", tmp_path / "w", ["metrics"])
