"""A customer's turn: store the message first, then answer, clarify, or hand off."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bot.flow import phrases
from bot.flow.answering import Answerer, Reply
from bot.flow.decision import Decision, ReplyKind
from escalation.identity import CustomerIdentity
from escalation.incidents import IncidentWatch, Question, incident_models, incident_vector
from escalation.models import Attachment, Conversation, HandoffReason, Message, iso
from escalation.queue import EscalationQueue
from escalation.ratelimit import RateLimited
from escalation.storage import Storage
from escalation.waits import Waits
from knowledge.lang import detect_language

log = logging.getLogger("helpdesk.chat")
NONE_OF_THESE = "none"
ANSWER_CLAIM = timedelta(seconds=30)  # a replica still answering a message after this has died doing it


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
    replayed: bool = False  # a retry: everything was stored by the first attempt


class ChatService:
    def __init__(
        self,
        storage: Storage,
        queue: EscalationQueue,
        answerer: Answerer,
        waits: Waits | None = None,
        incidents: IncidentWatch | None = None,
    ) -> None:
        self.storage = storage
        self.queue = queue
        self.answerer = answerer
        self.waits = waits
        self.incidents = incidents
        self._centred_on: tuple[int, tuple[str, ...]] | None = None  # (index, models) the detector's centre comes from
        # one turn at a time per conversation (a retry racing its original waits for it)
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()

    def _lock(self, conversation_id: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(conversation_id)
            if lock is None:
                lock = self._locks[conversation_id] = threading.Lock()
            return lock

    def handle(
        self,
        text: str,
        conv: Conversation | None,
        lang: str | None,
        choice: str | None = None,
        client_id: str | None = None,
        customer: CustomerIdentity | None = None,
        before_handoff: Callable[[], None] | None = None,
        before_create: Callable[[], None] | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> Turn:
        """One customer message: stored first (once, under ``client_id``), then answered.

        ``conv``: the conversation (the caller checked the customer may use it), None to start one.
        A retry with a ``client_id`` already stored gets the stored reply and stores nothing; when the
        first attempt stored the message but failed before replying, the reply is computed now.
        ``before_handoff`` runs before a handoff is opened, ``before_create`` before a conversation is
        started (not for a retry of the message that started one); a rate limit may refuse either.
        """
        text = text.strip()
        msg_lang = lang or detect_language(text)
        created = False
        if conv is None and client_id is not None:
            earlier = self.storage.conversations.by_client_id(client_id)
            if earlier is not None:  # a retry of the message that started a conversation
                conv = self.storage.conversations.get(earlier.conversation_id)
        if conv is None:
            if before_create is not None:
                before_create()
            conv = self.storage.conversations.create(
                msg_lang,
                customer.id if customer else None,
                customer.profile() if customer else None,
                # the invoice app vouches for a signed-in customer's address: unseen replies reach it
                contact_email=customer.email if customer else None,
            )
            created = True
        elif customer is not None and conv.customer_id is None:
            self.storage.conversations.attach_customer(conv.id, customer.id, customer.profile())
        meta = {"lang": msg_lang, "choice": choice}
        if client_id is None:
            with self._lock(conv.id):
                customer_msg = self.storage.conversations.add_message(conv.id, "customer", text, meta)
                return self._answer(conv, customer_msg, text, msg_lang, choice, before_handoff)
        with self._lock(conv.id):  # taken before storing: a retry racing this request waits for its answer
            customer_msg, new = self.storage.conversations.add_once(
                conv.id, "customer", text, client_id, meta, attachments=attachments
            )
            if new or customer_msg.conversation_id == conv.id:
                return self._answer_or_replay(conv, customer_msg, new, text, msg_lang, choice, before_handoff)
        if not created:
            raise InvalidChoice(f"client_message_id {client_id!r} belongs to another conversation")
        # the same first message sent twice at once: the other request started the conversation
        self.storage.conversations.purge(conv.id)  # this one is empty: it never held a message
        conv = self.storage.conversations.get(customer_msg.conversation_id)
        with self._lock(conv.id):
            return self._answer_or_replay(conv, customer_msg, False, text, msg_lang, choice, before_handoff)

    def _answer_or_replay(
        self,
        conv: Conversation,
        customer_msg: Message,
        new: bool,
        text: str,
        msg_lang: str,
        choice: str | None,
        before_handoff: Callable[[], None] | None,
    ) -> Turn:
        if not new:
            done = self._replay(customer_msg)
            if done is not None:
                return done
        conversations = self.storage.conversations
        if not conversations.claim_answer(customer_msg.id, iso(datetime.now(UTC) - ANSWER_CLAIM)):
            # another replica is answering this very message (a retry racing its original): its answer
            # is the answer; only if it never comes (that replica died) is it answered here
            done = self._await_reply(customer_msg)
            if done is not None:
                return done
            conversations.claim_answer(customer_msg.id, iso(datetime.now(UTC)))
        if not new:
            conv = conversations.get(conv.id)  # stored, never answered: answer it now
        try:
            return self._answer(conv, customer_msg, text, msg_lang, choice, before_handoff)
        except BaseException:
            conversations.release_answer(customer_msg.id)  # e.g. rate-limited: a retry answers it at once
            raise

    def _await_reply(self, customer_msg: Message) -> Turn | None:
        """The turn another replica gives ``customer_msg``, waited for up to ``ANSWER_CLAIM``."""
        deadline = time.monotonic() + ANSWER_CLAIM.total_seconds()
        pause = 0.02
        while time.monotonic() < deadline:
            time.sleep(pause)
            done = self._replay(customer_msg)
            if done is not None:
                return done
            pause = min(pause * 2, 0.25)
        return None

    def _replay(self, customer_msg: Message) -> Turn | None:
        """The turn already given for a stored message, or None when it was never answered."""
        conv_id = customer_msg.conversation_id
        later = self.storage.conversations.messages(conv_id, customer_msg.id)
        for m in later:
            if m.role == "bot" and m.meta.get("reply_to") == customer_msg.id:
                reply = Reply(
                    m.meta.get("kind", "answer"),
                    m.text,
                    float(m.meta.get("confidence", 0.0)),
                    str(m.meta.get("reason", "")),
                    list(m.meta.get("sources", [])),
                    list(m.meta.get("suggestions", [])),
                    incident_id=m.meta.get("incident_id"),
                )
                handoff = self.storage.handoffs.open_for(conv_id)
                return Turn(conv_id, customer_msg, m, reply, handoff.id if handoff else None, replayed=True)
        handoff = self.storage.handoffs.open_for(conv_id)
        if handoff is not None and handoff.created_at <= customer_msg.created_at:
            # written while a person owned the conversation: the bot stays quiet
            lang = str(customer_msg.meta.get("lang") or "en")
            reply = Reply("handoff", phrases.text("queued", lang), 0.0, "queued")
            return Turn(conv_id, customer_msg, None, reply, handoff.id, replayed=True)
        return None

    def _answer(
        self,
        conv: Conversation,
        customer: Message,
        text: str,
        msg_lang: str,
        choice: str | None,
        before_handoff: Callable[[], None] | None,
    ) -> Turn:
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

        incident_id = None
        if not choice:
            incident_id, note = self._incident(conv, text, msg_lang, reply)
            if note is not None:
                reply = note
        handoff_id = None
        if reply.kind == "handoff":
            if before_handoff is not None:
                try:
                    before_handoff()
                except RateLimited as exc:  # the message is kept: a retry with its client id answers it
                    exc.stored_message_id = customer.id
                    raise
            question = self._question(
                conv.id, text, reply.reason, customer.id, rejected=choice == NONE_OF_THESE
            )
            handoff_id = self.queue.hand_off(conv.id, reply.reason, msg_lang, question, reply.candidates).id
            if incident_id is not None and self.incidents is not None:
                self._quietly(self.incidents.attach_handoff, incident_id, conv.id, handoff_id)
            reply = self._with_wait(reply, conv, msg_lang)
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
        meta = {**reply.public(), "reason": reply.reason, "reply_to": customer.id}
        bot = self.storage.conversations.add_message(conv.id, "bot", reply.text, meta)
        return Turn(conv.id, customer, bot, reply, handoff_id)

    @staticmethod
    def _quietly(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("incidents: %s failed", getattr(fn, "__name__", fn))

    def _incident(self, conv: Conversation, text: str, lang: str, reply: Reply) -> tuple[int | None, Reply | None]:
        """The incident this question belongs to, and the reply it gets from it.

        A question the bot did not answer (handed off, or "did you mean") goes to the spike detector with
        the query vector its retrieval computed (never encoded again); one it answered is only matched
        against the clusters of known incidents (no evidence of a spike). Either is linked to the
        incident its cluster belongs to; while that incident is confirmed with a status note, the note in
        the customer's language (else the other) is the reply, instead of a handoff or an unrelated
        answer. "Talk to a person" is never answered with a note. Never fails the turn."""
        if self.incidents is None or not reply.vectors:
            return None, None
        try:
            models = incident_models(list(reply.vectors))  # escalation.incidents.INCIDENT_MODELS, as configured
            self._centre(models, reply.vectors)
            at = self.waits.clock() if self.waits is not None else datetime.now(UTC)
            q = Question(at, incident_vector(reply.vectors, models), lang, conv.channel, conv.id, None, text)
            incident_id = self.incidents.observe(q) if reply.kind != "answer" else self.incidents.match(q)
            if incident_id is None or reply.reason == "customer_request":
                return incident_id, None
            incident = self.incidents.repo.get(incident_id)
            if incident["status"] != "confirmed":
                return incident_id, None
            first, other = ("note_zh", "note_en") if lang == "zh" else ("note_en", "note_zh")
            note = (incident.get(first) or incident.get(other) or "").strip()
            if not note:
                return incident_id, None
            return incident_id, Reply(
                ReplyKind.INCIDENT_NOTE, note, reply.confidence, "incident_note", incident_id=incident_id
            )
        except Exception:
            log.exception("the spike detector failed on a question of conversation %s", conv.id)
            return None, None

    def _centre(self, models: list[tuple[str, float]], query: dict[str, np.ndarray]) -> None:
        """The detector's centre: per model, the mean of the live knowledge's vectors (as the content-gap
        clustering centres e5's anisotropic cosines), end to end as the question's vectors are, set again
        when the index changes."""
        assert self.incidents is not None
        store = self.answerer.runtime.snapshot.retriever.store
        names = tuple(m for m, _ in models)
        if self._centred_on == (id(store), names):
            return
        parts = [(int(np.asarray(query[m]).size), weight) for m, weight in models]
        means = [store.faq.vectors(m) for m in names]
        centre = np.concatenate([v.mean(axis=0) for v in means]) if all(len(v) for v in means) else None
        self.incidents.detector.set_centre(centre, parts)
        self._centred_on = (id(store), names)

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
        reply = self._with_wait(reply, conv, lang)
        self.storage.conversations.update(conv.id, state={})
        meta = {**reply.public(), "reason": reply.reason}
        msg = self.storage.conversations.add_message(conv.id, "bot", reply.text, meta)
        self.answerer.runtime.request_calibration(urgent=False)
        return Turn(conv.id, question, msg, reply, handoff.id)

    def _with_wait(self, reply: Reply, conv: Conversation, lang: str) -> Reply:
        """A handoff reply says how long the wait is, or when the team is back (and where the answer goes)."""
        if self.waits is None:
            return reply
        wait = self.waits.for_conversation(lang, conv.id)
        current = self.storage.conversations.get(conv.id)
        told = phrases.wait_text(wait, lang, current.email, self.waits.clock(), by_mail=current.channel == "email")
        return replace(reply, text=f"{reply.text} {told}")

    def state(self, conversation_id: str) -> dict[str, Any]:
        """What the widget shows: bot or handoff, whether a person has joined, and the honest wait."""
        conv = self.storage.conversations.get(conversation_id)
        handoff = self.storage.handoffs.open_for(conversation_id)
        wait: dict[str, Any] | None = None
        if self.waits is not None and handoff is not None:
            w = self.waits.for_conversation(conv.lang, conv.id)
            back = phrases.when(w.back_at, w.timezone, conv.lang, self.waits.clock()) if w.back_at else None
            wait = {**w.public(), "back_text": back}
        return {
            "status": conv.status,
            "handoff": None
            if handoff is None
            else {
                "id": handoff.id,
                "status": handoff.status,
                "agent": handoff.claimed_by,
                "wait": wait,
                # replies it does not see here are mailed (an address left in the widget, or its email channel)
                "email": conv.contact_email is not None,
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
