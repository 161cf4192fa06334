"""A submission may be one file named after its topic (``grader grade linear_regression.py``), and a
student repository as ``grader release`` writes it is read without a word about its own files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.publish.release import build
from grader.course import Course
from grader.grading.submission import SubmissionError, single_file_topic, stage

v4 = nbformat.v4
ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
TOPIC = "linear_regression"
TOPICS = [TOPIC, "metrics"]


def _notebook(path: Path, source: str) -> Path:
    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell("answers"), v4.new_code_cell(source)]
    nbformat.write(nb, str(path))
    return path


# ------------------------------------------------------------------------------ one file


@pytest.mark.parametrize("name", [f"{TOPIC}.py", f"{TOPIC}.ipynb", f"{TOPIC} (2).py",
                                  f"{TOPIC}-1.ipynb"])
def test_one_file_named_after_a_topic_is_staged_as_that_topic(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".ipynb"):
        _notebook(path, "X = 'mine'")
    else:
        path.write_text("X = 'mine'\n")
    assert single_file_topic(path, TOPICS) == TOPIC
    staged = stage(path, tmp_path / "work", TOPICS)
    assert set(staged.modules) == {TOPIC}
    assert "X = 'mine'" in staged.module(TOPIC).read_text()
    if " (" in name or "-1" in name:  # a browser's copy: said, as in a folder
        assert staged.files == [f"{name} graded as {TOPIC}.py"]
    else:
        assert staged.files == []
    assert path.exists()  # the student's file is copied, never moved


@pytest.mark.parametrize("name", ["notes.py", f"{TOPIC}.txt", "scratch.ipynb"])
def test_one_file_of_no_topic_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x = 1\n")
    assert single_file_topic(path, TOPICS) is None
    with pytest.raises(SubmissionError, match="named after a topic"):
        stage(path, tmp_path / "work", TOPICS)


def _grade_cli(sub: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(sub), "--out", str(out),
         "--course", str(ROOT)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("suffix", [".py", ".ipynb"])
def test_grader_grade_grades_one_file_on_its_topic_alone(tmp_path: Path, suffix: str) -> None:
    solution = COURSE.solution(TOPIC).read_text()
    path = tmp_path / f"{TOPIC}{suffix}"
    if suffix == ".ipynb":
        _notebook(path, solution)
    else:
        path.write_text(solution)
    proc = _grade_cli(path, tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    topics = doc["extra_data"]["topics"]
    assert list(topics) == [TOPIC], topics  # not every other topic as "not submitted"
    assert topics[TOPIC]["max_score"] > 0 and topics[TOPIC]["score"] == topics[TOPIC]["max_score"]


# ------------------------------------------------------------------- a released repository


@pytest.fixture(scope="module")
def release(course: Course, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "students"
    build(course, out, TOPICS, {TOPIC: 22, "metrics": 37})
    return out


def _worked_in(release: Path, tmp_path: Path) -> Path:
    """The release as a student hands it back: their module, what pip and CI left, one file of
    their own."""
    repo = tmp_path / "repo-main"
    shutil.copytree(release, repo)
    (repo / "assignments" / TOPIC / f"{TOPIC}.py").write_text(
        COURSE.solution(TOPIC).read_text())
    (repo / "dl_grader.egg-info").mkdir()
    (repo / "dl_grader.egg-info" / "PKG-INFO").write_text("Name: dl-grader\n")
    (repo / "grader-report").mkdir()
    (repo / "grader-report" / "report.html").write_text("<p>report</p>")
    (repo / "assignments" / TOPIC / "my_notes.txt").write_text("ideas")
    return repo


def test_a_released_repository_says_nothing_of_its_own_files(release: Path,
                                                             tmp_path: Path) -> None:
    repo = _worked_in(release, tmp_path)
    assert sum(1 for p in repo.rglob("*") if p.is_file()) > 40  # the grader's own files
    for chosen in (TOPICS, [TOPIC]):  # every topic, or one (the other's stub is still its own)
        staged = stage(repo, tmp_path / f"work-{len(chosen)}", chosen)
        assert set(staged.modules) == set(chosen)
        assert staged.files == [f"unrecognised file assignments/{TOPIC}/my_notes.txt"]


def test_a_zipped_released_repository_in_its_folder_says_nothing_of_its_own_files(
        release: Path, tmp_path: Path) -> None:
    repo = _worked_in(release, tmp_path)
    archive = tmp_path / "repo-main.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # as GitHub's "Download ZIP" has it
        for p in sorted(repo.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path).as_posix())
    staged = stage(archive, tmp_path / "work", TOPICS)
    assert set(staged.modules) == set(TOPICS)
    assert staged.files == [f"unrecognised file repo-main/assignments/{TOPIC}/my_notes.txt"]


def test_a_folder_that_is_not_a_release_still_lists_its_strays(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    (sub / "grader").mkdir(parents=True)  # a folder called grader, but no assignments/
    (sub / "grader" / "x.txt").write_text("x")
    (sub / "README.md").write_text("mine")
    (sub / f"{TOPIC}.py").write_text("X = 1\n")
    staged = stage(sub, tmp_path / "work", TOPICS)
    assert staged.files == ["unrecognised file README.md", "unrecognised file grader/x.txt"]


@pytest.mark.parametrize("files, told", [
    ({f"{TOPIC}.py": "X = 1\n", "helpers.py": "Y = 2\n"}, (TOPIC,)),
    ({"me/assignments/metrics/metrics.py": "X = 1\n", f"me/{TOPIC}.ipynb": "{}"},
     (TOPIC, "metrics")),
    ({"notes.txt": "nothing of a topic"}, ()),
])
def test_grader_grade_starts_only_what_the_topics_handed_in_need(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str],
        told: tuple[str, ...]) -> None:
    """The engine of ``grader grade`` is told the topics a folder hands in, so a NumPy topic's
    submission starts no zygote of the profiles it does not use; the others are graded as not
    submitted."""
    from click.testing import CliRunner

    import grader.grading.engine
    from grader.commands.main import main

    seen: list[tuple[str, ...]] = []

    def engine(course: Course, **kw: object) -> None:
        seen.append(kw["topics"])  # type: ignore[arg-type]
        raise SystemExit(3)

    monkeypatch.setattr(grader.grading.engine, "Engine", engine)
    folder = tmp_path / "sub"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    got = CliRunner().invoke(main, ["grade", str(folder), "--out", str(tmp_path / "out"),
                                    "--course", str(ROOT)])
    assert got.exit_code == 3, got.output
    assert seen == [tuple(t for t in COURSE.topics() if t in told)]
