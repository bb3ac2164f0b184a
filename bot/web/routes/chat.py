"""Customer-facing API: chat, transcript, feedback."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.flow.chat import Turn
from bot.services import Services
from bot.web.deps import ServicesDep
from bot.web.errors import ERRORS_404, ERRORS_422
from escalation.models import Message

router = APIRouter(prefix="/api", tags=["customer"])

MAX_CHARS = 2000


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(..., description="The customer's message (1-2,000 characters).")
    conversation_id: str | None = Field(None, max_length=64, description="Omit to start a conversation.")
    lang: Literal["en", "zh"] | None = Field(None, description="Detected from the message when omitted.")
    choice: str | None = Field(
        None,
        max_length=64,
        description="After a `clarify` reply: the id of the suggestion picked, or `none` for none of them.",
    )

    @field_validator("message")
    @classmethod
    def _message(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("message is empty; write a question")
        if len(v) > MAX_CHARS:
            raise ValueError(f"message has {len(v)} characters; the limit is {MAX_CHARS}")
        return v


class Source(BaseModel):
    id: str
    title: str
    lang: str
    score: float


class Suggestion(BaseModel):
    id: str
    title: str


class ReplyOut(BaseModel):
    kind: Literal["answer", "clarify", "handoff"]
    text: str
    confidence: float
    sources: list[Source]
    suggestions: list[Suggestion]


class ChatResponse(BaseModel):
    conversation_id: str
    reply: ReplyOut
    message_id: int | None = Field(None, description="Id of the bot message, for feedback.")
    customer_message_id: int
    handoff: dict[str, Any] | None = Field(
        None,
        description="When a person owns the conversation: handoff id, status, agent, expected wait (minutes).",
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
        reply=ReplyOut(**turn.reply.public()),
        message_id=turn.bot_message.id if turn.bot_message else None,
        customer_message_id=turn.customer_message.id,
        handoff=services.chat.state(turn.conversation_id)["handoff"]
        if turn.reply.kind == "handoff"
        else None,
    )


@router.post("/chat", response_model=ChatResponse, responses=ERRORS_422 | ERRORS_404)
def chat(req: ChatRequest, services: ServicesDep) -> ChatResponse:
    """Ask the desk. The message is stored before the reply is computed."""
    return turn_out(services.chat.handle(req.message, req.conversation_id, req.lang, req.choice), services)


class Transcript(BaseModel):
    conversation_id: str
    status: str
    lang: str
    handoff: dict[str, Any] | None = Field(None, description="Open handoff: status, agent, expected wait.")
    messages: list[MessageOut]


@router.get("/conversations/{conversation_id}/messages", response_model=Transcript)
def transcript(
    conversation_id: str,
    services: ServicesDep,
    after: int = Query(0, ge=0, description="Only messages with a larger id (to resume)."),
) -> Transcript:
    """Customer, bot and agent messages of one conversation, oldest first."""
    conv = services.storage.conversations.get(conversation_id)
    return Transcript(
        conversation_id=conv.id,
        status=conv.status,
        lang=conv.lang,
        handoff=services.chat.state(conv.id)["handoff"],
        messages=[message_out(m) for m in services.storage.conversations.messages(conv.id, after)],
    )


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    helpful: bool


@router.post("/messages/{message_id}/feedback", response_model=MessageOut, responses=ERRORS_422 | ERRORS_404)
def feedback(message_id: int, body: FeedbackIn, services: ServicesDep) -> MessageOut:
    """ "Did this help?" on a bot reply. A "no" on an answer counts against that answer in the next
    calibration."""
    out = message_out(services.storage.conversations.set_feedback(message_id, "yes" if body.helpful else "no"))
    if not body.helpful:
        services.runtime.request_calibration(urgent=False)
    return out


@router.post(
    "/messages/{message_id}/not-what-i-asked", response_model=ChatResponse, responses=ERRORS_422 | ERRORS_404
)
def not_what_i_asked(message_id: int, services: ServicesDep) -> ChatResponse:
    """The answer missed the question: the conversation goes to a person at once (reason
    `wrong_answer`, with the bot's candidates), and the miss becomes a negative calibration example."""
    return turn_out(services.chat.not_what_i_asked(message_id), services)
