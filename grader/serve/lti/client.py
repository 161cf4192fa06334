"""HTTP calls from the tool to a platform (its JWKS, token endpoint, line items, scores,
memberships): JSON over the standard library's client, with a timeout, every failure one
``Unreachable`` or ``Refused`` that says what the platform answered."""

from __future__ import annotations

import http.client
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


class Session:
    """Kept-alive connections to the platforms, for one thread (the score sender): a class's
    scores go to one host, one after another, without a TCP handshake each."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self._held: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def call(self, method: str, url: str, *, data: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):  # a kept connection the server closed meanwhile: once more
            conn = self._held.get(key)
            fresh = conn is None
            if conn is None:
                kind = http.client.HTTPSConnection if parts.scheme == "https" \
                    else http.client.HTTPConnection
                conn = self._held[key] = kind(parts.netloc, timeout=self.timeout)
            try:
                conn.request(method, path, body=data, headers=headers or {})
                r = conn.getresponse()
                raw = r.read(8 * 2**20)
            except (OSError, http.client.HTTPException) as exc:
                self.close(key)
                if fresh or attempt == 2:
                    raise Unreachable(f"{url}: {exc}") from None
                continue
            if r.will_close:
                self.close(key)
            if r.status >= 400:
                text = raw[:2000].decode("utf-8", "replace").strip().replace("\n", " ")
                raise Refused(r.status, text[:300] or r.reason)
            return Reply(r.status, _json(raw), {k.lower(): v for k, v in r.getheaders()})
        raise Unreachable(url)  # not reached

    def close(self, key: tuple[str, str] | None = None) -> None:
        for k in [key] if key else list(self._held):
            conn = self._held.pop(k, None) if k else None
            if conn is not None:
                conn.close()


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


def post_json(url: str, body: Any, *, token: str, content_type: str,
              session: Session | None = None) -> Reply:
    send = session.call if session is not None else call
    return send("POST", url, data=json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": content_type,
                         "Accept": "application/json"})


def post_form(url: str, fields: dict[str, str]) -> Reply:
    return call("POST", url, data=urllib.parse.urlencode(fields).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "Accept": "application/json"})
