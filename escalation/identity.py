"""Who a customer is, as the invoice app vouches for it (widget identity verification).

The invoice app signs the signed-in customer with the desk's identity secret
(``HELPDESK_IDENTITY_SECRET``) in one of two ways, as Intercom and Chatwoot do it:

- an HS256 JWT ``{"sub": "<customer id>", "name", "email", "company", "iat", "exp"}`` (``exp``
  required, at most ``max_age`` after ``iat``), or
- an HMAC-SHA256 of the customer id (hex, ``user_hash``) with the id and profile alongside.

A verified customer owns their conversations across devices; anything forged, expired, too
long-lived or signed with another algorithm is refused with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt

MAX_ID = 128


class InvalidIdentity(Exception):
    code = "invalid_identity"


@dataclass(frozen=True)
class CustomerIdentity:
    id: str
    name: str | None = None
    email: str | None = None
    company: str | None = None

    def profile(self) -> dict[str, str]:
        return {k: v for k, v in (("name", self.name), ("email", self.email), ("company", self.company)) if v}


def _text(value: object, limit: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidIdentity("identity fields must be strings of at most 200 characters")
    return value.strip() or None


def user_hash(secret: str, customer_id: str) -> str:
    """What the invoice app sends as ``user_hash`` for ``customer_id`` (hex HMAC-SHA256)."""
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


class IdentityVerifier:
    def __init__(self, secret: str, max_age_seconds: int = 24 * 3600, leeway_seconds: int = 30) -> None:
        if len(secret) < 32:
            raise ValueError("the identity secret must have at least 32 characters")
        self.secret = secret
        self.max_age = max_age_seconds
        self.leeway = leeway_seconds

    def verify_token(self, token: str) -> CustomerIdentity:
        """A customer from an HS256 JWT; :class:`InvalidIdentity` says why not."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],  # never "none", never a public-key algorithm with this secret
                options={"require": ["sub", "exp"]},
                leeway=self.leeway,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidIdentity("the identity token has expired; the invoice app must sign a new one") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidIdentity(f"the identity token is not valid: {exc}") from None
        issued = claims.get("iat")
        if not isinstance(issued, int | float):
            issued = time.time()
        if float(claims["exp"]) - float(issued) > self.max_age + self.leeway:
            raise InvalidIdentity(f"the identity token lives longer than {self.max_age} s; sign shorter-lived tokens")
        return self._identity(claims.get("sub"), claims)

    def verify_hash(self, customer_id: str, given_hash: str, profile: dict[str, object]) -> CustomerIdentity:
        """A customer from ``user_hash`` = HMAC-SHA256(secret, customer id)."""
        if not hmac.compare_digest(user_hash(self.secret, customer_id), given_hash.lower()):
            raise InvalidIdentity("user_hash does not match the customer id")
        return self._identity(customer_id, profile)

    def _identity(self, sub: object, claims: dict[str, object]) -> CustomerIdentity:
        if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_ID:
            raise InvalidIdentity(f"the customer id must be a non-empty string of at most {MAX_ID} characters")
        return CustomerIdentity(
            sub.strip(), _text(claims.get("name")), _text(claims.get("email")), _text(claims.get("company"))
        )


class ConversationKeys:
    """The credential of an anonymous visitor's conversation: an HMAC of its id under a desk secret.

    Derived, not stored, so every replica computes the same one and a retry of the message that
    created the conversation can be answered with it again; it never appears in a URL the desk
    builds except the widget's event stream (Referrer-Policy: no-referrer keeps it there).
    """

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def token_for(self, conversation_id: str) -> str:
        mac = hmac.new(self._key, b"conversation:" + conversation_id.encode(), hashlib.sha256).digest()
        return "hc_" + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def reply_tag(self, conversation_id: str) -> str:
        """A short tag of the conversation for its reply address (support+<id>.<tag>@...)."""
        return hmac.new(self._key, b"reply-to:" + conversation_id.encode(), hashlib.sha256).hexdigest()[:16]

    def check_reply_tag(self, conversation_id: str, tag: str) -> bool:
        return hmac.compare_digest(self.reply_tag(conversation_id).encode(), tag.encode("utf-8", "replace"))

    def check(self, conversation_id: str, token: str | None) -> bool:
        if not token:
            return False
        # bytes: compare_digest refuses non-ASCII str, and a token is whatever a client sent
        return hmac.compare_digest(self.token_for(conversation_id).encode(), token.encode("utf-8", "replace"))
