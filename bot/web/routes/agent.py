"""Agent API (bearer token): list open handoffs, claim, reply, resolve."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from bot.web.deps import AgentAuth, AgentUser, ServicesDep, acting_agent
from bot.web.errors import ApiError, responses
from bot.web.routes.chat import MessageOut, message_out
from escalation.models import FaqDraft, Handoff, HandoffStatus
from knowledge.corpus import Doc

router = APIRouter(prefix="/api/agent", tags=["agent"], dependencies=[AgentAuth], responses=responses(401))


class HandoffOut(BaseModel):
    id: int
    conversation_id: str
    status: str
    reason: str
    lang: str
    question: str
    candidates: list[dict[str, Any]]
    created_at: str
    claimed_by: str | None
    claimed_at: str | None
    first_reply_at: str | None
    resolved_at: str | None
    resolution_answer: str | None
    resolution_faq_id: str | None
    ticket_id: str | None


def handoff_out(h: Handoff) -> HandoffOut:
    return HandoffOut(**h.__dict__)


class SimilarTicketOut(BaseModel):
    id: str
    score: float
    question: str
    answer: str
    faq_id: str | None


class HandoffDetail(HandoffOut):
    transcript: list[MessageOut]
    similar_tickets: list[SimilarTicketOut]


@router.get("/handoffs", response_model=list[HandoffOut])
def list_handoffs(
    services: ServicesDep,
    status: Literal["open", "claimed", "resolved", "active"] | None = Query(
        "active", description="`active` = open or claimed."
    ),
    lang: Literal["en", "zh"] | None = None,
) -> list[HandoffOut]:
    """Handoffs, oldest first."""
    if status == "active":
        found = services.storage.handoffs.find(None, lang, active=True)
    else:
        found = services.storage.handoffs.find(HandoffStatus(status) if status else None, lang)
    return [handoff_out(h) for h in found]


@router.get("/handoffs/{handoff_id}", response_model=HandoffDetail, responses=responses(404))
def get_handoff(handoff_id: int, services: ServicesDep) -> HandoffDetail:
    """One handoff with the whole transcript, the bot's candidates and similar past tickets."""
    h = services.storage.handoffs.get(handoff_id)
    question = services.queue.question_of(h)
    similar = [
        SimilarTicketOut(
            id=ticket.id, score=round(score, 4), question=ticket.question, answer=ticket.answer, faq_id=ticket.faq_id
        )
        for ticket, score in (services.runtime.similar_tickets(question, k=5) if question else [])
    ]
    return HandoffDetail(
        **handoff_out(h).model_dump(),
        transcript=[message_out(m) for m in services.storage.conversations.messages(h.conversation_id)],
        similar_tickets=similar,
    )


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="The agent's name (with the API token; the console uses the sign-in).",
    )


class ReplyIn(AgentIn):
    text: str = Field(..., min_length=1, max_length=4000)


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(..., min_length=3, max_length=200)
    questions: list[str] = Field(default_factory=list, max_length=10)
    answer: str = Field(..., min_length=10, max_length=8000)
    lang: Literal["en", "zh"] | None = None


class ResolveIn(AgentIn):
    answer: str = Field(..., min_length=1, max_length=8000, description="The answer that resolved it.")
    faq_id: str | None = Field(
        None, description="Link the question to this FAQ entry: the bot learns it at once."
    )
    question: str | None = Field(
        None, max_length=2000, description="Override the question recorded on the ticket."
    )
    draft: DraftIn | None = Field(None, description="Propose a new FAQ entry (saved as a draft for editors).")
    reply_to_customer: bool = Field(True, description="Also send the answer to the customer.")


@router.post("/handoffs/{handoff_id}/claim", response_model=HandoffOut, responses=responses(403, 404, 409, 422))
def claim(handoff_id: int, body: AgentIn, services: ServicesDep, user: AgentUser) -> HandoffOut:
    """Take a handoff. Exactly one agent wins; the others get 409."""
    return handoff_out(services.queue.claim(handoff_id, acting_agent(user, body.agent)))


@router.post("/handoffs/{handoff_id}/reply", response_model=MessageOut, responses=responses(403, 404, 409, 422))
def reply(handoff_id: int, body: ReplyIn, services: ServicesDep, user: AgentUser) -> MessageOut:
    """Write to the customer; the message appears in the conversation transcript."""
    return message_out(services.queue.reply(handoff_id, acting_agent(user, body.agent), body.text))


class ResolveOut(BaseModel):
    handoff: HandoffOut
    ticket_id: str
    learned: bool
    draft_id: int | None


@router.post("/handoffs/{handoff_id}/resolve", response_model=ResolveOut, responses=responses(403, 404, 409, 422))
def resolve(handoff_id: int, body: ResolveIn, services: ServicesDep, user: AgentUser) -> ResolveOut:
    """Close the handoff. It becomes a resolved ticket; with `faq_id` the question is answerable at once."""
    if body.faq_id is not None and not services.runtime.has_entry(body.faq_id):
        raise ApiError(
            422, "unknown_faq_id", f"no FAQ entry {body.faq_id!r}; link an existing id or propose a draft"
        )
    agent = acting_agent(user, body.agent)
    res = services.queue.resolve(
        handoff_id, agent, body.answer, body.faq_id, body.question, body.reply_to_customer
    )
    learned = False
    if body.faq_id and res.ticket.question:
        services.runtime.learn(
            Doc(res.ticket.question, res.ticket.lang, "ticket", body.faq_id, res.ticket.id)
        )
        learned = True
    draft_id = None
    if body.draft is not None:
        d = body.draft
        draft_id = services.storage.drafts.add(
            handoff_id, d.lang or res.handoff.lang, d.title, d.questions, d.answer, agent
        ).id
    return ResolveOut(
        handoff=handoff_out(res.handoff), ticket_id=res.ticket.id, learned=learned, draft_id=draft_id
    )


class FaqEntryOut(BaseModel):
    id: str
    titles: dict[str, str]


@router.get("/faq", response_model=list[FaqEntryOut])
def faq_entries(services: ServicesDep) -> list[FaqEntryOut]:
    """Every FAQ entry with its titles, to link a resolution to."""
    return [FaqEntryOut(id=eid, titles=titles) for eid, titles in services.runtime.faq_titles()]


@router.get("/drafts", response_model=list[FaqDraft])
def drafts(services: ServicesDep) -> list[FaqDraft]:
    """FAQ entries agents proposed when resolving, oldest first, for content editors to review."""
    return services.storage.drafts.all()
