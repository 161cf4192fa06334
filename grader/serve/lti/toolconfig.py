"""What an LMS administrator pastes to add the tool: its addresses, Canvas's developer-key JSON,
Moodle's "External tool" fields in the order Moodle asks for them, and LTI Dynamic Registration
(1EdTech LTI Dynamic Registration 1.0) where the LMS supports it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from grader.serve.lti import ags, client
from grader.serve.lti.nrps import SCOPE as NRPS_SCOPE
from grader.serve.lti.platforms import LtiSettings
from grader.serve.web import render, service

SCOPES = [ags.LINEITEM_SCOPE, "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
          ags.SCORE_SCOPE, "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
          NRPS_SCOPE]
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
TITLE = "Grader"
# LTI Dynamic Registration 1.0 §3.6.3: once registered, the tool tells the LMS's dialog (its
# opener, or the frame's parent) to close. The message holds nothing secret, and the LMS's
# page may be on another origin than its openid_configuration, so it goes to any origin. The
# one script of the service: its CSP allows this text alone, by its hash.
CLOSE_SCRIPT = ('(window.opener || window.parent).postMessage('
                '{subject: "org.imsglobal.lti.close"}, "*");')
CLOSE_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(CLOSE_SCRIPT.encode()).digest()
                                           ).decode() + "'"


def urls(tool: str) -> dict[str, str]:
    return {"jwks": f"{tool}/.well-known/jwks.json", "login": f"{tool}/lti/login",
            "launch": f"{tool}/lti/launch", "canvas": f"{tool}/lti/canvas.json"}


def canvas(tool: str, course: str) -> dict[str, Any]:
    """Canvas's developer key, "Paste JSON" (LTI Key, Method: Paste JSON)."""
    u = urls(tool)
    placements = [
        {"placement": "link_selection", "message_type": "LtiDeepLinkingRequest",
         "target_link_uri": u["launch"]},
        {"placement": "assignment_selection", "message_type": "LtiDeepLinkingRequest",
         "target_link_uri": u["launch"]}]
    return {"title": TITLE, "description": f"Upload deep-learning exercises ({course}) and read "
            "the grader's feedback; grades go to the gradebook.",
            "oidc_initiation_url": u["login"], "target_link_uri": u["launch"],
            "public_jwk_url": u["jwks"], "scopes": SCOPES,
            "extensions": [{"domain": urlsplit(tool).netloc, "tool_id": "dl-grader",
                            "platform": "canvas.instructure.com", "privacy_level": "public",
                            "settings": {"text": TITLE, "placements": placements}}],
            "custom_fields": {"canvas_user_id": "$Canvas.user.id"}}


def moodle_fields(tool: str, settings: LtiSettings) -> list[tuple[str, str]]:
    """Site administration > Plugins > Activity modules > External tool > Manage tools >
    configure a tool manually: the fields, in Moodle's order."""
    u = urls(tool)
    return [("Tool name", TITLE), ("Tool URL", u["launch"]), ("LTI version", "LTI 1.3"),
            ("Client ID", "(Moodle fills it in: copy it to serve.toml afterwards)"),
            ("Public key type", "Keyset URL"), ("Public keyset", u["jwks"]),
            ("Initiate login URL", u["login"]), ("Redirection URI(s)", u["launch"]),
            ("Custom parameters", ""), ("Tool configuration usage",
                                        "Show in activity chooser and as a preconfigured tool"),
            ("Default launch container", "New window"),
            ("Supports Deep Linking (Content-Item Message)", "ticked"),
            ("Content Selection URL", u["launch"]),
            ("IMS LTI Assignment and Grade Services",
             "Use this service for grade sync and column management"),
            ("IMS LTI Names and Role Provisioning",
             "Use this service to retrieve members' information as per privacy settings"),
            ("Tool Settings", "Do not use this service"),
            ("Share launcher's name with tool", "Always"),
            ("Share launcher's email with tool", "Always"),
            ("Accept grades from the tool", "Always")]


def registration_token(key: bytes) -> str:
    """The secret part of the dynamic registration URL the instructor hands the LMS admin."""
    return hmac.new(key, b"lti-dynamic-registration", hashlib.sha256).hexdigest()[:32]


def registration(tool: str, course: str) -> dict[str, Any]:
    """The tool's registration request (Dynamic Registration 1.0 §3.5)."""
    u = urls(tool)
    return {"application_type": "web", "response_types": ["id_token"],
            "grant_types": ["implicit", "client_credentials"],
            "initiate_login_uri": u["login"], "redirect_uris": [u["launch"]],
            "client_name": f"{TITLE} ({course})", "jwks_uri": u["jwks"],
            "token_endpoint_auth_method": "private_key_jwt", "scope": " ".join(SCOPES),
            TOOL_CONFIGURATION: {
                "domain": urlsplit(tool).netloc, "target_link_uri": u["launch"],
                "custom_parameters": {"canvas_user_id": "$Canvas.user.id"},
                "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
                "messages": [{"type": "LtiDeepLinkingRequest", "target_link_uri": u["launch"],
                              "label": TITLE}]}}


async def register(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_register, request)


def _register(request: Request) -> Response:
    """The LMS opens this with ``openid_configuration`` and ``registration_token``: the tool
    reads the platform's configuration, registers itself, and shows the [[lti.platform]] entry
    to add to serve.toml (the service reads serve.toml at start only)."""
    svc = service(request)
    request.state.account = None
    if not hmac.compare_digest(request.path_params["token"],
                               registration_token(request.app.state.key)):
        return render(request, "message.html", 404, message="this registration link is not "
                      "valid: copy it again from the instructor's LTI page")
    tool = svc.config.lti.url or str(request.base_url).rstrip("/")
    where = request.query_params.get("openid_configuration", "")
    if urlsplit(where).scheme not in ("http", "https"):
        return render(request, "message.html", 400, message="open this address from the LMS's "
                      "dynamic registration (it gives openid_configuration)")
    try:
        platform = client.get_json(where).body or {}
        endpoint = str(platform["registration_endpoint"])
        token = request.query_params.get("registration_token", "")
        reply = client.call("POST", endpoint, data=json.dumps(
            registration(tool, svc.course.root.name)).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     **({"Authorization": f"Bearer {token}"} if token else {})})
        made = reply.body or {}
        deployment = str((made.get(TOOL_CONFIGURATION) or {}).get("deployment_id", ""))
        entry = {"name": str(platform.get("issuer", "")), "issuer": str(platform["issuer"]),
                 "client_id": str(made["client_id"]),
                 "deployment_ids": [deployment] if deployment else [],
                 "jwks_url": str(platform["jwks_uri"]),
                 "auth_url": str(platform["authorization_endpoint"]),
                 "token_url": str(platform["token_endpoint"])}
    except (client.Unreachable, client.Refused, KeyError, TypeError, AttributeError) as exc:
        return render(request, "message.html", 502, message=f"the registration failed: {exc}")
    toml = "[[lti.platform]]\n" + "".join(
        f"{k} = {_toml(v)}\n" for k, v in entry.items())
    response = render(request, "lti_registered.html", toml=toml, close_script=CLOSE_SCRIPT)
    response.headers["Content-Security-Policy"] = _dialog_csp(
        response.headers["Content-Security-Policy"]) + f"; script-src {CLOSE_HASH}"
    return response


def _dialog_csp(csp: str) -> str:
    """The registration's pages open in the LMS's dialog, an LMS not configured yet: any site
    may frame them (they act on nothing a click could be tricked into)."""
    return csp.replace("frame-ancestors 'self'", "frame-ancestors *")


def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string or array of them
