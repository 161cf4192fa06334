"""A copy of this interpreter whose standard library has no compiled copies, as the official
Python container images ship it (they delete them, test folders with them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def interpreter_without_compiled_copies(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of this interpreter whose standard library has no compiled copies (as the
    official Python container images ship it: they delete them, test folders with them), and a
    virtual environment made from it that sees this environment's packages and the grader: that
    environment's python, the copy's standard library and the copy itself."""
    import site
    import sysconfig

    base, stdlib = Path(sys.base_prefix).resolve(), Path(sysconfig.get_paths()["stdlib"]).resolve()
    if not stdlib.is_relative_to(base):
        pytest.skip(f"this interpreter's standard library ({stdlib}) is not under its prefix")
    home = tmp_path / "python"
    copied = home / stdlib.relative_to(base)
    shutil.copytree(stdlib, copied, symlinks=True, ignore=shutil.ignore_patterns(
        "__pycache__", "site-packages", "dist-packages", "test", "tests", "idle_test"))
    (home / "bin").mkdir()
    exe = Path(os.path.realpath(sys.executable))
    shutil.copy2(exe, home / "bin" / exe.name)
    library = sysconfig.get_config_var("LDLIBRARY") or ""
    libdir = Path(sysconfig.get_config_var("LIBDIR") or base / "lib")
    if library and (libdir / library).is_file():  # (where the binary finds it beside itself)
        (home / "lib").mkdir(exist_ok=True)
        shutil.copy2(libdir / library, home / "lib" / library)
    quiet = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    seen = subprocess.run([str(home / "bin" / exe.name), "-c", "import sys; print(sys.prefix)"],
                          capture_output=True, text=True, env=quiet)
    if seen.returncode != 0 or Path(seen.stdout.strip()).resolve() != home.resolve():
        pytest.skip(f"a copy of this interpreter does not run from its own folder: {seen}")
    venv = tmp_path / "venv"
    subprocess.run([str(home / "bin" / exe.name), "-m", "venv", "--without-pip", str(venv)],
                   check=True, env=quiet)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                              "'purelib'))"], capture_output=True, text=True, check=True,
                             env=quiet).stdout.strip()
    folders = [*site.getsitepackages(), str(ROOT)]
    Path(purelib, "zz_this_environment.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({f!r})" for f in folders) + "\n")
    return python, copied, home / "bin" / exe.name
