"""`./run` builds its environment as the README says, here with GRADER_KEEP_TORCH=1: the torch of
the interpreter it is given is the one the environment imports, whether that interpreter is a
system Python or itself a virtual environment (where a user's CUDA build of torch usually lives),
and everything else, the grader included, comes first from the environment.

The script runs over a small project of its own in a temporary folder (its lock holds nothing, its
package is installed by a build backend of its own), so nothing is downloaded: a fake ``torch``
in the interpreter's environment stands for the real one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A PEP 660 build backend, enough for `pip install --no-build-isolation -e .` offline: the editable
# wheel holds a .pth file naming the project's folder, named as setuptools names its own, and the
# folder ``vendored``, whose packages stand for those the lock installs in the environment.
BACKEND = '''
import base64, hashlib, os, zipfile

NAME, VERSION = "grader", "0"
INFO = f"{NAME}-{VERSION}.dist-info"
FILES = {
    f"__editable__.{NAME}-{VERSION}.pth": "".join(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), d) + "\\n" for d in ("", "vendored")),
    f"{INFO}/METADATA": f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n",
    f"{INFO}/WHEEL": "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\n"
                     "Tag: py3-none-any\\n",
}

def get_requires_for_build_editable(config_settings=None):
    return []

def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, INFO))
    for name in ("METADATA", "WHEEL"):
        with open(os.path.join(metadata_directory, INFO, name), "w") as f:
            f.write(FILES[f"{INFO}/{name}"])
    return INFO

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    wheel = f"{NAME}-{VERSION}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as zf:
        for name, text in FILES.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
            zf.writestr(name, data)
        record.append(f"{INFO}/RECORD,,")
        zf.writestr(f"{INFO}/RECORD", "\\n".join(record) + "\\n")
    return wheel
'''

# What `./run demo` runs (`python -m grader batch ...`): says where torch and the grader came from.
MAIN = '''
import json, sys
import torch, grader
print(json.dumps({"torch": torch.__version__, "grader": grader.__file__, "argv": sys.argv[1:]}))
'''


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "requirements").mkdir(parents=True)
    (project / "grader").mkdir()
    shutil.copy(ROOT / "run", project / "run")
    (project / "requirements" / "lock.txt").write_text("# nothing locked\n")
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]

        [project]
        name = "grader"
        version = "0"
        """))
    (project / "backend.py").write_text(BACKEND)
    (project / "grader" / "__init__.py").write_text("")
    (project / "grader" / "__main__.py").write_text(MAIN)
    return project


def _plant(site: Path, version: str) -> None:
    """A fake torch of ``version`` in ``site`` (with a package it imports), and a grader that must
    never be the one run."""
    for name, text in (("torch", f"import torchdep\n__version__ = {version!r}\n"),
                       ("torchdep", ""),
                       ("grader", "raise SystemExit('the base environment\\'s grader ran')\n")):
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(text)


def _run_demo(project: Path, base: str, venv: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHON=base, GRADER_KEEP_TORCH="1", GRADER_VENV=str(venv),
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run(["./run", "demo"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def base_venv(tmp_path: Path) -> Path:
    """A virtual environment made from the interpreter that made this suite's, holding a fake
    torch: where a user who installed a CUDA build of torch in a venv of their own has it."""
    base = tmp_path / "base"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(base)], check=True,
                   timeout=120)
    site = Path(subprocess.run(
        [str(base / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())
    _plant(site, "9.9.9+cu999")
    return base


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("bash") is None,
                    reason="./run is a bash script for Linux hosts")
def test_keep_torch_takes_the_torch_of_an_interpreter_that_is_itself_a_virtual_environment(
        tmp_path: Path, base_venv: Path) -> None:
    project = _project(tmp_path)
    venv = tmp_path / "env"
    done = _run_demo(project, str(base_venv / "bin" / "python"), venv)
    assert done.returncode == 0, done.stderr[-3000:]
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["torch"] == "9.9.9+cu999"
    assert Path(said["grader"]).resolve() == (project / "grader" / "__init__.py").resolve()
    assert said["argv"][:1] == ["batch"]
    assert f"{venv} keeps the torch of {base_venv / 'bin' / 'python'}: 9.9.9+cu999" in done.stderr
    # The environment is not made again while nothing it is made from changed.
    again = _run_demo(project, str(base_venv / "bin" / "python"), venv)
    assert again.returncode == 0 and "building" not in again.stderr, again.stderr[-2000:]


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("bash") is None,
                    reason="./run is a bash script for Linux hosts")
def test_keep_torch_where_the_interpreter_has_none_says_so_and_installs_the_locks(
        tmp_path: Path) -> None:
    base = tmp_path / "bare"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(base)], check=True,
                   timeout=120)
    project = _project(tmp_path)
    done = _run_demo(project, str(base / "bin" / "python"), tmp_path / "env")
    # The lock of this small project holds no torch: the note is what a user reads.
    assert f"note: {base / 'bin' / 'python'} has no torch to keep" in done.stderr, done.stderr[-2000:]


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("bash") is None,
                    reason="./run is a bash script for Linux hosts")
def test_keep_torch_that_the_environment_breaks_is_one_clear_error_and_no_environment(
        tmp_path: Path, base_venv: Path) -> None:
    # A package the environment holds (as the lock's would) shadows one that torch imports.
    project = _project(tmp_path)
    (project / "vendored" / "torchdep").mkdir(parents=True)
    (project / "vendored" / "torchdep" / "__init__.py").write_text(
        "raise ImportError('not the version torch needs')\n")
    venv = tmp_path / "env"
    done = _run_demo(project, str(base_venv / "bin" / "python"), venv)
    assert done.returncode != 0
    assert f"{venv} cannot import the torch of {base_venv / 'bin' / 'python'}" in done.stderr, \
        done.stderr[-2000:]
    assert "not the version torch needs" in done.stderr
    assert not venv.exists()


# The interface ./run reads of the grader (``grader.environment.uncompiled``), over the one folder
# it answers for with no packages offered: the standard library, where `this` (which nothing
# imports) has no copy.
UNCOMPILED = '''
import os, sys, sysconfig

def uncompiled(offered):
    stdlib = sysconfig.get_paths()["stdlib"]
    copy = os.path.join(stdlib, "__pycache__", f"this.{sys.implementation.cache_tag}.pyc")
    return [] if os.path.isfile(copy) else [("the standard library", stdlib, 1, 1)]
'''


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("bash") is None,
                    reason="./run is a bash script for Linux hosts")
def test_the_environment_makes_the_compiled_copies_an_installation_of_python_left_out(
        tmp_path: Path) -> None:
    """An interpreter whose standard library has no compiled copies (the official Python
    container images delete them): ./run makes them, as a worker needs them, and says so."""
    from uncompiled_python import interpreter_without_compiled_copies

    _, stdlib, interpreter = interpreter_without_compiled_copies(tmp_path)
    project = _project(tmp_path)
    (project / "grader" / "environment.py").write_text(UNCOMPILED)
    (project / "vendored" / "torch").mkdir(parents=True)  # (what its demo imports)
    (project / "vendored" / "torch" / "__init__.py").write_text("__version__ = '0'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHON=str(interpreter), GRADER_VENV=str(tmp_path / "env"), PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run(["./run", "demo"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"compiling the standard library at {stdlib}, installed without its compiled " \
        "copies" in done.stderr, done.stderr
    tag = sys.implementation.cache_tag
    assert (stdlib / "__pycache__" / f"this.{tag}.pyc").is_file()
    assert (stdlib / "__pycache__" / f"antigravity.{tag}.pyc").is_file()



def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    """A wheel of package ``name`` (an ``__init__.py`` holding its version) whose metadata
    requires ``requires``, in ``folder``, for pip to find offline."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                            + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as zf:
        for path, text in files.items():
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
            zf.writestr(path, text)
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("bash") is None,
                    reason="./run is a bash script for Linux hosts")
@pytest.mark.parametrize("also_broken", [False, True], ids=["torch-alone", "another-too"])
def test_where_no_cpu_wheel_of_the_locked_torch_is_found_its_requirements_are_installed(
        tmp_path: Path, also_broken: bool) -> None:
    """The lock's torch is the CPU wheel, which needs nothing the lock lacks; on a Python for
    which pip finds none (3.12, 3.13: the package index holds builds needing NVIDIA's
    libraries), pip check found those missing and the environment was never made. They are
    installed, and the user told; anything else pip check finds still stops ./run."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "torch", "2.13.0", ("nvlib",))
    _wheel(wheels, "nvlib", "13.0")
    _wheel(wheels, "other", "1.0", ("absent",))
    project = _project(tmp_path)
    (project / "requirements" / "lock.txt").write_text(
        "torch==2.13.0\n" + ("other==1.0\n" if also_broken else ""))
    venv = tmp_path / "env"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_", "GRADER_"))}
    env.update(PYTHON=sys._base_executable, GRADER_VENV=str(venv), PIP_NO_INDEX="1",
               PIP_FIND_LINKS=str(wheels), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_CONSTRAINT="")
    done = subprocess.run(["./run", "demo"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    if also_broken:
        assert done.returncode != 0
        assert "other 1.0 requires absent, which is not installed" in done.stderr
        assert f"could not build {venv}" in done.stderr
        return
    assert done.returncode == 0, done.stderr[-3000:]
    assert "note: no CPU wheel of 2.13.0 for Python" in done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["torch"] == "2.13.0"
    check = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert check.returncode == 0, check.stdout
