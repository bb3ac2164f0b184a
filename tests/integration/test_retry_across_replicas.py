"""A widget retry racing its original on another replica is answered once (issue #10): two desks over one
real PostgreSQL, the same client message id sent to both at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import make_settings, seed_state


@pytest.fixture()
def replicas(tmp_path: Path, shipped_index: Path, postgres_url: str, embedders: list) -> Any:
    from bot.services import build_services

    out = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        seed_state(d, shipped_index)
        out.append(build_services(make_settings(d, database_url=postgres_url), embedders=embedders))
    yield out
    for svc in out:
        svc.close()


def slow_answers(svc: Any, seconds: float) -> None:
    """This replica takes ``seconds`` longer to answer (the race's window, made wide on purpose)."""
    respond = svc.answerer.respond

    def slow(*args: Any, **kw: Any) -> Any:
        time.sleep(seconds)
        return respond(*args, **kw)

    svc.answerer.respond = slow


def race(replicas: list[Any], text: str, client_id: str, conv: Any = None) -> list[Any]:
    start = threading.Barrier(2)
    turns: list[Any] = [None, None]

    def send(i: int) -> None:
        start.wait()
        if i == 1:
            time.sleep(0.15)  # the retry arrives while the original is being answered
        turns[i] = replicas[i].chat.handle(text, conv, "en", client_id=client_id)

    threads = [threading.Thread(target=send, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return turns


def bot_replies(svc: Any, conversation_id: str, customer_id: int) -> list[Any]:
    return [
        m for m in svc.storage.conversations.messages(conversation_id)
        if m.role == "bot" and m.meta.get("reply_to") == customer_id
    ]


def test_a_retry_on_another_replica_waits_for_the_original_answer(replicas: list[Any]) -> None:
    a, b = replicas
    slow_answers(a, 1.0)
    first, retry = race(replicas, "How do I issue a credit note?", "widget-1")
    assert first.conversation_id == retry.conversation_id
    assert first.customer_message.id == retry.customer_message.id  # stored once
    replies = bot_replies(b, first.conversation_id, first.customer_message.id)
    assert len(replies) == 1  # answered once
    assert retry.replayed and retry.bot_message.id == first.bot_message.id == replies[0].id

    # a later message of the same conversation, retried the same way
    conv = a.storage.conversations.get(first.conversation_id)
    second, again = race(replicas, "And how do I send it to the customer?", "widget-2", conv)
    assert len(bot_replies(a, conv.id, second.customer_message.id)) == 1
    assert again.replayed and again.bot_message.id == second.bot_message.id


def test_a_message_whose_answer_failed_is_answered_by_its_retry_at_once(replicas: list[Any]) -> None:
    from escalation.ratelimit import Limit, RateLimited

    a, b = replicas

    def refuse() -> None:
        raise RateLimited(Limit("handoff_ip", 1, 60), 60)

    with pytest.raises(RateLimited):
        a.chat.handle("I want to talk to a person", None, "en", client_id="widget-3", before_handoff=refuse)
    started = time.monotonic()
    turn = b.chat.handle("I want to talk to a person", None, "en", client_id="widget-3")
    assert time.monotonic() - started < 10  # not the 30 s a live claim would make it wait
    assert turn.reply.kind == "handoff" and not turn.replayed
    assert len(bot_replies(b, turn.conversation_id, turn.customer_message.id)) == 1
