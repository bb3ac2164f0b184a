"""A customer's turn: store the message first, then answer, clarify, or hand off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.flow import phrases
from bot.flow.answering import Answerer, Reply
from bot.flow.decision import Decision, ReplyKind
from escalation.models import HandoffReason, Message
from escalation.queue import EscalationQueue
from escalation.storage import Storage
from knowledge.lang import detect_language

NONE_OF_THESE = "none"


class InvalidChoice(ValueError):
    """The customer picked something that was not offered."""

    code = "invalid_choice"


@dataclass(frozen=True)
class Turn:
    conversation_id: str
    customer_message: Message
    bot_message: Message | None
    reply: Reply
    handoff_id: int | None = None


class ChatService:
    def __init__(self, storage: Storage, queue: EscalationQueue, answerer: Answerer) -> None:
        self.storage = storage
        self.queue = queue
        self.answerer = answerer

    def handle(
        self, text: str, conversation_id: str | None, lang: str | None, choice: str | None = None
    ) -> Turn:
        text = text.strip()
        msg_lang = lang or detect_language(text)
        conv = (
            self.storage.conversations.get(conversation_id)
            if conversation_id
            else self.storage.conversations.create(msg_lang)
        )
        customer = self.storage.conversations.add_message(conv.id, "customer", text, {"lang": msg_lang, "choice": choice})

        # a person owns the conversation now: the bot stays quiet, the message joins the ticket
        if conv.status == "handoff":
            handoff = self.storage.handoffs.open_for(conv.id)
            reply = Reply("handoff", phrases.text("queued", msg_lang), 0.0, "queued")
            return Turn(conv.id, customer, None, reply, handoff.id if handoff else None)

        pending: list[str] = list(conv.state.get("pending", []))
        kb = self.answerer.runtime.snapshot.kb
        if choice:
            if choice == NONE_OF_THESE:
                rejected = Decision(ReplyKind.HANDOFF, HandoffReason.CLARIFY_REJECTED, 0.0)
                reply = self.answerer.handoff(kb, rejected, None, msg_lang, conv.state.get("candidates", []))
            elif choice in pending and choice in kb.entries:
                reply = self.answerer.answer(
                    kb, choice, msg_lang, float(conv.state.get("confidence", 0.0)), 0.0, "customer_choice"
                )
            else:
                raise InvalidChoice(
                    f"choice {choice!r} was not offered; pick one of {pending + [NONE_OF_THESE]}"
                )
        else:
            reply = self.answerer.respond(
                text, msg_lang, wants_human=phrases.wants_human(text), after_clarify=bool(pending)
            )

        handoff_id = None
        if reply.kind == "handoff":
            question = self._question(
                conv.id, text, reply.reason, customer.id, rejected=choice == NONE_OF_THESE
            )
            handoff_id = self.queue.hand_off(conv.id, reply.reason, msg_lang, question, reply.candidates).id
        state = (
            {
                "pending": [s["id"] for s in reply.suggestions],
                "candidates": reply.candidates,
                "confidence": reply.confidence,
            }
            if reply.kind == "clarify"
            else {}
        )
        self.storage.conversations.update(conv.id, lang=msg_lang, state=state)
        meta = {**reply.public(), "reason": reply.reason}
        bot = self.storage.conversations.add_message(conv.id, "bot", reply.text, meta)
        return Turn(conv.id, customer, bot, reply, handoff_id)

    def not_what_i_asked(self, message_id: int) -> Turn:
        """The customer says an answer missed their question: hand off at once, remember the miss.

        The bot's answer is marked ``wrong`` (a negative example for the next calibration) and the
        question goes to a person with the bot's candidates, so nobody has to ask it again.
        """
        bot = self.storage.conversations.get_message(message_id)
        if bot.role != "bot" or bot.meta.get("kind") != "answer":
            raise InvalidChoice(f"message {message_id} is not an answer of the bot")
        conv = self.storage.conversations.get(bot.conversation_id)
        earlier = [m for m in self.storage.conversations.messages(conv.id) if m.role == "customer" and m.id < bot.id]
        if not earlier:
            raise InvalidChoice(f"message {message_id} answers no question")
        question = earlier[-1]
        lang = str(question.meta.get("lang") or conv.lang)
        self.storage.conversations.set_feedback(message_id, "wrong")
        existing = self.storage.handoffs.open_for(conv.id)
        if existing is not None:  # asked twice (a retry): one handoff, one reply
            reply = Reply("handoff", phrases.text("queued", lang), 0.0, "queued")
            return Turn(conv.id, question, None, reply, existing.id)
        kb = self.answerer.runtime.snapshot.kb
        rejected = [s.get("id") for s in bot.meta.get("sources", [])]
        retrieval = self.answerer.retrieve(question.text, lang)
        candidates = [
            {**c, "rejected_by_customer": c["id"] in rejected}
            for c in self.answerer.candidates_for(kb, retrieval, lang)
        ]
        reply = self.answerer.handoff(kb, Decision(ReplyKind.HANDOFF, HandoffReason.WRONG_ANSWER, 0.0), None, lang, candidates)
        handoff = self.queue.hand_off(conv.id, "wrong_answer", lang, question.text, reply.candidates)
        self.storage.conversations.update(conv.id, state={})
        meta = {**reply.public(), "reason": reply.reason}
        msg = self.storage.conversations.add_message(conv.id, "bot", reply.text, meta)
        self.answerer.runtime.request_calibration(urgent=False)
        return Turn(conv.id, question, msg, reply, handoff.id)

    def state(self, conversation_id: str) -> dict[str, Any]:
        """What the widget shows: bot or handoff, and whether a person has joined."""
        conv = self.storage.conversations.get(conversation_id)
        handoff = self.storage.handoffs.open_for(conversation_id)
        return {
            "status": conv.status,
            "handoff": None
            if handoff is None
            else {
                "id": handoff.id,
                "status": handoff.status,
                "agent": handoff.claimed_by,
                "expected_minutes": self.answerer.response_minutes,
            },
        }

    def _question(
        self, conversation_id: str, text: str, reason: str, current_id: int, rejected: bool = False
    ) -> str:
        """The question a person must answer: this message, or, when this message is only "talk to a
        human" or "none of these", the customer's last real question before it."""
        if reason != "customer_request" and not rejected:
            return text
        earlier = [
            m.text
            for m in self.storage.conversations.messages(conversation_id)
            if m.role == "customer"
            and m.id != current_id
            and not phrases.wants_human(m.text)
            and not m.meta.get("choice")
        ]
        return earlier[-1] if earlier else ""
