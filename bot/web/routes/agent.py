"""Agent API (a person's API token or console session): the queue, claim, reply, resolve, drafts, tokens.

The acting agent is the credential's owner. Writes are idempotent for the same agent and request:
claiming your own handoff again, a reply with a ``client_message_id`` already stored, or resolving
again with the same answer return what the first call did, and the customer hears it once."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from bot.services import Services
from bot.web.deps import MAX_ID, AgentAuth, AgentPerson, RowId, ServicesDep, acting_agent, require
from bot.web.errors import ApiError, responses
from bot.web.routes.chat import MessageOut, message_out
from bot.web.schemas import VISIBLE
from escalation.accounts import Role
from escalation.metrics import Window, csv_rows, entry_csv_rows
from escalation.metrics import compute as compute_metrics
from escalation.metrics import entries as metrics_entry_table
from escalation.models import FaqDraft, Handoff, HandoffStatus
from knowledge.corpus import Doc
from knowledge.pii import redact

router = APIRouter(prefix="/api/agent", tags=["agent"], dependencies=[AgentAuth], responses=responses(401, 429))
PAGE = 100
MAX_QUEUE = 500


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
    channel: str = Field("widget", description="Where the customer wrote: widget or email.")
    note_count: int = Field(0, description="How many internal notes agents wrote on it (a new one changes it: live).")
    sla: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Running SLA clocks: metric (first_response, next_response, resolution), policy, since, due_at "
        "(business hours of the team calendar) and whether it is breached.",
    )


def handoff_out(
    h: Handoff, channel: str = "widget", sla: list[dict[str, Any]] | None = None, notes: int = 0
) -> HandoffOut:
    return HandoffOut(**h.__dict__, channel=channel, sla=sla or [], note_count=notes)


def handoffs_out(services: Services, handoffs: list[Handoff]) -> list[HandoffOut]:
    """Handoffs with their channel, SLA clocks and note counts (a query each for all of them)."""
    ids = [h.id for h in handoffs]
    rows = services.storage.handoffs.for_sla(ids)
    clocks = services.sla.status_of(rows)
    channels = {h.id: channel for h, channel, _ in rows}
    notes = services.storage.handoffs.note_counts(ids)
    return [handoff_out(h, channels.get(h.id, "widget"), clocks.get(h.id), notes.get(h.id, 0)) for h in handoffs]


class SimilarTicketOut(BaseModel):
    id: str
    score: float
    question: str
    answer: str
    faq_id: str | None


class MailOut(BaseModel):
    id: int
    message_id: int | None
    kind: str = Field(..., description="reply (email conversation), missed (a widget reply mailed), transcript")
    to_addr: str
    status: str = Field(..., description="queued, sent, failed or bounced")
    attempts: int
    last_error: str | None
    created_at: str
    sent_at: str | None


class AttachmentOut(BaseModel):
    id: int
    message_id: int
    filename: str
    content_type: str
    size: int


class NoteOut(BaseModel):
    id: int
    handoff_id: int
    author: str
    text: str
    created_at: str


class HandoffDetail(HandoffOut):
    transcript: list[MessageOut]
    notes: list[NoteOut] = Field(default_factory=list, description="Internal notes (never shown to the customer).")
    similar_tickets: list[SimilarTicketOut]
    contact_email: str | None = Field(None, description="Where replies reach the customer by mail, if anywhere.")
    mail: list[MailOut] = Field(default_factory=list, description="Mail sent (or failing) in this conversation.")
    attachments: list[AttachmentOut] = Field(default_factory=list, description="Files the customer mailed.")
    customer_id: str | None = Field(None, description="The verified customer (from the invoice app's signed identity).")
    customer: dict[str, str] = Field(default_factory=dict, description="Their name, email and company as the app sent them.")
    earlier: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The verified customer's other conversations, newest first: id, updated_at, and the latest handoff.",
    )


@router.get("/handoffs", response_model=list[HandoffOut], responses=responses(422))
def list_handoffs(
    services: ServicesDep,
    response: Response,
    status: Literal["open", "claimed", "resolved", "active"] | None = Query(
        "active", description="`active` = open or claimed."
    ),
    lang: Literal["en", "zh"] | None = None,
    limit: int = Query(PAGE, ge=1, le=500, description="At most this many (a page)."),
    after: int = Query(0, ge=0, le=MAX_ID, description="Only handoffs with a larger id: the previous page's last id."),
) -> list[HandoffOut]:
    """Handoffs, oldest first, a page at a time. When more follow, the `X-Next-After` header holds the
    value of `after` for the next page; `X-Total-Count` counts them all."""
    active = status == "active"
    wanted = None if active or status is None else HandoffStatus(status)
    found = services.storage.handoffs.find(wanted, lang, active=active, limit=limit + 1, after=after)
    page = found[:limit]
    if len(found) > limit:
        response.headers["X-Next-After"] = str(page[-1].id)
    response.headers["X-Total-Count"] = str(services.storage.handoffs.count(wanted, active=active))
    return handoffs_out(services, page)


@router.get("/handoffs/{handoff_id}", response_model=HandoffDetail, responses=responses(404, 422))
def get_handoff(handoff_id: RowId, services: ServicesDep) -> HandoffDetail:
    """One handoff with the whole transcript, the bot's candidates and similar past tickets."""
    h = services.storage.handoffs.get(handoff_id)
    question = services.queue.question_of(h)
    similar = [
        # another customer's ticket: never their personal data (tickets are redacted when stored; again here)
        SimilarTicketOut(
            id=ticket.id,
            score=round(score, 4),
            question=redact(ticket.question),
            answer=redact(ticket.answer),
            faq_id=ticket.faq_id,
        )
        for ticket, score in (services.runtime.similar_tickets(question, k=5) if question else [])
    ]
    conversations = services.storage.conversations
    messages = conversations.messages(h.conversation_id)
    files = conversations.attachments([m.id for m in messages])
    conv = conversations.get(h.conversation_id)
    others = [c for c in conversations.of_customer(conv.customer_id, 11) if c.id != conv.id][:10] if conv.customer_id else []
    latest = services.storage.handoffs.latest_of(c.id for c in others)
    return HandoffDetail(
        **handoffs_out(services, [h])[0].model_dump(),
        transcript=[message_out(m) for m in messages],
        similar_tickets=similar,
        contact_email=conv.email,
        customer_id=conv.customer_id,
        customer=conv.customer,
        earlier=[
            {"conversation_id": c.id, "updated_at": c.updated_at, "lang": c.lang, "handoff_id": latest.get(c.id)}
            for c in others
        ],
        notes=[NoteOut(**n) for n in services.storage.handoffs.notes(h.conversation_id)],
        mail=[MailOut(**r) for r in services.storage.mail.of_conversation(h.conversation_id)],
        attachments=[AttachmentOut(**a) for rows in files.values() for a in rows],
    )


@router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}, **responses(404, 422)},
)
def get_attachment(attachment_id: RowId, services: ServicesDep) -> Response:
    """A file a customer mailed, as a download (never shown inline: it is whatever they sent)."""
    a = services.storage.conversations.attachment(attachment_id)
    name = "".join(c if c.isalnum() or c in "._- " else "_" for c in a["filename"])[:100] or "attachment"
    return Response(
        bytes(a["data"]),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"},
    )


class WebhookDeliveryOut(BaseModel):
    id: int
    event: str
    status: str = Field(..., description="queued, delivered, failed or skipped (no webhook configured)")
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    next_attempt_at: str


@router.get(
    "/webhooks",
    response_model=list[WebhookDeliveryOut],
    dependencies=[require(Role.ADMIN)],
    responses=responses(403, 422),
)
def webhook_log(
    services: ServicesDep,
    status: Literal["queued", "delivered", "failed", "skipped"] | None = None,
    limit: int = Query(100, ge=1, le=500),
) -> list[WebhookDeliveryOut]:
    """The webhook delivery log, newest first (admins)."""
    return [WebhookDeliveryOut(**r) for r in services.storage.webhooks.log(limit, status)]


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="The agent's name (with the API token; the console uses the sign-in).",
    )


class ReplyIn(AgentIn):
    text: str = Field(..., min_length=1, max_length=4000, pattern=VISIBLE)
    client_message_id: str | None = Field(
        None,
        min_length=16,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A random id for this reply, sent again on retry: the customer gets it once.",
    )


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(..., min_length=3, max_length=200)
    questions: list[str] = Field(default_factory=list, max_length=10)
    answer: str = Field(..., min_length=10, max_length=8000)
    lang: Literal["en", "zh"] | None = None


class ResolveIn(AgentIn):
    answer: str = Field(..., min_length=1, max_length=8000, pattern=VISIBLE, description="The answer that resolved it.")
    faq_id: str | None = Field(
        None, description="Link the question to this FAQ entry: the bot learns it at once."
    )
    question: str | None = Field(
        None, max_length=2000, description="Override the question recorded on the ticket."
    )
    draft: DraftIn | None = Field(None, description="Propose a new FAQ entry (saved as a draft for editors).")
    reply_to_customer: bool = Field(True, description="Also send the answer to the customer.")


@router.post("/handoffs/{handoff_id}/claim", response_model=HandoffOut, responses=responses(403, 404, 409, 422))
def claim(handoff_id: RowId, body: AgentIn, services: ServicesDep, person: AgentPerson) -> HandoffOut:
    """Take a handoff. Exactly one agent wins; the others get 409; claiming your own again is a no-op."""
    return handoff_out(services.queue.claim(handoff_id, acting_agent(person, body.agent)))


@router.post("/handoffs/{handoff_id}/reply", response_model=MessageOut, responses=responses(403, 404, 409, 422))
def reply(handoff_id: RowId, body: ReplyIn, services: ServicesDep, person: AgentPerson) -> MessageOut:
    """Write to the customer; the message appears in the conversation transcript (once per `client_message_id`)."""
    return message_out(
        services.queue.reply(handoff_id, acting_agent(person, body.agent), body.text, body.client_message_id)
    )


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1, max_length=4000, pattern=VISIBLE)


@router.post(
    "/handoffs/{handoff_id}/notes", response_model=NoteOut, status_code=201, responses=responses(404, 422)
)
def add_note(handoff_id: RowId, body: NoteIn, services: ServicesDep, person: AgentPerson) -> NoteOut:
    """An internal note for the other agents (any agent, whoever owns the handoff). Never sent to the
    customer: notes are not messages, no customer route, stream or mail reads them."""
    return NoteOut(**services.storage.handoffs.add_note(handoff_id, person.username, body.text))


@router.post("/handoffs/{handoff_id}/unclaim", response_model=HandoffOut, responses=responses(403, 404, 409, 422))
def unclaim(handoff_id: RowId, services: ServicesDep, person: AgentPerson) -> HandoffOut:
    """Put your handoff back in the queue (an admin may release anyone's)."""
    h = services.storage.handoffs.unclaim(handoff_id, person.username, force=person.may(Role.ADMIN))
    return handoffs_out(services, [h])[0]


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(..., min_length=1, max_length=64, description="The agent who takes it over.")


@router.post("/handoffs/{handoff_id}/transfer", response_model=HandoffOut, responses=responses(403, 404, 409, 422))
def transfer(handoff_id: RowId, body: TransferIn, services: ServicesDep, person: AgentPerson) -> HandoffOut:
    """Give an open handoff, or your own, to another agent (assign); an admin may move anyone's."""
    if services.accounts.person(body.to) is None:
        raise ApiError(422, "unknown_agent", f"no agent {body.to!r}")
    h = services.storage.handoffs.transfer(handoff_id, person.username, body.to, force=person.may(Role.ADMIN))
    return handoffs_out(services, [h])[0]


class CannedOut(BaseModel):
    id: int
    key: str
    lang: str
    title: str
    body: str = Field(..., description="With variables {name} (the customer), {agent} (you), {question}.")
    created_by: str
    updated_at: str


class CannedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(..., min_length=1, max_length=120, pattern=VISIBLE)
    body: str = Field(..., min_length=1, max_length=4000, pattern=VISIBLE)


@router.get("/canned", response_model=list[CannedOut], responses=responses(422))
def list_canned(services: ServicesDep, lang: Literal["en", "zh"] | None = None) -> list[CannedOut]:
    """Canned replies (all languages, or one)."""
    return [CannedOut(**r) for r in services.storage.canned.all(lang)]


@router.put(
    "/canned/{key}/{lang}",
    response_model=CannedOut,
    dependencies=[require(Role.EDITOR)],
    responses=responses(403, 422),
)
def put_canned(
    key: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")],
    lang: Literal["en", "zh"],
    body: CannedIn,
    services: ServicesDep,
    person: AgentPerson,
) -> CannedOut:
    """Create or replace the `lang` version of canned reply `key` (editors)."""
    return CannedOut(**services.storage.canned.put(key, lang, body.title, body.body, person.username))


@router.delete(
    "/canned/{canned_id}", status_code=204, dependencies=[require(Role.EDITOR)], responses=responses(403, 404, 422)
)
def delete_canned(canned_id: RowId, services: ServicesDep) -> Response:
    """Delete one language version of a canned reply (editors)."""
    services.storage.canned.delete(canned_id)
    return Response(status_code=204)


_VARIABLE = re.compile(r"\{(name|agent|question)\}")
_NO_NAME = {"en": "there", "zh": "您"}


class RenderedOut(BaseModel):
    text: str


@router.get(
    "/handoffs/{handoff_id}/canned/{canned_id}", response_model=RenderedOut, responses=responses(404, 422)
)
def render_canned(handoff_id: RowId, canned_id: RowId, services: ServicesDep, person: AgentPerson) -> RenderedOut:
    """A canned reply with this handoff's values filled in, ready to edit and send."""
    h = services.storage.handoffs.get(handoff_id)
    row = services.storage.canned.get(canned_id)
    conv = services.storage.conversations.get(h.conversation_id)
    values = {
        "name": conv.customer.get("name") or _NO_NAME.get(row["lang"], "there"),
        "agent": person.display_name or person.username,
        "question": services.queue.question_of(h),
    }
    return RenderedOut(text=_VARIABLE.sub(lambda m: values[m.group(1)], row["body"]))


Group = Annotated[
    Literal["day", "week"],
    Query(description="Rows per UTC day, or per ISO week (Monday to Sunday; a week cut by the window is `partial`)."),
]
Since = Annotated[date | None, Query(description="First day (UTC), default 7 days before `until`.")]
Until = Annotated[date | None, Query(description="Day after the last (UTC, exclusive), default tomorrow.")]


def metrics_window(
    since: Since = None,
    until: Until = None,
    lang: Literal["en", "zh"] | None = None,
    channel: Literal["widget", "email"] | None = None,
) -> Window:
    """The window of a metrics request, from its query (a dependency of every metrics route)."""
    until = until or (datetime.now(UTC).date() + timedelta(days=1))
    since = since or (until - timedelta(days=7))
    if since >= until:
        raise ApiError(422, "invalid_window", "`since` must be before `until`")
    if (until - since).days > 366:
        raise ApiError(422, "invalid_window", "at most 366 days at a time")
    return Window(since, until, lang, channel)


MetricsWindow = Annotated[Window, Depends(metrics_window)]


@router.get("/metrics", responses=responses(422))
def metrics(
    services: ServicesDep,
    window: MetricsWindow,
    group: Group = "day",
) -> dict[str, Any]:
    """Outcome metrics per day (`days`) or per week (`weeks`) and for the window: automation rate at 24 h
    and 7 d (answered, not handed off within that time, no negative feedback; conversations younger than
    that not counted yet), handoff rate by reason, median business minutes to the first human reply and to
    resolution, SLA attainment, CSAT; and `entries`, per FAQ entry: answers given, thumbs up, thumbs down,
    "not what I asked"; and `incidents`: those first seen in the window with seconds to the page, to the
    confirmation and to the resolution, and the customers told on resolution (with medians). Rates are null
    where nothing was counted."""
    return compute_metrics(
        services.storage, services.calendars, window, group=group,
        titles=_titles(services),
    )


@router.get(
    "/metrics.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per day or week."}, **responses(422)},
)
def metrics_csv(
    services: ServicesDep,
    window: MetricsWindow,
    group: Group = "day",
) -> Response:
    """The rows of `GET /api/agent/metrics` (per day or per week) as CSV."""
    return _csv(csv_rows(compute_metrics(services.storage, services.calendars, window, group=group, with_entries=False)), "metrics")


@router.get("/metrics/entries", responses=responses(422))
def metrics_entries(
    services: ServicesDep,
    window: MetricsWindow,
) -> list[dict[str, Any]]:
    """Per FAQ entry, in conversations started in the window: answers given, thumbs up, thumbs down,
    "not what I asked" (a `wrong_answer` handoff after its answer), helpful and miss rates; every entry
    of the FAQ appears, answered or not (`in_faq` false: an entry answered then, since removed)."""
    return metrics_entry_table(services.storage, window, _titles(services))


@router.get(
    "/metrics/entries.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per FAQ entry."}, **responses(422)},
)
def metrics_entries_csv(
    services: ServicesDep,
    window: MetricsWindow,
) -> Response:
    """`GET /api/agent/metrics/entries` as CSV."""
    table = metrics_entry_table(services.storage, window, _titles(services))
    return _csv(entry_csv_rows(table), "metrics-entries")


def _titles(services: Services) -> dict[str, dict[str, str]]:
    return dict(services.runtime.faq_titles())


def _csv(rows: list[list[Any]], name: str) -> Response:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="helpdesk-{name}.csv"'},
    )


class AgentOut(BaseModel):
    username: str
    display_name: str
    role: str


@router.get("/agents", response_model=list[AgentOut])
def list_agents(services: ServicesDep) -> list[AgentOut]:
    """The desk's people, for assigning and transferring."""
    return [
        AgentOut(username=p.username, display_name=p.display_name or p.username, role=str(p.role))
        for p in services.accounts.people()
    ]


class ResolveOut(BaseModel):
    handoff: HandoffOut
    ticket_id: str
    learned: bool
    draft_id: int | None


@router.post("/handoffs/{handoff_id}/resolve", response_model=ResolveOut, responses=responses(403, 404, 409, 422))
def resolve(handoff_id: RowId, body: ResolveIn, services: ServicesDep, person: AgentPerson) -> ResolveOut:
    """Close the handoff. It becomes a resolved ticket (personal data redacted); with `faq_id` the question
    is answerable at once. Resolving again with the same answer returns the first result."""
    if body.faq_id is not None and not services.runtime.has_entry(body.faq_id):
        raise ApiError(
            422, "unknown_faq_id", f"no FAQ entry {body.faq_id!r}; link an existing id or propose a draft"
        )
    agent = acting_agent(person, body.agent)
    res = services.queue.resolve(
        handoff_id, agent, body.answer, body.faq_id, body.question, body.reply_to_customer
    )
    learned = False
    if res.repeated:
        return ResolveOut(handoff=handoff_out(res.handoff), ticket_id=res.ticket.id, learned=False, draft_id=None)
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


class SearchHitOut(BaseModel):
    conversation_id: str
    message: MessageOut
    handoff_id: int | None = Field(None, description="The conversation's latest handoff (open or resolved), if it had one.")


@router.get("/search", response_model=list[SearchHitOut], responses=responses(422))
def search(
    services: ServicesDep,
    q: str = Query(..., min_length=1, max_length=200, description="Words or a fragment, in any language."),
    role: Literal["customer", "bot", "agent"] | None = Query(None, description="Only messages of this role."),
    limit: int = Query(50, ge=1, le=200),
) -> list[SearchHitOut]:
    """Conversations by what was written in them (full text over every message), newest first."""
    hits = services.storage.conversations.search(q, limit, role)
    latest = services.storage.handoffs.latest_of(m.conversation_id for m in hits)
    return [
        SearchHitOut(conversation_id=m.conversation_id, message=message_out(m), handoff_id=latest.get(m.conversation_id))
        for m in hits
    ]


class FaqEntryOut(BaseModel):
    id: str
    titles: dict[str, str]


@router.get("/faq", response_model=list[FaqEntryOut])
def faq_entries(services: ServicesDep) -> list[FaqEntryOut]:
    """Every FAQ entry with its titles, to link a resolution to."""
    return [FaqEntryOut(id=eid, titles=titles) for eid, titles in services.runtime.faq_titles()]


@router.get("/drafts", response_model=list[FaqDraft], dependencies=[require(Role.EDITOR)], responses=responses(403))
def drafts(services: ServicesDep) -> list[FaqDraft]:
    """FAQ entries agents proposed when resolving, oldest first, for content editors to review."""
    return services.storage.drafts.all()


class TokenOut(BaseModel):
    id: int
    username: str
    label: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field("", max_length=100, description="What the token is for.")


class NewTokenOut(TokenOut):
    token: str = Field(..., description="Shown only now; stored as a hash.")


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(services: ServicesDep, person: AgentPerson) -> list[TokenOut]:
    """Your API tokens (an admin sees everyone's) with their last use; never the tokens themselves."""
    rows = services.storage.accounts.tokens()
    return [TokenOut(**r) for r in rows if person.may(Role.ADMIN) or r["username"] == person.username]


@router.post("/tokens", response_model=NewTokenOut, status_code=201, responses=responses(422))
def create_token(body: TokenIn, services: ServicesDep, person: AgentPerson) -> NewTokenOut:
    """A new API token acting as you."""
    token_id, token = services.accounts.create_token(person.username, body.label)
    [row] = [r for r in services.storage.accounts.tokens() if r["id"] == token_id]
    return NewTokenOut(**row, token=token)


@router.delete("/tokens/{token_id}", response_model=TokenOut, responses=responses(403, 404, 422))
def revoke_token(token_id: RowId, services: ServicesDep, person: AgentPerson) -> TokenOut:
    """Revoke one of your tokens (an admin: anyone's). Revoking twice is a no-op."""
    owner = services.storage.accounts.token_owner(token_id)
    if owner is None or (owner != person.username and not person.may(Role.ADMIN)):
        raise ApiError(404, "not_found", f"no token {token_id} of yours")
    services.accounts.revoke_token(token_id)
    [row] = [r for r in services.storage.accounts.tokens() if r["id"] == token_id]
    return TokenOut(**row)
