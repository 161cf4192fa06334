"""The launch: OIDC third-party login initiation, then the platform's id_token checked as LTI Core
1.3 §5.1 and the 1EdTech Security Framework 1.0 §5.1.3 ask (signature against the platform's
JWKS, iss, aud, azp, exp and iat within a small leeway, the nonce used once, the state bound to
this browser, a deployment the tool knows, the message type and version)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from grader.errors import GraderError
from grader.serve import db
from grader.serve.lti import client
from grader.serve.lti.platforms import LtiSettings, Platform

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DEEP_LINKING = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
RESOURCE_LINK, DEEP_LINK = "LtiResourceLinkRequest", "LtiDeepLinkingRequest"
LOGIN_SECONDS = 600  # from the login initiation to the launch
STATE_COOKIE = "lti_state_"
INSTRUCTOR_ROLES = ("membership#Instructor", "membership#ContentDeveloper",
                    "membership#Administrator", "membership/Instructor#TeachingAssistant",
                    "institution/person#Administrator", "system/person#Administrator")

log = logging.getLogger("grader.serve.lti")


class LaunchError(GraderError):
    """A launch refused: the message says what to fix and who fixes it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class CookiesBlocked(Exception):
    """A valid launch whose browser did not send back the state cookie (an LMS frame in a
    browser that blocks third-party cookies): the login is to be started again in a window of
    its own, with these parameters."""

    def __init__(self, login: dict[str, str]) -> None:
        super().__init__("the state cookie did not come back")
        self.login = login


@dataclass(frozen=True)
class Launch:
    """A checked launch: who, from where, to what."""

    platform: Platform
    claims: dict[str, Any]
    message_type: str
    deployment_id: str
    sub: str
    instructor: bool
    context_id: str
    context_title: str
    resource_link_id: str = ""
    resource_link_title: str = ""
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def email(self) -> str:
        return str(self.claims.get("email", "")).strip()

    @property
    def name(self) -> str:
        c = self.claims
        return str(c.get("name") or " ".join(x for x in (c.get("given_name"), c.get("family_name"))
                                             if x) or "").strip()

    @property
    def ags(self) -> dict[str, Any]:
        value = self.claims.get(AGS)
        return value if isinstance(value, dict) else {}

    @property
    def nrps_url(self) -> str:
        value = self.claims.get(NRPS)
        return str(value.get("context_memberships_url", "")) if isinstance(value, dict) else ""

    @property
    def deep_linking(self) -> dict[str, Any]:
        value = self.claims.get(DEEP_LINKING)
        return value if isinstance(value, dict) else {}

    def other_ids(self) -> list[str]:
        """The ids a roster may hold of this user: the LMS's own user id (Canvas's custom
        canvas_user_id), the SIS id (lis person_sourcedid)."""
        lis = self.claims.get(CLAIM + "lis")
        ids = [str(self.custom.get(k, "")) for k in ("canvas_user_id", "user_id", "lms_id")]
        if isinstance(lis, dict):
            ids.append(str(lis.get("person_sourcedid", "")))
        return [i for i in ids if i and not i.startswith("$")]


def is_instructor(roles: Any) -> bool:
    return isinstance(roles, list) and any(
        isinstance(r, str)
        and (r.endswith(INSTRUCTOR_ROLES) or r in ("Instructor", "Administrator"))
        for r in roles)


# ---------------------------------------------------------------------- login initiation


def begin(engine: sa.Engine, settings: LtiSettings, params: dict[str, str], redirect_uri: str
          ) -> tuple[str, str]:
    """The third-party initiated login (LTI Core §4.1, Security Framework §5.1.1): (the state
    to bind to the browser, the platform's authorisation URL to send it to)."""
    issuer, client_id = params.get("iss", ""), params.get("client_id", "")
    platform = settings.find(issuer, client_id or None)
    if platform is None:
        why = unknown_platform(settings, issuer, client_id)
        log.warning("LTI login refused: %s", why)
        raise LaunchError(400, why)
    if not params.get("login_hint"):
        raise LaunchError(400, f"{platform.title} started a login without a login_hint: "
                               "launch the tool again from the course")
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    kept = {k: params[k] for k in ("iss", "login_hint", "target_link_uri", "lti_message_hint",
                                   "client_id", "lti_deployment_id") if params.get(k)}
    with db.transaction(engine) as c:
        c.execute(db.lti_logins.delete().where(
            db.lti_logins.c.created_at < db.now() - dt.timedelta(days=1)))
        c.execute(db.lti_logins.insert().values(
            state=state, nonce=nonce, issuer=platform.issuer, client_id=platform.client_id,
            params=json.dumps(kept), created_at=db.now()))
    query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
             "prompt": "none", "client_id": platform.client_id, "redirect_uri": redirect_uri,
             "login_hint": params["login_hint"], "state": state, "nonce": nonce}
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    sep = "&" if "?" in platform.auth_url else "?"
    return state, f"{platform.auth_url}{sep}{urlencode(query)}"


def unknown_platform(settings: LtiSettings, issuer: str, client_id: str) -> str:
    known = [p for p in settings.platforms if p.issuer == issuer]
    if not known:
        return (f"this tool does not know the LMS {issuer!r}: add a [[lti.platform]] with "
                f"issuer = {issuer!r} and client_id = {client_id!r} to serve.toml (docs/lti.md)")
    return (f"this tool knows {issuer!r} but not its client id {client_id!r}: add it to "
            "serve.toml's [[lti.platform]] (client_id), or launch from the registration it has")


# ---------------------------------------------------------------------------- the launch


class PlatformKeys:
    """The platforms' JWKS, fetched when first needed, kept an hour, fetched again at once for
    a key id not seen (the platform rotated its keys), at most every 10 s."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict[str, tuple[float, KeySet]] = {}

    def get(self, platform: Platform, kid: str) -> KeySet:
        with self._lock:
            got = self._sets.get(platform.jwks_url)
            fresh = got is not None and time.monotonic() - got[0] < 3600
            known = got is not None and any(k.kid == kid for k in got[1].keys)
            if got is not None and (known or time.monotonic() - got[0] < 10) and fresh:
                return got[1]
            try:
                reply = client.get_json(platform.jwks_url)
                keys = KeySet.import_key_set(reply.body)
            except (client.Unreachable, client.Refused, JoseError, TypeError, ValueError,
                    KeyError) as exc:
                if got is not None:
                    return got[1]
                raise LaunchError(502, f"cannot read {platform.title}'s public keys at "
                                       f"{platform.jwks_url} ({exc}): check jwks_url in "
                                       "serve.toml's [[lti.platform]]") from None
            self._sets[platform.jwks_url] = (time.monotonic(), keys)
            return keys


def finish(engine: sa.Engine, settings: LtiSettings, keys: PlatformKeys, form: dict[str, str],
           cookies: dict[str, str], launch_url: str, now: float | None = None) -> Launch:
    """The id_token POSTed to ``launch_url`` (the tool's launch address), checked; LaunchError
    says what is wrong, CookiesBlocked where only the browser's state cookie is missing."""
    if form.get("error"):
        raise LaunchError(400, f"the LMS refused the login: {form['error']} "
                               f"{form.get('error_description', '')}".strip())
    state, token = form.get("state", ""), form.get("id_token", "")
    if not state or not token:
        raise LaunchError(400, "this address takes a launch from the LMS: open the tool from "
                               "your course")
    with db.transaction(engine) as c:
        login = c.execute(sa.select(db.lti_logins).where(db.lti_logins.c.state == state)).first()
    if login is None:
        raise LaunchError(400, "this launch does not come from a login this tool started "
                               "(a forged or foreign state): launch the tool again from the LMS")
    if login.used_at is not None:
        raise LaunchError(400, "this launch was used already (a replay, or the page reloaded): "
                               "launch the tool again from the LMS")
    at = time.time() if now is None else now
    age = at - db.aware(login.created_at).timestamp()  # type: ignore[union-attr]
    if age > LOGIN_SECONDS:
        raise LaunchError(400, f"this launch expired ({age / 60:.0f} minutes after the login "
                               "began): launch the tool again from the LMS")
    platform = settings.find(login.issuer, login.client_id)
    if platform is None:
        raise LaunchError(400, unknown_platform(settings, login.issuer, login.client_id))
    claims = _verified(platform, keys, token, settings.leeway_seconds, at)
    if claims.get("nonce") != login.nonce:
        raise LaunchError(400, "the launch's nonce is not the one this login sent: launch the "
                               "tool again from the LMS")
    launch = _checked(platform, claims)
    _check_target(platform, claims, launch_url)
    # The nonce and the state are used now, once: a replay of this id_token finds them used.
    with db.transaction(engine) as c:
        used = c.execute(db.lti_logins.update().where(
            db.lti_logins.c.state == state, db.lti_logins.c.used_at.is_(None))
            .values(used_at=db.now())).rowcount
    if not used:
        raise LaunchError(400, "this launch was used already: launch the tool again from the LMS")
    if cookies.get(STATE_COOKIE + state[:16]) != state:
        raise CookiesBlocked(json.loads(login.params))
    return launch


def _verified(platform: Platform, keys: PlatformKeys, token: str, leeway: int, at: float
              ) -> dict[str, Any]:
    """The id_token's claims, its signature checked against the platform's keys (RS256 only,
    Security Framework §6.1), then iss, aud, azp, exp and iat (§5.1.3, steps 1-9)."""
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError, TypeError):
        raise LaunchError(400, "the launch's id_token is not a signed JWT") from None
    keyset = keys.get(platform, str(header.get("kid", "")))
    try:
        claims = dict(jwt.decode(token, keyset, algorithms=["RS256"]).claims)
    except JoseError as exc:
        log.warning("LTI launch from %s refused: signature (%s)", platform.issuer, exc)
        raise LaunchError(401, f"the launch's signature does not match {platform.title}'s keys "
                               f"at {platform.jwks_url} (a forged launch, or jwks_url in "
                               "serve.toml is another platform's)") from None
    if claims.get("iss") != platform.issuer:
        raise LaunchError(401, f"the launch names {_said('the issuer', claims.get('iss'))}, "
                               f"not {platform.issuer!r} that began the login")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if platform.client_id not in auds:
        raise LaunchError(401, f"the launch is for {_said('the client', aud)}, not this "
                               f"tool's {platform.client_id!r}: check client_id in serve.toml")
    if (len(auds) > 1 or "azp" in claims) and claims.get("azp") != platform.client_id:
        raise LaunchError(401, f"the launch names {_said('the azp', claims.get('azp'))}, not "
                               f"this tool's client id {platform.client_id!r}")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, (int, float)) or not isinstance(iat, (int, float)):
        raise LaunchError(401, "the launch's id_token has no exp or iat")
    if iat > at + leeway:
        skew = iat - at
        log.warning("LTI launch from %s refused: clock skew %.0f s", platform.issuer, skew)
        raise LaunchError(401, f"the LMS's clock is {skew:.0f} s ahead of this server's (more "
                               f"than the {leeway} s allowed): set both clocks by NTP")
    if exp < at - leeway:
        late = at - exp
        log.warning("LTI launch from %s refused: expired %.0f s ago", platform.issuer, late)
        raise LaunchError(401, f"this launch expired {late:.0f} s ago: launch the tool again "
                               "from the LMS (if every launch says so, this server's clock is "
                               "behind: set it by NTP)")
    return claims


def _said(what: str, value: Any) -> str:
    """A claim's value as a refusal names it: 'the version '1.1'', or 'no version' where the
    token has none (never the word None)."""
    if value is None or value == "" or value == []:
        return "no " + what.removeprefix("the ")
    return f"{what} {str(value)[:200]!r}" if isinstance(value, str) else f"{what} {value!r:.200}"


def _same_address(a: str, b: str) -> bool:
    """Whether two URLs name the same address (scheme and host case-blind, a trailing slash
    and the default port aside)."""
    x, y = urlsplit(a.strip()), urlsplit(b.strip())
    default = {"http": 80, "https": 443}
    try:
        ports = (x.port or default.get(x.scheme.lower()), y.port or default.get(y.scheme.lower()))
    except ValueError:
        return False
    return (x.scheme.lower(), (x.hostname or "").lower(), ports[0], x.path.rstrip("/") or "/",
            x.query) == (y.scheme.lower(), (y.hostname or "").lower(), ports[1],
                         y.path.rstrip("/") or "/", y.query)


def _check_target(platform: Platform, claims: dict[str, Any], launch_url: str) -> None:
    """The target_link_uri claim (LTI Core §5.3.4): where the platform meant the launch to go.
    This tool registers one launch URL and puts it in every resource link it issues (deep
    linking), so anything else is a launch meant for another tool, replayed here: refused."""
    target = claims.get(CLAIM + "target_link_uri")
    if not isinstance(target, str) or not target.strip():
        log.warning("LTI launch from %s refused: no target_link_uri", platform.issuer)
        raise LaunchError(400, f"the launch from {platform.title} names no target_link_uri: "
                               f"register the tool's launch URL {launch_url} in the LMS")
    if not _same_address(target, launch_url):
        log.warning("LTI launch from %s refused: target_link_uri %r is not %r", platform.issuer,
                    target, launch_url)
        raise LaunchError(400, f"the launch's target_link_uri {target[:300]!r} is not this "
                               f"tool's launch URL {launch_url!r}: a launch meant for another "
                               "tool is not taken here (if the LMS has this tool registered with "
                               "another address, set [lti] url in serve.toml to the one it uses)")


def _checked(platform: Platform, claims: dict[str, Any]) -> Launch:
    """The LTI claims (LTI Core §5.3, §5.4; Deep Linking 2.0 §4.4)."""
    kind = claims.get(CLAIM + "message_type")
    if kind not in (RESOURCE_LINK, DEEP_LINK):
        raise LaunchError(400, f"the launch names {_said('the message_type', kind)}: this "
                               f"tool takes {RESOURCE_LINK} and {DEEP_LINK} messages")
    if claims.get(CLAIM + "version") != "1.3.0":
        version = _said("the version", claims.get(CLAIM + "version"))
        raise LaunchError(400, f"the launch names {version}: this tool takes LTI 1.3.0; "
                               "register it in the LMS as an LTI 1.3 tool")
    deployment = str(claims.get(CLAIM + "deployment_id", ""))
    if deployment not in platform.deployment_ids:
        log.warning("LTI launch from %s refused: unknown deployment %r", platform.issuer,
                    deployment)
        raise LaunchError(403, f"this tool does not know the deployment {deployment!r} of "
                               f"{platform.title}: add it to deployment_ids of its "
                               "[[lti.platform]] in serve.toml")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise LaunchError(400, "the launch names no user (sub): this tool needs the LMS to "
                               "share who launches it (Canvas: privacy level 'public')")
    roles = claims.get(CLAIM + "roles")
    if not isinstance(roles, list):
        raise LaunchError(400, "the launch has no roles claim")
    context = claims.get(CLAIM + "context")
    context = context if isinstance(context, dict) else {}
    link = claims.get(CLAIM + "resource_link")
    link = link if isinstance(link, dict) else {}
    if kind == RESOURCE_LINK and not link.get("id"):
        raise LaunchError(400, "the launch names no resource link")
    if kind == DEEP_LINK and not (isinstance(claims.get(DEEP_LINKING), dict)
                                  and claims[DEEP_LINKING].get("deep_link_return_url")):
        raise LaunchError(400, "the deep linking request has no deep_link_return_url")
    custom = claims.get(CLAIM + "custom")
    return Launch(platform, claims, str(kind), deployment, sub, is_instructor(roles),
                  str(context.get("id", "")), str(context.get("title") or context.get("label")
                                                  or ""),
                  str(link.get("id", "")), str(link.get("title", "")),
                  custom if isinstance(custom, dict) else {})
