"""A file name that is not valid UTF-8 (Linux allows any bytes) fails nothing: the submission
holding it is graded, the others too, and every page, table and line shows it as \\xNN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.classroom.state import content_hash
from grader.grading.submission import stage
from grader.results.inert import file_name

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIX / "reference" / "toy" / "solution.py").read_text()


def _path(base: Path, raw: bytes) -> Path:
    return Path(os.fsdecode(os.fsencode(base) + b"/" + raw))


def _make(base: Path, files: dict[bytes, str]) -> Path:
    for raw, text in files.items():
        p = _path(base, raw)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return base


@pytest.mark.parametrize("name", [b"\xffbad\xfe.txt", b"d\xe9j\xe0/notes.txt", b"\xe9.py"])
def test_staging_names_a_stray_file_in_writable_text(tmp_path: Path, name: bytes) -> None:
    sub = _make(tmp_path / "sub", {b"toy.py": TOY, name: "x"})
    staged = stage(sub, tmp_path / "staged", ["toy"])
    assert staged.module("toy") is not None
    line = next(f for f in staged.files if "\\x" in f)
    line.encode("utf-8")  # writable anywhere
    assert os.fsencode(_path(Path(""), name).name).hex() not in line
    assert content_hash(sub)  # the batch's change detection reads the same names


def test_file_name_shows_each_stray_byte_and_leaves_good_names_alone() -> None:
    assert file_name("plain-ü.py") == "plain-ü.py"
    assert file_name(os.fsdecode(b"a\xffb")) == "a\\xffb"
    assert file_name("\ud800x") == "\\ud800x"  # a surrogate that stands for no byte


def _grader(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args, "--course", str(FIX)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_a_class_with_stray_names_is_graded_whole(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    _make(subs, {b"ada/toy.py": TOY, b"bob/toy.py": TOY, b"bob/\xffbad\xfe.txt": "x",
                 b"bob/d\xe9j\xe0/toy.py": "x = 1", b"\xe9ve/toy.py": TOY})
    done = _grader("batch", str(subs), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    book = (tmp_path / "out" / "gradebook.csv").read_text(encoding="utf-8")
    rows = {line.split(",")[0]: line for line in book.splitlines()[1:]}
    assert set(rows) == {"ada", "bob", "\\xe9ve"}
    assert all(",graded," in r for r in rows.values())
    result = json.loads((tmp_path / "out" / "students" / "bob" / "result.json").read_text())
    assert json.dumps("\\xffbad\\xfe.txt")[1:-1] in json.dumps(result)
    assert (tmp_path / "out" / "students" / "bob" / "report.html").is_file()


def test_grade_writes_its_report_for_a_submission_with_a_stray_name(tmp_path: Path) -> None:
    sub = _make(tmp_path / "sub", {b"toy.py": TOY, b"\xffbad\xfe.txt": "x"})
    done = _grader("grade", str(sub), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "\\xffbad\\xfe.txt" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_stray_names_at_the_top_of_the_class_and_in_lms_downloads_fail_nothing(
        tmp_path: Path) -> None:
    """Top-level stray names (a file, a .zip, a Moodle folder, a Canvas file), each graded or
    ignored on its own; the honest student keeps a full grade."""
    from test_submission import make_zip

    subs = tmp_path / "subs"
    _make(subs, {b"ada/toy.py": TOY, b"\xff-stray.txt": "x",
                 b"M\xf6ller_7_assignsubmission_file_/toy.py": TOY,
                 b"m\xfcller_8_900_toy.py": TOY})
    make_zip(_path(subs, b"z\xe9d.zip"), {"toy.py": TOY.encode(), "notes.txt": b"x"})
    done = _grader("batch", str(subs), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "\\xff-stray.txt" in done.stdout
    book = (tmp_path / "out" / "gradebook.csv").read_text(encoding="utf-8")
    rows = {line.split(",")[0]: line for line in book.splitlines()[1:]}
    assert "ada" in rows and "z\\xe9d" in rows and len(rows) == 4, rows
    assert all(",graded," in r for r in rows.values()), rows
    import csv

    percents = {r["student"]: r["percent"] for r in csv.DictReader(book.splitlines())}
    assert len(set(percents.values())) == 1, percents  # each as the honest one alone
    for page in (tmp_path / "out").rglob("*.html"):
        page.read_text(encoding="utf-8")  # every page is valid text


def test_grade_of_a_folder_whose_own_name_is_not_utf8(tmp_path: Path) -> None:
    sub = _make(_path(tmp_path, b"\xe9l\xe8ve"), {b"toy.py": TOY, b"\xfe.txt": "x"})
    out = tmp_path / "out"
    done = _grader("grade", str(sub), "--out", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert result and "\\xfe.txt" in (out / "report.html").read_text(encoding="utf-8")


def _strict(*args: str) -> subprocess.CompletedProcess[bytes]:
    """The grader where the terminal takes UTF-8 only (a UTF-8 locale other than C's): one
    unescaped stray byte in a line it prints would stop it."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "grader", *args, "--course", str(FIX)],
                          cwd=ROOT, capture_output=True, timeout=300, check=False, env=env)


def test_stray_names_at_the_top_of_a_class_print_as_text_on_a_strict_terminal(
        tmp_path: Path) -> None:
    import zipfile

    subs = _make(tmp_path / "subs", {b"ada/toy.py": TOY, b"\xff.txt": "x"})
    with zipfile.ZipFile(_path(subs, b"b\xfeb.zip"), "w") as z:
        z.writestr("toy.py", TOY)
    os.symlink(subs / "ada", _path(subs, b"l\xffnk"))
    done = _strict("batch", str(subs), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr[-2000:]
    done.stdout.decode("utf-8")  # every line printed is UTF-8
    done.stderr.decode("utf-8")
    assert b"l\\xffnk" in done.stdout and b"\\xff.txt" in done.stdout
    book = (tmp_path / "out" / "gradebook.csv").read_text(encoding="utf-8")
    assert {line.split(",")[0] for line in book.splitlines()[1:]} == {"ada", "b\\xfeb"}
    overview = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "b\\xfeb" in overview


def test_grade_prints_a_stray_name_as_text_on_a_strict_terminal(tmp_path: Path) -> None:
    sub = _make(tmp_path / "sub", {b"toy.py": TOY, b"\xffbad\xfe.txt": "x",
                                   b"d\xe9j\xe0/toy.py": "x = 1"})
    done = _strict("grade", str(sub), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr[-2000:]
    done.stdout.decode("utf-8")
    done.stderr.decode("utf-8")
    assert "\\xffbad\\xfe.txt" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
