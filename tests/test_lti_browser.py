"""The LTI launch in a real browser (Debian's chromium, driven by Playwright): a student opens the
course page of a platform (tests/lti_platform.py) on another site, the tool loads in its iframe,
signs the student in (inside the frame where the browser keeps the frame's cookies, else in a
window of its own, as the frame offers), the student uploads a submission there, and the
platform receives the score."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("starlette", reason="grader serve needs the 'serve' extra")
pytest.importorskip("playwright.sync_api", reason="the browser tests need the 'playwright' package")

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from lti_platform import Platform  # noqa: E402
from serve_server import CORRECT, Served  # noqa: E402
from test_lti import CONFIG, ROSTER, setup_platform  # noqa: E402
from serve_server import yield_database  # noqa: E402
import chromium  # noqa: E402
from test_serve_browser import GRADED_MS, TIMEOUT_MS  # noqa: E402

chromium.skip_without_chromium()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lms(request: Any, tmp_path_factory: Any) -> Iterator[tuple[Platform, Served]]:
    """The platform on 127.0.0.1 and the tool on localhost: two sites, so the tool's frame is
    a third-party one, as in a real LMS."""
    database = yield_database(request.param)
    url = next(database)
    folder = tmp_path_factory.mktemp("lti-browser")
    platform = Platform()
    setup_platform(platform)
    platform.start()
    (folder / "roster.csv").write_text(ROSTER)
    served = Served(folder / "serve", database=url, roster=folder / "roster.csv",
                    config=folder / "serve.toml")
    tool = f"http://localhost:{served.port}"
    (folder / "serve.toml").write_text(CONFIG.format(url=f'url = "{tool}"',
                                                     platform=platform.toml()))
    platform.tool_url = tool
    served.start()
    try:
        yield platform, served
    finally:
        served.stop()
        platform.stop()
        next(database, None)


def test_a_student_launches_from_the_lms_uploads_and_the_lms_receives_the_score(
        lms: tuple[Platform, Served]) -> None:
    platform, served = lms
    with sync_playwright() as p:
        browser = chromium.launch(p)
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{platform.url}/launch/u-ada/l-toy")
            expect(page.locator("h1")).to_have_text("Course page")
            frame = page.frame_locator("#tool")
            # The frame shows the tool: the assignment, or (third-party cookies blocked) the
            # offer to open it in a window of its own.
            landed = frame.locator("#new-window, #file")
            expect(landed.first).to_be_visible()
            framed = not frame.locator("#new-window").count()
            print("signed in", "inside the LMS's frame" if framed else "in a window of its own")
            if not framed:
                with context.expect_page() as opened:
                    frame.get_by_role("link", name="Open the grader in a new window").click()
                tool: Any = opened.value
                tool.wait_for_load_state()
            else:
                tool = frame
            if isinstance(tool, Page):
                expect(tool).to_have_url(re.compile(r"/assignments/toy$"))
            expect(tool.locator("header")).to_contain_text("ada")
            expect(tool.locator("h1")).to_contain_text("Toy exercises")
            tool.locator("#file").set_input_files(files=[{
                "name": "toy.py", "mimeType": "text/x-python", "buffer": CORRECT.encode()}])
            tool.get_by_role("button", name="Submit for grading").click()
            score = tool.locator("#score")
            score.wait_for(timeout=GRADED_MS)
            got, top = (float(x) for x in score.inner_text().split("/"))
            assert got == top > 0
            deadline = time.monotonic() + GRADED_MS / 1000
            while not any(s["userId"] == "u-ada" for s in platform.scores):
                assert time.monotonic() < deadline, (platform.scores, served.log())
                time.sleep(0.2)
            [sent] = [s for s in platform.scores if s["userId"] == "u-ada"]
            assert (sent["scoreGiven"], sent["scoreMaximum"]) == (got, top)
            assert platform.violations == [] and errors == []
        finally:
            browser.close()


def test_dynamic_registration_tells_the_lms_dialog_to_close(
        lms: tuple[Platform, Served]) -> None:
    """LTI Dynamic Registration §3.6.3: the tool's page, in the LMS's dialog, posts
    {subject: "org.imsglobal.lti.close"} to it once registered; the dialog closes."""
    platform, served = lms
    token = re.search(r"/lti/register/([0-9a-f]+)", _instructor_lti_page(platform, served))
    assert token, "the instructor's LTI page shows the registration URL"
    with sync_playwright() as p:
        browser = chromium.launch(p)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{platform.url}/register-dialog?url=" +
                      f"{platform.tool_url}/lti/register/{token[1]}")
            page.wait_for_function("window.received.length > 0")
            assert page.evaluate("window.received") == [{"subject": "org.imsglobal.lti.close"}]
            expect(page.locator("#dialog")).to_have_count(0)
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
    assert platform.registrations


def _instructor_lti_page(platform: Platform, served: Served) -> str:
    """The instructor's LTI page, reached by a launch over HTTP."""
    from test_lti import Lms

    lms = Lms(platform, served)
    c = lms.client()
    c.http.base_url = platform.tool_url  # the tool's own site here (its cookies are for it)
    prof, _ = lms.launch("u-prof", "l-toy", c)
    return str(prof.get("/instructor/lti").text)
