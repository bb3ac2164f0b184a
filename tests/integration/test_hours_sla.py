"""Business hours in what the customer is told, SLA clocks that fire once, signed webhooks with retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from escalation.events import EventKind
from escalation.webhooks import verify
from tests.support import AGENT, Receiver, agent_headers, ask, make_settings

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_22 = datetime(2026, 12, 4, 22, 0, tzinfo=BERLIN)
MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=BERLIN)
CALENDAR = {"timezone": "Europe/Berlin", "hours": {"mon-fri": "09:00-18:00"}, "holidays": "DE"}
SECRET = "webhook-secret-for-tests-0123456789"


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=1)
    yield r
    r.close()


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at.astimezone(UTC)


@pytest.fixture()
def desk(data_dir: Path, embedders: list, receiver: Receiver) -> Iterator[tuple[Any, Clock]]:
    from bot.services import build_services

    settings = make_settings(
        data_dir,
        calendar=CALENDAR,
        calendars={"zh": {**CALENDAR, "timezone": "Asia/Shanghai", "holidays": "CN"}},
        sla_policies=[
            {"name": "email", "channels": ["email"], "first_response_minutes": 240},
            {"name": "standard", "first_response_minutes": 30, "resolution_minutes": 600},
        ],
        webhook_url=receiver.url,
        webhook_secret=SECRET,
    )
    svc = build_services(settings, embedders=embedders)
    clock = Clock(FRIDAY_22)
    svc.waits.clock = clock
    yield svc, clock
    svc.close()


@pytest.fixture()
def api(desk: tuple[Any, Clock]) -> Iterator[TestClient]:
    from bot.web.app import create_app

    svc, _ = desk
    svc.dispatcher.clock = desk[1]
    with TestClient(create_app(svc.settings, svc)) as c:
        yield c


def test_friday_night_the_customer_is_told_when_the_team_is_back_in_their_language(
    desk: tuple[Any, Clock], api: TestClient
) -> None:
    en = ask(api, "I want to talk to a person about my invoice")
    assert en["reply"]["kind"] == "handoff"
    assert "we are back Monday 09:00 CET" in en["reply"]["text"]
    assert "Leave your email address" in en["reply"]["text"]
    wait = en["handoff"]["wait"]
    assert wait["open"] is False and wait["back_text"] == "Monday 09:00 CET"
    assert wait["back_at"] == "2026-12-07T08:00+00:00"
    # the Chinese team keeps Shanghai hours: at 05:00 Saturday in Shanghai it is back Monday 09:00 CST
    zh = ask(api, "转人工")
    assert "周一 09:00（CST）" in zh["reply"]["text"] and "人工客服现在不在线" in zh["reply"]["text"]
    a = api.get("/api/availability", params={"lang": "en"}).json()
    assert a == {**a, "open": False, "back_text": "Monday 09:00 CET", "timezone": "Europe/Berlin"}
    # during hours: the place in the queue, and no typical wait before there are enough replies to tell
    desk[1].at = MONDAY_10
    later = ask(api, "Can I speak to a human?")
    assert "You are number 3 in the queue" in later["reply"]["text"]
    assert later["handoff"]["wait"]["typical_minutes"] is None


def test_typical_wait_is_the_median_first_reply_in_business_hours(desk: tuple[Any, Clock], api: TestClient) -> None:
    svc, clock = desk
    clock.at = datetime.now(UTC)
    svc.waits.calendars = type(svc.calendars).parse(None)  # around the clock: wall time is business time
    ids = []
    for i in range(5):
        body = ask(api, f"I want to talk to a person about account question {i}")
        ids.append(body["handoff"]["id"])
    for hid in ids:
        api.post(f"/api/agent/handoffs/{hid}/reply", headers=AGENT, json={"text": "On it."})
    svc.waits._median.clear()  # cached for a minute
    assert svc.waits.typical_minutes("en") == 1  # replied at once: at least a minute is claimed


def test_an_unanswered_handoff_fires_sla_breached_once_with_a_signed_webhook(
    desk: tuple[Any, Clock], receiver: Receiver, api: TestClient
) -> None:
    svc, _ = desk
    svc.dispatcher.stop()  # the test drives the clock
    heard: list[Any] = []
    svc.storage.bus.subscribe(lambda e: heard.append(e) if e.kind == EventKind.SLA_BREACHED else None)
    body = ask(api, "I want to talk to a person about a refund")
    handoff = svc.storage.handoffs.get(body["handoff"]["id"])
    created = datetime.fromisoformat(handoff.created_at)
    cal = svc.calendars.default
    due = cal.add_business(created, 30 * 60)
    assert due is not None
    clocks = api.get("/api/agent/handoffs", headers=AGENT).json()
    mine = next(h for h in clocks if h["id"] == handoff.id)
    first = next(c for c in mine["sla"] if c["metric"] == "first_response")
    assert first["policy"] == "standard" and not first["breached"]
    assert datetime.fromisoformat(first["due_at"]) == due.replace(microsecond=0)

    svc.dispatcher.tick(due - timedelta(seconds=1))
    assert heard == []
    for _ in range(3):  # due, and checked again and again (and by other replicas): one breach
        svc.dispatcher.tick(due + timedelta(seconds=5))
    assert [e.handoff_id for e in heard] == [handoff.id]
    rows = svc.storage.sla.of_handoffs([handoff.id])[handoff.id]
    assert [(r["metric"], r["policy"]) for r in rows] == [("first_response", "standard")]

    # the webhooks: handoff.created, then sla.breached; the first delivery got 500 and is retried
    events = [json.loads(b)["event"] for _, b in receiver.got]
    assert events[0] == "handoff.created"
    later = due + timedelta(hours=2)
    svc.dispatcher.tick(later)
    svc.dispatcher.tick(later + timedelta(hours=2))
    delivered = {json.loads(b)["event"]: (h, b) for h, b in receiver.got}
    assert {"handoff.created", "sla.breached"} <= set(delivered)
    headers, raw = delivered["sla.breached"]
    assert verify(SECRET, headers["X-Helpdesk-Signature"], raw)
    assert not verify("wrong-secret", headers["X-Helpdesk-Signature"], raw)
    payload = json.loads(raw)
    assert payload["data"]["metric"] == "first_response" and payload["data"]["handoff"]["id"] == handoff.id
    assert payload["data"]["handoff"]["reason"] == "customer_request" and payload["data"]["handoff"]["channel"] == "widget"
    assert api.get("/api/agent/webhooks", headers=AGENT).status_code == 403  # admins only
    log = api.get("/api/agent/webhooks", headers=agent_headers(svc, "boss", "admin")).json()
    assert api.get("/api/agent/webhooks").status_code == 401
    created_row = next(r for r in log if r["event"] == "handoff.created")
    assert created_row["status"] == "delivered" and created_row["attempts"] == 2 and created_row["last_status"] == 204

    # the console sees the breach; replying stops the first-response clock, resolving sends handoff.resolved
    mine = next(h for h in api.get("/api/agent/handoffs", headers=AGENT).json() if h["id"] == handoff.id)
    assert [c["metric"] for c in mine["sla"] if c["breached"]] == ["first_response"]
    # once a person has replied, a new customer message starts the next-response clock
    api.post(f"/api/agent/handoffs/{handoff.id}/reply", headers=AGENT, json={"text": "Looking into it."})
    follow = ask(api, "Any news on the refund?", conversation_id=body["conversation_id"])
    clocks = {c["metric"]: c for c in svc.sla.status([handoff.id])[handoff.id]}
    assert "first_response" not in clocks and "next_response" not in clocks  # "standard" has no next-response target
    svc.sla.policies = [type(svc.sla.policies[0]).parse({"name": "tight", "next_response_minutes": 15})]
    clocks = {c["metric"]: c for c in svc.sla.status([handoff.id])[handoff.id]}
    assert clocks["next_response"]["since"] == svc.storage.conversations.get_message(follow["customer_message_id"]).created_at
    api.post(f"/api/agent/handoffs/{handoff.id}/resolve", headers=AGENT, json={"answer": "Refunded."})
    svc.dispatcher.tick(later + timedelta(hours=5))
    assert "handoff.resolved" in [json.loads(b)["event"] for _, b in receiver.got]


def test_personal_data_never_leaves_in_a_webhook(desk: tuple[Any, Clock], receiver: Receiver, api: TestClient) -> None:
    svc, _ = desk
    svc.dispatcher.stop()
    receiver.fail = 0
    first = ask(api, "My card 6222 0212 3456 7890 128 was charged twice, mail me at wang.fang@example.cn")
    ask(api, "I want to talk to a person", conversation_id=first["conversation_id"])
    svc.dispatcher.tick(datetime.now(UTC))
    created = [json.loads(b) for _, b in receiver.got if json.loads(b)["event"] == "handoff.created"]
    question = created[-1]["data"]["question"]
    assert "charged twice" in question  # the customer's real question, for the on-call person
    assert "6222" not in question and "wang.fang@example.cn" not in question
