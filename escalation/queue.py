"""The human queue: hand off, claim (exactly one agent wins), reply, resolve into a ticket."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from escalation.errors import InvalidTransition, TicketAlreadyClaimed
from escalation.models import Handoff, Message, now_iso
from escalation.store import HelpdeskStore
from knowledge.tickets import Ticket, append_ticket


@dataclass(frozen=True)
class Resolution:
    handoff: Handoff
    ticket: Ticket
    message: Message | None


class EscalationQueue:
    def __init__(self, store: HelpdeskStore, tickets_file: Path) -> None:
        self.store = store
        self.tickets_file = tickets_file

    def hand_off(
        self, conversation_id: str, reason: str, lang: str, question: str, candidates: list[dict[str, Any]]
    ) -> Handoff:
        """Open a handoff, or return the one already open: a conversation never has two."""
        existing = self.store.open_handoff_for(conversation_id)
        if existing is not None:
            return existing
        return self.store.create_handoff(conversation_id, reason, lang, question, candidates)

    def claim(self, handoff_id: int, agent: str) -> Handoff:
        handoff = self.store.get_handoff(handoff_id)
        if handoff.status == "resolved":
            raise InvalidTransition(f"handoff {handoff_id} is already resolved")
        return self.store.claim_handoff(handoff_id, agent)

    def _owned(self, handoff_id: int, agent: str) -> Handoff:
        handoff = self.store.get_handoff(handoff_id)
        if handoff.status == "resolved":
            raise InvalidTransition(f"handoff {handoff_id} is already resolved")
        if handoff.status == "open":
            handoff = self.store.claim_handoff(handoff_id, agent)
        if handoff.claimed_by != agent:
            raise TicketAlreadyClaimed(f"handoff {handoff_id} is claimed by {handoff.claimed_by}")
        return handoff

    def reply(self, handoff_id: int, agent: str, text: str) -> Message:
        """An agent's message, appended to the customer's transcript. Replying claims an open handoff."""
        handoff = self._owned(handoff_id, agent)
        message = self.store.add_message(handoff.conversation_id, "agent", text, author=agent)
        self.store.mark_first_reply(handoff_id)
        return message

    def question_of(self, handoff: Handoff) -> str:
        """What the customer needed: the handoff question, or their first message after a bare request."""
        if handoff.question.strip():
            return handoff.question
        for m in self.store.messages(handoff.conversation_id):
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
        """Close the handoff and record it as a resolved ticket for the indexer."""
        handoff = self._owned(handoff_id, agent)
        message = None
        if reply_to_customer and answer.strip():
            message = self.store.add_message(handoff.conversation_id, "agent", answer, author=agent)
            self.store.mark_first_reply(handoff_id)
        ticket = Ticket(
            id=f"H-{handoff_id}",
            question=(question or self.question_of(handoff)).strip() or answer[:200],
            answer=answer,
            lang=handoff.lang if handoff.lang in ("en", "zh") else "en",  # type: ignore[arg-type]
            resolved_at=now_iso(),
            faq_id=faq_id,
        )
        append_ticket(self.tickets_file, ticket)
        done = self.store.resolve_handoff(handoff_id, answer, faq_id, ticket.id)
        return Resolution(done, ticket, message)
