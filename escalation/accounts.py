"""People who work the desk: accounts with roles, argon2 password hashes, console sessions, API tokens.

Passwords are hashed with argon2id (``argon2-cffi``) and rehashed at sign-in when the parameters
change (older scrypt hashes are verified once and upgraded the same way). Signing in costs the same
whether the account exists or not (a dummy hash is checked for unknown names), so timing does not
tell which usernames exist. Sessions expire after ``SESSION_HOURS`` and are purged.

API tokens are random (32 bytes) and belong to one account: a SHA-256 of each is stored, the token
is shown once when it is created, its last use is recorded, and it acts as its owner only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from escalation.storage.repos import AccountRepo

SESSION_HOURS = 12
TOKEN_PREFIX = "hd_"
# argon2id, RFC 9106's second recommendation scaled to a small server: ~50 ms on one core here
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class Role(StrEnum):
    """``agent``: the queue. ``editor``: also FAQ drafts and knowledge status. ``admin``: also
    accounts and everyone's API tokens."""

    AGENT = "agent"
    EDITOR = "editor"
    ADMIN = "admin"


RANK = {Role.AGENT: 0, Role.EDITOR: 1, Role.ADMIN: 2}


class InvalidCredentials(Exception):
    code = "invalid_credentials"


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str
    role: Role

    def may(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(got, base64.b64decode(digest))


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY = HASHER.hash(secrets.token_urlsafe(16))  # checked for unknown usernames: same cost, same answer


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


class Accounts:
    def __init__(self, repo: AccountRepo) -> None:
        self.repo = repo

    def add(self, username: str, password: str, display_name: str | None = None, role: Role = Role.AGENT) -> None:
        if len(password) < 8:
            raise ValueError("password must have at least 8 characters")
        self.repo.add_agent(username, hash_password(password), display_name or username, Role(role))

    def add_first(self, username: str, password: str, display_name: str, role: Role = Role.ADMIN) -> bool:
        """Create the desk's first account unless one exists (race-free across replicas)."""
        return self.repo.add_first_agent(username, hash_password(password), display_name, Role(role))

    def person(self, username: str) -> Person | None:
        row = self.repo.agent(username)
        if row is None:
            return None
        return Person(row["username"], row["display_name"], Role(row["role"] or Role.AGENT))

    def people(self) -> list[Person]:
        return [Person(r["username"], r["display_name"], Role(r["role"] or Role.AGENT)) for r in self.repo.agents()]

    def check_password(self, username: str, password: str) -> bool:
        """Whether the password is right; upgrades the stored hash when its parameters are old."""
        stored = self.repo.password_hash(username)
        if stored is None:
            verify_password(password, _DUMMY)  # as slow as a real check: no username oracle
            return False
        if not verify_password(password, stored):
            return False
        if stored.startswith("scrypt$") or HASHER.check_needs_rehash(stored):
            self.repo.set_password_hash(username, hash_password(password))
        return True

    def sign_in(self, username: str, password: str) -> str:
        """Check the password and open a session; returns the session token (for a cookie)."""
        if not self.check_password(username, password):
            raise InvalidCredentials("wrong username or password")
        token = secrets.token_urlsafe(32)
        now = _now()
        self.repo.purge_sessions(_iso(now))
        self.repo.create_session(_token_hash(token), username, _iso(now + timedelta(hours=SESSION_HOURS)))
        return token

    def user_of(self, token: str) -> str | None:
        return self.repo.session_user(_token_hash(token), _iso(_now()))

    def sign_out(self, token: str) -> None:
        self.repo.delete_session(_token_hash(token))

    def purge_sessions(self) -> int:
        return self.repo.purge_sessions(_iso(_now()))

    def create_token(self, username: str, label: str = "") -> tuple[int, str]:
        """A new API token acting as ``username``: (its id, the token, shown only now)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = self.repo.add_token(_token_hash(token), username, label or f"token for {username}")
        return token_id, token

    def register_token(self, token: str, username: str, label: str) -> int:
        """Store a token chosen elsewhere (the operator's ``HELPDESK_AGENT_TOKEN``) as ``username``'s."""
        if len(token) < 8:
            raise ValueError("an API token must have at least 8 characters")
        return self.repo.add_token(_token_hash(token), username, label)

    def token_user(self, token: str) -> str | None:
        """The account a (not revoked) API token belongs to; records when it was last used."""
        if len(token) < 8 or len(token) > 256:
            return None
        now = _now()
        return self.repo.token_user(_token_hash(token), _iso(now), _iso(now - timedelta(minutes=1)))

    def revoke_token(self, token_id: int) -> bool:
        return self.repo.revoke_token(token_id)
