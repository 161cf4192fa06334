"""Accounts and sign-in: argon2 password hashes, first-login tokens the instructor hands out,
the service's secret key, and CSRF tokens for every form.

A first-login token is an HMAC of the account and its generation under the service's secret:
the instructor can print it again at any time (``grader serve --links``), and it works until
the password is set; setting a password, or the instructor's reset, bumps the generation, so
the link of the generation before stops working."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SECRET_FILE = "secret.key"
MIN_PASSWORD = 10
# argon2id at RFC 9106's second recommended setting, lighter on memory: a class signing in at
# once (a lecture's start) must not need a gigabyte.
_hasher = PasswordHasher(time_cost=3, memory_cost=19 * 1024, parallelism=1)
# Hashed once, so that an unknown login takes as long to refuse as a wrong password.
_DUMMY = _hasher.hash("not a password of anyone's")
# Each hash holds 19 MiB while it runs: a class signing in at once waits its turn here rather
# than have every one of the server's threads hold that at the same time.
_HASHING = threading.BoundedSemaphore(max(2, 2 * (os.cpu_count() or 1)))


def secret_key(state: Path) -> bytes:
    """The service's secret (the first-login tokens' key), made once and kept in the state
    folder, readable by this user only."""
    path = state / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    # Written whole under another name, then linked in place: of several processes starting at
    # once on a new state folder, one key wins and every process reads that one, never a file
    # half written.
    key = secrets.token_bytes(32)
    tmp = state / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return bytes.fromhex(path.read_text().strip())
        return key
    finally:
        tmp.unlink(missing_ok=True)


def hash_password(password: str) -> str:
    with _HASHING:
        return _hasher.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` is the account's; an account without one never matches."""
    try:
        with _HASHING:
            return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str, again: str, login: str) -> str:
    """Why a new password is refused, or ""."""
    if password != again:
        return "the two passwords differ"
    if len(password) < MIN_PASSWORD:
        return f"use at least {MIN_PASSWORD} characters"
    if password.strip().lower() == login.lower():
        return "do not use your login as your password"
    return ""


def possible_login(login: str) -> bool:
    """Whether ``login`` could be an account's (no control character, within the column):
    anything else is not looked up (PostgreSQL refuses a NUL in a query)."""
    return 0 < len(login) <= 200 and login.isprintable()


def first_login_token(key: bytes, login: str, generation: int) -> str:
    mac = hmac.new(key, f"first-login\0{login}\0{generation}".encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def token_matches(key: bytes, login: str, generation: int, token: str) -> bool:
    return hmac.compare_digest(first_login_token(key, login, generation), token)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_matches(expected: object, given: object) -> bool:
    return isinstance(expected, str) and isinstance(given, str) and bool(expected) and \
        hmac.compare_digest(expected, given)
