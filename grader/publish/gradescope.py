"""A Gradescope autograder bundle of the course (``grader export gradescope OUT.zip``).

The bundle holds ``setup.sh`` (Gradescope runs it once to build the image: Python, torch, the
grader), ``run_autograder`` (run for every submission), the grader, the chosen topics'
``assignments/`` and ``reference/`` (solutions, hidden tests, grading.toml; no mutants), and
``autograder.json`` with the export's choices. ``run_autograder`` calls
``python -m grader.publish.autograder ROOT`` (``grader/publish/autograder.py``), which grades
``ROOT/submission`` into ``ROOT/results/results.json``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from pathlib import Path

from grader.course import Course, CourseError
from grader.environment import environment_files, load_environment, python_floor
from grader.publish.autograder import CONFIG

PROJECT = Path(__file__).resolve().parent.parent.parent
SECRET_SKIPPED = ("mutants", "alternatives", "__pycache__")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, in /autograder/source, when it builds the autograder image:
# Python, the course's grading environment (course.toml) at the versions of its lock, and the
# grader, in a virtual environment that sees nothing else.
set -euo pipefail
cd "$(dirname "$0")"
VENV="${{GRADER_VENV:-${{AUTOGRADER_ROOT:-/autograder}}/venv}}"
# Python {major}.{minor} or newer, with venv: the oldest the course's locked packages install on.
usable() {{ "$1" -c "import sys, ensurepip, venv; sys.exit(sys.version_info < ({major}, {minor}))" \\
    >/dev/null 2>&1; }}
PY="${{PYTHON:-python3}}"
if [ -z "${{PYTHON:-}}" ] && ! usable "$PY"; then
    for candidate in python3.14 python3.13 python3.12 python3.11; do
        if usable "$candidate"; then PY="$candidate"; break; fi
    done
fi
if ! usable "$PY"; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip
    if [ -z "${{PYTHON:-}}" ] && ! usable python3; then
        # An older python3 (Ubuntu 22.04's, one of Gradescope's images, is 3.10): the release
        # needed, where the distribution packages it beside (22.04 packages 3.11).
        apt-get install -y -q --no-install-recommends "python{major}.{minor}" \\
            "python{major}.{minor}-venv" || true
        PY=python{major}.{minor}
    fi
fi
if ! usable "$PY"; then
    echo "setup.sh: the grader needs Python {major}.{minor} or newer with its venv module (the" \\
         "oldest Python its locked packages install on); $PY is" \\
         "$("$PY" -V 2>&1 || echo missing). Choose a newer base image (Ubuntu 24.04 has" \\
         "Python 3.12) or set PYTHON to such an interpreter." >&2
    exit 1
fi
"$PY" -m venv "$VENV"
{torch_step}# Editable: the grader reads its templates from beside the package.
"$VENV/bin/python" -m pip install --quiet {install} -e .
# Fail here, while the image is built, rather than on the first submission.
"$VENV/bin/python" -c "import {imports}, grader.grading.engine"
"""

TORCH_STEP = """\
# Gradescope has no GPU: the CPU wheel of the locked torch, a fraction of the default's size.
"$VENV/bin/python" -m pip install --quiet "torch=={version}" \\
    --index-url https://download.pytorch.org/whl/cpu
"""


def setup_script(course: Course) -> str:
    """setup.sh for this course: its environment, pinned by its lock."""
    env = load_environment(course)
    lock = ["-c", env.lock.relative_to(course.root).as_posix()] if env.lock is not None else []
    torch = env.versions.get("torch")
    major, minor = python_floor()
    return SETUP_SH.format(
        major=major, minor=minor, torch_step=TORCH_STEP.format(version=torch) if torch else "",
        install=" ".join(lock + env.requirements()), imports=", ".join(env.import_names()))


RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade $ROOT/submission with the hidden tests and
# write $ROOT/results/results.json. AUTOGRADER_ROOT moves the root (default /autograder);
# GRADER_PYTHON picks the interpreter (default: the environment setup.sh made).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${GRADER_PYTHON:-$ROOT/venv/bin/python}"
[ -x "$PY" ] || PY=python3
cd "$ROOT/source" || exit 1
exec "$PY" -m grader.publish.autograder "$ROOT"
"""

BUNDLE_README = """\
# Gradescope autograder bundle

Upload this zip as the autograder of a Gradescope programming assignment ("Zip file upload").
`setup.sh` installs the grader; `run_autograder` grades each submission with the hidden tests.
It was made by `grader export gradescope`; see docs/ci.md in the course repository.
"""


# ------------------------------------------------------------------------------------- export


def bundle_files(course: Course, topics: Iterable[str]) -> list[tuple[Path, str]]:
    """(source file, path in the zip) for everything the bundle copies from disk."""
    files: list[tuple[Path, str]] = []

    def add_tree(src: Path, dest: str, skip: tuple[str, ...] = ("__pycache__",)) -> None:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if path.is_file() and not path.is_symlink() and path.suffix != ".pyc" and \
                    not any(part in skip or part.startswith(".") for part in rel.parts):
                files.append((path, f"{dest}/{rel.as_posix()}"))

    add_tree(PROJECT / "grader", "grader")
    add_tree(PROJECT / "templates", "templates")
    files.append((PROJECT / "pyproject.toml", "pyproject.toml"))
    files += [(course.root / rel, rel.as_posix()) for rel in environment_files(course)]
    for topic in topics:
        add_tree(course.assignments / topic, f"assignments/{topic}")
        add_tree(course.reference / topic, f"reference/{topic}", SECRET_SKIPPED)
    return files


def export_gradescope(course: Course, out: Path, *, topics: Iterable[str] = (),
                      unsafe_no_sandbox: bool = False, visibility: str = "visible") -> list[str]:
    """Write the bundle to ``out`` (a .zip); returns the topics it grades."""
    if not course.has_reference:
        raise CourseError(f"{course.root} has no reference/ folder: the bundle needs the hidden "
                          "tests; export from the course checkout")
    if not (PROJECT / "pyproject.toml").is_file():
        raise CourseError(f"the grader at {PROJECT} is not a source checkout (no pyproject.toml); "
                          "install it with `pip install -e` to export a bundle")
    if out.suffix != ".zip":
        raise CourseError(f"{out} should end in .zip (Gradescope takes a zip file)")
    chosen = course.check_topics(list(topics)) if topics else course.topics()
    without = [t for t in chosen if course.hidden_tests(t) is None]
    if without:
        raise CourseError(f"no hidden tests for {', '.join(without)} "
                          f"(reference/{without[0]}/test_hidden.py): leave it out with --topic")
    config = {"topics": chosen, "unsafe_no_sandbox": unsafe_no_sandbox, "visibility": visibility}
    generated = [("setup.sh", setup_script(course), 0o755), ("run_autograder", RUN_AUTOGRADER, 0o755),
                 ("README.md", BUNDLE_README, 0o644),
                 (CONFIG, json.dumps(config, indent=1) + "\n", 0o644)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text, mode in generated:
            _write(zf, name, text.encode(), mode)
        for path, name in bundle_files(course, chosen):
            _write(zf, name, path.read_bytes(), 0o644)
    tmp.replace(out)
    return chosen


def _write(zf: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # same input, same zip
    info.external_attr = (0o100000 | mode) << 16  # a regular file, with its permission bits
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)
