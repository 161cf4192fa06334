"""``grader serve`` in a real browser (Debian's chromium, driven by Playwright): a student's
whole loop from the first-login link to the feedback, an instructor's regrade, student text
(printed markup, file names, notebooks, regrade comments) shown as text and never run on any
page, and the pages' layout at a wide and a narrow window.

One service runs for the module; every test signs in the accounts it needs itself (the
first-login link the first time, the password afterwards), so that the tests do not depend on
each other's order. Nothing here downloads a browser: without chromium the module is skipped.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sqlite3
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("starlette", reason="grader serve needs the 'serve' extra")
pytest.importorskip("httpx", reason="the service's tests talk HTTP with httpx")
pytest.importorskip("playwright.sync_api", reason="the browser tests need the 'playwright' package")

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

from grader.classroom.layout import folder_name  # noqa: E402
from grader.serve.web import CSP  # noqa: E402
import chromium  # noqa: E402
from chromium import FLAGS, skip_without_chromium  # noqa: E402,F401
from serve_server import (CORRECT, OTHER, PASSWORD, Client, Served,  # noqa: E402
                          score_of, submission_id)

skip_without_chromium()

TIMEOUT_MS = 60_000  # any one step, on a loaded machine
GRADED_MS = 180_000  # a grading, behind whatever else is queued

# Student text that would run if a page let it through as markup.
PAYLOAD = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
HOSTILE_PY = CORRECT + f'''

_add, _scale = add, scale


def add(a, b):
    print({PAYLOAD!r})
    return _add(a, b)


def scale(x, c):  # a mistake too, so that a regrade request can be asked about test_scale
    print({PAYLOAD!r})
    return _scale(x, c) + 1
'''
ZIP_MEMBER = "<img src=x onerror=alert(1)>.py"
ZIP_NAME = "<img src=x onerror=alert(2)>work.zip"
NOTEBOOK_MARK = "<script>window.__pwned=5</script>"
COMMENT = "<script>window.__pwned=3</script><img src=x onerror=alert(3)> please look again"
SCALE_WRONG = CORRECT.replace("return c * x", "return c + x")  # loses test_scale only


def notebook(source: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": source,
                                  "outputs": [], "execution_count": None}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def zipped(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


# ------------------------------------------------------------------------------- fixtures


class Site:
    """The module's service, and which accounts have chosen their password already."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.opened: set[str] = set()
        self.graded: dict[str, int] = {}

    def path(self, url: str) -> str:
        return url.removeprefix(self.served.url)

    def client(self, login: str) -> Client:
        """An HTTP client signed in as ``login``."""
        c = self.served.client()
        if login in self.opened:
            r = c.sign_in(login)
        else:
            r = c.first_login(login)
            self.opened.add(login)
        assert r.status_code == 200 and "/sign-in" not in str(r.url), (r.url, r.text[-500:])
        return c

    def sign_in(self, page: Page, login: str) -> None:
        """Sign ``login`` in as a user does: the first-login link once, then the form."""
        if login not in self.opened:
            page.goto(self.served.links()[login])
            expect(page.locator("h1")).to_contain_text("Welcome")
            page.fill("#password", PASSWORD)
            page.fill("#again", PASSWORD)
            page.get_by_role("button", name="Set password and sign in").click()
            self.opened.add(login)
        else:
            page.goto(self.served.url + "/sign-in")
            page.fill("#login", login)
            page.fill("#password", PASSWORD)
            page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/(assignments|instructor)$"))

    def graded_submission(self, login: str) -> int:
        """A graded correct submission of ``login`` (made once per module, over HTTP)."""
        if login not in self.graded:
            c = self.client(login)
            sid = submission_id(c.upload("toy", "toy.py", CORRECT))
            c.wait_graded(sid, timeout=GRADED_MS / 1000)
            self.graded[login] = sid
        return self.graded[login]

    def partial_submission(self, login: str) -> tuple[int, int]:
        """(the whole, the partial): a zip of both topics of the assignment "both", graded, then
        a toy.py with a mistake in scale, which carries other.py over from the zip (made once
        per module, over HTTP)."""
        key = f"{login}:both"
        if key not in self.graded:
            c = self.client(login)
            whole = submission_id(c.upload("both", "course.zip",
                                           zipped({"work/toy.py": CORRECT,
                                                   "work/other.py": OTHER})))
            c.wait_graded(whole, timeout=GRADED_MS / 1000)
            self.graded[f"{login}:whole"] = whole
            sid = submission_id(c.upload("both", "toy.py", SCALE_WRONG))
            c.wait_graded(sid, timeout=GRADED_MS / 1000)
            self.graded[key] = sid
        return self.graded[f"{login}:whole"], self.graded[key]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # dee never signs in: her first-login page is one of the pages checked for layout.
    served = Served(tmp_path_factory.mktemp("serve-browser") / "serve",
                    students=("ada", "ben", "cy", "dee")).start()
    try:
        yield Site(served)
    finally:
        served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = chromium.launch(p)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """What a page reported: console errors, uncaught exceptions and dialogs."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"exception: {e}"))
        page.on("dialog", self._dialog)

    def _console(self, msg: Any) -> None:
        if msg.type not in ("error", "assert"):
            return
        where = msg.location.get("url", "") if msg.location else ""
        if where.endswith("/favicon.ico"):  # the browser asks for one; the service has none
            return
        self.errors.append(f"{msg.text} ({where})")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def clear(self) -> None:
        self.errors.clear()


def _new_page(browser: Browser, width: int = 1400) -> tuple[BrowserContext, Page, Watch]:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    return context, page, Watch(page)


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., tuple[Page, Watch]]]:
    """Pages of their own browser contexts (their own cookies: one signed-in user each)."""
    contexts: list[BrowserContext] = []

    def make(width: int = 1400) -> tuple[Page, Watch]:
        context, page, watch = _new_page(browser, width)
        contexts.append(context)
        return page, watch

    yield make
    for c in contexts:
        c.close()


def score_parts(text: str) -> tuple[float, float]:
    got, top = (float(x) for x in text.split("/"))
    return got, top


def goto_until(page: Page, watch: Watch, url: str, ready: Callable[[Page], bool],
               timeout: float = GRADED_MS / 1000) -> None:
    """Load ``url`` again until ``ready`` (pages the service writes after a grading); what the
    browser reported about the loads before (a 404 while not written yet) is forgotten."""
    deadline = time.monotonic() + timeout
    while True:
        watch.clear()
        response = page.goto(url)
        if response is not None and response.ok and ready(page):
            return
        assert time.monotonic() < deadline, f"{url} not ready within {timeout} s: " + \
            (page.evaluate("document.body.textContent") or "")[-800:]
        page.wait_for_timeout(500)


# ------------------------------------------------------------------ a student's whole loop


def test_a_student_signs_in_uploads_waits_and_reads_full_marks_in_the_browser(
        site: Site, new_page: Any) -> None:
    page, watch = new_page()
    # The first-login link: choose a password, land on the assignments.
    link = site.served.links()["ada"]
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Welcome, Ada Student")
    page.fill("#password", PASSWORD)
    page.fill("#again", PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    site.opened.add("ada")
    expect(page).to_have_url(site.served.url + "/assignments")
    expect(page.locator("header")).to_contain_text("ada")
    expect(page.locator("main table")).to_contain_text("nothing graded yet")

    # The assignment, and an upload from the file input.
    page.get_by_role("link", name="Toy exercises").click()
    expect(page).to_have_url(site.served.url + "/assignments/toy")
    expect(page.locator("#left")).to_have_text("5")
    page.set_input_files("#file", files=[{"name": "toy.py", "mimeType": "text/x-python",
                                          "buffer": CORRECT.encode()}])
    with page.expect_response(re.compile(r"/submissions/\d+$")) as first:
        page.get_by_role("button", name="Submit for grading").click()
    # The page the upload leads to says it waits, and refreshes itself.
    waiting = first.value.text()
    assert re.search(r'id="waiting">(Waiting to be graded: \d+ submission\(s\) ahead|Next to '
                     r'be graded: grading starts as soon as a grader is free|Being graded now)',
                     waiting), waiting[-1500:]
    assert 'class="num">Score<' not in waiting  # no empty score column while it waits
    assert '<meta http-equiv="refresh"' in waiting
    sid = submission_id(page)
    # The page refreshes itself until the score is there.
    score = page.locator("#score")
    score.wait_for(timeout=GRADED_MS)
    got, top = score_parts(score.inner_text())
    assert got == top > 0, score.inner_text()
    expect(page.locator("#status table")).to_contain_text("toy")
    assert page.locator('meta[http-equiv="refresh"]').count() == 0  # it stops refreshing

    # The report in its frame names the tests and the score.
    report = page.frame_locator(f'iframe[src="/submissions/{sid}/report?framed=1"]').locator("body")
    expect(report).to_contain_text("test_add")
    expect(report).to_contain_text("test_scale")
    expect(report).to_contain_text(f"Score: {got:g} / {top:g}")
    # The assignment lists it as the one that counts.
    page.goto(site.served.url + "/assignments/toy")
    row = page.locator("#history tbody tr").filter(has=page.get_by_role("link", name=str(sid)))
    expect(row).to_contain_text(f"{got:g} / {top:g}")
    expect(row).to_contain_text("counts")
    expect(page.locator("#left")).to_have_text("4")

    assert watch.errors == [] and watch.dialogs == []

    # Sign out: the pages ask for a sign-in again, the used link is refused.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(site.served.url + "/sign-in")
    page.goto(site.served.url + f"/submissions/{sid}")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    assert page.locator("#score").count() == 0
    assert page.goto(link).status == 404  # type: ignore[union-attr]
    expect(page.locator("#message")).to_contain_text("not valid")
    # A wrong password is refused; the chosen one signs in.
    page.goto(site.served.url + "/sign-in")
    page.fill("#login", "ada")
    page.fill("#password", "not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#error")).to_contain_text("wrong password")
    page.fill("#login", "ada")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(site.served.url + "/assignments")
    expect(page.get_by_role("link", name=f"{got:g} / {top:g}")).to_be_visible()
    # The only errors: the refused link's 404 and the wrong password's 401, as sent.
    assert [re.sub(r".*status of (\d+).*", r"\1", e) for e in watch.errors] == ["404", "401"], \
        watch.errors
    assert watch.dialogs == []


# -------------------------------------------------------- an upload of one topic, and around


def test_an_upload_of_one_topic_keeps_the_others_and_every_page_says_so(
        site: Site, new_page: Any) -> None:
    page, watch = new_page()
    site.sign_in(page, "ada")
    url = site.served.url
    # Before any upload to it, the assignment's page says what an upload of some topics does.
    page.goto(url + "/assignments/both")
    rule = page.locator("#partial-rule")
    expect(rule).to_be_visible()
    expect(rule).to_contain_text("replaces those topics only")
    expect(rule).to_contain_text("carried over, file for file, from your newest submission")
    expect(rule).to_contain_text("the late penalty applies to the whole submission")
    # A refusal leads back to the assignment.
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                          "buffer": b"hello"}])
    page.get_by_role("button", name="Submit for grading").click()
    expect(page.locator("#message")).to_contain_text("notes.txt")
    page.get_by_role("link", name="Back").click()
    expect(page).to_have_url(url + "/assignments/both")

    for name, data in (("course.zip", zipped({"work/toy.py": CORRECT,
                                              "work/other.py": OTHER})),
                       ("toy.py", SCALE_WRONG.encode())):
        page.goto(url + "/assignments/both")
        page.set_input_files("#file", files=[{"name": name, "mimeType": "application/zip",
                                              "buffer": data}])
        page.get_by_role("button", name="Submit for grading").click()
        page.locator("#score").wait_for(timeout=GRADED_MS)
    whole = int(page.locator("#topic-other a").inner_text().split()[-1])
    partial = submission_id(page)
    got, top = score_parts(page.locator("#score").inner_text())
    assert got == top - 1  # test_scale lost, other.py's points kept
    expect(page.locator("#topic-toy")).to_contain_text("toy.py · uploaded now")
    expect(page.locator("#topic-other")).to_contain_text(
        f"work/other.py in course.zip · carried over from submission {whole} (")
    # The topics' table once: the page's; the report in its frame shows the tests.
    frame = page.frame_locator("iframe")
    expect(frame.locator("body")).to_contain_text("test_scale")
    expect(frame.locator("h2", has_text="Topics")).to_have_count(0)
    expect(page.locator("table", has_text="Graded from")).to_have_count(1)
    shown = frame.locator("body").inner_text()
    assert "sandbox" not in shown and "seed" not in shown, shown[:600]
    # The regrade request offers the tests that lost points, by topic: here toy's test_scale.
    assert page.locator("#test optgroup").evaluate_all("gs => gs.map(g => g.label)") == ["toy"]
    first = page.locator("#test optgroup").first.locator("option").first
    assert first.get_attribute("value") == "toy::test_scale" and "failed" in first.inner_text()
    assert page.locator("#test option").count() == 1
    # The report on its own page leads back, still signed in.
    page.get_by_role("link", name="Open the report on its own page").click()
    expect(page.locator("h2", has_text="Topics")).to_have_count(1)
    page.get_by_role("link", name=f"Submission {partial}").click()
    expect(page).to_have_url(url + f"/submissions/{partial}")
    page.get_by_role("link", name=f"submission {whole}").click()
    expect(page).to_have_url(url + f"/submissions/{whole}")
    page.goto(url + f"/submissions/{partial}")
    page.select_option("#test", "toy::test_scale")
    page.fill("#comment", "c + x is what the statement says")
    page.get_by_role("button", name="Send the request").click()
    expect(page.locator("#requests")).to_contain_text("open")

    # The instructor grants +1.5 on a 1-point test: +1 is what counts, and is what is said.
    prof, watch2 = new_page()
    site.sign_in(prof, "prof")
    expect(prof.locator("#assignments tr", has_text="Both topics")).to_contain_text(
        "31 Dec 2099, 23:59 UTC")
    ask = prof.locator(".request", has_text="c + x is what the statement says")
    ask.locator("input[type=number]").fill("1.5")
    ask.get_by_role("button", name="Accept").click()
    expect(prof.locator("#message")).to_contain_text("Accepted: +1 (the test's maximum) on "
                                                     "toy::test_scale of ada (you entered +1.5)")
    prof.get_by_role("link", name="Back").click()
    expect(prof.locator("#answered")).to_contain_text("accepted: +1 (the test's maximum)")
    # The served class overview leads back to the dashboard.
    goto_until(prof, watch2, url + "/instructor/class/both/",
               lambda p: "ada" in p.locator("#student-table").inner_text())
    prof.get_by_role("link", name="← The class").click()
    expect(prof).to_have_url(url + "/instructor")

    page.goto(url + f"/submissions/{partial}")
    expect(page.locator("#requests")).to_contain_text("accepted: +1 (the test's maximum)")
    assert "1.5" not in page.locator("#requests").inner_text()
    assert [e for e in watch.errors if "status of 400" not in e] == []


# ------------------------------------------------------------------ the instructor's regrade


def gradings(site: Site, sid: int) -> int:
    with sqlite3.connect(site.served.state / "serve.db") as c:
        return int(c.execute("select count(*) from gradings where submission_id = ?",
                             (sid,)).fetchone()[0])


def test_the_instructor_regrades_a_students_submission_from_the_dashboard(
        site: Site, new_page: Any) -> None:
    ada = site.client("ada")
    sid = submission_id(ada.upload("toy", "toy.py", CORRECT))
    before = score_of(ada.wait_graded(sid, timeout=GRADED_MS / 1000))
    assert gradings(site, sid) == 1

    page, watch = new_page()
    site.sign_in(page, "prof")
    expect(page).to_have_url(site.served.url + "/instructor")
    row = page.locator("#recent tbody tr").filter(
        has=page.get_by_role("link", name=str(sid), exact=True))
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text("ada")
    expect(cells.nth(2)).to_have_text("toy")
    expect(cells.nth(5)).to_have_text("graded")
    expect(cells.nth(6)).to_have_text(before)

    page.select_option("#rg-student", "ada")
    page.get_by_role("button", name="Regrade", exact=True).click()
    expect(page).to_have_url(site.served.url + "/instructor/regrade")
    message = page.locator("#message")
    expect(message).to_contain_text("queued for regrading")
    m = re.fullmatch(r"(\d+) submission\(s\) of ada queued for regrading", message.inner_text())
    assert m and int(m[1]) >= 1, message.inner_text()

    # Its page waits (queued or being graded) and refreshes itself until it is graded again.
    page.goto(site.served.url + f"/submissions/{sid}")
    page.locator("#score").wait_for(timeout=GRADED_MS)
    expect(page.locator("#score")).to_have_text(before)
    assert gradings(site, sid) == 2  # a second grading, recorded
    page.goto(site.served.url + "/instructor")
    expect(row.locator("td").nth(5)).to_have_text("graded")
    expect(row.locator("td").nth(6)).to_have_text(before)
    assert watch.errors == [] and watch.dialogs == []


# --------------------------------------------------------------- student text stays text

NOTHING_RAN = """() => ({
  pwned: typeof window.__pwned,
  scripts: document.querySelectorAll('script').length,
  images: document.querySelectorAll('img[src="x"]').length,
  text: document.documentElement.textContent,
})"""


def csp_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def assert_inert(page: Page, watch: Watch, *, shows: list[str], own_scripts: int = 0) -> str:
    """Nothing of the student's ran or became an element, in the page or its frames; each of
    ``shows`` is there as text. Returns the text of the page and its frames."""
    text = ""
    for frame in page.frames:
        seen = frame.evaluate(NOTHING_RAN)
        where = f"{page.url} (frame {frame.url})"
        assert seen["pwned"] == "undefined", f"student markup ran in {where}"
        assert seen["images"] == 0, f"student markup became an <img> in {where}"
        assert seen["scripts"] == (own_scripts if frame is page.main_frame else 0), where
        text += seen["text"]
    for s in shows:
        assert s in text, f"{s!r} is not shown as text on {page.url}"
    assert watch.dialogs == [], watch.dialogs
    # A page's own script refused by the CSP is the only console error there may be: markup
    # let through would add errors of its own (a refused inline handler, an image not found).
    own = [csp_hash(s) for s in page.evaluate(
        "Array.from(document.scripts).map(s => s.textContent)")]
    unexpected = [e for e in watch.errors
                  if not ("Content Security Policy" in e and any(h in e for h in own))]
    assert unexpected == [], f"console errors on {page.url}: {unexpected}"
    watch.clear()
    return text


def test_student_code_file_names_notebooks_and_comments_show_as_text_and_never_run(
        site: Site, new_page: Any) -> None:
    cy = site.client("cy")
    uploads = [(ZIP_NAME, zipped({"toy.py": CORRECT, ZIP_MEMBER: "x = 1\n"})),
               ("toy.ipynb", notebook(CORRECT + f"\n# {NOTEBOOK_MARK}\nprint({PAYLOAD!r})\n")),
               ("toy.py", HOSTILE_PY)]  # the last: the one that counts in the class pages
    sids = [submission_id(cy.upload("toy", name, data)) for name, data in uploads]
    zip_sid, nb_sid, py_sid = sids

    # The student: the assignment's list, each submission and its report, and a regrade
    # request with markup in its comment, sent from the form.
    page, watch = new_page()
    site.sign_in(page, "cy")
    for sid in sids:
        page.goto(site.served.url + f"/submissions/{sid}")
        page.locator("#score").wait_for(timeout=GRADED_MS)
    page.goto(site.served.url + f"/submissions/{py_sid}")
    page.select_option("#test", "toy::test_scale")
    page.fill("#comment", COMMENT)
    page.get_by_role("button", name="Send the request").click()
    expect(page.locator("#requests")).to_contain_text(COMMENT)
    assert watch.errors == [] and watch.dialogs == []

    page.goto(site.served.url + "/assignments/toy")
    expect(page.locator("#history")).to_contain_text(ZIP_NAME)
    assert_inert(page, watch, shows=[ZIP_NAME])
    student_views = {
        zip_sid: [ZIP_NAME, f"unrecognised file {ZIP_MEMBER}"],
        nb_sid: [],
        py_sid: [COMMENT, PAYLOAD],  # the public test's printed output is shown
    }
    for sid, shows in student_views.items():
        page.goto(site.served.url + f"/submissions/{sid}")
        frame = page.frame_locator("iframe").locator("body")
        expect(frame).to_contain_text("test_add")
        assert_inert(page, watch, shows=shows)
        page.goto(site.served.url + f"/submissions/{sid}/report")
        expect(page.locator("body")).to_contain_text("test_add")
        assert_inert(page, watch, shows=[s for s in shows if s not in (ZIP_NAME, COMMENT)])

    # The instructor sees everything the code printed, the names and the comment: as text.
    page, watch = new_page()
    site.sign_in(page, "prof")
    expect(page.locator("#recent")).to_contain_text(ZIP_NAME)
    expect(page.locator(".request", has_text="please look again")).to_contain_text(COMMENT)
    assert_inert(page, watch, shows=[ZIP_NAME, COMMENT])
    instructor_views = {
        zip_sid: [ZIP_NAME, f"unrecognised file {ZIP_MEMBER}"],
        nb_sid: [PAYLOAD],  # printed when the notebook's module is imported
        py_sid: [PAYLOAD],  # printed by the hidden tests too
    }
    for sid, shows in instructor_views.items():
        page.goto(site.served.url + f"/submissions/{sid}")
        expect(page.frame_locator("iframe").locator("body")).to_contain_text("test_add")
        assert_inert(page, watch, shows=shows)
        page.goto(site.served.url + f"/submissions/{sid}/report")
        expect(page.locator("body")).to_contain_text("test_add")
        text = assert_inert(page, watch, shows=[s for s in shows if s != ZIP_NAME])
        if sid == py_sid:  # add's and scale's hidden tests printed it as well
            assert text.count(PAYLOAD) >= 3, text[-2000:]

    # The class pages the service writes after each grading: the counted one is the .py.
    student = f"/instructor/class/toy/students/{folder_name('cy')}/instructor.html"
    goto_until(page, watch, site.served.url + student,
               lambda p: PAYLOAD in (p.evaluate("document.body.textContent") or ""))
    expect(page.locator("body")).to_contain_text("test_add")
    assert_inert(page, watch, shows=[PAYLOAD])
    page.goto(site.served.url + "/instructor/class/toy/")
    expect(page.locator("#student-table")).to_contain_text("cy")
    assert_inert(page, watch, shows=["cy"], own_scripts=1)


def test_the_inert_check_finds_markup_that_became_elements(new_page: Any) -> None:
    """Control: a page that lets the payload through as markup, under the service's own CSP
    (so that its script cannot run), fails the check above."""
    page, watch = new_page()
    page.route("http://control.test/", lambda route: route.fulfill(
        status=200, content_type="text/html", headers={"Content-Security-Policy": CSP},
        body=f"<!doctype html><p>{PAYLOAD}</p>"))
    page.route("http://control.test/x", lambda route: route.fulfill(status=404, body=""))
    page.goto("http://control.test/")
    with pytest.raises(AssertionError, match="became an <img>"):
        assert_inert(page, watch, shows=[])
    assert any("Content Security Policy" in e for e in watch.errors), watch.errors


# ------------------------------------------------------------------------------- layout

# The page is no wider than its window; no table cell is squeezed narrower than a few
# characters of its own text (a word set one letter per line); no word is broken between two
# letters or digits (as in test_browser.py: a break after an identifier's underscore, or in a
# token longer than a column can be asked to hold, is not one); a score ("3 / 5") or a time
# ("2027-06-30 23:59 UTC", "30 Jun 2027, 23:59 UTC") is never split over two lines; and every button of a form is next
# to the field before it: on its line, or just below it.
LAYOUT = r"""() => {
  const out = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > root.clientWidth + 1)
    out.push(`the page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
  const ctx = document.createElement('canvas').getContext('2d');
  for (const cell of document.querySelectorAll('th, td')) {
    if (!cell.getClientRects().length) continue;
    const text = cell.innerText.trim();
    if (!text) continue;
    const style = getComputedStyle(cell);
    ctx.font = style.font;
    const inner = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const longest = Math.max(...text.split(/\s+/).map(w => ctx.measureText(w).width));
    const needed = Math.min(longest, ctx.measureText('abc').width);
    if (inner + 1 < needed)
      out.push(`the cell "${text.slice(0, 40)}" is ${Math.round(inner)}px wide`);
  }
  const range = document.createRange();
  const top = (node, i) => {
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    const rects = range.getClientRects();
    return rects.length ? Math.round(rects[0].top) : null;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest('script, style, pre, option, textarea') || !el.getClientRects().length)
      continue;
    for (const m of node.data.matchAll(/\S+/g)) {
      if (m[0].length > 24) continue;
      for (let i = m.index + 1; i < m.index + m[0].length; i++) {
        if (!/[^\W_]/.test(node.data[i - 1]) || !/[^\W_]/.test(node.data[i])) continue;
        const a = top(node, i - 1), b = top(node, i);
        if (a !== null && b !== null && a !== b) {
          out.push(`the word "${m[0]}" is broken inside`);
          break;
        }
      }
    }
    const whole = /\d+(?:\.\d+)? \/ \d+(?:\.\d+)?|\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?(?: UTC|[+-]\d\d:\d\d)?|\d\d? [A-Z][a-z]+ \d{4}, \d\d:\d\d(?: [A-Z]{2,5}|[+-]\d\d)?/g;
    for (const m of node.data.matchAll(whole)) {
      const tops = new Set();
      for (let i = m.index; i < m.index + m[0].length; i++) {
        const t = node.data[i] === ' ' ? null : top(node, i);
        if (t !== null) tops.add(t);
      }
      if (tops.size > 1) out.push(`"${m[0]}" is split over two lines`);
    }
  }
  for (const form of document.forms) {
    const controls = Array.from(form.querySelectorAll(
      'input:not([type=hidden]), select, textarea, button')).filter(c => c.getClientRects().length);
    controls.forEach((c, k) => {
      if (k === 0 || !(c.tagName === 'BUTTON' || c.type === 'submit')) return;
      const prev = controls[k - 1];
      const f = (prev.closest('label') || prev).getBoundingClientRect();
      const b = c.getBoundingClientRect();
      const sameLine = b.top < f.bottom && f.top < b.bottom;
      const gap = sameLine ? b.left - f.right : b.top - f.bottom;
      if (gap > 24 || gap < -1 || (!sameLine && Math.abs(b.left - f.left) > 24))
        out.push(`the button "${c.innerText.trim()}" is ${Math.round(gap)}px from its field`);
    });
  }
  return out;
}"""


def layout(page: Page, what: str) -> list[str]:
    """LAYOUT's findings on the page and in its frames (the report in a submission's page),
    each read once it has loaded (a page still loading has no document to measure)."""
    found = []
    for f in page.frames:
        f.wait_for_load_state("load")
        where = "frame " + f.url if f is not page.main_frame else "page"
        found += [f"{what} ({where}): {p}" for p in f.evaluate(LAYOUT)]
    return found


@pytest.mark.parametrize("width", [1400, 800])
def test_the_student_and_instructor_pages_fit_their_width(
        site: Site, new_page: Any, width: int) -> None:
    sid = site.graded_submission("ben")
    whole, partial = site.partial_submission("ben")
    page, watch = new_page(width)
    problems = []
    page.goto(site.served.links()["dee"])
    expect(page.locator("h1")).to_contain_text("Welcome")
    page.goto(site.served.url + "/sign-in")
    problems += layout(page, "/first-login, /sign-in")
    site.sign_in(page, "ben")
    student = ("/assignments", "/assignments/toy", "/assignments/both", f"/submissions/{sid}",
               f"/submissions/{partial}", f"/submissions/{sid}/report", "/account/password")
    for path in student:
        page.goto(site.served.url + path)
        if path.startswith("/submissions/") and not path.endswith("/report"):
            expect(page.locator("#score")).to_be_visible()
            expect(page.frame_locator("iframe").locator("body")).to_contain_text("test_add")
        problems += layout(page, path)
    page.goto(site.served.url + "/assignments/toy")
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                          "buffer": b"hello"}])
    page.get_by_role("button", name="Submit for grading").click()
    expect(page.locator("#message")).to_contain_text("notes.txt")
    problems += layout(page, "a refusal")
    page, watch2 = new_page(width)
    site.sign_in(page, "prof")
    expect(page.locator("#recent")).to_contain_text("ben")
    problems += layout(page, "/instructor")
    for path in ("/instructor/accounts", f"/submissions/{partial}", f"/submissions/{sid}/report"):
        page.goto(site.served.url + path)
        problems += layout(page, f"{path} (instructor)")
    goto_until(page, watch2, site.served.url + "/instructor/class/both/",
               lambda p: "ben" in p.locator("#student-table").inner_text())
    problems += layout(page, "/instructor/class/both/")
    page.goto(site.served.url + f"/instructor/class/both/students/{folder_name('ben')}"
              "/instructor.html")
    expect(page.locator("body")).to_contain_text("test_add")
    problems += layout(page, "a student's page in the class folder")
    assert problems == [], "\n".join([f"at {width} px:", *problems])
    assert [e for e in watch.errors if "status of 400" not in e] == []  # the refusal's
    assert [e for e in watch2.errors if "404" not in e] == []  # the class pages not written yet


def test_the_layout_check_finds_an_overflow_a_squeezed_cell_a_broken_word_and_a_far_button(
        new_page: Any) -> None:
    """Control: the check above reports a page too wide, a column one letter wide, a word and
    a score split over lines, and a button far from its field. Each control is built from the
    widths measured in the page (half of what its text needs; a label wider than its field by
    its own measure), so it holds in any font."""
    page, _ = new_page(800)
    page.set_content('<table><tr><td style="width: 1px; overflow-wrap: anywhere">Student</td>'
                     '<td><div style="width: 1200px">wide</div></td></tr></table>'
                     '<p class="half" style="overflow-wrap: anywhere">Counts</p>'
                     '<p class="half">3 / 5</p>'
                     '<form style="display: flex; gap: 1em"><div><label for="d" class="wide" '
                     'style="display: block">New deadline (ISO, e.g. 2026-12-01T23:59+00:00)'
                     '</label><input id="d" style="width: 4em"></div>'
                     '<div><button>Grant</button></div></form>')
    page.evaluate("""() => {
      const width = el => {  // what the element's text needs on one line
        const s = document.createElement('span');
        s.style.whiteSpace = 'nowrap';
        s.textContent = el.textContent;
        el.after(s);
        const w = s.getBoundingClientRect().width;
        s.remove();
        return w;
      };
      for (const el of document.querySelectorAll('.half')) el.style.width = width(el) / 2 + 'px';
      for (const el of document.querySelectorAll('.wide'))
        el.style.width = (width(el) + 200) + 'px';  // the button ends up 200 px past the field
    }""")
    problems = page.evaluate(LAYOUT)
    assert any("wide in a" in p for p in problems), problems
    assert any('the cell "Student"' in p for p in problems), problems
    assert any('the word "Counts"' in p for p in problems), problems
    assert any('"3 / 5" is split' in p for p in problems), problems
    assert any('the button "Grant"' in p for p in problems), problems


def test_the_browser_renders_with_the_known_fonts_only(new_page: Any) -> None:
    """Every family the pages ask for (system-ui, sans-serif, a font the machine may have)
    renders in DejaVu Sans (tests/chromium.py's fontconfig), monospace in DejaVu Sans Mono: the
    layout checks measure the same on any machine."""
    page, _ = new_page(800)
    families = ["'DejaVu Sans'", "system-ui, sans-serif", "'Segoe UI', Arial, Helvetica",
                "-apple-system, Roboto, 'Liberation Sans'", "'DejaVu Sans Mono'", "monospace"]
    page.set_content("".join(f'<p style="font: 100px {f}; white-space: nowrap">Counts 3 / 5</p>'
                             for f in families))
    widths = page.evaluate("""() => Array.from(document.querySelectorAll('p'), p => {
      const r = document.createRange();
      r.selectNodeContents(p);
      return r.getBoundingClientRect().width;
    })""")
    sans, mono = widths[0], widths[4]
    assert widths[:4] == [sans] * 4 and widths[4:] == [mono] * 2 and sans != mono, widths


def test_the_instructor_grants_an_extension_by_date_and_time_and_sees_a_link_before_renewing_it(
        site: Site, new_page: Any) -> None:
    """The extension's deadline is picked in a date-time field (the course's time zone, UTC
    here) and said back in words; "New link…" asks before it acts, and Cancel changes nothing;
    an unused first-login link is shown as it stands."""
    page, watch = new_page(800)
    site.sign_in(page, "prof")
    url = site.served.url
    page.goto(url + "/instructor")
    expect(page.locator("#ext-deadline")).to_have_attribute("type", "datetime-local")
    expect(page.locator("#ext-hint")).to_contain_text("In the course's time zone, UTC")
    page.select_option("#ext-student", "ben")
    page.select_option("#ext-assignment", "late")
    page.fill("#ext-deadline", "2099-06-30T23:59")
    page.get_by_role("button", name="Grant").click()
    expect(page.locator("#extensions")).to_contain_text("30 Jun 2099, 23:59 UTC")
    page.goto(url + "/instructor/accounts")
    dee = page.locator("#accounts tr", has_text="dee")
    link = site.served.links()["dee"]
    dee.get_by_role("button", name="Show link").click()
    expect(page.locator("#link")).to_have_text(link)
    dee = page.locator("#accounts tr", has_text="dee")
    dee.get_by_role("button", name="New link…").click()
    expect(page.locator("#confirm")).to_contain_text("Give dee")
    expect(page.locator("#link")).to_have_count(0)
    # Cancel is a link: the accounts page loads anew; its layout is read once it has.
    with page.expect_navigation(url=url + "/instructor/accounts"):
        page.locator("#confirm").get_by_role("link", name="Cancel").click()
    expect(page.locator("#confirm")).to_have_count(0)
    expect(page.locator("#accounts")).to_be_visible()
    assert site.served.links()["dee"] == link  # nothing changed
    assert layout(page, "accounts") == [] and watch.errors == []


# ------------------------------------------------------------------- the served overview


def test_the_served_class_overview_sorts_its_students_table(site: Site, new_page: Any) -> None:
    """The overview says "Click a column's name to sort by it": that works when it is served
    too (its one script must not be refused by the service's Content-Security-Policy)."""
    site.graded_submission("ben")
    page, watch = new_page()
    site.sign_in(page, "prof")
    goto_until(page, watch, site.served.url + "/instructor/class/toy/",
               lambda p: "ben" in p.locator("#student-table").inner_text())
    expect(page.locator("body")).to_contain_text("Click a column's name to sort by it")
    heads = [h.strip() for h in page.locator("#student-table thead th").all_inner_texts()]
    final = page.locator("#student-table thead th").nth(heads.index("Final"))
    final.locator("button").click()
    refused = [e for e in watch.errors if "Content Security Policy" in e]
    assert final.get_attribute("aria-sort") == "ascending" and not refused, (
        "the served class overview cannot sort its students' table: the service's "
        "Content-Security-Policy (grader/serve/web.py CSP, sent by grader/serve/instructor.py "
        f"class_file) refuses the overview's own inline script. Chromium: {refused}")
