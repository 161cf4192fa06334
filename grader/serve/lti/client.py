"""HTTP calls from the tool to a platform (its JWKS, token endpoint, line items, scores,
memberships): JSON over the standard library's client, with a timeout, every failure one
``Unreachable`` or ``Refused`` that says what the platform answered."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

TIMEOUT = 10.0


class Unreachable(Exception):
    """The platform did not answer (down, a timeout, a bad address): worth trying again."""


class Refused(Exception):
    """The platform answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status

    @property
    def retry(self) -> bool:
        """Whether the same request may pass later (the platform busy or down, a token expired)."""
        return self.status in (401, 408, 425, 429) or self.status >= 500


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # the decoded JSON, or None
    headers: dict[str, str]


def call(method: str, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = TIMEOUT) -> Reply:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 - configured URLs
            raw = r.read(8 * 2**20)
            return Reply(r.status, _json(raw), {k.lower(): v for k, v in r.headers.items()})
    except urllib.error.HTTPError as exc:
        text = exc.read(2000).decode("utf-8", "replace").strip().replace("\n", " ")
        raise Refused(exc.code, text[:300] or str(exc.reason)) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"{url}: {reason}") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def get_json(url: str, *, token: str = "", accept: str = "application/json") -> Reply:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return call("GET", url, headers=headers)


def post_json(url: str, body: Any, *, token: str, content_type: str) -> Reply:
    return call("POST", url, data=json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": content_type,
                         "Accept": "application/json"})


def post_form(url: str, fields: dict[str, str]) -> Reply:
    return call("POST", url, data=urllib.parse.urlencode(fields).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "Accept": "application/json"})
