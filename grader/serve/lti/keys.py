"""The tool's own signing keys: made at first start in the state folder (readable by the
service's user only), published as a JWKS, and rotated without downtime.

A new key is published at once but signs only once it has been published for ``AHEAD`` (LMSs
cache a tool's JWKS), and a key that no longer signs stays published for ``KEEP`` after its
successor took over, so that whatever it signed can still be checked."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import RSAKey

FOLDER = "lti-keys"
AHEAD = dt.timedelta(hours=1)
KEEP = dt.timedelta(days=7)
ALG = "RS256"


@dataclass(frozen=True)
class Key:
    kid: str
    created: dt.datetime
    key: RSAKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _folder(state: Path) -> Path:
    folder = state / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def load(state: Path) -> list[Key]:
    """Every key kept, oldest first (none before the first start)."""
    keys = []
    for path in sorted(_folder(state).glob("*.json")):
        data = json.loads(path.read_text())
        keys.append(Key(data["kid"], dt.datetime.fromisoformat(data["created"]),
                        RSAKey.import_key(data["jwk"])))
    return sorted(keys, key=lambda k: (k.created, k.kid))


def add(state: Path, now: dt.datetime | None = None) -> Key:
    """A new RSA key, written readable by this user only."""
    created = now or _now()
    kid = f"{created:%Y%m%d}-{secrets.token_hex(4)}"
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": ALG},
                              private=True)
    doc = {"kid": kid, "created": created.isoformat(), "jwk": key.as_dict(private=True)}
    path = _folder(state) / f"{kid}.json"
    tmp = path.with_name(f".{path.name}.incoming")  # written whole, then renamed: never read half
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)
    return Key(kid, created, key)


def ensure(state: Path) -> list[Key]:
    """The keys, one made at the first start (by one process of several starting at once:
    the others wait for it and read that one)."""
    import fcntl

    # The lock file holds nothing, but is made 0600 like the keys beside it.
    fd = os.open(_folder(state) / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return load(state) or [add(state)]


def signing(keys: list[Key], now: dt.datetime | None = None) -> Key:
    """The newest key published for at least AHEAD (the oldest while none is)."""
    at = now or _now()
    ready = [k for k in keys if k.created + AHEAD <= at]
    return ready[-1] if ready else keys[0]


def published(keys: list[Key], now: dt.datetime | None = None) -> list[Key]:
    """The keys in the JWKS: the signing key, every newer one, and older ones for KEEP after
    the key that replaced them began to sign."""
    at = now or _now()
    current = signing(keys, at)
    out = []
    for i, k in enumerate(keys):
        successor = keys[i + 1] if i + 1 < len(keys) else None
        retired_at = successor.created + AHEAD if successor else None
        if k.created >= current.created or retired_at is None or retired_at + KEEP > at:
            out.append(k)
    return out


def retire(state: Path, now: dt.datetime | None = None) -> list[str]:
    """Remove the keys no longer published; their kids."""
    keys = load(state)
    keep = {k.kid for k in published(keys, now)}
    gone = [k.kid for k in keys if k.kid not in keep]
    for kid in gone:
        (_folder(state) / f"{kid}.json").unlink(missing_ok=True)
    return gone


def jwks(keys: list[Key], now: dt.datetime | None = None) -> dict[str, Any]:
    return {"keys": [k.key.as_dict(private=False) for k in published(keys, now)]}
