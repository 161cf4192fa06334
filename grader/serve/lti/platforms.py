"""serve.toml's [lti] table and its [[lti.platform]] entries: the LMSs the tool trusts, each with
its issuer, client id, deployments and endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

PLATFORM_KEYS = {"name", "issuer", "client_id", "deployment_ids", "jwks_url", "auth_url",
                 "token_url", "token_audience"}
SETTINGS_KEYS = {"platform", "url", "retry_seconds", "retry_max_seconds", "retry_attempts",
                 "leeway_seconds"}


@dataclass(frozen=True)
class Platform:
    """One registration of the tool in an LMS (an issuer may hold several: one per client id)."""

    issuer: str
    client_id: str
    deployment_ids: tuple[str, ...]
    jwks_url: str  # the platform's public keys, that sign its launches
    auth_url: str  # its OIDC authorisation endpoint
    token_url: str  # its OAuth 2 token endpoint (AGS, NRPS)
    name: str = ""
    token_audience: str = ""  # the aud of our client assertions; default: token_url

    @property
    def title(self) -> str:
        return self.name or self.issuer

    @property
    def audience(self) -> str:
        return self.token_audience or self.token_url

    def origins(self) -> set[str]:
        """Where the platform's pages are (framing the tool, receiving deep links)."""
        return {_origin(u) for u in (self.issuer, self.auth_url) if _origin(u)}


@dataclass(frozen=True)
class LtiSettings:
    platforms: tuple[Platform, ...] = ()
    url: str = ""  # the tool's address as the LMS reaches it; default: the request's
    retry_seconds: float = 30.0  # the first retry of a score the LMS did not take
    retry_max_seconds: float = 3600.0  # retries back off to at most this
    leeway_seconds: int = 60  # clock skew allowed on a launch's iat and exp
    # A score the LMS does not take is marked failed after this many attempts (with the
    # defaults above, about two days of the LMS down or behind a proxy); "send again" on the
    # instructor's LTI page queues it once more.
    retry_attempts: int = 48

    @property
    def enabled(self) -> bool:
        return bool(self.platforms)

    def find(self, issuer: str, client_id: str | None) -> Platform | None:
        """The registration of ``issuer`` (and ``client_id``, where the platform names it)."""
        found = [p for p in self.platforms if p.issuer == issuer
                 and (not client_id or p.client_id == client_id)]
        return found[0] if len(found) == 1 or (found and client_id) else None

    def origins(self) -> list[str]:
        return sorted(set().union(*(p.origins() for p in self.platforms)))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and \
        parts.netloc else ""


def read_settings(data: Any) -> LtiSettings:
    """The [lti] table; ValueError with the fix, said in one line."""
    if not isinstance(data, dict):
        raise ValueError("[lti] must be a table")
    unknown = sorted(set(data) - SETTINGS_KEYS)
    if unknown:
        raise ValueError(f"[lti]: unknown setting {unknown[0]!r}; known: "
                         f"{', '.join(sorted(SETTINGS_KEYS))}")
    rows = data.get("platform", [])
    if not isinstance(rows, list):
        raise ValueError("[[lti.platform]] must be a list of tables")
    platforms = tuple(_platform(i, row) for i, row in enumerate(rows, 1))
    seen = [(p.issuer, p.client_id) for p in platforms]
    if len(set(seen)) != len(seen):
        raise ValueError("two [[lti.platform]] entries have the same issuer and client_id")
    url = str(data.get("url", "")).rstrip("/")
    if url and not _origin(url):
        raise ValueError(f"[lti] url {url!r} must be the tool's http(s) address")
    numbers = {}
    for key, default, low in (("retry_seconds", 30.0, 0.01), ("retry_max_seconds", 3600.0, 0.01),
                              ("leeway_seconds", 60, 0)):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
            raise ValueError(f"[lti] {key} must be a number of seconds ≥ {low}")
        numbers[key] = value
    attempts = data.get("retry_attempts", 48)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError("[lti] retry_attempts must be a whole number ≥ 1")
    return LtiSettings(platforms, url, float(numbers["retry_seconds"]),
                       float(numbers["retry_max_seconds"]), int(numbers["leeway_seconds"]),
                       attempts)


def _platform(i: int, row: Any) -> Platform:
    where = f"[[lti.platform]] {i}"
    if not isinstance(row, dict):
        raise ValueError(f"{where} must be a table")
    unknown = sorted(set(row) - PLATFORM_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown setting {unknown[0]!r}; known: "
                         f"{', '.join(sorted(PLATFORM_KEYS))}")
    for key in ("issuer", "client_id", "jwks_url", "auth_url", "token_url"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise ValueError(f"{where}: give {key} (the LMS shows it where the tool is "
                             "registered; docs/lti.md)")
    for key in ("jwks_url", "auth_url", "token_url"):
        if not _origin(row[key]):
            raise ValueError(f"{where}: {key} {row[key]!r} must be an http(s) address")
    deployments = row.get("deployment_ids", [])
    if not (isinstance(deployments, list) and deployments
            and all(isinstance(d, str) and d.strip() for d in deployments)):
        raise ValueError(f"{where} ({row['issuer']}): deployment_ids must list the deployment "
                         "ids the LMS gave, e.g. [\"1\"]")
    return Platform(row["issuer"].strip(), row["client_id"].strip(),
                    tuple(d.strip() for d in deployments), row["jwks_url"].strip(),
                    row["auth_url"].strip(), row["token_url"].strip(),
                    str(row.get("name", "")), str(row.get("token_audience", "")))
