"""`grader export gradescope`: the bundle's contents, `run_autograder` on a simulated /autograder
tree, what happens without Landlock, and what `setup.sh` installs."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.publish import autograder
from grader.commands.main import main
from grader.course import Course
from grader.environment import load_environment
from grader.isolation.sandbox import LayerStatus

FIX = Path(__file__).resolve().parent / "fixtures" / "course"


def gradescope_valid(doc: dict) -> None:
    """The parts of Gradescope's results.json format that its importer checks."""
    assert isinstance(doc["score"], (int, float))
    assert doc["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert isinstance(doc["output"], str) and isinstance(doc["tests"], list)
    for t in doc["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(t)
        assert t["status"] in ("passed", "failed") and 0 <= t["score"] <= t["max_score"]
        assert all(isinstance(tag, str) for tag in t["tags"])
    json.dumps(doc, allow_nan=False)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "autograder.zip"
    res = CliRunner().invoke(main, ["export", "gradescope", str(out), "--course", str(FIX)])
    assert res.exit_code == 0, res.output
    return out


def autograder_tree(bundle: Path, root: Path, files: dict[str, str]) -> Path:
    """/autograder as Gradescope lays it out: source/ (the bundle), submission/, results/."""
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():  # extractall drops the permission bits
            os.chmod(root / "source" / info.filename, info.external_attr >> 16 & 0o777)
    (root / "results").mkdir()
    (root / "submission").mkdir()
    for name, text in files.items():
        (root / "submission" / name).write_text(text)
    (root / "submission_metadata.json").write_text(json.dumps(
        {"id": 1, "users": [{"email": "alice@example.edu", "name": "Alice"}]}))
    return root


def test_bundle_contents(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        config = json.loads(zf.read("autograder.json"))
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[script].external_attr >> 16) == 0o755
    for name in ("grader/commands/main.py", "templates/report.html.j2", "pyproject.toml", "README.md",
                 "assignments/toy/toy.py", "reference/toy/solution.py",
                 "reference/toy/test_hidden.py", "reference/toy/grading.toml"):
        assert name in infos, name
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in infos)
    assert config == {"topics": ["other", "toy"], "unsafe_no_sandbox": False,
                      "visibility": "visible"}


def test_bundle_of_a_real_topic_leaves_mutants_out(course, tmp_path: Path) -> None:
    out = tmp_path / "b.zip"
    res = CliRunner().invoke(main, ["export", "gradescope", str(out), "--topic", "activations",
                                    "--visibility", "after_due_date"])
    assert res.exit_code == 0, res.output
    names = zipfile.ZipFile(out).namelist()
    assert "reference/activations/test_hidden.py" in names
    assert not [n for n in names if "/mutants/" in n or "/alternatives/" in n]
    assert not [n for n in names if n.startswith(("reference/", "assignments/"))
                and "/activations/" not in n]


def test_run_autograder_grades_the_submission(bundle: Path, tmp_path: Path) -> None:
    root = autograder_tree(bundle, tmp_path / "autograder", {
        "toy.py": (FIX / "reference/toy/solution.py").read_text()})
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable}
    env.pop("GRADER_COURSE", None)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=tmp_path,
                          text=True, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    gradescope_valid(doc)
    topics = doc["extra_data"]["topics"]
    assert topics["toy"]["score"] == topics["toy"]["max_score"] == 6
    assert topics["other"] == {"score": 0.0, "max_score": 2.0}
    assert doc["score"] == 6
    assert {t["name"] for t in doc["tests"] if "hidden" in t["tags"]} >= {"toy: test_add",
                                                                          "other: test_double"}
    assert "not submitted" in doc["output"]
    assert doc["extra_data"]["submission"] == "alice@example.edu"
    assert "landlock" in doc["extra_data"]["sandbox"]


def test_without_landlock_the_submission_is_not_graded(bundle: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = autograder_tree(bundle, tmp_path / "autograder", {"toy.py": "x = 1\n"})
    monkeypatch.setattr("grader.isolation.sandbox.probe", lambda: [
        LayerStatus("landlock", False, "the kernel has no Landlock"),
        LayerStatus("network", True, "new network namespace")])
    assert autograder.autograde(root) == 1
    doc = json.loads((root / "results" / "results.json").read_text())
    gradescope_valid(doc)
    assert doc["score"] == 0 and doc["tests"] == [] and doc["extra_data"]["not_graded"]
    assert "not graded" in doc["output"] and "the kernel has no Landlock" in doc["output"]
    assert "--unsafe-no-sandbox" in doc["output"]


def test_export_refuses_what_gradescope_cannot_use(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["export", "gradescope", str(tmp_path / "b.tar"), "--course",
                               str(FIX)])
    assert res.exit_code == 2 and "should end in .zip" in res.output
    public_only = tmp_path / "course"
    shutil.copytree(FIX / "assignments", public_only / "assignments")
    res = runner.invoke(main, ["export", "gradescope", str(tmp_path / "b.zip"), "--course",
                               str(public_only)])
    assert res.exit_code == 2 and "no reference/ folder" in res.output
    assert not (tmp_path / "b.zip").exists()


FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for python3 in setup.sh: logs each call; `-m venv DIR` makes DIR/bin/python (this
# script again); `import torch` works once pip has installed torch, or when FAKE_TORCH is set.
echo "$PWD | $*" >> "$FAKE_LOG"
[ -z "${FAKE_NAMES:-}" ] || echo "$(basename "$0") $*" >> "$FAKE_NAMES"
if [ "$1 $2" = "-m venv" ]; then
    dir="${@: -1}"; mkdir -p "$dir/bin"; ln -sf "$0" "$dir/bin/python"; exit 0
fi
if [ "$1 $2 $3" = "-m pip install" ]; then
    case "$*" in *torch==*) touch "$FAKE_STATE/torch" ;; esac
    exit 0
fi
if [ "$1" = "-c" ]; then
    case "$2" in *"import torch"*) [ -n "${FAKE_TORCH:-}" ] || [ -e "$FAKE_STATE/torch" ]; exit ;; esac
    # The version asked of it: this script as python3 answers FAKE_PYTHON3_VERSION, as pythonX.Y
    # that version, as a venv's python the newest.
    case "$2" in *"sys.version_info <"*)
        asked=${2#*version_info < (}; asked=${asked%%)*}; major=${asked%%,*}; minor=${asked#*, }
        name=$(basename "$0")
        case "$name" in python3) have="${FAKE_PYTHON3_VERSION:-3.99}" ;;
                        python3.*) have="${name#python}" ;; *) have=3.99 ;; esac
        [ "${have%.*}" -gt "$major" ] || { [ "${have%.*}" -eq "$major" ] &&
            [ "${have#*.}" -ge "$minor" ]; }
        exit ;;
    esac
fi
if [ "$1" = "-V" ]; then echo "Python ${FAKE_PYTHON3_VERSION:-3.99}.0"; exit 0; fi
exit 0
"""

# Stands in for apt-get: logs each call; installing pythonX.Y puts that interpreter on the PATH.
FAKE_APT = """#!/usr/bin/env bash
echo "$PWD | apt-get $*" >> "$FAKE_LOG"
for pkg in "$@"; do
    case "$pkg" in python3.[0-9]*-venv) ;; python3.[0-9]*) ln -sf "$FAKE_PYTHON" "$FAKE_BIN/$pkg" ;; esac
done
exit 0
"""


def test_setup_sh_installs_the_course_environment_at_the_locked_versions(
        tmp_path: Path, course: Course) -> None:
    bundle = tmp_path / "autograder.zip"
    res = CliRunner().invoke(main, ["export", "gradescope", str(bundle), "--course",
                                    str(course.root), "--topic", "linear_regression"])
    assert res.exit_code == 0, res.output
    source = autograder_tree(bundle, tmp_path / "autograder", {}) / "source"
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    (tmp_path / "state").mkdir()
    log = tmp_path / "calls.log"
    env = {**os.environ, "PYTHON": str(fake), "GRADER_VENV": str(tmp_path / "venv"),
           "FAKE_LOG": str(log), "FAKE_STATE": str(tmp_path / "state"), "FAKE_TORCH": "1"}
    done = subprocess.run(["bash", str(source / "setup.sh")], env=env, cwd=tmp_path, text=True,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    environment = load_environment(course)
    pins = " ".join(environment.requirements())
    assert "scipy==" in pins and "torch==" in pins
    # A venv of its own: nothing the image happens to have takes part in grading.
    assert any(c.endswith(f"-m venv {tmp_path / 'venv'}") for c in calls)
    torch = [c for c in calls if "pip install" in c and "--index-url" in c]
    assert len(torch) == 1 and f"torch=={environment.versions['torch']}" in torch[0]
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch[0]
    assert f"{source} | -m pip install --quiet -c requirements/lock.txt {pins} -e ." in calls
    assert calls[-1].endswith("-c import numpy, scipy, torch, grader.grading.engine")
    assert (source / "course.toml").is_file() and (source / "requirements/lock.txt").is_file()


def _setup_sh_on_a_bare_path(tmp_path: Path, course: Course, python3: str | None,
                             others: tuple[str, ...], env: dict[str, str]
                             ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """setup.sh run where the PATH holds the shell's tools, a fake apt-get, and fake
    interpreters: python3 of version ``python3`` (none where None) and ``others`` (python3.12,
    ...), each answering its version; nothing of the machine's own Pythons. Returns the run and
    the calls of apt-get and the interpreters, each interpreter's by its name."""
    bundle = tmp_path / "autograder.zip"
    res = CliRunner().invoke(main, ["export", "gradescope", str(bundle), "--course",
                                    str(course.root), "--topic", "linear_regression"])
    assert res.exit_code == 0, res.output
    source = autograder_tree(bundle, tmp_path / "autograder", {}) / "source"
    fake, bin_ = tmp_path / "fake-python", tmp_path / "bin"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    bin_.mkdir()
    for tool in ("bash", "dirname", "basename", "mkdir", "ln", "touch", "sed"):
        (bin_ / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    (bin_ / "apt-get").write_text(FAKE_APT)
    (bin_ / "apt-get").chmod(0o755)
    for name in ((("python3",) if python3 else ()) + others):
        (bin_ / name).symlink_to(fake)
    (tmp_path / "state").mkdir()
    log, names = tmp_path / "calls.log", tmp_path / "names.log"
    log.touch()
    names.touch()
    env = {"PATH": str(bin_), "GRADER_VENV": str(tmp_path / "venv"), "FAKE_LOG": str(log),
           "FAKE_NAMES": str(names),
           "FAKE_STATE": str(tmp_path / "state"), "FAKE_TORCH": "1", "FAKE_BIN": str(bin_),
           "FAKE_PYTHON": str(fake), "FAKE_PYTHON3_VERSION": python3 or "", **env}
    done = subprocess.run([str(bin_ / "bash"), str(source / "setup.sh")], env=env, cwd=tmp_path,
                          text=True, capture_output=True, timeout=60, check=False)
    apt = [c.split(" | ", 1)[1] for c in log.read_text().splitlines() if "| apt-get " in c]
    return done, apt + names.read_text().splitlines()


@pytest.mark.parametrize("python3, others, uses, installs", [
    ("3.12", ("python3.11",), "python3", ""),  # Ubuntu 24.04's image
    ("3.10", ("python3.11",), "python3.11", ""),  # 22.04 with 3.11 installed beside
    ("3.10", (), "python3.11", "python3.11 python3.11-venv"),  # 22.04 bare: apt brings 3.11
    (None, (), "python3.11", "python3.11 python3.11-venv"),  # no python3 at all
])
def test_setup_sh_builds_on_a_python_its_locked_packages_install_on(
        tmp_path: Path, course: Course, python3: str | None, others: tuple[str, ...], uses: str,
        installs: str) -> None:
    # The oldest Python numpy, scipy and pandas of the lock install on: an older python3 (3.10,
    # on Gradescope's Ubuntu 22.04 image) passed the script's check, then pip failed on every
    # locked package with "No matching distribution found".
    done, calls = _setup_sh_on_a_bare_path(tmp_path, course, python3, others, {})
    assert done.returncode == 0, done.stderr
    assert [c for c in calls if " -m venv " in c] == [f"{uses} -m venv {tmp_path / 'venv'}"]
    apt = [c for c in calls if c.startswith("apt-get install")]
    assert (installs in apt[-1]) if installs else not apt, calls
    # everything after, in the environment made
    assert any(c.startswith("python -m pip install --quiet -c requirements/lock.txt")
               for c in calls), calls


def test_setup_sh_refuses_a_python_older_than_its_locked_packages_need(
        tmp_path: Path, course: Course) -> None:
    done, calls = _setup_sh_on_a_bare_path(
        tmp_path, course, "3.10", (), {"PYTHON": "python3"})
    assert done.returncode == 1
    assert "the grader needs Python 3.11 or newer" in done.stderr
    assert "python3 is Python 3.10.0" in done.stderr and "set PYTHON" in done.stderr
    assert not [c for c in calls if "-m venv" in c or "pip install" in c]


def test_the_python_the_grader_requires_is_the_oldest_its_locked_packages_install_on() -> None:
    # pyproject.toml's requires-python is what setup.sh asks for and a release's README names:
    # a locked package needing a newer Python makes pip fail there ("No matching distribution").
    import importlib.metadata

    from grader.environment import python_floor, read_lock

    needs = {}
    for name in read_lock(Path(__file__).resolve().parent.parent / "requirements" / "lock.txt"):
        try:
            spec = importlib.metadata.metadata(name).get("Requires-Python")
        except importlib.metadata.PackageNotFoundError:  # locked for another platform
            continue
        if spec:
            needs[name] = python_floor(spec)
    assert {"numpy", "scipy", "pandas", "torch"} <= set(needs)
    assert python_floor() == max(needs.values()), sorted(needs.items(), key=lambda kv: kv[1])


@pytest.mark.parametrize("variants", [("exception-text", "returned-string"),
                                      ("line-from-compile", "returned-strings-in-a-dict"),
                                      ("line-from-codetype-replace",),
                                      ("line-of-another-file",)])
def test_the_bundles_results_json_is_the_students_view(bundle: Path, tmp_path: Path,
                                                       variants: tuple[str, ...]) -> None:
    """results.json is exactly what Gradescope shows the student: a hidden test's exception
    text, returned strings and forged line numbers stay out of it."""
    from test_student_view import ATTACKS, assert_nothing_leaks, attack_module

    toy = attack_module(variants[0]) + "".join(
        "\n" + textwrap.dedent(ATTACKS[v]) for v in variants[1:])
    root = autograder_tree(bundle, tmp_path / "autograder", {"toy.py": toy})
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable}
    env.pop("GRADER_COURSE", None)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=tmp_path,
                          text=True, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    text = (root / "results" / "results.json").read_text()
    doc = json.loads(text)
    gradescope_valid(doc)
    tests = {t["name"]: t for t in doc["tests"]}
    assert tests["toy: test_add_small (public)"]["status"] == "passed"
    assert tests["toy: test_scale" if variants[-1].startswith("returned") else "toy: test_add"][
        "status"] == "failed"  # the attack ran
    assert_nothing_leaks(text, toy, f"bundle results.json {variants}")
