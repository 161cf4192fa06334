"""``grader serve`` as an LTI 1.3 tool, launched by a real platform (tests/lti_platform.py, which
signs its launches with its own keys and records the scores it receives): accounts made or
linked to the roster and signed in, the assignment opened, grades sent back as AGS Scores, deep
linking, the course's members, dynamic registration, and the attacks the specifications guard
against. One platform and one service per database for the module."""

from __future__ import annotations

import html
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("starlette", reason="grader serve needs the 'serve' extra")
httpx = pytest.importorskip("httpx", reason="the service's tests talk HTTP with httpx")
pytest.importorskip("joserfc", reason="LTI needs the 'serve' extra")

from lti_platform import Platform, RsaKey, form_fields, query_of  # noqa: E402
from serve_server import CORRECT, STUB, Client, Served, score_of, submission_id  # noqa: E402
from serve_server import yield_database  # noqa: E402

ROSTER = ("student,name,section,lms_id,sis_id,login\n"
          "ada,Ada Student,A,u-ada,,\nben,Ben Student,A,,S-BEN,\ncy,Cy Student,A,,,cy@example.edu\n"
          "dee,Dee Student,A,,,\n")
CONFIG = """
instructors = ["prof"]
max_upload_mb = 1

[[assignment]]
name = "toy"
title = "Toy exercises"
topics = ["toy"]
per_day = 20

[[assignment]]
name = "both"
title = "Both topics"
topics = ["toy", "other"]

[lti]
retry_seconds = 0.2
retry_max_seconds = 1.0
{url}

{platform}
"""
WAIT = 240.0


class Lms:
    """The module's platform and service."""

    def __init__(self, platform: Platform, served: Served) -> None:
        self.platform = platform
        self.served = served

    def client(self) -> Client:
        c = self.served.client()
        # The cookies are Secure (SameSite=None, for the LMS's frame); the service is on
        # http://127.0.0.1 here, where browsers send such cookies too, and httpx does not.
        def unsecure(response: Any) -> None:
            for cookie in c.http.cookies.jar:
                cookie.secure = False

        c.http.event_hooks["response"].append(unsecure)
        return c

    def login(self, c: Client, sub: str, link: str) -> dict[str, str]:
        """The login initiation, as the platform starts it: the authorisation request's query."""
        r = c.http.get(self.platform.login_url(sub, link), follow_redirects=False)
        assert r.status_code == 302, r.text[-500:]
        assert r.headers["location"].startswith(self.platform.url + "/auth?")
        return {**query_of(r.headers["location"]), "_url": r.headers["location"]}

    def launch(self, sub: str, link: str, c: Client | None = None) -> tuple[Client, Any]:
        """A whole launch, as a browser does it: login, the platform's form, the tool."""
        c = c or self.client()
        q = self.login(c, sub, link)
        page = httpx.get(q["_url"], cookies={"platform_user": sub})
        assert page.status_code == 200, page.text
        action, fields = form_fields(page.text)
        return c, c._token(c.http.post(action, data=fields))

    def forged(self, sub: str, link: str, *, key: RsaKey | None = None,
               nonce: str | None = None, c: Client | None = None, **changes: Any
               ) -> tuple[Client, Any, dict[str, str]]:
        """A launch whose id_token is made with ``changes`` (or another key)."""
        c = c or self.client()
        q = self.login(c, sub, link)
        token = self.platform.id_token(sub, link, nonce or q["nonce"], key=key, **changes)
        fields = {"state": q["state"], "id_token": token}
        return c, c.http.post(self.platform.tool_url + "/lti/launch", data=fields), fields

    def scores_for(self, sub: str, course: str = "c1") -> list[dict[str, Any]]:
        with self.platform.lock:
            return [s for s in self.platform.scores if s["userId"] == sub and s["course"] == course]

    def settle(self) -> None:
        """Until the tool's outbox holds no score waiting (each sent, or failed for good): no
        score can reach the platform after this."""
        prof, _ = self.launch("u-prof", "l-toy")
        deadline = time.monotonic() + WAIT
        while "waiting: <strong>0</strong>" not in (page := prof.get("/instructor/lti").text):
            assert time.monotonic() < deadline, page[-1500:]
            time.sleep(0.3)

    def wait_scores(self, done: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"{what}: {self.platform.scores}\n" \
                f"{self.platform.violations}\n{self.served.log()}"
            time.sleep(0.2)


def setup_platform(p: Platform) -> None:
    p.user("u-ada", "Ada Student", "ada@example.edu")
    p.user("u-ben", "Ben Student", "ben@example.edu", sourcedid="S-BEN")
    p.user("u-cy", "Cy Student", "cy@example.edu")
    p.user("u-prof", "Pat Professor", "prof@example.edu", instructor=True)
    for i in range(1, 6):
        p.user(f"u-new{i}", f"New{i} Student", f"new{i}@example.edu")
    everyone = ["u-ada", "u-ben", "u-cy", "u-prof"] + [f"u-new{i}" for i in range(1, 6)]
    p.course("c1", "Deep Learning 101", everyone)
    p.course("c2", "Deep Learning 102", ["u-ada", "u-prof", "u-new5"])
    p.course("c3", "No grades course", ["u-new4", "u-prof"],
             scopes=["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"])
    p.link("l-toy", "c1", "Toy (graded)", custom={"assignment": "toy"}, with_lineitem=True)
    p.link("l-unlinked", "c1", "Week 2")
    p.link("l-c2", "c2", "Toy in 102", custom={"assignment": "toy"})
    p.link("l-c3", "c3", "Toy without grades", custom={"assignment": "toy"})
    p.link("l-dl", "c1", "Add an assignment", deep_linking=True)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lms(request: Any, tmp_path_factory: Any) -> Iterator[Lms]:
    database = yield_database(request.param)
    url = next(database)
    folder = tmp_path_factory.mktemp("lti")
    platform = Platform()
    setup_platform(platform)
    platform.start()
    (folder / "roster.csv").write_text(ROSTER)
    served = Served(folder / "serve", database=url, roster=folder / "roster.csv",
                    config=folder / "serve.toml")
    (folder / "serve.toml").write_text(CONFIG.format(url="", platform=platform.toml()))
    platform.tool_url = served.url
    served.start()
    try:
        yield Lms(platform, served)
    finally:
        served.stop()
        platform.stop()
        next(database, None)


# ------------------------------------------------------------------------------ launches


def test_the_tool_publishes_its_jwks_and_keeps_its_private_keys_to_itself(lms: Lms) -> None:
    keys = httpx.get(lms.served.url + "/.well-known/jwks.json").json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and "d" not in k for k in keys)
    folder = lms.served.state / "lti-keys"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.glob("*.json"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE((folder / ".lock").stat().st_mode) == 0o600  # like the keys beside it
    assert {json.loads(f.read_text())["kid"] for f in files} == {k["kid"] for k in keys}


def test_a_roster_student_launches_signs_in_as_themselves_and_lands_on_the_assignment(
        lms: Lms) -> None:
    for sub, login in (("u-ada", "ada"), ("u-ben", "ben"), ("u-cy", "cy")):
        c, r = lms.launch(sub, "l-toy")
        assert r.status_code == 200 and str(r.url).endswith("/assignments/toy"), r.text[-800:]
        assert "Toy exercises" in r.text and f">{login}<" in r.text
        # The same account at the next launch; no password needed, none can be used.
        c2, r2 = lms.launch(sub, "l-toy")
        assert f">{login}<" in r2.text
        assert c2.sign_in(login, "anything at all").status_code == 401


def test_a_new_student_gets_an_account_on_first_launch(lms: Lms) -> None:
    c, r = lms.launch("u-new1", "l-toy")
    assert str(r.url).endswith("/assignments/toy") and ">new1@example.edu<" in r.text
    assert c.get("/assignments").status_code == 200


def test_a_student_may_not_reach_the_instructors_pages(lms: Lms) -> None:
    c, _ = lms.launch("u-new2", "l-toy")
    for path in ("/instructor", "/instructor/lti", "/instructor/class/toy/"):
        assert c.get(path).status_code == 403, path
    for path in ("/lti/pick", "/instructor/lti/retry", "/instructor/lti/roster"):
        assert c.post(path, {"assignment": "toy", "link": "1", "course": "1"}).status_code \
            == 403, path
    _, r = lms.launch("u-new2", "l-unlinked")
    assert r.status_code == 409 and "not chosen the assignment" in r.text
    _, r = lms.launch("u-new2", "l-dl")
    assert r.status_code == 403 and "only an instructor" in r.text


def test_an_instructor_links_an_unlinked_resource_and_students_land_there(lms: Lms) -> None:
    prof, r = lms.launch("u-prof", "l-unlinked")
    assert 'id="pick"' in r.text and "Week 2" in r.text
    link = re.search(r'name="link" value="(\d+)"', r.text)[1]  # type: ignore[index]
    r = prof.post("/lti/pick", {"assignment": "both", "link": link})
    assert str(r.url).endswith("/assignments/both")
    _, r = lms.launch("u-new3", "l-unlinked")
    assert str(r.url).endswith("/assignments/both")


# ------------------------------------------------------------------------------- attacks


@pytest.mark.parametrize("changes, status, says", [
    ({"aud": "someone-else"}, 401, "not this tool's"),
    ({"aud": ["grader-client-1", "other"], "azp": "other"}, 401, "azp"),
    ({"iss": "https://evil.example"}, 401, "issuer"),
    ({"deployment_id": "deployment-9"}, 403, "deployment_ids"),
    # times as offsets from the moment the launch is made, not from when the tests were collected
    ({"exp": -3600, "iat": -3900}, 401, "expired"),
    ({"iat": 600, "exp": 900}, 401, "clock"),
    ({"version": "1.1"}, 400, "LTI 1.3"),
    ({"message_type": "LtiSubmissionReviewRequest"}, 400, "messages"),
    # A claim missing is named as missing, never as the word None.
    ({"version": None}, 400, "names no version"),
    ({"message_type": None}, 400, "names no message_type"),
    ({"iss": None}, 401, "names no issuer"),
    # A launch the platform meant for another tool, replayed here (LTI Core §5.3.4).
    ({"target_link_uri": "https://other-tool.example/lti/launch"}, 400,
     "target_link_uri 'https://other-tool.example/lti/launch' is not this tool's launch URL"),
    ({"target_link_uri": None}, 400, "names no target_link_uri"),
])
def test_a_launch_the_specifications_forbid_is_refused_and_says_what_to_fix(
        lms: Lms, changes: dict[str, Any], status: int, says: str) -> None:
    now = int(time.time())
    changes = {k: now + v if k in ("iat", "exp") else v for k, v in changes.items()}
    c, r, _ = lms.forged("u-new4", "l-toy", **changes)
    message = html.unescape(re.search(r'<p id="message">(.*?)</p>', r.text, re.S)[1])  # type: ignore[index]
    assert r.status_code == status and says in message, r.text[-600:]
    assert "None" not in message and "Traceback" not in r.text
    assert "/sign-in" in str(c.get("/assignments").url)  # not signed in
    assert says in lms.served.log() or status == 400
    assert "LTI launch refused" in lms.served.log()


def test_a_forged_or_replayed_id_token_and_a_nonce_used_twice_are_refused(lms: Lms) -> None:
    # Signed by a key that is not the platform's.
    c, r, _ = lms.forged("u-new4", "l-toy", key=RsaKey("platform-key-1"))
    assert r.status_code == 401 and "signature" in r.text
    # A good launch, then the same form posted again (a replay).
    c, r, fields = lms.forged("u-new4", "l-toy")
    assert str(r.url).endswith("/assignments/toy")
    again = lms.client()
    for cookie in c.http.cookies.jar:
        if cookie.name.startswith("lti_state_"):
            again.http.cookies.jar.set_cookie(cookie)
    r = again.http.post(lms.platform.tool_url + "/lti/launch", data=fields)
    assert r.status_code == 400 and "used already" in r.text
    # A nonce of that launch in a new login's token.
    used = json.loads(__import__("base64").urlsafe_b64decode(
        fields["id_token"].split(".")[1] + "=="))["nonce"]
    c, r, _ = lms.forged("u-new4", "l-toy", nonce=used)
    assert r.status_code == 400 and "nonce" in r.text
    # A state the tool never issued.
    r = lms.client().http.post(lms.platform.tool_url + "/lti/launch",
                               data={"state": "made-up", "id_token": fields["id_token"]})
    assert r.status_code == 400 and "forged or foreign state" in r.text


def test_a_launch_from_another_browser_is_refused(lms: Lms) -> None:
    """The state is bound to the browser that began the login: a launch posted from another
    (its cookies not there) signs no one in, and offers the login in a window of its own."""
    c = lms.client()
    q = lms.login(c, "u-new4", "l-toy")
    token = lms.platform.id_token("u-new4", "l-toy", q["nonce"])
    other = lms.client()
    r = other.http.post(lms.platform.tool_url + "/lti/launch",
                        data={"state": q["state"], "id_token": token})
    assert r.status_code == 200 and 'id="new-window"' in r.text
    assert "/sign-in" in str(other.get("/assignments").url)
    href = html.unescape(re.search(r'id="open" href="([^"]+)"', r.text)[1])  # type: ignore[index]
    assert query_of(href)["login_hint"] == "u-new4" and href.startswith("/lti/login?")


def test_a_launch_sent_by_get_is_refused_and_logged(lms: Lms) -> None:
    """An LMS misconfigured to launch by GET gets a 405, and the service's log says so."""
    r = lms.client().http.get("/lti/launch", params={"id_token": "x", "state": "y"})
    assert r.status_code == 405 and "POST" in r.headers["allow"]
    assert "refused GET /lti/launch (405)" in lms.served.log()


def test_an_unknown_platform_is_told_what_to_add_to_serve_toml(lms: Lms) -> None:
    r = lms.client().http.get("/lti/login", params={
        "iss": "https://lms.unknown.example", "login_hint": "x", "client_id": "abc",
        "target_link_uri": lms.served.url + "/lti/launch"})
    assert r.status_code == 400
    assert "add a [[lti.platform]] with issuer = &#39;https://lms.unknown.example&#39;" in r.text
    assert "https://lms.unknown.example" in lms.served.log()


# ----------------------------------------------------------------------- grades back (AGS)


def test_a_graded_upload_reaches_the_platform_as_the_students_counted_score(lms: Lms) -> None:
    c, _ = lms.launch("u-new5", "l-toy")
    lms.launch("u-new5", "l-c2", c)  # a member of two courses: two line items
    sid = submission_id(c.upload("toy", "toy.py", CORRECT))
    got, top = (float(x) for x in score_of(c.wait_graded(sid)).split("/"))
    lms.wait_scores(lambda: lms.scores_for("u-new5") and lms.scores_for("u-new5", "c2"),
                    "the score of u-new5 in both courses")
    [s1] = lms.scores_for("u-new5")
    assert (s1["scoreGiven"], s1["scoreMaximum"]) == (got, top)
    assert (s1["activityProgress"], s1["gradingProgress"]) == ("Completed", "FullyGraded")
    assert s1["comment"].endswith(f"/submissions/{sid}")
    assert s1["lineitem"].endswith("/ags/c1/lineitems/1")  # the platform's own line item
    [s2] = lms.scores_for("u-new5", "c2")
    item = lms.platform.courses["c2"].lineitems["1"]  # made by the tool in course 2
    assert s2["lineitem"] == item["id"] and item["resourceId"] == "toy"
    # A lower grade later: "last" counts, so it is sent too, after the first.
    sid2 = submission_id(c.upload("toy", "toy.py", STUB))
    c.wait_graded(sid2)
    lms.wait_scores(lambda: len(lms.scores_for("u-new5")) == 2, "the second score")
    assert [s["scoreGiven"] for s in lms.scores_for("u-new5")] == [got, 0.0]
    assert lms.platform.violations == []


def test_scores_go_only_to_the_students_own_line_items(lms: Lms) -> None:
    """ada is in courses 1 and 2 but launched from course 1 only: her grade goes to course 1's
    line item with her own user id, never to course 2, nor under anyone else's id."""
    c, _ = lms.launch("u-ada", "l-toy")
    sid = submission_id(c.upload("toy", "toy.py", CORRECT))
    c.wait_graded(sid)
    lms.wait_scores(lambda: lms.scores_for("u-ada"), "ada's score")
    lms.settle()
    assert lms.scores_for("u-ada", "c2") == []
    with lms.platform.lock:
        mine = [s for s in lms.platform.scores if s["comment"].endswith(f"/submissions/{sid}")]
    assert {s["userId"] for s in mine} == {"u-ada"}
    assert lms.platform.violations == []


def test_a_course_without_the_score_scope_says_so_to_the_instructor(lms: Lms) -> None:
    c, _ = lms.launch("u-new4", "l-c3")
    sid = submission_id(c.upload("toy", "toy.py", CORRECT))
    c.wait_graded(sid)
    prof, _ = lms.launch("u-prof", "l-c3")
    deadline = time.monotonic() + WAIT
    said = "did not grant the tool the score scope"
    while said not in (page := prof.get("/instructor/lti").text):
        assert time.monotonic() < deadline, page[-1500:]
        time.sleep(0.3)
    assert "failed" in page and "Can create and update submission results" in page
    assert "did not grant the tool the score scope" in lms.served.log()
    assert lms.scores_for("u-new4", "c3") == []


def test_with_the_score_endpoint_down_every_score_arrives_once_afterwards(lms: Lms) -> None:
    """The LMS's score endpoint down (503) while grades change: the scores wait, retried with
    backoff (0.2 s doubling to 1 s here; serve.toml's retry_seconds), and each arrives exactly
    once, in order, once it is back."""
    down_for = float(os.environ.get("GRADER_LTI_DOWN_SECONDS", "2"))
    students = ["u-ben", "u-cy"]
    clients = {s: lms.launch(s, "l-toy")[0] for s in students}
    before = {s: len(lms.scores_for(s)) for s in students}
    lms.platform.score_down = True
    try:
        sids = {s: [submission_id(c.upload("toy", "toy.py", body)) for body in (STUB, CORRECT)]
                for s, c in clients.items()}
        finals = {}
        for s, c in clients.items():
            for sid in sids[s]:
                finals[s] = float(score_of(c.wait_graded(sid)).split("/")[0])
        deadline = time.monotonic() + WAIT
        while lms.platform.refused_while_down < 2:
            assert time.monotonic() < deadline, lms.served.log()
            time.sleep(0.1)
        time.sleep(down_for)
        prof, _ = lms.launch("u-prof", "l-toy")
        page = prof.get("/instructor/lti").text
        assert "503" in page and re.search(r"waiting: <strong>[1-9]", page), page[-2000:]
    finally:
        lms.platform.score_down = False
    lms.wait_scores(lambda: all(lms.scores_for(s)[before[s]:] and
                                lms.scores_for(s)[-1]["scoreGiven"] == finals[s]
                                for s in students), "the scores after the LMS came back")
    lms.settle()
    for s in students:
        sent = lms.scores_for(s)[before[s]:]
        stamps = [x["timestamp"] for x in sent]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), sent
        assert sent[-1]["scoreGiven"] == finals[s]
    assert lms.platform.violations == []


def test_the_service_token_is_reused_until_it_expires(lms: Lms) -> None:
    with lms.platform.lock:
        issued, sent = lms.platform.tokens_issued, len(lms.platform.scores)
    # Two scopes (line items, scores) and one for members: far fewer tokens than scores.
    assert sent >= 4 and issued <= 3, (issued, sent)


def test_a_token_endpoint_answering_with_a_web_page_is_retried_not_given_up(lms: Lms) -> None:
    """docs/lti.md §7: a 200 from the token endpoint that is not a token response (a login
    proxy's page) is a transient fault: the score waits, its reason on the instructor's page,
    tried again with backoff, and sent once the endpoint gives tokens again."""
    c, _ = lms.launch("u-new3", "l-toy")
    before = len(lms.scores_for("u-new3"))
    lms.platform.token_page = True
    lms.platform.revoke_tokens()  # the tool's token stops working: it must ask for another
    try:
        sid = submission_id(c.upload("toy", "toy.py", CORRECT))
        c.wait_graded(sid)
        prof, _ = lms.launch("u-prof", "l-toy")
        deadline = time.monotonic() + WAIT
        while lms.platform.token_pages_served < 3 or "not a token response (text/html)" \
                not in (page := prof.get("/instructor/lti").text):
            assert time.monotonic() < deadline, lms.served.log()
            time.sleep(0.2)
        row = re.search(r"<tr><td>\d+</td><td>new3@example.edu</td>.*?</tr>", page, re.S)
        assert row and "<td>pending</td>" in row[0], page[-2000:]
        assert "answered 200" in row[0]
        assert lms.scores_for("u-new3")[before:] == []
    finally:
        lms.platform.token_page = False
    lms.wait_scores(lambda: len(lms.scores_for("u-new3")) > before, "the score after the proxy")
    lms.settle()
    assert len(lms.scores_for("u-new3")) == before + 1
    assert lms.platform.violations == []


# ------------------------------------------------------- deep linking, members, registration


def test_an_instructor_adds_an_assignment_by_deep_linking(lms: Lms) -> None:
    prof, r = lms.launch("u-prof", "l-dl")
    assert 'id="choices"' in r.text and "Both topics" in r.text
    assert lms.platform.url in r.headers["content-security-policy"]  # the form may post there
    forms = re.findall(r'<form method="post" action="([^"]+)"><input type="hidden" name="JWT" '
                       r'value="([^"]+)"><button type="submit" name="add" value="([^"]+)"',
                       r.text)
    action, jwt, name = next(f for f in forms if f[2] == "both")
    added = httpx.post(action, data={"JWT": jwt, "add": name})
    assert added.status_code == 200, added.text
    link = added.text.split("added ")[1].split("<")[0]
    assert lms.platform.links[link].custom == {"assignment": "both"}
    assert lms.platform.courses["c1"].lineitems[lms.platform.links[link].lineitem][
        "resourceId"] == "both"
    _, r = lms.launch("u-ben", link)
    assert str(r.url).endswith("/assignments/both")
    assert lms.platform.violations == []


def test_the_instructor_syncs_the_courses_members_from_the_lms(lms: Lms) -> None:
    prof, _ = lms.launch("u-prof", "l-c2")
    page = prof.get("/instructor/lti").text
    assert 'id="lti-off"' not in page  # configured: not said to be off
    course = re.search(r'name="course" value="(\d+)"><button type="submit">Sync', page)
    ids = re.findall(r'<td>Deep Learning 102</td>.*?name="course" value="(\d+)"', page, re.S)
    assert course and ids
    r = prof.post("/instructor/lti/roster", {"course": ids[0]})
    assert "3 member(s) of Deep Learning 102 synced" in r.text, r.text[-800:]
    assert lms.platform.violations == []


def test_the_tool_registers_itself_by_dynamic_registration(lms: Lms) -> None:
    prof, _ = lms.launch("u-prof", "l-toy")
    page = prof.get("/instructor/lti").text
    url = re.search(r"(http://[^<]+/lti/register/[0-9a-f]+)", page)[1]  # type: ignore[index]
    r = httpx.get(url, params={"openid_configuration":
                               lms.platform.url + "/.well-known/openid-configuration",
                               "registration_token": "reg-token-1"})
    assert r.status_code == 200, r.text[-800:]
    assert "registered-client-2" in r.text and "registered-deployment-2" in r.text
    assert len(lms.platform.registrations) == 1
    assert httpx.get(url.rsplit("/", 1)[0] + "/0000").status_code == 404


def test_the_canvas_configuration_names_the_tools_addresses(lms: Lms) -> None:
    doc = httpx.get(lms.served.url + "/lti/canvas.json").json()
    assert doc["oidc_initiation_url"] == lms.served.url + "/lti/login"
    assert doc["public_jwk_url"] == lms.served.url + "/.well-known/jwks.json"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in doc["scopes"]
