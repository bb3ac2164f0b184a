"""All dependency aliases of the routes, in one place: who is calling, and may they?

- Agents (people): a personal API token (``Authorization: Bearer hd_...``, or the operator's
  ``HELPDESK_AGENT_TOKEN``, which belongs to one account) or the console's session cookie. The acting
  agent is always the credential's owner, never a name in the body.
- Customers: a conversation is read and written with its token (``X-Conversation-Token``, or
  ``?token=`` for the browser's EventSource, which cannot send headers) or by the verified customer
  who owns it (``X-Customer-Token``, signed by the invoice app). Without a credential: 401; with one
  that does not fit: 404, so nobody learns which conversation ids exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.services import Services
from bot.web.errors import ApiError
from escalation.accounts import Person, Role
from escalation.errors import NotFound
from escalation.identity import CustomerIdentity
from escalation.models import Conversation

SESSION_COOKIE = "helpdesk_session"
MAX_ID = 2**63 - 1  # ids are 64-bit integers in both databases
TOKEN_PATTERN = r"^[A-Za-z0-9_-]+$"
_bearer = HTTPBearer(auto_error=False)

RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="A positive 64-bit id.")]
ConversationId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="The conversation's id.")
]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def client_ip(request: Request) -> str:
    """The caller's address (behind a trusted proxy, the one it forwarded: see ``trusted_proxies``)."""
    return request.client.host if request.client else "unknown"


def agent_username(request: Request, services: Services) -> str | None:
    """The account behind the request's agent credential, if any: an ``Authorization`` header decides
    alone (a bearer token's owner, never a fallback to the cookie); without one, the console session."""
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        return services.accounts.token_user(token) if scheme.lower() == "bearer" and token else None
    cookie = request.cookies.get(SESSION_COOKIE)
    return services.accounts.user_of(cookie) if cookie else None


def agent_person(
    request: Request,
    services: ServicesDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],  # documents the scheme
) -> Person:
    """The person calling: the owner of the API token or the signed-in console user (401 otherwise)."""
    username = agent_username(request, services)
    person = services.accounts.person(username) if username else None
    if person is None:
        raise ApiError(
            401, "unauthorized", "Agent API: sign in at /console or send `Authorization: Bearer <your API token>`."
        )
    services.limit("agent_api", person.username)
    return person


AgentPerson = Annotated[Person, Depends(agent_person)]
AgentAuth = Depends(agent_person)


def require(role: Role):  # type: ignore[no-untyped-def]
    """A dependency admitting people with at least ``role``."""

    def check(person: AgentPerson) -> Person:
        if not person.may(role):
            raise ApiError(403, "forbidden", f"this needs the {role} role; {person.username} is {person.role}")
        return person

    return Depends(check)


def acting_agent(person: Person, named: str | None) -> str:
    """Who acts: always the credential's owner; a different name in the body is refused."""
    if named and named != person.username:
        raise ApiError(403, "forbidden", f"this credential acts as {person.username!r}, not {named!r}")
    return person.username


def customer_identity(
    services: ServicesDep,
    x_customer_token: Annotated[
        str | None,
        Header(max_length=4096, description="The signed-in customer, as the invoice app signed them (HS256 JWT)."),
    ] = None,
) -> CustomerIdentity | None:
    """The verified customer, or None for an anonymous visitor; 401 for a forged or expired token."""
    if not x_customer_token:
        return None
    if services.identity is None:
        raise ApiError(401, "invalid_identity", "this desk does not verify customers (no identity secret is set)")
    return services.identity.verify_token(x_customer_token)


CustomerDep = Annotated[CustomerIdentity | None, Depends(customer_identity)]


def conversation_token(
    x_conversation_token: Annotated[
        str | None,
        Header(
            max_length=128, pattern=TOKEN_PATTERN, description="The token the desk returned with the conversation."
        ),
    ] = None,
    token: Annotated[
        str | None,
        Query(
            max_length=128,
            pattern=TOKEN_PATTERN,
            description="The conversation token, for EventSource (which cannot send headers).",
        ),
    ] = None,
) -> str | None:
    return x_conversation_token or token


TokenDep = Annotated[str | None, Depends(conversation_token)]


def is_agent(request: Request, services: Services) -> bool:
    """Whether an agent credential came with the request (agents read every conversation)."""
    return agent_username(request, services) is not None


def may_use(
    services: Services, conv: Conversation, token: str | None, customer: CustomerIdentity | None
) -> bool:
    if services.conversation_keys.check(conv.id, token):
        return True
    return customer is not None and conv.customer_id == customer.id


def refuse(token: str | None, customer: CustomerIdentity | None, conversation_id: str) -> ApiError:
    if token is None and customer is None:
        return ApiError(
            401,
            "conversation_token_required",
            "Send the conversation's token (X-Conversation-Token) or the signed-in customer (X-Customer-Token).",
        )
    return ApiError(404, "not_found", f"no conversation {conversation_id!r}")


def conversation_access(
    conversation_id: ConversationId,
    request: Request,
    services: ServicesDep,
    token: TokenDep,
    customer: CustomerDep,
) -> Conversation:
    """The conversation, if the caller may read and write it (its token, its verified owner, or an agent)."""
    try:
        conv = services.storage.conversations.get(conversation_id)
    except NotFound:
        conv = None
    if conv is not None and (may_use(services, conv, token, customer) or is_agent(request, services)):
        return conv
    raise refuse(token, customer, conversation_id)


ConversationDep = Annotated[Conversation, Depends(conversation_access)]
