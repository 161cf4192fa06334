"""Submissions are found in every accepted layout, and archives are unpacked safely."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from grader.grading.submission import SubmissionError, stage


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


@pytest.mark.parametrize(("entries", "links", "why"), [
    ({"../evil.py": b"x"}, None, "outside the archive"),
    ({"/etc/evil.py": b"x"}, None, "outside the archive"),
    ({"a/../../evil.py": b"x"}, None, "outside the archive"),
])
def test_unsafe_archives_are_refused(tmp_path: Path, entries, links, why: str) -> None:
    archive = make_zip(tmp_path / "bad.zip", entries, links)
    with pytest.raises(SubmissionError, match=why):
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
