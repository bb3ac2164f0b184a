"""Agent accounts for the console: scrypt password hashes and sign-in sessions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from escalation.store import HelpdeskStore

_N, _R, _P = 2**14, 8, 1
SESSION_HOURS = 12


class InvalidCredentials(Exception):
    code = "invalid_credentials"


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(got, base64.b64decode(digest))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, store: HelpdeskStore) -> None:
        self.store = store

    def add(self, username: str, password: str, display_name: str | None = None) -> None:
        if len(password) < 8:
            raise ValueError("password must have at least 8 characters")
        self.store.add_agent(username, hash_password(password), display_name or username)

    def sign_in(self, username: str, password: str) -> str:
        """Check the password and open a session; returns the session token (for a cookie)."""
        stored = self.store.agent_password_hash(username)
        if stored is None or not verify_password(password, stored):
            raise InvalidCredentials("wrong username or password")
        token = secrets.token_urlsafe(32)
        expires = (datetime.now(UTC) + timedelta(hours=SESSION_HOURS)).isoformat(timespec="seconds")
        self.store.create_session(_token_hash(token), username, expires)
        return token

    def user_of(self, token: str) -> str | None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return self.store.session_user(_token_hash(token), now)

    def sign_out(self, token: str) -> None:
        self.store.delete_session(_token_hash(token))
