"""The batch's HTML pages in a real headless Chromium: they render without console errors, the
charts are there, every link resolves, nothing loads from the network, and hostile student text
is shown as text, never run.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages ending in NUL on file descriptors 3 and 4), so no websocket client is needed.
Screenshots are kept as test artifacts in ``$GRADER_TEST_ARTIFACTS`` (default: pytest's
temporary folder), never in the repository.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from grader.classroom.batch import Batch
from grader.course import Course
from shared_engine import SharedEngine

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "course"
TOY = (FIXTURE / "reference" / "toy" / "solution.py").read_text()
OTHER = (FIXTURE / "reference" / "other" / "solution.py").read_text()
PAYLOAD = ("</pre></details><script>window.pwned = 1</script>"
           "<img src=x onerror=\"window.pwned = 2\"><b id=injected>bold</b>")
HOSTILE_ID = "<img src=x onerror=\"window.pwned=3\">mallory"
# Prints the payload in every call of scale and raises it as an exception from add.
HOSTILE_TOY = TOY + f'''

_scale = scale


def scale(x, c):
    print({PAYLOAD!r})
    return _scale(x, c)


def add(a, b):
    raise ValueError({PAYLOAD!r})
'''
# The flags Chromium needs as root in a container (see the project's environment notes).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,1600"]


def chromium_path() -> str | None:
    for name in (os.environ.get("GRADER_CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="Chromium is not installed (./run tests installs Debian's chromium when run as root)")


def _above(fd: int, lowest: int) -> int:
    """``fd`` moved to a descriptor number of at least ``lowest``."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, lowest)
    os.close(fd)
    return moved


class Browser:
    """A headless Chromium and one page, over the DevTools protocol on a pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium's ends move to 3 and 4 in the shell below: keep them clear of those numbers
        # (bash, since dash takes only one-digit descriptors).
        to_browser_r, from_browser_w = (_above(to_browser_r, 10), _above(from_browser_w, 10))
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}', binary,
             *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable", session=True)

    def send(self, method: str, *, session: bool = False, timeout: float = 30.0,
             **params: Any) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self, timeout: float) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, path: Path) -> None:
        """Load a page and wait for its load event; events since then are its own."""
        self.events.clear()
        self.send("Page.navigate", session=True, url=path.resolve().as_uri())
        end = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read(end - time.monotonic()))

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", session=True, expression=expression,
                          returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and error log entries of the page."""
        out = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning",
                                                                          "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif method == "Runtime.exceptionThrown":
                out.append(f"exception: {p.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry'].get('text')}")
        return out

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", session=True, format="png",
                         captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError, ConnectionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def browser() -> Any:
    binary = chromium_path()
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="grader-chromium-") as profile:
        b = Browser(binary, Path(profile))
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("GRADER_TEST_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory: pytest.TempPathFactory, toy_engine: Any) -> Path:
    base = tmp_path_factory.mktemp("browser-class")
    subs = base / "subs"
    for sid, files in {"good": {"toy.py": TOY, "other.py": OTHER},
                       HOSTILE_ID: {"toy.py": HOSTILE_TOY, "other.py": OTHER},
                       "stub": {"toy.py": (FIXTURE / "assignments/toy/toy.py").read_text()}
                       }.items():
        (subs / sid).mkdir(parents=True)
        for name, text in files.items():
            (subs / sid / name).write_text(text)
    (subs / "broken.zip").write_bytes(b"not a zip")
    Batch(course=Course(FIXTURE), submissions=subs, out=base / "out", jobs=2,
          echo=lambda s: None, progress_stream=io.StringIO(), tty=False,
          engine_factory=lambda *a, **k: SharedEngine(toy_engine)).run()
    return base / "out"


LINKS = "Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"


def assert_links_resolve(browser: Browser, page: Path) -> list[str]:
    links = browser.evaluate(LINKS)
    for href in links:
        parts = urlsplit(href)
        assert parts.scheme == "file", f"{page.name} links off the page's folder: {href}"
        target = Path(unquote(parts.path))
        assert target.exists(), f"{page.name}: the link {href} leads nowhere"
        if parts.fragment and target == page.resolve():
            assert browser.evaluate(f"document.getElementById({json.dumps(unquote(parts.fragment))}) !== null"), \
                f"{page.name}: no element for the anchor #{parts.fragment}"
    return links


def assert_nothing_ran(browser: Browser, scripts: int = 0) -> None:
    """No student markup ran or became elements; ``scripts``: the page's own scripts."""
    assert browser.evaluate("typeof window.pwned") == "undefined", "student markup ran"
    assert browser.evaluate("document.querySelectorAll('img, #injected').length") == 0
    assert browser.evaluate("document.querySelectorAll('script').length") == scripts
    # Self-contained: the page loaded nothing besides itself.
    assert browser.evaluate("performance.getEntriesByType('resource').length") == 0


def test_overview_renders_its_charts_and_links(browser: Browser, batch_out: Path,
                                                artifacts: Path) -> None:
    page = batch_out / "index.html"
    browser.open(page)
    browser.screenshot(artifacts / "overview.png")
    assert browser.problems() == []
    assert browser.evaluate("document.title") == "Class overview"
    assert browser.evaluate("document.querySelectorAll('svg.hist rect').length") == 10
    heights = browser.evaluate(
        "Array.from(document.querySelectorAll('svg.hist rect')).map(r => r.getBBox().height)")
    assert sum(1 for h in heights if h > 0) >= 1  # the drawn bars have a size
    assert browser.evaluate("document.querySelectorAll('#topics ~ table svg').length") >= 2
    links = assert_links_resolve(browser, page)
    reports = [h for h in links if h.endswith("/report.html")]
    assert len(set(reports)) == 4  # every graded student, the broken archive included
    assert sum(1 for h in links if h.endswith(".csv")) == 5
    assert_nothing_ran(browser, scripts=1)  # the page's own: sorting the students' table
    text = browser.evaluate("document.body.innerText")
    assert HOSTILE_ID in text  # the id is shown, as text
    assert "broken.zip is not a readable zip archive" in text  # the error row is flagged


# Words of the page's visible text that the layout split between two letters or digits
# ("gaussian_classifie r"): each character is measured as a DOM Range and a line change between
# two letters or digits is a broken word. Breaks the Unicode rules allow (after "/" or "-" in a
# long path, at a space) are not, nor one after the underscore of an identifier, nor one in a
# token longer than a column can be asked to hold (a hostile 30-character id).
BROKEN_WORDS = r"""(() => {
  const broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  const top = (node, i) => {
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    const rects = range.getClientRects();
    return rects.length ? Math.round(rects[0].top) : null;
  };
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest('script, style') || !el.getClientRects().length) continue;
    for (const m of node.data.matchAll(/\S+/g)) {
      if (m[0].length > 24) continue;
      for (let i = m.index + 1; i < m.index + m[0].length; i++) {
        if (!/[^\W_]/.test(node.data[i - 1]) || !/[^\W_]/.test(node.data[i])) continue;
        const a = top(node, i - 1), b = top(node, i);
        if (a !== null && b !== null && a !== b) { broken.push(m[0]); break; }
      }
    }
  }
  return broken;
})()"""


@pytest.mark.parametrize("width", [1400, 800])
def test_overview_puts_flags_and_students_first_and_breaks_no_word(
        browser: Browser, batch_out: Path, artifacts: Path, width: int) -> None:
    browser.send("Emulation.setDeviceMetricsOverride", session=True, width=width, height=900,
                 deviceScaleFactor=1, mobile=False)
    try:
        page = batch_out / "index.html"
        browser.open(page)
        browser.screenshot(artifacts / f"overview-{width}.png")
        assert browser.problems() == []
        assert browser.evaluate(BROKEN_WORDS) == []
        tops = browser.evaluate("['flags', 'students', 'distribution', 'tests'].map("
                                "id => document.getElementById(id).getBoundingClientRect().top)")
        assert tops == sorted(tops)
        # The flags start on the first screen.
        assert tops[0] < 900
        flags = browser.evaluate("document.querySelector('table.flags').innerText")
        assert "missing: other" in flags and "not a readable zip archive" in flags
        # Sorting the students by final score, then back.
        order = "Array.from(document.querySelectorAll('#student-table tbody tr')).map(r => r.cells[0].innerText)"
        before = browser.evaluate(order)
        browser.evaluate("document.querySelectorAll('#student-table th')[5].querySelector('button').click()")
        ascending = browser.evaluate(order)
        finals = browser.evaluate("Array.from(document.querySelectorAll('#student-table tbody tr'))"
                                  ".map(r => parseFloat(r.cells[5].dataset.value))")
        assert finals == sorted(finals) and sorted(ascending) == sorted(before)
    finally:
        browser.send("Emulation.clearDeviceMetricsOverride", session=True)


def test_a_broken_word_is_detected(browser: Browser, tmp_path: Path) -> None:
    """Control: the check above finds a word the layout splits."""
    page = tmp_path / "narrow.html"
    page.write_text('<p style="width: 3rem; overflow-wrap: anywhere">gaussian_classifier</p>')
    browser.open(page)
    assert browser.evaluate(BROKEN_WORDS) == ["gaussian_classifier"]


def test_hostile_student_report_shows_markup_as_text(browser: Browser, batch_out: Path,
                                                     artifacts: Path) -> None:
    link = next(h for h in browser_links(browser, batch_out) if "mallory" in h)
    page = Path(unquote(urlsplit(link).path))
    browser.open(page)
    browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    browser.screenshot(artifacts / "hostile-report.png")
    assert browser.problems() == []
    assert_nothing_ran(browser)
    text = browser.evaluate("document.body.innerText")
    assert "<script>window.pwned = 1</script>" in text  # printed output and the exception
    assert text.count("<b id=injected>bold</b>") >= 2
    assert_links_resolve(browser, page)


def test_a_plain_student_report_renders_cleanly(browser: Browser, batch_out: Path,
                                                artifacts: Path) -> None:
    page = batch_out / "students" / "good" / "report.html"
    browser.open(page)
    browser.screenshot(artifacts / "good-report.png")
    assert browser.problems() == []
    assert "Score: 8 / 8" in browser.evaluate("document.body.innerText")
    assert_links_resolve(browser, page)


def browser_links(browser: Browser, out: Path) -> list[str]:
    browser.open(out / "index.html")
    return browser.evaluate(LINKS)


# ------------------------------------------------------------ every page, at both widths

# Elements that stick out of their container (the page itself, a table wider than its box, a
# cell's content wider than the cell) or hide content behind a sideways scroll bar. Code in a
# <pre> may scroll sideways: its lines are kept as written.
OVERFLOW = r"""(() => {
  const out = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
    ' "' + (el.innerText || '').trim().slice(0, 40) + '"';
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1)
    out.push(`the page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('pre') || (el.closest('svg') && el.tagName.toLowerCase() !== 'svg')) continue;
    if (!el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1)
      out.push(`${name(el)} hides ${el.scrollWidth - el.clientWidth}px behind a scroll bar`);
    const parent = el.parentElement;
    if (!parent || getComputedStyle(parent).display.startsWith('inline')) continue;
    const r = el.getBoundingClientRect(), p = parent.getBoundingClientRect();
    if (r.right > p.right + 1 || r.left < p.left - 1)
      out.push(`${name(el)} sticks out of ${name(parent)} by ${Math.round(Math.max(r.right - p.right, p.left - r.left))}px`);
  }
  return out;
})()"""

# BROKEN_WORDS, for the text of the header cells only.
BROKEN_IN_HEADERS = BROKEN_WORDS.replace(
    "const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);",
    "const cells = Array.from(document.querySelectorAll('th'));"
    " const texts = cells.flatMap(c => { const w = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);"
    " const all = []; for (let n = w.nextNode(); n; n = w.nextNode()) all.push(n); return all; });"
    " let at = 0; const walker = {nextNode: () => texts[at++] || null};")


@pytest.fixture(scope="module")
def similarity_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Side-by-side pages of a pair of copies of one of the course's own modules."""
    from grader.classroom import similarity

    root = Path(__file__).resolve().parent.parent
    course = Course(root)
    topic = next(t for t in course.topics() if course.alternatives(t))
    base = tmp_path_factory.mktemp("browser-similarity")
    source = course.solution(topic).read_text()
    entries = []
    for sid, text in (("ann", source), ("bob", "# " + "a long comment line " * 12 + "\n" + source)):
        (base / "subs" / sid).mkdir(parents=True)
        (base / "subs" / sid / f"{topic}.py").write_text(text)
        entries.append((sid, base / "subs" / sid, sid))
    out = base / "out"
    pairs = similarity.check_class(out, course, entries, [topic], 0.8)
    assert pairs
    return out / pairs[0].page


@pytest.fixture(scope="module")
def exam_out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An exam built and graded for a class of three, as `grader exam` writes it."""
    import json

    from click.testing import CliRunner

    from grader.commands.main import main

    root = Path(__file__).resolve().parent.parent
    d = tmp_path_factory.mktemp("browser-exam")
    (d / "roster.csv").write_text("student,name\nada,Ada Lovelace\nben,Ben Typical\n"
                                  "chloe,Chloé Long-Named-Student\n")
    (d / "secret.txt").write_text("a-test-secret-of-enough-length-42\n")

    def run(*args: Any) -> None:
        done = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert done.exit_code == 0, done.output

    run("exam", "build", "midterm", "--roster", d / "roster.csv", "--out", d / "built",
        "--secret-file", d / "secret.txt", "--course", root)
    (d / "answers").mkdir()
    (d / "answers" / "midterm-chloe.json").write_text('{"answers": {"q1": ')  # unreadable
    for sid in ("ada", "ben"):
        key = json.loads((d / "built" / "keys" / f"{sid}.json").read_text())
        answers = {q["id"]: dict(q["answers"]) for q in key["questions"]}
        if sid == "ben":  # a classic mistake in every question that has one
            for q in key["questions"]:
                if q["mistakes"]:
                    answers[q["id"]].update(next(iter(q["mistakes"].values()))["values"])
        (d / "answers" / f"midterm-{sid}.json").write_text(json.dumps(
            {"exam": key["exam"], "student": sid, "paper": key["paper"], "answers": answers}))
    run("exam", "grade", "midterm", "--answers", d / "answers", "--out", d / "graded",
        "--roster", d / "roster.csv", "--secret-file", d / "secret.txt", "--course", root)
    return {"overview": d / "graded" / "index.html",
            "report": d / "graded" / "students" / "ben" / "report.html",
            "paper": d / "built" / "papers" / "ben" / "paper.html"}


def _page(kind: str, request: pytest.FixtureRequest) -> Path:
    if kind.startswith("exam "):
        return request.getfixturevalue("exam_out")[kind.split()[1]]
    if kind == "similarity":
        return request.getfixturevalue("similarity_out")
    out = request.getfixturevalue("batch_out")
    return {"overview": out / "index.html",
            "report": next(out.glob("students/*mallory*/report.html")),
            "instructor": next(out.glob("students/*mallory*/instructor.html")),
            "stub report": out / "students" / "stub" / "report.html"}[kind]


@pytest.mark.parametrize("width", [1400, 800])
@pytest.mark.parametrize("kind", ["overview", "report", "instructor", "stub report", "similarity",
                                  "exam overview", "exam report", "exam paper"])
def test_every_page_fits_its_width_and_breaks_no_header(
        browser: Browser, request: pytest.FixtureRequest, artifacts: Path, kind: str,
        width: int) -> None:
    page = _page(kind, request)
    browser.send("Emulation.setDeviceMetricsOverride", session=True, width=width, height=900,
                 deviceScaleFactor=1, mobile=False)
    try:
        browser.open(page)
        browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        browser.screenshot(artifacts / f"{kind.replace(' ', '-')}-{width}.png")
        assert browser.problems() == []
        assert browser.evaluate(OVERFLOW) == [], (kind, width)
        assert browser.evaluate(BROKEN_IN_HEADERS) == [], (kind, width)
    finally:
        browser.send("Emulation.clearDeviceMetricsOverride", session=True)


def test_an_overflow_and_a_broken_header_are_detected(browser: Browser, tmp_path: Path) -> None:
    """Control: the checks above find a cut column and a header split letter by letter."""
    page = tmp_path / "cut.html"
    page.write_text('<div style="width: 20rem"><table style="width: 40rem"><tr>'
                    '<th style="width: 1px; overflow-wrap: anywhere">Student</th>'
                    '<td>x</td></tr></table></div>')
    browser.open(page)
    assert any("sticks out" in p for p in browser.evaluate(OVERFLOW))
    assert browser.evaluate(BROKEN_IN_HEADERS) == ["Student"]
