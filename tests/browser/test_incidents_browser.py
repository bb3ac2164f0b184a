"""Incidents in chromium: the console's banner (confirm with the status notes), and the real widget seeing
an incident's note and then, on its live stream, the notice that it is resolved (issue #14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_incidents import BURST, NOTE_EN, NOTE_ZH
from tests.support import AGENT, chromium, console_sign_in, make_settings, real_server, set_thresholds

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
pytestmark = pytest.mark.browser

ACCOUNTS = {"alice": "alice-pass-123"}


@pytest.fixture()
def base_url(data_dir: Path, embedders: list) -> Iterator[str]:
    from bot.services import build_services
    from bot.web.app import create_app

    svc = build_services(make_settings(data_dir, console_accounts=ACCOUNTS), embedders=embedders)
    set_thresholds(svc, answer=1.01)  # every burst question is handed off or clarified, as on the night
    try:
        with real_server(create_app(svc.settings, svc)) as (host, port):
            yield f"http://{host}:{port}"
    finally:
        svc.close()


def burst(base_url: str, texts: list[str]) -> dict[str, Any]:
    for text in texts:
        assert httpx.post(f"{base_url}/api/chat", json={"message": text}, timeout=60).status_code == 200
    (incident,) = httpx.get(f"{base_url}/api/agent/incidents", headers=AGENT).json()
    return dict(incident)


def test_the_console_banner_shows_a_suspected_incident_and_confirms_it_with_its_notes(base_url: str) -> None:
    incident = burst(base_url, BURST[:8])
    with chromium() as browser:
        page = console_sign_in(browser.new_page(), base_url, "alice", ACCOUNTS["alice"])
        card = page.locator(f'#incidents [data-incident="{incident["id"]}"]')
        expect(card).to_be_visible()
        expect(card).to_have_attribute("data-status", "suspected")
        expect(card.locator(".ititle")).to_contain_text("invoices")
        card.locator('textarea[data-field="note_en"]').fill(NOTE_EN)
        card.locator('textarea[data-field="note_zh"]').fill(NOTE_ZH)
        card.locator('[data-action="confirm"]').click()
        expect(card).to_have_attribute("data-status", "confirmed")
        expect(card.locator('[data-action="dismiss"]')).to_have_count(0)
        expect(card.locator('[data-action="resolve"]')).to_be_visible()
        # a new question linked to it reaches the banner on the console's live stream
        before = int(httpx.get(f"{base_url}/api/agent/incidents/{incident['id']}", headers=AGENT).json()["conversations"])
        httpx.post(f"{base_url}/api/chat", json={"message": BURST[8]}, timeout=60)
        expect(card.locator(".muted").first).to_contain_text(f"{before + 1} customers")
        card.locator('textarea[data-field="resolution_en"]').fill("Fixed.")
        card.locator('[data-action="resolve"]').click()
        expect(page.locator("#incidents")).to_be_hidden()
        # the metrics page reports it with its clocks and the customers told
        page.goto(f"{base_url}/metrics")
        row = page.locator(f'#incidents tr[data-incident="{incident["id"]}"]')
        expect(row.locator('[data-col="status"]')).to_have_text("resolved")
        expect(row.locator('[data-col="notified"]')).to_have_text(str(before + 1))
        expect(row.locator('[data-col="to_page"]')).not_to_have_text("–")
        expect(page.locator("#incidents-summary")).to_contain_text("Incidents: 1;")
    now = httpx.get(f"{base_url}/api/agent/incidents/{incident['id']}", headers=AGENT).json()
    assert now["status"] == "resolved" and now["note_en"] == NOTE_EN and now["note_zh"] == NOTE_ZH
    assert now["updated_by"] == "alice" and now["resolution_en"] == "Fixed."


def test_the_widget_shows_the_incident_note_then_the_resolution_notice_once(base_url: str) -> None:
    incident = burst(base_url, BURST[:8])
    r = httpx.post(f"{base_url}/api/agent/incidents/{incident['id']}/confirm", headers=AGENT,
                   json={"note_en": NOTE_EN, "note_zh": NOTE_ZH})
    assert r.status_code == 200
    with chromium() as browser:
        page = browser.new_context(locale="en-US").new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base_url}/")
        page.locator('[data-part="launcher"]').click()
        page.locator('[data-part="input"]').fill(BURST[8])
        page.locator('[data-part="input"]').press("Enter")
        note = page.locator('.row.bot[data-kind="incident_note"]')
        expect(note).to_have_count(1)
        expect(note.locator('[data-part="incident-note"]')).to_have_text("Known issue")
        expect(note.locator(".bubble")).to_contain_text("invoice generation is delayed since 23:05")
        expect(page.locator('[data-part="handoff-state"]')).to_be_hidden()  # no handoff
        r = httpx.post(f"{base_url}/api/agent/incidents/{incident['id']}/resolve", headers=AGENT,
                       json={"note_en": "The sync is fixed; all invoices were generated."})
        assert r.status_code == 200 and r.json()["notified"] >= 8
        notice = page.locator('.row.bot[data-kind="incident_resolved"]')
        expect(notice).to_have_count(1)  # on the widget's live stream, no reload
        expect(notice.locator(".bubble")).to_contain_text("The sync is fixed")
        assert httpx.post(f"{base_url}/api/agent/incidents/{incident['id']}/resolve", headers=AGENT).status_code == 409
        page.wait_for_timeout(1500)
        expect(notice).to_have_count(1)
        assert not errors, errors
