"""The human queue: hand off, claim (exactly one agent wins), reply, resolve into a ticket.

The state machine ``open -> claimed -> resolved`` is kept by the database (conditional updates in
:class:`escalation.storage.repos.HandoffRepo`); this module adds what the desk decides around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from escalation.models import Handoff, Message, now_iso
from escalation.storage import Storage
from knowledge.tickets import Ticket


@dataclass(frozen=True)
class Resolution:
    handoff: Handoff
    ticket: Ticket
    message: Message | None


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

    def reply(self, handoff_id: int, agent: str, text: str) -> Message:
        """An agent's message, appended to the customer's transcript. Replying claims an open handoff."""
        return self.handoffs.reply(handoff_id, agent, text)

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
        """Close the handoff and record it as a resolved ticket every replica learns from."""
        handoff = self.handoffs.get(handoff_id)
        ticket = Ticket(
            id=f"H-{handoff_id}",
            question=(question or self.question_of(handoff)).strip() or answer[:200],
            answer=answer,
            lang=handoff.lang if handoff.lang in ("en", "zh") else "en",  # type: ignore[arg-type]
            resolved_at=now_iso(),
            faq_id=faq_id,
        )
        done, message = self.handoffs.resolve(handoff_id, agent, answer, ticket, reply_to_customer)
        return Resolution(done, ticket, message)
