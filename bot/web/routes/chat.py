"""Customer-facing API: chat, transcript, feedback."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.flow import phrases
from bot.flow.chat import Turn
from bot.flow.decision import ReplyKind
from bot.services import Services
from bot.web.deps import (
    MAX_ID,
    ConversationDep,
    CustomerDep,
    RowId,
    ServicesDep,
    TokenDep,
    client_ip,
    is_agent,
    may_use,
    refuse,
)
from bot.web.errors import ApiError, responses
from bot.web.schemas import VISIBLE, clean_message
from escalation.errors import NotFound
from escalation.identity import CustomerIdentity
from escalation.models import Message

router = APIRouter(prefix="/api", tags=["customer"])

MAX_CHARS = 2000


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(
        ...,
        min_length=1,
        max_length=MAX_CHARS,
        pattern=VISIBLE,
        description="The customer's message (1-2,000 characters, at least one visible).",
    )
    conversation_id: str | None = Field(None, max_length=64, description="Omit to start a conversation.")
    lang: Literal["en", "zh"] | None = Field(None, description="Detected from the message when omitted.")
    choice: str | None = Field(
        None,
        max_length=64,
        description="After a `clarify` reply: the id of the suggestion picked, or `none` for none of them.",
    )
    client_message_id: str | None = Field(
        None,
        min_length=16,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A random id the client makes for this message (e.g. a UUID) and sends again on retry: "
        "a retry returns the stored reply and stores nothing twice.",
    )

    @field_validator("message")
    @classmethod
    def _message(cls, v: str) -> str:
        return clean_message(v, MAX_CHARS)


class Source(BaseModel):
    id: str
    title: str
    lang: str
    score: float


class Suggestion(BaseModel):
    id: str
    title: str


class ReplyOut(BaseModel):
    kind: ReplyKind
    text: str
    confidence: float
    sources: list[Source]
    suggestions: list[Suggestion]
    incident_id: int | None = Field(
        None, description="kind `incident_note`: the confirmed incident whose status note this reply is."
    )


class ChatResponse(BaseModel):
    conversation_id: str
    conversation_token: str = Field(
        ..., description="Send it as `X-Conversation-Token` to read or write this conversation later."
    )
    replayed: bool = Field(False, description="This was a retry of a message already stored: nothing new was stored.")
    reply: ReplyOut
    message_id: int | None = Field(None, description="Id of the bot message, for feedback.")
    customer_message_id: int
    handoff: dict[str, Any] | None = Field(
        None,
        description="When a person owns the conversation: handoff id, status, agent, the wait (open now, place "
        "in the queue, typical minutes, when the team is back) and whether replies can reach an email address.",
    )


class MessageOut(BaseModel):
    id: int
    role: str
    text: str
    created_at: str
    author: str | None = None
    meta: dict[str, Any] = {}
    feedback: str | None = None


def message_out(m: Message) -> MessageOut:
    return MessageOut(
        id=m.id,
        role=m.role,
        text=m.text,
        created_at=m.created_at,
        author=m.author,
        meta=m.meta,
        feedback=m.feedback,
    )


def turn_out(turn: Turn, services: Services) -> ChatResponse:
    return ChatResponse(
        conversation_id=turn.conversation_id,
        conversation_token=services.conversation_keys.token_for(turn.conversation_id),
        replayed=turn.replayed,
        reply=ReplyOut(**turn.reply.public()),
        message_id=turn.bot_message.id if turn.bot_message else None,
        customer_message_id=turn.customer_message.id,
        handoff=services.chat.state(turn.conversation_id)["handoff"]
        if turn.reply.kind == ReplyKind.HANDOFF
        else None,
    )


@router.post("/chat", response_model=ChatResponse, responses=responses(401, 404, 422, 429))
def chat(
    req: ChatRequest, request: Request, services: ServicesDep, token: TokenDep, customer: CustomerDep
) -> ChatResponse:
    """Ask the desk. The message is stored before the reply is computed, once per `client_message_id`.

    A new conversation is started without `conversation_id`; continuing one needs its token
    (`X-Conversation-Token`, returned with every reply) or the verified customer who owns it."""
    ip = client_ip(request)
    conv = None
    if req.conversation_id is not None:
        try:
            conv = services.storage.conversations.get(req.conversation_id)
        except NotFound:
            conv = None
        if conv is None or not may_use(services, conv, token, customer):
            raise refuse(token, customer, req.conversation_id)
    services.limit("chat_ip", ip)
    if conv is not None:
        services.limit("chat_conversation", conv.id)
    turn = services.chat.handle(
        req.message,
        conv,
        req.lang,
        req.choice,
        req.client_message_id,
        customer,
        before_handoff=lambda: services.limit("handoff_ip", ip),
        before_create=lambda: services.limit("conversation_ip", ip),
    )
    return turn_out(turn, services)


class Transcript(BaseModel):
    conversation_id: str
    status: str
    lang: str
    handoff: dict[str, Any] | None = Field(None, description="Open handoff: status, agent, expected wait.")
    messages: list[MessageOut]


@router.get(
    "/conversations/{conversation_id}/messages", response_model=Transcript, responses=responses(401, 404, 422)
)
def transcript(
    conv: ConversationDep,
    services: ServicesDep,
    request: Request,
    after: int = Query(0, ge=0, le=MAX_ID, description="Only messages with a larger id (to resume)."),
) -> Transcript:
    """Customer, bot and agent messages of one conversation, oldest first."""
    messages = services.storage.conversations.messages(conv.id, after)
    if messages and not is_agent(request, services):  # shown to the customer: no need to mail them
        services.storage.conversations.mark_seen(conv.id, messages[-1].id)
    return Transcript(
        conversation_id=conv.id,
        status=conv.status,
        lang=conv.lang,
        handoff=services.chat.state(conv.id)["handoff"],
        messages=[message_out(m) for m in messages],
    )


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(
        ..., max_length=254, description="Where agent replies are mailed when the widget is closed; null forgets it."
    )


class ContactOut(BaseModel):
    conversation_id: str
    email: str | None


def valid_email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ApiError(422, "invalid_email", f"That email address is not valid: {exc}") from None


@router.post(
    "/conversations/{conversation_id}/contact", response_model=ContactOut, responses=responses(401, 404, 422, 429)
)
def set_contact(body: ContactIn, conv: ConversationDep, services: ServicesDep) -> ContactOut:
    """Leave an email address (optional, validated): an agent reply the customer has not seen in the
    widget within a few minutes is mailed there, with a link back to the conversation."""
    services.limit("contact_conversation", conv.id)
    email = valid_email(body.email) if body.email else None
    services.storage.conversations.set_contact(conv.id, email)
    return ContactOut(conversation_id=conv.id, email=email)


class MailedOut(BaseModel):
    conversation_id: str
    queued: bool
    to: str


@router.post(
    "/conversations/{conversation_id}/transcript",
    response_model=MailedOut,
    status_code=202,
    responses=responses(401, 404, 422, 429),
)
def mail_transcript(conv: ConversationDep, services: ServicesDep) -> MailedOut:
    """Mail the whole conversation to the customer's address (left in the widget, or the verified one)."""
    email = conv.email
    if not email:
        raise ApiError(422, "no_email", "Leave an email address first (POST .../contact).")
    services.limit("contact_conversation", conv.id)
    services.storage.mail.queue(conv.id, email, "transcript")
    return MailedOut(conversation_id=conv.id, queued=True, to=email)


class AvailabilityOut(BaseModel):
    open: bool = Field(..., description="Whether the team works now (its calendar).")
    back_at: str | None = Field(None, description="When the team is back, if it is away (ISO, UTC offset).")
    back_text: str | None = Field(None, description='The same in words, in the team\'s time zone ("Monday 09:00 CET").')
    timezone: str
    position: int = Field(..., description="Place a new handoff would take in the queue.")
    typical_minutes: int | None = Field(
        None, description="Recent median business minutes to a first human reply (none before enough replies)."
    )


@router.get("/availability", response_model=AvailabilityOut, responses=responses(422, 429))
def availability(request: Request, services: ServicesDep, lang: Literal["en", "zh"] = "en") -> AvailabilityOut:
    """Is anybody there? What the widget shows before anyone hands off."""
    services.limit("chat_ip", client_ip(request))
    w = services.waits.for_conversation(lang)
    return AvailabilityOut(
        open=w.open_now,
        back_at=w.public()["back_at"],
        back_text=phrases.when(w.back_at, w.timezone, lang, services.waits.clock()) if w.back_at else None,
        timezone=w.timezone,
        position=w.position,
        typical_minutes=w.typical_minutes,
    )


class ConversationSummary(BaseModel):
    conversation_id: str
    conversation_token: str
    status: str
    lang: str
    created_at: str
    updated_at: str


@router.get("/customer/conversations", response_model=list[ConversationSummary], responses=responses(401, 422))
def my_conversations(services: ServicesDep, customer: CustomerDep) -> list[ConversationSummary]:
    """A verified customer's conversations on any device, most recent first (needs `X-Customer-Token`)."""
    if customer is None:
        raise ApiError(401, "invalid_identity", "Send the signed-in customer as X-Customer-Token.")
    return [
        ConversationSummary(
            conversation_id=c.id,
            conversation_token=services.conversation_keys.token_for(c.id),
            status=c.status,
            lang=c.lang,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c in services.storage.conversations.of_customer(customer.id)
    ]


def own_message(message_id: int, services: Services, request: Request, token: str | None, customer: CustomerIdentity | None) -> Message:
    """A message of a conversation the caller may use; otherwise as if it did not exist."""
    try:
        message = services.storage.conversations.get_message(message_id)
        conv = services.storage.conversations.get(message.conversation_id)
    except NotFound:
        raise refuse(token, customer, "?") from None
    if may_use(services, conv, token, customer) or is_agent(request, services):
        return message
    raise refuse(token, customer, conv.id)


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    helpful: bool


@router.post("/messages/{message_id}/feedback", response_model=MessageOut, responses=responses(401, 404, 422))
def feedback(
    message_id: RowId,
    body: FeedbackIn,
    request: Request,
    services: ServicesDep,
    token: TokenDep,
    customer: CustomerDep,
) -> MessageOut:
    """ "Did this help?" on a bot reply, by the conversation's customer. A "no" on an answer counts
    against that answer in the next calibration."""
    own_message(message_id, services, request, token, customer)
    out = message_out(services.storage.conversations.set_feedback(message_id, "yes" if body.helpful else "no"))
    if not body.helpful:
        services.runtime.request_calibration(urgent=False)
    return out


@router.post(
    "/messages/{message_id}/not-what-i-asked", response_model=ChatResponse, responses=responses(401, 404, 422)
)
def not_what_i_asked(
    message_id: RowId, request: Request, services: ServicesDep, token: TokenDep, customer: CustomerDep
) -> ChatResponse:
    """The answer missed the question: the conversation goes to a person at once (reason
    `wrong_answer`, with the bot's candidates), and the miss becomes a negative calibration example."""
    own_message(message_id, services, request, token, customer)
    return turn_out(services.chat.not_what_i_asked(message_id), services)
