"""Debian's chromium for the service's browser tests, driven by Playwright (never a downloaded
browser), rendering with one known set of fonts whatever the machine has: Debian's
fonts-dejavu-core (DejaVu Sans, Serif and Sans Mono, regular and bold), which ./run tests installs
beside chromium. A fontconfig file of this module's own names those six files alone, so a page
measures the same on any machine of this kind; where they are missing the tests are skipped and
say why."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")  # fonts-dejavu-core, whole
FONT = "DejaVu Sans"  # what a family the six files do not have (system-ui, "Segoe UI") becomes
# What Chromium needs as root in a container (as in test_browser.py); Playwright adds headless.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--font-render-hinting=none"]

FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>{fonts}</dir>
  <cachedir>{cache}</cachedir>
  <alias><family>sans-serif</family><prefer><family>DejaVu Sans</family></prefer></alias>
  <alias><family>system-ui</family><prefer><family>DejaVu Sans</family></prefer></alias>
  <alias><family>serif</family><prefer><family>DejaVu Serif</family></prefer></alias>
  <alias><family>monospace</family><prefer><family>DejaVu Sans Mono</family></prefer></alias>
  <match target="pattern"><edit name="family" mode="append_last"><string>{font}</string></edit></match>
</fontconfig>
"""


def skip_without_chromium() -> None:
    """Skip the calling module where chromium or the known fonts are missing, saying why."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: ./run tests installs it", allow_module_level=True)
    missing = [f for f in FONT_FILES if not (FONT_DIR / f).is_file()]
    if missing:
        pytest.skip(f"fonts-dejavu-core is not installed ({', '.join(missing)} missing from "
                    f"{FONT_DIR}): ./run tests installs it", allow_module_level=True)


_env: dict[str, str] = {}


def font_env() -> dict[str, str]:
    """The environment that points chromium's fontconfig at the six known font files alone
    (linked into a folder of their own, with its own cache), made once per test process."""
    if not _env:
        root = Path(tempfile.mkdtemp(prefix="grader-fonts-"))
        atexit.register(shutil.rmtree, root, True)  # gone with the test process
        (root / "fonts").mkdir()
        for f in FONT_FILES:
            (root / "fonts" / f).symlink_to(FONT_DIR / f)
        (root / "fonts.conf").write_text(FONTCONFIG.format(
            fonts=root / "fonts", cache=root / "cache", font=FONT))
        _env.update({**os.environ, "FONTCONFIG_FILE": str(root / "fonts.conf"),
                     "FONTCONFIG_PATH": str(root)})
    return dict(_env)


def launch(playwright: Any) -> Any:
    """Debian's chromium, headless, seeing only the known fonts."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS,
                                      env=font_env())
