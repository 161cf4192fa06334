"""A real LTI 1.3 platform for the tests, on 127.0.0.1: it initiates logins, answers the OIDC
authorisation with id_tokens signed by its own RSA key, serves its JWKS, a token endpoint, the
Assignment and Grade Services and the Names and Role Provisioning Services, receives deep
linking responses and dynamic registrations, and records every score it accepts.

It is written here from the 1EdTech specifications alone, with its own JOSE code on the
``cryptography`` package (not the tool's library), and each check names its section:
  LTI Core 1.3 ("Core"), Security Framework 1.0 ("SEC"), Assignment and Grade Services 2.0
  ("AGS"), Names and Role Provisioning Services 2.0 ("NRPS"), Deep Linking 2.0 ("DL"),
  LTI Dynamic Registration 1.0 ("REG")."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from serve_server import free_port

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
ALL_SCOPES = [SCOPE + "lineitem", SCOPE + "lineitem.readonly", SCOPE + "score",
              SCOPE + "result.readonly", NRPS_SCOPE]


# ------------------------------------------------------------------- JOSE (RFC 7515, 7517)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@dataclass
class RsaKey:
    kid: str
    private: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def jwk(self) -> dict[str, str]:
        nums = self.private.public_key().public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                "n": _int(nums.n), "e": _int(nums.e)}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """A compact JWS, RS256 (SEC §6.1: RSASSA-PKCS1-v1_5 with SHA-256)."""
        head = {"alg": "RS256", "typ": "JWT", "kid": self.kid, **header}
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}"
        sig = self.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64(sig)}"


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The claims of a JWS whose RS256 signature one of ``jwks``'s keys makes; ValueError else."""
    head_b64, body_b64, sig_b64 = token.split(".")
    head = json.loads(unb64(head_b64))
    if head.get("alg") != "RS256":
        raise ValueError(f"alg {head.get('alg')!r} (SEC §6.1 wants RS256)")
    for k in jwks.get("keys", []):
        if k.get("kid") == head.get("kid") and k.get("kty") == "RSA":
            public = rsa.RSAPublicNumbers(int.from_bytes(unb64(k["e"]), "big"),
                                          int.from_bytes(unb64(k["n"]), "big")).public_key()
            public.verify(unb64(sig_b64), f"{head_b64}.{body_b64}".encode(), padding.PKCS1v15(),
                          hashes.SHA256())  # raises InvalidSignature
            return dict(json.loads(unb64(body_b64)))
    raise ValueError(f"no key {head.get('kid')!r} in the tool's JWKS")


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - the tool on 127.0.0.1
        return json.loads(r.read())


# ------------------------------------------------------------------------------ the platform


@dataclass
class User:
    sub: str
    name: str
    email: str
    roles: list[str]
    sourcedid: str = ""


@dataclass
class Course:
    id: str
    title: str
    members: list[str]  # user subs
    scopes: list[str] = field(default_factory=lambda: list(ALL_SCOPES))
    lineitems: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> line item


@dataclass
class Link:
    id: str
    course: str
    title: str
    custom: dict[str, str] = field(default_factory=dict)
    lineitem: str = ""  # a line item id of the course made with the link
    deep_linking: bool = False


class Platform:
    """The platform: its registration of the tool, courses, users and what it received."""

    def __init__(self, issuer_port: int | None = None) -> None:
        self.port = issuer_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = self.url
        self.client_id = "grader-client-1"
        self.deployment_id = "deployment-1"
        self.key = RsaKey("platform-key-1")
        self.tool_url = ""  # set by the test: the tool's address
        self.users: dict[str, User] = {}
        self.courses: dict[str, Course] = {}
        self.links: dict[str, Link] = {}
        self.lock = threading.Lock()
        self.scores: list[dict[str, Any]] = []  # every score accepted, in order of arrival
        self.violations: list[str] = []  # a request the specifications forbid
        self.tokens: dict[str, tuple[list[str], float]] = {}
        self.tokens_issued = 0
        self.jtis: set[str] = set()
        self.score_down = False  # the score endpoint answers 503 (the LMS down)
        self.token_page = False  # the token endpoint answers 200 with an HTML page (a proxy)
        self.token_pages_served = 0
        self.revoked: set[str] = set()  # tokens revoked by the platform: 401, no violation
        self.refused_while_down = 0
        self.deep_link_items: list[dict[str, Any]] = []
        self.registrations: list[dict[str, Any]] = []
        self.nrps_page = 2  # members per page, so that paging is used
        self.scores_after_drain = float("nan")  # bench/bench_lti.py's measure
        self.server: uvicorn.Server | None = None

    # ---------------------------------------------------------------------------- set-up

    def user(self, sub: str, name: str, email: str, instructor: bool = False,
             sourcedid: str = "") -> User:
        u = User(sub, name, email, [INSTRUCTOR if instructor else LEARNER], sourcedid)
        self.users[sub] = u
        return u

    def course(self, cid: str, title: str, members: list[str], **kw: Any) -> Course:
        c = Course(cid, title, members, **kw)
        self.courses[cid] = c
        return c

    def link(self, lid: str, course: str, title: str, *, custom: dict[str, str] | None = None,
             with_lineitem: bool = False, deep_linking: bool = False) -> Link:
        link = Link(lid, course, title, dict(custom or {}), deep_linking=deep_linking)
        if with_lineitem:
            link.lineitem = self._new_lineitem(course, {"label": title, "scoreMaximum": 100,
                                                        "resourceLinkId": lid})
        self.links[lid] = link
        return link

    def start(self) -> "Platform":
        app = Starlette(routes=[
            Route("/jwks", self.jwks), Route("/auth", self.auth),
            Route("/token", self.token, methods=["POST"]),
            Route("/launch/{user}/{link}", self.launch_page),
            Route("/ags/{course}/lineitems", self.lineitems, methods=["GET", "POST"]),
            Route("/ags/{course}/lineitems/{item}", self.lineitem),
            Route("/ags/{course}/lineitems/{item}/scores", self.score, methods=["POST"]),
            Route("/nrps/{course}", self.memberships),
            Route("/dl/return", self.deep_link_return, methods=["POST"]),
            Route("/.well-known/openid-configuration", self.openid_configuration),
            Route("/register", self.register, methods=["POST"]),
            Route("/register-dialog", self.register_dialog)])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                   log_level="warning"))
        threading.Thread(target=self.server.run, daemon=True).start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the platform did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True

    def toml(self, **extra: Any) -> str:
        """The [[lti.platform]] entry the tool's serve.toml needs."""
        values = {"name": "Test LMS", "issuer": self.issuer, "client_id": self.client_id,
                  "deployment_ids": [self.deployment_id], "jwks_url": self.url + "/jwks",
                  "auth_url": self.url + "/auth", "token_url": self.url + "/token", **extra}
        return "[[lti.platform]]\n" + "".join(f"{k} = {json.dumps(v)}\n"
                                              for k, v in values.items())

    # ------------------------------------------------------------------ launches (Core §4)

    def login_url(self, sub: str, link: str) -> str:
        """Third-party initiated login (SEC §5.1.1.1): the tool's login initiation URL with
        iss, login_hint, target_link_uri, lti_message_hint, client_id, lti_deployment_id."""
        return self.tool_url + "/lti/login?" + urlencode({
            "iss": self.issuer, "login_hint": sub, "target_link_uri": self.tool_url +
            "/lti/launch", "lti_message_hint": link, "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id})

    async def launch_page(self, request: Request) -> Response:
        """The LMS's course page: the tool in an iframe, its login started from there."""
        sub, link = request.path_params["user"], request.path_params["link"]
        response = HTMLResponse(
            f"<!doctype html><title>Course</title><h1>Course page</h1>"
            f"<iframe id='tool' style='width:100%;height:700px' "
            f"src='{html.escape(self.login_url(sub, link))}'></iframe>")
        response.set_cookie("platform_user", sub, samesite="lax")
        return response

    def id_token(self, sub: str, link_id: str, nonce: str, *, key: RsaKey | None = None,
                 **changes: Any) -> str:
        """The LTI message (Core §5.3, §5.4, DL §4.4), with ``changes`` to the claims (None
        removes one): what an attacker or a broken platform might send."""
        user, link = self.users[sub], self.links[link_id]
        course = self.courses[link.course]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.client_id, "azp": self.client_id, "sub": sub,
            "exp": now + 300, "iat": now, "nonce": nonce, "name": user.name,
            "email": user.email, "given_name": user.name.split()[0],
            LTI + "deployment_id": self.deployment_id, LTI + "version": "1.3.0",
            LTI + "roles": user.roles, LTI + "target_link_uri": self.tool_url + "/lti/launch",
            LTI + "context": {"id": course.id, "title": course.title, "label": course.id,
                              "type": [LIS + "course#CourseOffering"]},
            LTI + "launch_presentation": {"document_target": "iframe"},
            LTI + "custom": dict(link.custom),
            NRPS_CLAIM: {"context_memberships_url": f"{self.url}/nrps/{course.id}",
                         "service_versions": ["2.0"]},
        }
        if user.sourcedid:
            claims[LTI + "lis"] = {"person_sourcedid": user.sourcedid}
        ags = {"scope": [s for s in course.scopes if "/lti-ags/" in s],
               "lineitems": f"{self.url}/ags/{course.id}/lineitems"}
        if link.lineitem:
            ags["lineitem"] = f"{self.url}/ags/{course.id}/lineitems/{link.lineitem}"
        claims[AGS_CLAIM] = ags
        if link.deep_linking:
            claims[LTI + "message_type"] = "LtiDeepLinkingRequest"
            claims[DL_CLAIM + "deep_linking_settings"] = {
                "deep_link_return_url": self.url + "/dl/return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "data": f"course={course.id}"}
        else:
            claims[LTI + "message_type"] = "LtiResourceLinkRequest"
            claims[LTI + "resource_link"] = {"id": link.id, "title": link.title}
        for k, v in changes.items():
            k = {"deployment_id": LTI + "deployment_id", "message_type": LTI + "message_type",
                 "version": LTI + "version",
                 "target_link_uri": LTI + "target_link_uri"}.get(k, k)
            if v is None:
                claims.pop(k, None)
            else:
                claims[k] = v
        return (key or self.key).sign(claims)

    async def auth(self, request: Request) -> Response:
        """The OIDC authorisation endpoint (SEC §5.1.1.2 - §5.1.1.3): checks the request, then
        posts the id_token to the redirect URI (response_mode form_post)."""
        q = request.query_params
        problems = [why for bad, why in (
            (q.get("scope") != "openid", "scope must be openid (SEC §5.1.1.2)"),
            (q.get("response_type") != "id_token", "response_type must be id_token"),
            (q.get("response_mode") != "form_post", "response_mode must be form_post"),
            (q.get("prompt") != "none", "prompt must be none"),
            (q.get("client_id") != self.client_id, "unknown client_id"),
            (q.get("redirect_uri") != self.tool_url + "/lti/launch",
             "redirect_uri is not the registered one (SEC §5.1.1.2)"),
            (not q.get("nonce"), "no nonce"), (not q.get("state"), "no state"),
            (q.get("login_hint") not in self.users, "login_hint is no user of the platform"),
            (q.get("lti_message_hint") not in self.links, "lti_message_hint is no link"))
            if bad]
        browser = request.cookies.get("platform_user")
        if browser is not None and browser != q.get("login_hint"):
            problems.append("login_hint is not the user signed in to the platform (SEC §5.1.1.3)")
        if problems:
            self.violations.append("auth: " + "; ".join(problems))
            return PlainTextResponse("; ".join(problems), status_code=400)
        token = self.id_token(q["login_hint"], q["lti_message_hint"], q["nonce"])
        return HTMLResponse(self.form_post(q["redirect_uri"], {"id_token": token,
                                                               "state": q["state"]}))

    @staticmethod
    def form_post(url: str, fields: dict[str, str]) -> str:
        inputs = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                         for k, v in fields.items())
        return (f"<!doctype html><form id='launch' method='post' action='{html.escape(url)}'>"
                f"{inputs}<noscript><button>Continue</button></noscript></form>"
                "<script>document.getElementById('launch').submit()</script>")

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.jwk()]})

    # ------------------------------------------------------------------ tokens (SEC §4.1)

    async def token(self, request: Request) -> Response:
        form = await request.form()
        if self.token_page:  # a login proxy or captive portal in front of the LMS
            self.token_pages_served += 1
            return HTMLResponse("<!doctype html><title>Sign in</title><form>Sign in to the "
                                "campus network</form>")
        problems = []
        if form.get("grant_type") != "client_credentials":
            problems.append("grant_type must be client_credentials (SEC §4.1)")
        if form.get("client_assertion_type") != \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            problems.append("client_assertion_type must be jwt-bearer (SEC §4.1.1)")
        try:
            claims = verify(str(form.get("client_assertion", "")),
                            fetch_json(self.tool_url + "/.well-known/jwks.json"))
        except Exception as exc:  # noqa: BLE001
            claims = {}
            problems.append(f"client_assertion not signed by the tool's JWKS: {exc}")
        now = time.time()
        if claims:
            for bad, why in (
                    (claims.get("iss") != self.client_id, "assertion iss must be the client id"),
                    (claims.get("sub") != self.client_id, "assertion sub must be the client id"),
                    (self.url + "/token" not in (claims.get("aud") if isinstance(
                        claims.get("aud"), list) else [claims.get("aud")]),
                     "assertion aud must be the token endpoint (SEC §4.1.1)"),
                    (not isinstance(claims.get("exp"), int) or claims["exp"] < now,
                     "assertion expired"),
                    (not claims.get("jti") or claims.get("jti") in self.jtis,
                     "assertion jti missing or used before (SEC §4.1.1)")):
                if bad:
                    problems.append(why)
        if problems:
            self.violations.append("token: " + "; ".join(problems))
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "; ".join(problems)}, status_code=400)
        self.jtis.add(claims["jti"])
        asked = str(form.get("scope", "")).split()
        granted = [s for s in asked if s in ALL_SCOPES]
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = (granted, now + 3600)
            self.tokens_issued += 1
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                             "scope": " ".join(granted)})

    def revoke_tokens(self) -> None:
        """Every access token issued so far stops working (the tool must ask for a new one)."""
        with self.lock:
            self.revoked |= set(self.tokens)
            self.tokens.clear()

    def _authorised(self, request: Request, scope: str) -> bool:
        auth = request.headers.get("authorization", "")
        held = self.tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith(
            "Bearer ") else None
        if auth.removeprefix("Bearer ").strip() in self.revoked:
            return False
        if held is None or held[1] < time.time() or scope not in held[0]:
            self.violations.append(f"{request.url.path}: no valid token with {scope}")
            return False
        return True

    # ------------------------------------------------------------------------------ AGS

    def _new_lineitem(self, course: str, body: dict[str, Any]) -> str:
        """A line item of the course (its id is its URL, AGS §3.2.5); its number."""
        c = self.courses[course]
        lid = str(len(c.lineitems) + 1)
        c.lineitems[lid] = {**body, "id": f"{self.url}/ags/{course}/lineitems/{lid}"}
        return lid

    async def lineitems(self, request: Request) -> Response:
        """The line items container (AGS §3.2): GET (filtered by resource_id) and POST."""
        course = self.courses[request.path_params["course"]]
        if request.method == "GET":
            if not self._authorised(request, SCOPE + "lineitem") and \
                    not self._authorised(request, SCOPE + "lineitem.readonly"):
                return Response(status_code=401)
            want = request.query_params.get("resource_id")
            items = [i for i in course.lineitems.values()
                     if want is None or i.get("resourceId") == want]
            return JSONResponse(
                items, media_type="application/vnd.ims.lis.v2.lineitemcontainer+json")
        if not self._authorised(request, SCOPE + "lineitem"):
            return Response(status_code=401)
        body = await request.json()
        if request.headers.get("content-type") != "application/vnd.ims.lis.v2.lineitem+json":
            self.violations.append("line item POST without its media type (AGS §3.2)")
        if not isinstance(body.get("scoreMaximum"), (int, float)) or body["scoreMaximum"] <= 0 \
                or not body.get("label"):
            self.violations.append("line item without label or positive scoreMaximum (AGS §3.2.7)")
            return Response(status_code=400)
        made = self._new_lineitem(course.id, body)
        return JSONResponse(course.lineitems[made], status_code=201,
                            media_type="application/vnd.ims.lis.v2.lineitem+json")

    async def lineitem(self, request: Request) -> Response:
        course = self.courses[request.path_params["course"]]
        item = course.lineitems.get(request.path_params["item"])
        return JSONResponse(item) if item else Response(status_code=404)

    async def score(self, request: Request) -> Response:
        """The score publish service (AGS §3.4)."""
        if self.score_down:
            self.refused_while_down += 1
            return PlainTextResponse("down for maintenance", status_code=503)
        if not self._authorised(request, SCOPE + "score"):
            return Response(status_code=401)
        course = self.courses[request.path_params["course"]]
        item = course.lineitems.get(request.path_params["item"])
        if item is None:
            return Response(status_code=404)
        if request.headers.get("content-type") != "application/vnd.ims.lis.v1.score+json":
            self.violations.append("score without application/vnd.ims.lis.v1.score+json (AGS §3.4)")
            return Response(status_code=415)
        body = await request.json()
        problems = [why for bad, why in (
            (body.get("userId") not in course.members,
             f"userId {body.get('userId')!r} is not a member of {course.id} (AGS §3.4.2)"),
            (body.get("activityProgress") not in ("Initialized", "Started", "InProgress",
                                                  "Submitted", "Completed"),
             "activityProgress (AGS §3.4.6)"),
            (body.get("gradingProgress") not in ("FullyGraded", "Pending", "PendingManual",
                                                 "Failed", "NotReady"),
             "gradingProgress (AGS §3.4.7)"),
            ("scoreGiven" in body and not (isinstance(body.get("scoreMaximum"), (int, float))
                                           and body["scoreMaximum"] > 0),
             "scoreGiven without a positive scoreMaximum (AGS §3.4.3)"),
            (not _iso(body.get("timestamp")), "timestamp must be ISO 8601 (AGS §3.4.1)"))
            if bad]
        if problems:
            self.violations.append("score: " + "; ".join(problems))
            return PlainTextResponse("; ".join(problems), status_code=422)
        with self.lock:
            self.scores.append({**body, "lineitem": item["id"], "course": course.id})
        return Response(status_code=204)

    # ----------------------------------------------------------------------------- NRPS

    async def memberships(self, request: Request) -> Response:
        """The membership container (NRPS §2.2), paged with Link rel="next" (§2.4.2)."""
        if not self._authorised(request, NRPS_SCOPE):
            return Response(status_code=401)
        course = self.courses[request.path_params["course"]]
        start = int(request.query_params.get("from", "0"))
        page = course.members[start:start + self.nrps_page]
        members = [{"status": "Active", "name": self.users[s].name, "email": self.users[s].email,
                    "user_id": s, "roles": self.users[s].roles} for s in page]
        headers = {}
        if start + self.nrps_page < len(course.members):
            headers["Link"] = f'<{self.url}/nrps/{course.id}?from={start + self.nrps_page}>; ' \
                              'rel="next"'
        return JSONResponse({"id": str(request.url), "context": {"id": course.id},
                             "members": members}, headers=headers,
                            media_type="application/vnd.ims.lti-nrps.v2.membershipcontainer+json")

    # --------------------------------------------------------------------- deep linking

    async def deep_link_return(self, request: Request) -> Response:
        """The deep linking response (DL §4.5): a JWT signed by the tool, checked, and its
        resource links made in the course."""
        form = await request.form()
        try:
            claims = verify(str(form.get("JWT", "")),
                            fetch_json(self.tool_url + "/.well-known/jwks.json"))
        except Exception as exc:  # noqa: BLE001
            self.violations.append(f"deep link: {exc}")
            return PlainTextResponse(str(exc), status_code=400)
        problems = [why for bad, why in (
            (claims.get("iss") != self.client_id, "iss must be the client id (DL §4.5)"),
            (claims.get("aud") != self.issuer, "aud must be the platform's issuer (DL §4.5)"),
            (not claims.get("nonce"), "no nonce"),
            (claims.get("exp", 0) < time.time(), "expired"),
            (claims.get(LTI + "message_type") != "LtiDeepLinkingResponse", "message_type"),
            (claims.get(LTI + "version") != "1.3.0", "version"),
            (claims.get(LTI + "deployment_id") != self.deployment_id, "deployment_id"),
            (not str(claims.get(DL_CLAIM + "data", "")).startswith("course="),
             "data not echoed (DL §4.5.6)")) if bad]
        if problems:
            self.violations.append("deep link: " + "; ".join(problems))
            return PlainTextResponse("; ".join(problems), status_code=400)
        course = str(claims[DL_CLAIM + "data"]).split("=", 1)[1]
        made = []
        for item in claims.get(DL_CLAIM + "content_items", []):
            lid = f"dl-{len(self.links) + 1}"
            link = self.link(lid, course, item["title"], custom=item.get("custom", {}))
            if "lineItem" in item:
                link.lineitem = self._new_lineitem(course, {**item["lineItem"],
                                                            "resourceLinkId": lid})
            self.deep_link_items.append(item)
            made.append(lid)
        return HTMLResponse(f"<p id='added'>added {' '.join(made) or 'nothing'}</p>")

    # ------------------------------------------------------------- dynamic registration

    async def openid_configuration(self, request: Request) -> Response:
        """The platform's configuration (REG §3.4)."""
        return JSONResponse({
            "issuer": self.issuer, "authorization_endpoint": self.url + "/auth",
            "token_endpoint": self.url + "/token", "jwks_uri": self.url + "/jwks",
            "registration_endpoint": self.url + "/register",
            "scopes_supported": ["openid", *ALL_SCOPES],
            "response_types_supported": ["id_token"], "id_token_signing_alg_values_supported":
            ["RS256"], "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": "tests", "version": "1", "messages_supported": [
                    {"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}]}})

    async def register_dialog(self, request: Request) -> Response:
        """The LMS's registration dialog (REG §3.3): the tool's registration URL in a frame,
        closed when the tool posts {subject: "org.imsglobal.lti.close"} (REG §3.6.3); the
        messages received are kept in window.received."""
        src = request.query_params["url"] + "?" + urlencode({
            "openid_configuration": self.url + "/.well-known/openid-configuration",
            "registration_token": "reg-token-1"})
        return HTMLResponse(
            "<!doctype html><title>Register a tool</title><h1>Register a tool</h1>"
            "<script>window.received = []; window.addEventListener('message', function (e) {"
            " window.received.push(e.data);"
            " if (e.data && e.data.subject === 'org.imsglobal.lti.close')"
            " document.getElementById('dialog').remove(); });</script>"
            f"<iframe id='dialog' style='width:100%;height:600px' src='{html.escape(src)}'>"
            "</iframe>")

    async def register(self, request: Request) -> Response:
        """The registration endpoint (REG §3.5, §3.6)."""
        if request.headers.get("authorization") != "Bearer reg-token-1":
            self.violations.append("registration without its registration token (REG §3.5)")
            return Response(status_code=401)
        body = await request.json()
        config = body.get("https://purl.imsglobal.org/spec/lti-tool-configuration", {})
        problems = [why for bad, why in (
            (body.get("response_types") != ["id_token"], "response_types"),
            (body.get("token_endpoint_auth_method") != "private_key_jwt", "auth method"),
            (not body.get("initiate_login_uri"), "initiate_login_uri"),
            (not body.get("redirect_uris"), "redirect_uris"),
            (not body.get("jwks_uri"), "jwks_uri"), (not config.get("domain"), "domain"),
            (not config.get("target_link_uri"), "target_link_uri")) if bad]
        if problems:
            self.violations.append("registration: " + "; ".join(problems))
            return PlainTextResponse("; ".join(problems), status_code=400)
        self.registrations.append(body)
        return JSONResponse({**body, "client_id": "registered-client-2",
                             "https://purl.imsglobal.org/spec/lti-tool-configuration":
                             {**config, "deployment_id": "registered-deployment-2"}})


def _iso(value: Any) -> bool:
    try:
        return isinstance(value, str) and dt.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of a page's auto-submitting form (what a browser posts)."""
    import re

    action = html.unescape(re.search(r"action='([^']+)'", page)[1])  # type: ignore[index]
    fields = {html.unescape(k): html.unescape(v)
              for k, v in re.findall(r"name='([^']+)' value='([^']*)'", page)}
    return action, fields


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
