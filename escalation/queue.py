"""The human queue: hand off, claim (exactly one agent wins), reply, resolve into a ticket.

The state machine ``open -> claimed -> resolved`` is kept by the database (conditional updates in
:class:`escalation.storage.repos.HandoffRepo`); this module adds what the desk decides around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from escalation.errors import InvalidTransition
from escalation.models import Handoff, HandoffStatus, Message, now_iso
from escalation.storage import Storage
from knowledge.pii import redact
from knowledge.tickets import Ticket


@dataclass(frozen=True)
class Resolution:
    handoff: Handoff
    ticket: Ticket
    message: Message | None
    repeated: bool = False  # resolved before by the same agent with the same answer: nothing new happened


class EscalationQueue:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.handoffs = storage.handoffs

    def hand_off(
        self, conversation_id: str, reason: str, lang: str, question: str, candidates: list[dict[str, Any]]
    ) -> Handoff:
        """Open a handoff, or return the one already open: a conversation never has two."""
        return self.handoffs.open(conversation_id, reason, lang, question, candidates)[0]

    def claim(self, handoff_id: int, agent: str) -> Handoff:
        return self.handoffs.claim(handoff_id, agent)

    def reply(self, handoff_id: int, agent: str, text: str, client_id: str | None = None) -> Message:
        """An agent's message, appended to the customer's transcript. Replying claims an open handoff.
        With ``client_id``, a retry returns the message already sent."""
        return self.handoffs.reply(handoff_id, agent, text, client_id)

    def question_of(self, handoff: Handoff) -> str:
        """What the customer needed: the handoff question, or their first message after a bare request."""
        if handoff.question.strip():
            return handoff.question
        for m in self.storage.conversations.messages(handoff.conversation_id):
            if m.role == "customer" and m.created_at >= handoff.created_at:
                return m.text
        return ""

    def resolve(
        self,
        handoff_id: int,
        agent: str,
        answer: str,
        faq_id: str | None = None,
        question: str | None = None,
        reply_to_customer: bool = True,
    ) -> Resolution:
        """Close the handoff and record it as a resolved ticket every replica learns from.

        The ticket is what other customers' questions are matched against and what agents see under
        "similar tickets", so its personal data is redacted; the conversation keeps the original.
        Resolving again (a retry, a double click, six tabs) with the same answer returns the first
        resolution; the customer gets the answer once and there is one ticket."""
        handoff = self.handoffs.get(handoff_id)
        if self._same_resolution(handoff, agent, answer):
            return self._repeat(handoff)
        ticket = Ticket(
            id=f"H-{handoff_id}",
            question=redact((question or self.question_of(handoff)).strip() or answer[:200]),
            answer=redact(answer),
            lang=handoff.lang if handoff.lang in ("en", "zh") else "en",  # type: ignore[arg-type]
            resolved_at=now_iso(),
            faq_id=faq_id,
        )
        try:
            done, message = self.handoffs.resolve(handoff_id, agent, answer, ticket, reply_to_customer)
        except InvalidTransition:
            again = self.handoffs.get(handoff_id)  # a concurrent resolve won: the same one is a repeat
            if self._same_resolution(again, agent, answer):
                return self._repeat(again)
            raise
        return Resolution(done, ticket, message)

    @staticmethod
    def _same_resolution(handoff: Handoff, agent: str, answer: str) -> bool:
        return (
            handoff.status == HandoffStatus.RESOLVED
            and handoff.claimed_by == agent
            and (handoff.resolution_answer or "") == answer
        )

    def _repeat(self, handoff: Handoff) -> Resolution:
        stored = next((t for t in self.storage.tickets.all() if t.id == handoff.ticket_id), None)
        ticket = stored or Ticket(
            id=handoff.ticket_id or f"H-{handoff.id}",
            question=redact(handoff.question),
            answer=redact(handoff.resolution_answer or ""),
            lang=handoff.lang if handoff.lang in ("en", "zh") else "en",  # type: ignore[arg-type]
            resolved_at=handoff.resolved_at or now_iso(),
            faq_id=handoff.resolution_faq_id,
        )
        return Resolution(handoff, ticket, None, repeated=True)
