"""Agent accounts: scrypt password hashes, console sign-in sessions, personal API tokens.

API tokens are random (32 bytes), so a SHA-256 of each is what is stored; the token itself is
shown once, when it is created. A token acts as the agent it belongs to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from escalation.storage.repos import AccountRepo

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


TOKEN_PREFIX = "hd_"


class Accounts:
    def __init__(self, repo: AccountRepo) -> None:
        self.repo = repo

    def add(self, username: str, password: str, display_name: str | None = None) -> None:
        if len(password) < 8:
            raise ValueError("password must have at least 8 characters")
        self.repo.add_agent(username, hash_password(password), display_name or username)

    def sign_in(self, username: str, password: str) -> str:
        """Check the password and open a session; returns the session token (for a cookie)."""
        stored = self.repo.password_hash(username)
        if stored is None or not verify_password(password, stored):
            raise InvalidCredentials("wrong username or password")
        token = secrets.token_urlsafe(32)
        expires = (datetime.now(UTC) + timedelta(hours=SESSION_HOURS)).isoformat(timespec="seconds")
        self.repo.create_session(_token_hash(token), username, expires)
        return token

    def user_of(self, token: str) -> str | None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return self.repo.session_user(_token_hash(token), now)

    def sign_out(self, token: str) -> None:
        self.repo.delete_session(_token_hash(token))

    def create_token(self, username: str, label: str = "") -> tuple[int, str]:
        """A new API token acting as ``username``: (its id, the token, shown only now)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = self.repo.add_token(_token_hash(token), username, label or f"token for {username}")
        return token_id, token

    def token_user(self, token: str) -> str | None:
        """The agent a (not revoked) API token belongs to."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        return self.repo.token_user(_token_hash(token))

    def revoke_token(self, token_id: int) -> bool:
        return self.repo.revoke_token(token_id)
