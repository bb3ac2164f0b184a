"""Incidents (agent API): what the spike detector suspects, and an agent's or engineer's verdict on it.

``GET /api/agent/incidents`` lists them (the open ones, suspected or confirmed, by default), newest
first; ``GET /api/agent/incidents/{id}`` adds the linked conversations and the timeline; ``confirm``
takes it as real (with the status note customers will be told, in English and Chinese: new matching
questions get it as the bot's reply), ``dismiss`` as a false alarm (its cluster stays quiet for a
while). ``reply`` writes one agent reply into every linked conversation (once per
``client_message_id``); ``resolve`` closes it and tells every linked customer once, on their channel,
in their language. Each move is made once: a second confirm, a dismiss after a confirm, or a second
resolve is a 409 (and nobody is told twice).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from bot.flow.phrases import incident_notices
from bot.services import Services
from bot.web.deps import AgentAuth, AgentPerson, RowId, ServicesDep
from bot.web.errors import responses
from bot.web.routes.chat import MessageOut, message_out
from bot.web.schemas import VISIBLE
from escalation.models import IncidentStatus

router = APIRouter(
    prefix="/api/agent/incidents", tags=["incidents"], dependencies=[AgentAuth], responses=responses(401, 429)
)


class IncidentOut(BaseModel):
    id: int
    status: str = Field(..., description="suspected, confirmed, dismissed or resolved")
    title: str = Field(..., description="The cluster's most central question, personal data redacted.")
    summary: str = Field(..., description="What the detector saw, in one line.")
    first_seen: str
    last_seen: str
    questions: int = Field(..., description="Questions linked (a conversation may ask more than one).")
    conversations: int = Field(..., description="Conversations linked (one link each).")
    languages: list[str]
    channels: list[str]
    note_en: str | None = Field(None, description="The status note for customers, in English.")
    note_zh: str | None = Field(None, description="The status note for customers, in Chinese.")
    resolution_en: str | None = Field(None, description="What customers were told on resolution, in English.")
    resolution_zh: str | None = Field(None, description="What customers were told on resolution, in Chinese.")
    detection: dict[str, Any] = Field(
        default_factory=dict,
        description="The test that opened it: count (distinct conversations in the short window), expected "
        "(under normal traffic), p_value, threshold (the alpha it was tested at), regime (business/off).",
    )
    created_at: str
    updated_at: str
    updated_by: str | None = None


class LinkOut(BaseModel):
    conversation_id: str
    handoff_id: int | None
    lang: str
    channel: str
    question: str
    asked_at: str
    linked_at: str
    notified_at: str | None


class EventOut(BaseModel):
    at: str
    kind: str = Field(
        ..., description="detected, confirmed, dismissed, replied, resolved, customers_notified (detail.count)"
    )
    actor: str | None
    detail: dict[str, Any]


class IncidentDetail(IncidentOut):
    links: list[LinkOut]
    timeline: list[EventOut]


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note_en: str | None = Field(None, max_length=2000, description="What customers are told, in English.")
    note_zh: str | None = Field(None, max_length=2000, description="What customers are told, in Chinese.")


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=500, description="Why it is not an incident (kept in the timeline).")


def _move(
    services: Services, incident_id: int, status: IncidentStatus, actor: str, note_en: str | None = None,
    note_zh: str | None = None, reason: str | None = None,
) -> IncidentOut:
    if services.incidents is not None:  # the detector learns of it too (a dismissed cluster stays quiet)
        row = services.incidents.set_status(incident_id, status, actor, note_en, note_zh, reason=reason)
    else:
        row = services.storage.incidents.set_status(incident_id, status, actor, note_en, note_zh, reason)
    return IncidentOut(**row)


def open_incidents(services: Services, limit: int = 100) -> list[IncidentOut]:
    """Suspected and confirmed incidents, the most recently active first (the console's banner)."""
    repo = services.storage.incidents
    rows = repo.all(IncidentStatus.SUSPECTED, limit) + repo.all(IncidentStatus.CONFIRMED, limit)
    rows.sort(key=lambda r: (r["last_seen"], r["id"]), reverse=True)
    return [IncidentOut(**r) for r in rows[:limit]]


@router.get("", response_model=list[IncidentOut], responses=responses(422))
def list_incidents(
    services: ServicesDep,
    status: Literal["open", "suspected", "confirmed", "dismissed", "resolved", "all"] = Query(
        "open", description="`open` = suspected or confirmed."
    ),
    limit: int = Query(100, ge=1, le=500),
) -> list[IncidentOut]:
    """Incidents, the most recently active first."""
    if status == "open":
        return open_incidents(services, limit)
    rows = services.storage.incidents.all(None if status == "all" else status, limit)
    return [IncidentOut(**r) for r in rows]


@router.get("/{incident_id}", response_model=IncidentDetail, responses=responses(404, 422))
def get_incident(incident_id: RowId, services: ServicesDep) -> IncidentDetail:
    """One incident with its linked conversations (oldest question first) and its timeline."""
    repo = services.storage.incidents
    row = repo.get(incident_id)
    return IncidentDetail(
        **row,
        links=[LinkOut(**x) for x in repo.links(incident_id)],
        timeline=[EventOut(**e) for e in repo.timeline(incident_id)],
    )


@router.post("/{incident_id}/confirm", response_model=IncidentOut, responses=responses(404, 409, 422))
def confirm_incident(
    incident_id: RowId, services: ServicesDep, person: AgentPerson, body: Annotated[ConfirmIn | None, Body()] = None
) -> IncidentOut:
    """It is real: a suspected incident becomes confirmed, with its status notes (409 unless suspected)."""
    b = body or ConfirmIn()
    return _move(services, incident_id, IncidentStatus.CONFIRMED, person.username, b.note_en, b.note_zh)


@router.post("/{incident_id}/dismiss", response_model=IncidentOut, responses=responses(404, 409, 422))
def dismiss_incident(
    incident_id: RowId, services: ServicesDep, person: AgentPerson, body: Annotated[DismissIn | None, Body()] = None
) -> IncidentOut:
    """A false alarm: a suspected incident is dismissed (409 unless suspected); its cluster raises no new
    alarm for six hours."""
    b = body or DismissIn()
    return _move(services, incident_id, IncidentStatus.DISMISSED, person.username, reason=b.reason)


class IncidentReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1, max_length=4000, pattern=VISIBLE)
    client_message_id: str | None = Field(
        None, min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
        description="A random id for this reply, sent again on retry: each customer gets it once.",
    )


class IncidentReplyOut(BaseModel):
    incident_id: int
    replayed: bool = Field(..., description="A retry: nothing new was written.")
    messages: list[MessageOut] = Field(..., description="The reply in each linked conversation.")
    conversations: list[str]


@router.post("/{incident_id}/reply", response_model=IncidentReplyOut, responses=responses(404, 409, 422))
def reply_to_incident(
    incident_id: RowId, body: IncidentReplyIn, services: ServicesDep, person: AgentPerson
) -> IncidentReplyOut:
    """One agent reply into every linked conversation (widget: on its live stream; email: mailed), with a
    `replied` event in the timeline. Once per `client_message_id`: a retry writes nothing (409 for a
    dismissed incident)."""
    messages, new = services.storage.incidents.reply(incident_id, person.username, body.text, body.client_message_id)
    return IncidentReplyOut(
        incident_id=incident_id,
        replayed=not new and body.client_message_id is not None,
        messages=[message_out(m) for m in messages],
        conversations=[m.conversation_id for m in messages],
    )


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note_en: str | None = Field(None, max_length=2000, description="The resolution, for customers, in English.")
    note_zh: str | None = Field(None, max_length=2000, description="The resolution, for customers, in Chinese.")


class ResolveOut(IncidentOut):
    notified: int = Field(..., description="Linked customers told now (each once, on their channel).")


@router.post("/{incident_id}/resolve", response_model=ResolveOut, responses=responses(404, 409, 422))
def resolve_incident(
    incident_id: RowId, services: ServicesDep, person: AgentPerson, body: Annotated[ResolveIn | None, Body()] = None
) -> ResolveOut:
    """Fixed: a suspected or confirmed incident is resolved and every linked customer is told once, in their
    language, on their channel (widget: a bot message on its live stream; email: a mail), with the
    resolution note; linked handoffs still open are resolved unless the customer wrote again after being
    linked. Timeline: `resolved`, then `customers_notified` with the count. Resolving again is a 409 and
    tells nobody."""
    b = body or ResolveIn()
    row, notified = services.storage.incidents.resolve(
        incident_id, person.username, incident_notices(b.note_en, b.note_zh), b.note_en, b.note_zh
    )
    if services.incidents is not None:
        services.incidents.detector.forget_incident(str(row.get("key", "")))
    return ResolveOut(**row, notified=notified)
