"""Records of the escalation store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

Role = Literal["customer", "bot", "agent", "system"]


class HandoffStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class HandoffReason(StrEnum):
    """Why a conversation went to a person (stored on the handoff, shown in the console)."""

    CUSTOMER_REQUEST = "customer_request"  # asked for a person
    LOW_CONFIDENCE = "low_confidence"  # the best match was below the answer threshold
    MISSING_KNOWLEDGE = "missing_knowledge"  # nothing in the knowledge comes close
    CLARIFY_REJECTED = "clarify_rejected"  # "none of these" after suggestions
    WRONG_ANSWER = "wrong_answer"  # "not what I asked" after an answer
    PROMPT_INJECTION = "prompt_injection"
    OTHER_CUSTOMER_DATA = "other_customer_data"
    BANK_DETAILS_CHANGE = "bank_details_change"


class MailStatus(StrEnum):
    """Where an outgoing mail is."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # refused for good (5xx) or given up after two days of retries
    BOUNCED = "bounced"  # accepted, then reported undeliverable


class ConversationStatus(StrEnum):
    """Derived from the conversation's handoff, never stored twice."""

    BOT = "bot"  # the bot answers
    HANDOFF = "handoff"  # a handoff is open or claimed


def iso(at: datetime) -> str:
    """How the desk stores an instant: ISO 8601 in UTC to the millisecond (sorts and compares as text)."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def parse_iso(stamp: str) -> datetime:
    """A stored instant back as an aware datetime (a naive one is read as UTC)."""
    at = datetime.fromisoformat(stamp)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Conversation:
    id: str
    lang: str
    status: ConversationStatus
    created_at: str
    updated_at: str
    state: dict[str, Any] = field(default_factory=dict)
    customer_id: str | None = None  # the verified customer who owns it; None: anonymous
    customer: dict[str, str] = field(default_factory=dict)  # their name, email, company as the app sent them
    channel: str = "widget"  # widget | email
    contact_email: str | None = None  # where replies are mailed (email channel, or left in the widget)
    seen_message_id: int = 0  # the newest message the customer's widget has shown them
    mail_thread: dict[str, Any] = field(default_factory=dict)  # email: subject, Message-IDs of the thread

    @property
    def email(self) -> str | None:
        """The address replies can reach the customer at, if any."""
        return self.contact_email or self.customer.get("email") or None


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: str
    role: Role
    text: str
    created_at: str
    meta: dict[str, Any] = field(default_factory=dict)
    author: str | None = None
    feedback: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file that came with a customer's mail: stored (up to a limit), never indexed."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Handoff:
    id: int
    conversation_id: str
    status: HandoffStatus
    reason: str
    lang: str
    question: str
    candidates: list[dict[str, Any]]
    created_at: str
    claimed_by: str | None = None
    claimed_at: str | None = None
    first_reply_at: str | None = None
    resolved_at: str | None = None
    resolution_answer: str | None = None
    resolution_faq_id: str | None = None
    ticket_id: str | None = None


@dataclass(frozen=True)
class FaqDraft:
    id: int
    handoff_id: int | None  # None: built from a cluster of unanswered questions
    lang: str
    title: str
    questions: list[str]
    answer: str
    created_by: str
    created_at: str
    status: str = "open"  # open | published | dismissed
    entry_id: str | None = None  # the FAQ id an editor gave it
    updated_by: str | None = None
    updated_at: str | None = None


class IncidentStatus(StrEnum):
    """Where a suspected incident is: an agent or engineer confirms or dismisses it; a confirmed one is
    resolved when the fix ships."""

    SUSPECTED = "suspected"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    RESOLVED = "resolved"


# which status each may move to (anything else is a 409)
INCIDENT_TRANSITIONS: dict[IncidentStatus, tuple[IncidentStatus, ...]] = {
    IncidentStatus.SUSPECTED: (IncidentStatus.CONFIRMED, IncidentStatus.DISMISSED, IncidentStatus.RESOLVED),
    IncidentStatus.CONFIRMED: (IncidentStatus.RESOLVED,),
    IncidentStatus.DISMISSED: (),
    IncidentStatus.RESOLVED: (),
}


@dataclass(frozen=True)
class IncidentQuestion:
    """A customer question linked to an incident (one link per conversation)."""

    conversation_id: str
    lang: str
    channel: str
    question: str
    asked_at: str  # ISO-8601
    handoff_id: int | None = None
