"""Deep linking (LTI Deep Linking 2.0): an instructor adding the tool to a course picks one of
serve.toml's assignments, and the tool answers the platform with a resource link to it (its
custom parameter ``assignment`` names it) and a line item for its grades."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwt
from starlette.requests import Request
from starlette.responses import Response

from grader.serve.lti import keys
from grader.serve.lti.accounts import Member
from grader.serve.lti.launch import CLAIM, Launch
from grader.serve.web import render, service

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
LINE_MAXIMUM = 100  # the platform scales each Score by its own scoreMaximum (AGS 2.0 §3.4)


def response_jwt(got: Launch, state: Any, items: list[dict[str, Any]]) -> str:
    """The LtiDeepLinkingResponse (Deep Linking 2.0 §4.5), signed by the tool's key."""
    key = keys.signing(keys.ensure(state))
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": got.platform.client_id, "aud": got.platform.issuer, "iat": now, "exp": now + 600,
        "nonce": secrets.token_urlsafe(16), "azp": got.platform.client_id,
        CLAIM + "deployment_id": got.deployment_id,
        CLAIM + "message_type": "LtiDeepLinkingResponse", CLAIM + "version": "1.3.0",
        DL + "content_items": items}
    if "data" in got.deep_linking:
        claims[DL + "data"] = got.deep_linking["data"]
    return jwt.encode({"alg": keys.ALG, "kid": key.kid, "typ": "JWT"}, claims, key.key)


def item(assignment: Any, launch_url: str) -> dict[str, Any]:
    return {"type": "ltiResourceLink", "title": assignment.title, "url": launch_url,
            "custom": {"assignment": assignment.name},
            "lineItem": {"scoreMaximum": LINE_MAXIMUM, "label": assignment.title,
                         "resourceId": assignment.name, "tag": "grader"}}


def choose(request: Request, got: Launch, member: Member, launch_url: str) -> Response:
    """The instructor's choice: one form per assignment, each posting its signed answer to
    the platform's return URL (no script: the instructor's click sends it)."""
    if member.role != "instructor":
        return render(request, "message.html", 403,
                      message="only an instructor of the course can add the grader's "
                              "assignments to it")
    svc = service(request)
    settings = got.deep_linking
    choices = [{"title": a.title, "name": a.name,
                "jwt": response_jwt(got, svc.state, [item(a, launch_url)])}
               for a in svc.config.assignments]
    response = render(request, "lti_deep_link.html", choices=choices,
                      return_url=settings["deep_link_return_url"], platform=got.platform.title,
                      none=response_jwt(got, svc.state, []))
    parts = urlsplit(settings["deep_link_return_url"])
    csp = response.headers["Content-Security-Policy"]
    response.headers["Content-Security-Policy"] = csp.replace(
        "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}")
    return response
