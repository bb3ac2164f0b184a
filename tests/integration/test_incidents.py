"""Incidents end to end: the page to the on-call webhook, the detector fed by the chat turn, the agent API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from escalation.models import IncidentQuestion
from escalation.storage import Storage, open_storage
from escalation.webhooks import WebhookSender, verify
from tests.support import Receiver

SECRET = "incident-webhook-secret-0123456789abcdef"


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=1)
    yield r
    r.close()


@pytest.fixture()
def storage(tmp_path: Path) -> Iterator[Storage]:
    s = open_storage(None, tmp_path)
    yield s
    s.close()


def asked(storage: Storage, text: str, lang: str, channel: str = "widget") -> IncidentQuestion:
    conv = storage.conversations.create(lang, channel=channel)
    storage.conversations.add_message(conv.id, "customer", text)
    return IncidentQuestion(conv.id, lang, channel, text, datetime.now(UTC).isoformat())


def test_a_suspected_incident_pages_the_on_call_webhook_signed_and_retried(storage: Storage, receiver: Receiver) -> None:
    qs = [
        asked(storage, "发票没生成，电话 13812345678", "zh"),
        asked(storage, "invoices stuck in draft since 23:00", "en", "email"),
        asked(storage, "E5003 sync failed", "en"),
    ]
    incident, new = storage.incidents.open(
        "night-sync", "invoices stuck in draft since 23:00", "3 customers asked the same unanswered question",
        qs, {"count": 3, "expected": 0.12, "p_value": 2e-7, "regime": "off"},
        lambda n: f"https://help.example.com/console#incident-{n}",
    )
    assert new
    sender = WebhookSender(storage, receiver.url, SECRET)
    assert sender.send_due() == 0  # the receiver's first answer is a 500: retried later
    (row,) = storage.webhooks.log()
    assert row["status"] == "queued" and row["attempts"] == 1 and row["last_status"] == 500
    with storage.db.tx() as tx:  # the retry is due now
        tx.execute("UPDATE webhook_outbox SET next_attempt_at = ?", ("2000-01-01T00:00:00+00:00",))
    assert sender.send_due() == 1
    assert len(receiver.got) == 2
    headers, body = receiver.got[-1]
    assert headers["X-Helpdesk-Event"] == "incident.suspected"
    assert verify(SECRET, headers["X-Helpdesk-Signature"], body)
    assert not verify("another-secret-0123456789abcdefghij", headers["X-Helpdesk-Signature"], body)
    payload = json.loads(body)
    data = payload["data"]
    assert payload["event"] == "incident.suspected" and payload["text"].startswith(":rotating_light:")
    assert data["id"] == incident["id"] and data["status"] == "suspected"
    assert (data["questions"], data["conversations"]) == (3, 3)
    assert data["languages"] == ["en", "zh"] and data["channels"] == ["email", "widget"]
    assert data["first_seen"] <= data["last_seen"] and data["console_url"].endswith(f"#incident-{incident['id']}")
    assert data["pager"]["summary"].startswith("Suspected incident") and data["pager"]["source"] == "invoice-helpdesk"
    assert "13812345678" not in body.decode()  # personal data never leaves
    assert storage.webhooks.log()[0]["status"] == "delivered"
