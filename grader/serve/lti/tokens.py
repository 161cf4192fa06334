"""OAuth 2 access tokens for the platform's services (Security Framework 1.0 §4.1): the
client-credentials grant with a JWT assertion signed by the tool's key (RFC 7523), each token
kept until shortly before it expires."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

from joserfc import jwt

from grader.serve.lti import client, keys
from grader.serve.lti.platforms import Platform

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MARGIN = 30.0  # a token is not used in its last seconds


class TokenRefused(Exception):
    """The platform's token endpoint refused the tool; the message says what to fix."""


class TokenUnusable(Exception):
    """The token endpoint answered, but not with a token response (an HTML page from a login
    proxy or a captive portal, JSON without an access_token): a transient fault, tried again
    like the LMS being down."""


def assertion(platform: Platform, state: Path) -> str:
    """The signed JWT the tool proves itself with (iss = sub = its client id, aud = the
    platform's token endpoint or the audience it names)."""
    key = keys.signing(keys.ensure(state))
    now = int(time.time())
    return jwt.encode({"alg": keys.ALG, "kid": key.kid, "typ": "JWT"},
                      {"iss": platform.client_id, "sub": platform.client_id,
                       "aud": platform.audience, "iat": now, "exp": now + 300,
                       "jti": secrets.token_urlsafe(16)}, key.key)


class Tokens:
    """The tokens in use, by platform and scopes."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str, str], tuple[str, float]] = {}
        self.fetched = 0  # tokens asked for (the tests count them)

    def get(self, platform: Platform, scopes: list[str]) -> str:
        key = (platform.issuer, platform.client_id, " ".join(sorted(scopes)))
        with self._lock:
            held = self._held.get(key)
            if held and held[1] > time.monotonic():
                return held[0]
        try:
            reply = client.post_form(platform.token_url, {
                "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(platform, self.state), "scope": key[2]})
        except client.Refused as exc:
            if exc.retry:  # the LMS down or busy: the sender tries again later
                raise
            raise TokenRefused(f"{platform.title}'s token endpoint refused the tool ({exc}): "
                               "check client_id and token_url in serve.toml, and that the LMS "
                               "has the tool's JWKS URL") from None
        body = reply.body if isinstance(reply.body, dict) else {}
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            kind = reply.headers.get("content-type", "no content type").split(";")[0]
            what = "JSON without an access_token" if body else f"not a token response ({kind})"
            raise TokenUnusable(f"{platform.title}'s token endpoint {platform.token_url} "
                                f"answered {reply.status} with {what}: a proxy or a login page "
                                "in front of the LMS? check token_url in serve.toml")
        granted = set(str(body.get("scope", key[2])).split())
        missing = sorted(set(scopes) - granted)
        if missing:
            raise TokenRefused(f"{platform.title} did not grant the scope {missing[0]}: enable "
                               "it where the tool is registered (docs/lti.md)")
        life = float(body.get("expires_in", 3600) or 3600)
        with self._lock:
            self._held[key] = (token, time.monotonic() + max(0.0, life - MARGIN))
            self.fetched += 1
        return token

    def forget(self, platform: Platform) -> None:
        with self._lock:
            for k in [k for k in self._held if k[:2] == (platform.issuer, platform.client_id)]:
                del self._held[k]
